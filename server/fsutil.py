"""Durable file writes: tmp -> fsync -> rename -> fsync(dir).

Everything that must survive a crash is written through here (the queue
spool, settings, secrets, TLS files, and every file of the Maildir store), so
the rule lives in one place.

Portability, kept here so no caller has to know it:
- Files are opened with ``O_BINARY`` where it exists (Windows would otherwise
  turn every LF written into CRLF).
- Windows cannot open a directory with ``os.open`` (and has no
  ``O_DIRECTORY``), so ``fsync_dir`` does nothing there; NTFS journals the
  rename itself. Elsewhere the directory is opened with ``O_DIRECTORY``, so a
  path that is not a directory fails loudly instead of being synced as a file.
- Windows' ``fsync`` (``_commit``) needs a handle open for writing:
  ``open_for_fsync`` gives one there, a read-only one elsewhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

O_BINARY: int = getattr(os, "O_BINARY", 0)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte (``os.write`` may write less). Tests replace this to
    simulate a disk that fills up half way."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_file(path: str | Path, size_hint: int = 0) -> bytes:
    """A whole file, read with plain system calls (no buffered file object:
    its set-up costs more than reading a small message). ``size_hint``: the
    size the caller expects: one read then, and a second only if the file is
    not that size (a regular file's read is short only at its end, so
    exactly ``size_hint`` octets asked for ``size_hint + 1`` is all of it;
    each system call in a worker thread may wait for the interpreter lock
    on its way back)."""
    fd = os.open(path, os.O_RDONLY | O_BINARY)
    try:
        want = size_hint + 1 if size_hint > 0 else 64 * 1024
        first = os.read(fd, want)
        if not first or len(first) == size_hint:
            return first
        chunks = [first]
        while chunk := os.read(fd, max(want, 64 * 1024)):
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a create, rename or unlink in ``path`` durable (a no-op on
    Windows, where a directory cannot be opened)."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_for_fsync(path: Path) -> int:
    """A descriptor of an existing file that ``os.fsync`` accepts: open for
    writing on Windows (its ``_commit`` refuses a read-only handle), read-only
    elsewhere (so a file we may not write can still be synced)."""
    mode = os.O_RDWR if os.name == "nt" else os.O_RDONLY
    return os.open(path, mode | O_BINARY)


def write_new_file(
    path: Path,
    data: bytes,
    *,
    mtime: float | None = None,
    sync: bool = True,
    mode: int = 0o600,
) -> os.stat_result:
    """Create ``path`` (it must not exist) with ``data``, set its mtime when
    given, fsync it unless ``sync`` is False (a caller that syncs the whole
    file system later); return its stat. On failure the file is removed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_BINARY, mode)
    try:
        write_all(fd, data)
        if mtime is not None:
            if os.utime in os.supports_fd:
                os.utime(fd, (mtime, mtime))
            else:
                os.utime(path, (mtime, mtime))
        if sync:
            os.fsync(fd)
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)
    return st


def _tmp_name(path: Path) -> str:
    return f".{path.name}.{os.getpid()}.{time.monotonic_ns()}{secrets.token_hex(4)}.tmp"


def atomic_write(
    path: Path,
    data: bytes,
    *,
    mode: int = 0o600,
    sync_dir: bool = True,
    tmp_dir: Path | None = None,
) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new file.

    The temporary file goes to ``tmp_dir`` (default: beside ``path``; it must
    be on the same file system) under a name that starts with ``.`` and ends
    with ``.tmp`` (readers skip it) and is new on every call -- pid, clock and
    a random part, as pids and the monotonic clock repeat after a restart --
    so a leftover of a crash can never block a later write. ``sync_dir``:
    fsync ``path``'s directory after the rename (skip it only when a later
    write to the same directory syncs it).
    """
    tmp = (tmp_dir or path.parent) / _tmp_name(path)
    write_new_file(tmp, data, mode=mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def quarantine(path: Path, corrupt_dir: Path, name: str | None = None) -> Path:
    """Move a damaged file to ``corrupt/`` (never delete it); return where it
    went. ``name`` is the file's name there (default: a time stamp and its own
    name); a name already taken gets a counter. A ``corrupt/`` on another file
    system gets a copy, then the original is removed."""
    corrupt_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = name or f"{stamp}-{path.name}"
    target = corrupt_dir / base
    n = 0
    while target.exists():
        n += 1
        target = corrupt_dir / (f"{base}-{n}" if name else f"{stamp}-{n}-{path.name}")
    try:
        os.replace(path, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(str(path), str(target))
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
_sync_dir: tuple[Path, int] | None = None  # the folder syncfs keeps open
_sync_guard = threading.Lock()


def syncfs_available() -> bool:
    return _SYNCFS is not None and os.environ.get("QUICKSILVER_NO_SYNCFS") != "1"


def syncfs(path: Path) -> None:
    """Flush every written file and directory of the file system holding ``path``
    and wait for it (Linux ``syncfs(2)``; reports write-back errors since 5.8).

    One call makes a whole batch of deliveries durable: the group commit of
    the Maildir store uses it instead of one fsync per file.

    The folder is opened once and kept open while the calls name the same
    folder (one descriptor for the process). That saves two system calls per
    batch, each a hand-over of the interpreter lock from the thread running
    the core loop; and the kernel reports a write-back error to the
    descriptors that were open when it happened, so an error between two
    batches is caught by the next call instead of missed by a fresh open.
    """
    assert _SYNCFS is not None
    global _sync_dir
    with _sync_guard:
        if _sync_dir is None or _sync_dir[0] != path:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            if _sync_dir is not None:
                os.close(_sync_dir[1])
            _sync_dir = (path, fd)
        if _SYNCFS(_sync_dir[1]) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
