"""Counts core events for the Statistics page (pure Python, no Qt).

Messages per minute over the last ``minutes`` minutes in three series:
``in`` (``MessageAccepted``), ``out`` (``MessageDelivered`` through a remote
route: relay, mx) and ``local`` (``MessageDelivered`` into a mailbox); sessions
open now per protocol (``SessionOpened``/``SessionClosed``, seeded from the
snapshot's module statuses); failures (``MessageBounced``, ``MessageDeferred``)
since the window opened; and the queue length the window reports.

Memory is bounded: one small counter per minute, older minutes dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from server.events import (
    Event,
    MessageAccepted,
    MessageBounced,
    MessageDeferred,
    MessageDelivered,
    SessionClosed,
    SessionOpened,
)
from server.modules import registry
from server.modules.base import ModuleStatus

SERIES = ("in", "out", "local")
MINUTES = 60


def remote_routes() -> frozenset[str]:
    """Where a delivery counts as "sent out": the registry's routes (and the
    generic "route" a route module reports before it names itself)."""
    return frozenset(m.name for m in registry.routes()) | {"route"}


@dataclass(frozen=True)
class StatsTotals:
    sessions: tuple[tuple[str, int], ...]
    queue_length: int
    bounced: int
    deferred: int
    last_hour: tuple[tuple[str, int], ...]


class StatsCollector:
    """Feed it events with ``add``; read ``series``/``totals``."""

    def __init__(
        self, minutes: int = MINUTES, clock: Callable[[], float] = time.time
    ) -> None:
        if minutes < 1:
            raise ValueError("minutes must be at least 1")
        self.minutes = minutes
        self._clock = clock
        self._buckets: dict[int, dict[str, int]] = {}
        self._sessions: dict[str, set[str]] = {}
        self._session_base: dict[str, int] = {}
        self.queue_length = 0
        self.bounced = 0
        self.deferred = 0

    # -- feeding ------------------------------------------------------------
    def seed_sessions(self, statuses: Iterable[ModuleStatus]) -> None:
        """Sessions already open when the window connected (no ids known)."""
        for status in statuses:
            self._session_base[status.name] = status.sessions
            self._sessions.setdefault(status.name, set())

    def reset_module(self, name: str) -> None:
        """A module stopped: its sessions are gone."""
        self._session_base[name] = 0
        self._sessions[name] = set()

    def add(self, event: Event) -> bool:
        """Count one event; True if it changed anything shown."""
        if isinstance(event, MessageAccepted):
            self._count(event.at, "in")
        elif isinstance(event, MessageDelivered):
            remote = event.mailbox in remote_routes()
            self._count(event.at, "out" if remote else "local")
        elif isinstance(event, MessageBounced):
            self.bounced += 1
        elif isinstance(event, MessageDeferred):
            self.deferred += 1
        elif isinstance(event, SessionOpened):
            self._sessions.setdefault(event.module, set()).add(event.session_id)
        elif isinstance(event, SessionClosed):
            ids = self._sessions.setdefault(event.module, set())
            if event.session_id in ids:
                ids.discard(event.session_id)
            elif self._session_base.get(event.module, 0) > 0:
                self._session_base[event.module] -= 1
        else:
            return False
        return True

    def _count(self, at: float, series: str) -> None:
        minute = int(at // 60)
        bucket = self._buckets.setdefault(minute, dict.fromkeys(SERIES, 0))
        bucket[series] += 1
        oldest = int(self._clock() // 60) - self.minutes
        for key in [k for k in self._buckets if k <= oldest]:
            del self._buckets[key]

    # -- reading ------------------------------------------------------------
    def series(self, now: float | None = None) -> dict[str, list[int]]:
        """Per series, ``minutes`` counts, oldest first; the last is this minute."""
        current = int((self._clock() if now is None else now) // 60)
        first = current - self.minutes + 1
        out: dict[str, list[int]] = {name: [] for name in SERIES}
        for minute in range(first, current + 1):
            bucket = self._buckets.get(minute)
            for name in SERIES:
                out[name].append(bucket[name] if bucket else 0)
        return out

    def sessions(self) -> dict[str, int]:
        names = sorted(set(self._sessions) | set(self._session_base))
        return {
            n: self._session_base.get(n, 0) + len(self._sessions.get(n, ()))
            for n in names
        }

    def totals(self, now: float | None = None) -> StatsTotals:
        series = self.series(now)
        return StatsTotals(
            sessions=tuple(self.sessions().items()),
            queue_length=self.queue_length,
            bounced=self.bounced,
            deferred=self.deferred,
            last_hour=tuple((name, sum(values)) for name, values in series.items()),
        )
