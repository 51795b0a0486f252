"""TLS-RPT counts (RFC 8460): how outbound TLS went, per recipient domain,
day and policy, so the administrator sees where mail went without the
protection a domain asked for.

Each connection attempt of the ``mx`` module is one count: the policy type
that applied (``sts``, ``tlsa``, or ``no-policy-found``) and the result,
``success`` or an RFC 8460 4.3 failure type (``starttls-not-supported``,
``certificate-host-mismatch``, ``certificate-expired``,
``validation-failure``, ``tlsa-invalid``, ...). Counts gather in memory and
are written to SQLite (``tls-report.sqlite3``) at most every
``FLUSH_SECONDS`` and when the module stops; days older than ``KEEP_DAYS``
are dropped. Sending the aggregate reports to the domains' ``rua`` addresses
is not done (RFC 8460 makes it optional for the sender); ``quicksilver-server
tls-report`` and the window show the counts.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "tls-report.sqlite3"
FLUSH_SECONDS = 60.0
KEEP_DAYS = 30
MAX_PENDING = 10_000  # distinct keys in memory before a flush is forced


@dataclass(frozen=True)
class Count:
    day: str
    domain: str
    policy: str
    result: str
    count: int


class TlsReport:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: Counter[tuple[str, str, str, str]] = Counter()
        self._flushed = clock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS counts (day TEXT, domain TEXT, policy TEXT,"
            " result TEXT, count INTEGER, PRIMARY KEY (day, domain, policy, result))"
        )
        self._db.commit()

    def _day(self) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(self.clock()))

    def record(self, domain: str, policy: str, result: str) -> None:
        """Count one attempt (memory only: cheap on the loop)."""
        with self._lock:
            self._pending[(self._day(), domain.lower()[:255], policy, result)] += 1

    def due(self) -> bool:
        return bool(self._pending) and (
            self.clock() - self._flushed >= FLUSH_SECONDS
            or len(self._pending) >= MAX_PENDING
        )

    def flush(self) -> None:
        """Write the counts gathered so far (blocking: a worker thread)."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
            self._flushed = self.clock()
            if not pending:
                return
            self._db.executemany(
                "INSERT INTO counts VALUES (?, ?, ?, ?, ?) ON CONFLICT "
                "(day, domain, policy, result) DO UPDATE SET count = count + "
                "excluded.count",
                [(*key, n) for key, n in pending.items()],
            )
            oldest = time.strftime(
                "%Y-%m-%d", time.gmtime(self.clock() - KEEP_DAYS * 86400)
            )
            self._db.execute("DELETE FROM counts WHERE day < ?", (oldest,))
            self._db.commit()

    def counts(self, days: int = 7) -> list[Count]:
        """The counts of the last ``days`` days, newest first (with those
        not written yet)."""
        since = time.strftime("%Y-%m-%d", time.gmtime(self.clock() - days * 86400))
        with self._lock:
            rows = self._db.execute(
                "SELECT day, domain, policy, result, count FROM counts WHERE day > ?",
                (since,),
            ).fetchall()
            merged: Counter[tuple[str, str, str, str]] = Counter(
                {(r[0], r[1], r[2], r[3]): int(r[4]) for r in rows}
            )
            merged.update(self._pending)
        out = [Count(*key, n) for key, n in merged.items() if key[0] > since]
        out.sort(key=lambda c: (c.day, c.domain, c.policy, c.result))
        out.sort(key=lambda c: c.day, reverse=True)
        return out

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._db.close()


def read_counts(path: Path, days: int = 7) -> list[Count]:
    """The counts in a report file (the mx module need not run); [] when
    there is none. Blocking: a worker thread."""
    if not path.exists():
        return []
    report = TlsReport(path)
    try:
        return report.counts(days)
    finally:
        report.close()
