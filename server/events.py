"""The core's event bus and event types.

Every event is a frozen dataclass named in the past tense. Subscribers are plain
callables; they are called on the thread that publishes (the core loop), so a GUI
subscriber must hand the event over to its own thread (the bridge does that with a
queued Qt signal). A subscriber that raises is logged and kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("quicksilver.events")


@dataclass(frozen=True)
class Event:
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True)
class ModuleStateChanged(Event):
    name: str
    state: str
    message: str = ""


@dataclass(frozen=True)
class SessionOpened(Event):
    module: str
    session_id: str
    peer: str


@dataclass(frozen=True)
class SessionClosed(Event):
    module: str
    session_id: str
    peer: str


@dataclass(frozen=True)
class MessageAccepted(Event):
    module: str
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    size: int


@dataclass(frozen=True)
class MessageQueued(Event):
    job_id: str
    sender: str
    recipients: tuple[str, ...]
    size: int


@dataclass(frozen=True)
class MessageDelivered(Event):
    job_id: str
    recipient: str
    mailbox: str


@dataclass(frozen=True)
class MessageDeferred(Event):
    job_id: str
    recipient: str
    reason: str


@dataclass(frozen=True)
class MessageBounced(Event):
    job_id: str
    recipient: str
    reason: str


@dataclass(frozen=True)
class QueueChanged(Event):
    job_id: str


@dataclass(frozen=True)
class AccountsChanged(Event):
    what: str


@dataclass(frozen=True)
class SettingsChanged(Event):
    section: str


@dataclass(frozen=True)
class LogRecorded(Event):
    seq: int
    level: str
    logger: str
    module: str
    message: str


Subscriber = Callable[[Event], None]


class EventBus:
    """Publish/subscribe, thread-safe, synchronous delivery."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # an edge: a bad subscriber must not stop the core
                if not isinstance(event, LogRecorded):
                    log.exception("event subscriber failed")
