"""The life that ``relay`` and ``mx`` share: no sockets to listen on, a
``RemoteRoute`` offered to the queue while running (``modules.base.RouteRegistry``),
counters and state for the window. The SMTP conversation itself is
``smtp_client.SmtpSender``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from server.delivery.base import RouteResult
from server.delivery.smtp_client import SmtpSender
from server.events import EventBus, ModuleStateChanged
from server.modules.base import (
    ModuleStartError,
    ModuleState,
    ModuleStatus,
    RouteRegistry,
)


class RouteModule:
    """The life shared by ``relay`` and ``mx``: no sockets to listen on, a
    ``RemoteRoute`` offered to the queue while running, counters for the window."""

    name = "route"
    title = "Route"
    priority = 0

    def __init__(
        self, events: EventBus, queue: RouteRegistry | None, logger: logging.Logger
    ) -> None:
        self.events = events
        self.queue = queue
        self.log = logger
        self.state = ModuleState.STOPPED
        self.last_error = ""
        self._counters: dict[str, int] = {}
        self._day = time.strftime("%Y-%m-%d")
        self._messages_today = 0
        self._sending: SmtpSender | None = None

    async def deliver_remote(
        self, sender: str, recipients: Sequence[str], message: bytes
    ) -> list[RouteResult]:
        """Send one message out (``RemoteRoute``); each route says how."""
        raise NotImplementedError

    def count(self, counter: str, n: int = 1) -> None:
        self._counters[counter] = self._counters.get(counter, 0) + n

    def count_results(self, results: Sequence[RouteResult]) -> None:
        """Count an attempt; its first failure becomes the row's "last error"
        in the window until an attempt goes through."""
        today = time.strftime("%Y-%m-%d")
        if today != self._day:
            self._day, self._messages_today = today, 0
        failed = next((r for r in results if not r.ok), None)
        if failed is not None:
            self.last_error = f"{failed.recipient}: {failed.reply}"
        elif results:
            self.last_error = ""
        for r in results:
            if r.ok:
                self._messages_today += 1
                self.count("delivered")
            elif r.temporary:
                self.count("deferred")
            else:
                self.count("failed")

    def _set_state(self, state: ModuleState, message: str = "") -> None:
        self.state = state
        self.events.publish(ModuleStateChanged(self.name, state.value, message))

    def _fail(self, message: str) -> None:
        self.last_error = message
        self._set_state(ModuleState.FAILED, message)
        self.log.error("cannot start: %s", message)
        raise ModuleStartError(message)

    def _running(self, sender: SmtpSender) -> None:
        self._sending = sender
        self.last_error = ""
        if self.queue is not None:
            self.queue.add_route(self)
        self._set_state(ModuleState.RUNNING)
        self.log.info("started")

    async def stop(self) -> None:
        self.last_error = ""  # turned off: a failure to start is over with
        if self.queue is not None:
            self.queue.remove_route(self)
        sender, self._sending = self._sending, None
        if self.state is ModuleState.RUNNING:
            self._set_state(ModuleState.STOPPING)
        if sender is not None:
            await sender.close()
        if self.state is not ModuleState.STOPPED:
            self._set_state(ModuleState.STOPPED)
            self.log.info("stopped")

    def status(self, enabled: bool) -> ModuleStatus:
        today = time.strftime("%Y-%m-%d")
        return ModuleStatus(
            name=self.name,
            title=self.title,
            enabled=enabled,
            state=self.state,
            endpoints=(),
            sessions=0,
            messages_today=self._messages_today if today == self._day else 0,
            counters=tuple(sorted(self._counters.items())),
            last_error=self.last_error,
        )
