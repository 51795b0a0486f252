"""Durable file writes: tmp -> fsync -> rename -> fsync(dir).

Everything that must survive a crash is written through here, so the rule lives
in one place.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: Path, data: bytes, *, mode: int = 0o644, sync_dir: bool = True
) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def quarantine(path: Path, corrupt_dir: Path) -> Path:
    """Move a damaged file to ``corrupt/`` (never delete it); return where it went."""
    corrupt_dir.mkdir(parents=True, exist_ok=True)
    target = corrupt_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{path.name}"
    n = 0
    while target.exists():
        n += 1
        target = corrupt_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{n}-{path.name}"
    os.replace(path, target)
    return target
