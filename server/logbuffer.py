"""The core's log plumbing: every ``quicksilver.*`` record goes to a bounded
ring (for the window's snapshot) and to the event bus (for live views), and to
the rotating files under ``logs/`` (``PrivateRotatingFileHandler``).

Records pass through ``sanitize`` so a control character a client sent can
never forge a log line, and very long lines are cut.
"""

from __future__ import annotations

import collections
import io
import itertools
import logging
import logging.handlers
import os
import re
import threading
from pathlib import Path

from server.events import EventBus, LogRecorded

LOG_FILE_BYTES = 5_000_000  # one log file's size before it rotates
LOG_FILE_BACKUPS = 5  # rotated files kept (``x.log.1`` .. ``x.log.5``)
LOG_FILE_MODE = 0o600  # logs name peers and users: for this user only

MAX_LINE = 2000


_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f]")


def sanitize(text: str) -> str:
    """Control characters (but tab) as ``\\xNN``, at most ``MAX_LINE``."""
    if _CONTROLS.search(text) is None:  # the usual line: nothing to escape
        out = text
    else:
        out = _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return out if len(out) <= MAX_LINE else out[:MAX_LINE] + "…"


def module_of(logger_name: str) -> str:
    parts = logger_name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "quicksilver" else parts[0]


class LogBuffer(logging.Handler):
    def __init__(self, events: EventBus, capacity: int = 5000) -> None:
        super().__init__(level=logging.INFO)
        self._events = events
        self._ring: collections.deque[LogRecorded] = collections.deque(maxlen=capacity)
        self._seq = itertools.count(1)
        self._ring_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:
            msg = str(record.msg)
        event = LogRecorded(
            seq=next(self._seq),
            level=record.levelname,
            logger=record.name,
            module=module_of(record.name),
            message=sanitize(msg),
            at=record.created,
        )
        with self._ring_lock:
            self._ring.append(event)
        self._events.publish(event)

    def records(self) -> tuple[LogRecorded, ...]:
        with self._ring_lock:
            return tuple(self._ring)


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file that only its user can read, whatever the umask.

    Rotation renames the old files (their mode goes with them) and opens a new
    one here, with ``LOG_FILE_MODE``.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(
            path,
            maxBytes=LOG_FILE_BYTES,
            backupCount=LOG_FILE_BACKUPS,
            encoding="utf-8",
        )

    # the file's size is counted here, not asked: the stock shouldRollover
    # stats the path twice, formats the record a second time and seeks, on
    # every record (system calls on the core loop, each a hand-over of the
    # interpreter lock); another process appending to the same file (a
    # shell command) is caught by a real look every RESYNC_EVERY records
    RESYNC_EVERY = 256

    _size: int | None = None
    _since_sync = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = self.format(record) + self.terminator
            if self.stream is None:
                self.stream = self._open()
            if self._size is None or self._since_sync >= self.RESYNC_EVERY:
                self.stream.seek(0, io.SEEK_END)
                self._size = self.stream.tell()
                self._since_sync = 0
            if self.maxBytes > 0 and self._size + len(msg) >= self.maxBytes:
                self.doRollover()
                self._size = 0
            self.stream.write(msg)
            self.flush()
            self._size += len(msg)
            self._since_sync += 1
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _open(self) -> io.TextIOWrapper:
        stream = open(  # noqa: SIM115 -- the handler owns the stream and closes it
            self.baseFilename,
            self.mode,
            encoding=self.encoding,
            errors=self.errors,
            opener=lambda path, flags: os.open(path, flags, LOG_FILE_MODE),
        )
        assert isinstance(stream, io.TextIOWrapper)
        return stream
