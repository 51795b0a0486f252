"""The core's log plumbing: every ``quicksilver.*`` record goes to a bounded
ring (for the window's snapshot) and to the event bus (for live views).

Records pass through ``sanitize`` so a control character a client sent can
never forge a log line, and very long lines are cut.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading

from server.events import EventBus, LogRecorded

MAX_LINE = 2000


def sanitize(text: str) -> str:
    out = "".join(c if c >= " " or c == "\t" else f"\\x{ord(c):02x}" for c in text)
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
