"""An exclusive lock between processes, held on a sidecar file.

``settings.toml`` has writers in several processes (the window's core, a
headless server, each ``quicksilver-server`` command): they take turns through
this lock. It is held on a separate file (``settings.toml.lock``) because the
settings file itself is replaced by a rename on every write: a lock on it
would stay with the old file. The lock file is created once and never
removed (a writer that removed it could let the next two lock two different
files).

- POSIX: ``fcntl.flock`` on the whole file. It belongs to the open file
  description, so two threads of one process that each open the file exclude
  each other too, and the kernel drops it when the process dies.
- Windows: ``msvcrt.locking`` on the first byte, per handle; released when
  the handle closes or the process ends.

Both are tried without blocking, in a loop up to a deadline, so a holder
that hangs becomes an error a person can read instead of a hang (holders
keep it for a few milliseconds: read, change, write one small file).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from server.errors import ValidationError

# How long a writer waits for another one before it gives up and says so.
LOCK_TIMEOUT = 10.0
_RETRY_SLEEP = 0.002  # between non-blocking attempts


class LockTimeoutError(ValidationError):
    """Another program held the lock for longer than ``LOCK_TIMEOUT``."""


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks from the current position
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def exclusive_lock(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the lock on ``path`` (created 0600 if missing) for the block.

    Raises ``LockTimeoutError`` after ``timeout`` seconds of waiting.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise LockTimeoutError(
                    f"{path.name}: another program has been changing the settings "
                    f"for over {timeout:g} seconds; try again"
                )
            time.sleep(_RETRY_SLEEP)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
