"""The one place that talks to the core.

GUI code ``await``s core calls through ``CoreBridge.run``, which takes a
facade method and its arguments, ``await bridge.run(CoreApi.hold_job, job_id)``
(or any function of the facade, ``bridge.run(lambda api: api.queue_jobs())``).
The call runs as a task on the core loop, made there (see ``run``), and its
result or exception comes back to the GUI loop (``asyncio.wrap_future``). The
result keeps the facade method's type, and a misspelt or renamed method, or
arguments that do not fit, are errors for ``mypy --strict app``, not surprises
at run time. Core events are
published on whatever thread raised them (mostly the core thread); the bridge
hands them to the GUI thread in batches and re-emits each there, so every
public signal fires on the GUI thread.

Why batches: the GUI thread needs the interpreter lock for every call into
Python, and while the core thread runs Python each such entry waits for the
lock (up to the switch interval, 5 ms). One queued signal per event was one
entry per event, hundreds a second under load, and the window's own timers
ran late by their sum. Now a wake-up is posted only when the batch was empty,
and the GUI thread takes everything pending at most every FLUSH_INTERVAL.

It does not keep core state: models do, from the snapshot plus events.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar, TypeVarTuple

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from server.api import CoreApi, Snapshot
from server.events import (
    AccountsChanged,
    Event,
    EventBus,
    LogRecorded,
    MessageAccepted,
    MessageBounced,
    MessageDeferred,
    MessageDelivered,
    MessageQueued,
    ModuleStateChanged,
    QueueChanged,
    SessionClosed,
    SessionOpened,
    SettingsChanged,
)

log = logging.getLogger("quicksilver.app")

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

QUEUE_EVENTS = (
    MessageQueued,
    MessageDelivered,
    MessageDeferred,
    MessageBounced,
    QueueChanged,
)
ACTIVITY_EVENTS = (SessionOpened, SessionClosed, MessageAccepted)

# The GUI thread takes pending core events at most this often (seconds).
FLUSH_INTERVAL = 0.05
# Events waiting for the GUI thread; beyond this, log records are dropped
# (counted in ``dropped_log_records``) so a stalled window cannot grow the
# process without bound. Other events are always kept.
MAX_PENDING_EVENTS = 50_000


class RuntimeLike(Protocol):
    """What the bridge needs of ``server.runtime.Runtime``."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def api(self) -> CoreApi: ...

    @property
    def events(self) -> EventBus: ...


class CoreBridge(QObject):
    """Async calls into the core and core events as Qt signals.

    Signals:
        eventReceived(object): every core ``Event``, on the GUI thread.
        moduleStateChanged(object): a ``ModuleStateChanged``.
        moduleActivity(object): ``SessionOpened``/``SessionClosed``/``MessageAccepted``
            (a module's counters moved).
        logRecorded(object): a ``LogRecorded``.
        accountsChanged(object): an ``AccountsChanged``.
        queueChanged(object): a ``Message*`` queue event or ``QueueChanged``.
        settingsChanged(object): a ``SettingsChanged``.
    """

    eventReceived = Signal(object)
    moduleStateChanged = Signal(object)
    moduleActivity = Signal(object)
    logRecorded = Signal(object)
    accountsChanged = Signal(object)
    queueChanged = Signal(object)
    settingsChanged = Signal(object)
    _relay = Signal()  # emitted on any thread, delivered queued: "events wait"

    def __init__(self, runtime: RuntimeLike, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rt = runtime
        self._unsubscribe: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._pending: list[Event] = []
        self._woken = False  # a wake-up is posted or a flush is due
        self._last_flush = 0.0
        self.dropped_log_records = 0
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.timeout.connect(self.flush)
        self._relay.connect(self.on_relay, Qt.ConnectionType.QueuedConnection)

    @property
    def connected(self) -> bool:
        return self._unsubscribe is not None

    async def connect_core(self) -> Snapshot:
        """Subscribe, then take the snapshot (events that overlap it are harmless:
        models apply statuses idempotently and drop log records by ``seq``)."""
        if self._unsubscribe is None:
            self._unsubscribe = self._rt.events.subscribe(self._take)
        return await self.run(CoreApi.snapshot)

    def disconnect_core(self) -> None:
        """Stop relaying events (before the core stops or the GUI goes away)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._lock:
            self._pending.clear()

    async def run(
        self, request: Callable[[CoreApi, *Ts], Awaitable[T]], *args: *Ts
    ) -> T:
        """Run ``request(api, *args)`` on the core loop and await its result here.

        ``request`` is a ``CoreApi`` method (``CoreApi.set_alias``) or a function
        of the facade. The arguments are taken now, on the GUI thread; the call
        happens on the core thread, where the facade lives. Exceptions from the
        core (``ValidationError``...) are re-raised here; cancelling the
        awaiting GUI task cancels the core-side call too.
        """
        api = self._rt.api
        loop = self._rt.loop
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        async def on_core() -> T:
            return await request(api, *args)

        def settle(task: asyncio.Task[T]) -> None:
            if task.cancelled():
                future.cancel()
                return
            if not future.set_running_or_notify_cancel():
                return  # the GUI side gave up
            exc = task.exception()
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(task.result())

        def start() -> None:
            # The coroutine is made here, on the core thread, when it runs. A
            # request still queued when the core's loop stops is then dropped
            # whole; made on the GUI thread, it was a coroutine never awaited
            # (a RuntimeWarning at some later garbage collection).
            if future.cancelled():
                return
            task = loop.create_task(on_core())
            task.add_done_callback(settle)
            future.add_done_callback(lambda f: cancel(f, task))

        def cancel(f: concurrent.futures.Future[T], task: asyncio.Task[T]) -> None:
            if f.cancelled():
                try:
                    loop.call_soon_threadsafe(task.cancel)
                except RuntimeError:
                    pass  # the core's loop is closed: the task went with it

        loop.call_soon_threadsafe(start)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise

    def _take(self, event: Event) -> None:
        """On the publishing thread: keep ``event``; wake the GUI thread if
        nothing was waiting."""
        with self._lock:
            if len(self._pending) >= MAX_PENDING_EVENTS and isinstance(
                event, LogRecorded
            ):
                self.dropped_log_records += 1
                return
            self._pending.append(event)
            if self._woken:
                return
            self._woken = True
        self._relay.emit()

    def on_relay(self) -> None:
        """On the GUI thread: flush now, or when FLUSH_INTERVAL has passed
        since the last flush."""
        wait = self._last_flush + FLUSH_INTERVAL - time.monotonic()
        if wait > 0:
            if not self._flush_timer.isActive():
                self._flush_timer.start(max(1, round(wait * 1000)))
            return
        self.flush()

    def flush(self) -> None:
        """Re-emit every pending event, in order (GUI thread)."""
        self._flush_timer.stop()
        with self._lock:
            batch, self._pending = self._pending, []
            self._woken = False
        self._last_flush = time.monotonic()
        for event in batch:
            self.on_relay_event(event)

    def on_relay_event(self, event: Event) -> None:
        self.eventReceived.emit(event)
        if isinstance(event, LogRecorded):
            self.logRecorded.emit(event)
        elif isinstance(event, ModuleStateChanged):
            self.moduleStateChanged.emit(event)
        elif isinstance(event, ACTIVITY_EVENTS):
            self.moduleActivity.emit(event)
        elif isinstance(event, AccountsChanged):
            self.accountsChanged.emit(event)
        elif isinstance(event, SettingsChanged):
            self.settingsChanged.emit(event)
        if isinstance(event, QUEUE_EVENTS):
            self.queueChanged.emit(event)
