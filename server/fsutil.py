"""Durable file writes: tmp -> fsync -> rename -> fsync(dir).

Everything that must survive a crash is written through here, so the rule lives
in one place.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: Path, data: bytes, *, mode: int = 0o600, sync_dir: bool = True
) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new file.

    The temporary name starts with ``.`` and ends with ``.tmp`` (readers skip
    it) and is new on every call -- pid, clock and a random part, as pids and
    the monotonic clock repeat after a restart -- so a leftover of a crash can
    never block a later write.
    """
    tmp = path.with_name(
        f".{path.name}.{os.getpid()}.{time.monotonic_ns()}{secrets.token_hex(4)}.tmp"
    )
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


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    syncfs_fn: Callable[[int], int] = fn
    return syncfs_fn


_SYNCFS = _load_syncfs()


def syncfs_available() -> bool:
    return _SYNCFS is not None and os.environ.get("QUICKSILVER_NO_SYNCFS") != "1"


def syncfs(path: Path) -> None:
    """Flush every written file and directory of the file system holding ``path``
    and wait for it (Linux ``syncfs(2)``; reports write-back errors since 5.8).

    One call makes a whole batch of deliveries durable: the group commit of
    the Maildir store uses it instead of one fsync per file.
    """
    assert _SYNCFS is not None
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _SYNCFS(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)
