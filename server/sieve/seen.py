"""What Sieve delivery remembers between messages: vacation replies already
sent and side effects already queued.

Two tables in one SQLite file in the data folder (``sieve-state.sqlite3``):

- ``vacation_seen`` (RFC 5230 section 4.1, "only one response per sender per
  period"): one row per user and ``vacation.seen_key`` (the sender and the
  ``:handle``, hashed), with the time the period ends. An expired row counts as
  absent and is pruned.
- ``sent``: the key of every redirect, vacation reply and rejection notice that
  was handed to the queue, so a queue job delivered again after a crash does
  not send them a second time (``server.sieve.deliver`` says which window is
  left). Kept ``SENT_KEEP`` seconds: far longer than any job stays in the queue.

Both are bounded (``MAX_SEEN_ROWS``, ``MAX_SENT_ROWS``): expired rows go first,
then the oldest. Every call is blocking file I/O: callers run it in a worker
thread. A file SQLite cannot read is moved to ``corrupt/`` (never deleted) and
a new, empty one takes its place: at worst a sender gets a second vacation
reply.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from server.fsutil import quarantine

log = logging.getLogger("quicksilver.sieve")

FILE_NAME = "sieve-state.sqlite3"
# About 150 bytes a row: 100 000 rows are ~15 MB, far beyond what a small
# office's vacation replies need within one period (RFC 5230 gives no limit).
MAX_SEEN_ROWS = 100_000
MAX_SENT_ROWS = 100_000
# Longer than any queue lifetime a person would set (RFC 5321 4.5.4.1: 4-5
# days): a job can only come back while it is still in the spool.
SENT_KEEP = 30 * 86400
# Prune (one indexed DELETE) after this many inserts, not on every one.
PRUNE_EVERY = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vacation_seen (
    user TEXT NOT NULL,
    key TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (user, key)
);
CREATE INDEX IF NOT EXISTS vacation_seen_expires ON vacation_seen (expires);
CREATE TABLE IF NOT EXISTS sent (
    key TEXT PRIMARY KEY,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sent_at ON sent (at);
"""


class SieveStateStore:
    """The "already answered" store and the ledger of queued side effects."""

    def __init__(
        self,
        path: Path,
        corrupt_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        max_seen: int = MAX_SEEN_ROWS,
        max_sent: int = MAX_SENT_ROWS,
    ) -> None:
        self.path = path
        self.corrupt_dir = corrupt_dir
        self.clock = clock
        self.max_seen = max_seen
        self.max_sent = max_sent
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._inserts = 0

    def _conn(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            db = self._open()
        except sqlite3.DatabaseError as exc:
            dest = quarantine(self.path, self.corrupt_dir)
            log.error(
                "sieve state file unreadable (%s): moved to corrupt/%s, starting "
                "a new one",
                exc,
                dest.name,
            )
            db = self._open()
        self._db = db
        return db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            db.execute("SELECT count(*) FROM sent").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- vacation (RFC 5230 section 4.1) --------------------------------------

    def replied_before(self, user: str, key: str) -> bool:
        with self._lock:
            row = (
                self._conn()
                .execute(
                    "SELECT expires FROM vacation_seen WHERE user = ? AND key = ?",
                    (user, key),
                )
                .fetchone()
            )
        return row is not None and float(row[0]) > self.clock()

    def mark_replied(self, user: str, key: str, period: float) -> None:
        with self._lock:
            self._conn().execute(
                "INSERT OR REPLACE INTO vacation_seen (user, key, expires) "
                "VALUES (?, ?, ?)",
                (user, key, self.clock() + period),
            )
            self._inserted()

    # -- side effects already queued ---------------------------------------------

    def was_sent(self, key: str) -> bool:
        with self._lock:
            row = (
                self._conn()
                .execute("SELECT 1 FROM sent WHERE key = ?", (key,))
                .fetchone()
            )
        return row is not None

    def mark_sent(self, key: str) -> None:
        with self._lock:
            self._conn().execute(
                "INSERT OR IGNORE INTO sent (key, at) VALUES (?, ?)",
                (key, self.clock()),
            )
            self._inserted()

    # -- bounds ------------------------------------------------------------------

    def _inserted(self) -> None:
        self._inserts += 1
        if self._inserts % PRUNE_EVERY == 1:
            self._prune()

    def prune(self) -> None:
        with self._lock:
            self._prune()

    def _prune(self) -> None:
        db = self._conn()
        now = self.clock()
        db.execute("DELETE FROM vacation_seen WHERE expires <= ?", (now,))
        db.execute("DELETE FROM sent WHERE at <= ?", (now - SENT_KEEP,))
        for table, order, limit in (
            ("vacation_seen", "expires", self.max_seen),
            ("sent", "at", self.max_sent),
        ):
            (count,) = db.execute(f"SELECT count(*) FROM {table}").fetchone()
            if count > limit:
                db.execute(
                    f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "
                    f"ORDER BY {order} LIMIT ?)",
                    (count - limit,),
                )
                log.warning(
                    "sieve state: %s over %d rows, the oldest %d dropped",
                    table,
                    limit,
                    count - limit,
                )
