"""Greylisting (``smtp.greylisting``, off by default): a sender we have not
seen is asked to come back later; real mail servers do, most spam software
does not.

The triplet is the client's network (IPv4 /24, IPv6 /64: a provider's
outbound pool retries from a neighbouring address), the envelope sender and
the recipient, all lower case. The first attempt is answered ``451 4.7.1``;
a retry from ``DELAY`` seconds up to ``WINDOW`` seconds after the first one
passes, and the triplet then passes at once for ``KEEP`` seconds after it
was last seen (auto-whitelisting, as postgrey does). A retry after the window
starts over. Entries are forgotten after ``KEEP`` (passed) or ``WINDOW``
(never retried); the sweep runs at most once per ``SWEEP_EVERY``.

Not greylisted: authenticated sessions, clients in ``smtp.trusted_networks``
(this computer and the private networks by default), and the null sender's
bounces are treated like any other triplet (their sender is "").

Storage: ``greylist.sqlite3`` in the data folder (WAL, ``synchronous=NORMAL``:
losing the last entries in a power cut only asks a sender to wait again).
Blocking: callers use a worker thread.
"""

from __future__ import annotations

import ipaddress
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

FILE_NAME = "greylist.sqlite3"
DELAY = 300.0  # seconds before a retry passes
WINDOW = 24 * 3600.0  # a retry later than this starts over
KEEP = 35 * 86400.0  # a passed triplet passes at once for this long
SWEEP_EVERY = 3600.0
MAX_KEY = 600  # characters of a triplet kept (addresses are at most 254)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS triplets (
    key TEXT PRIMARY KEY,
    first REAL NOT NULL,
    passed REAL NOT NULL DEFAULT 0,
    last REAL NOT NULL
);
"""


def client_network(ip: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) the client is in; the text for others."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip[:64]
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    bits = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))


class Greylist:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._swept = 0.0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def check(self, ip: str, sender: str, recipient: str) -> int:
        """0 when the triplet may pass now, else the seconds to wait."""
        now = self.clock()
        key = f"{client_network(ip)}\x00{sender.lower()}\x00{recipient.lower()}"
        key = key[:MAX_KEY]
        with self._lock:
            if now - self._swept > SWEEP_EVERY:
                self._sweep(now)
            row = self._db.execute(
                "SELECT first, passed, last FROM triplets WHERE key = ?", (key,)
            ).fetchone()
            if row is not None and row[1] and now - row[2] <= KEEP:
                self._db.execute(
                    "UPDATE triplets SET last = ? WHERE key = ?", (now, key)
                )
                return 0
            if row is not None and not row[1]:
                waited = now - row[0]
                if DELAY <= waited <= WINDOW:
                    self._db.execute(
                        "UPDATE triplets SET passed = ?, last = ? WHERE key = ?",
                        (now, now, key),
                    )
                    return 0
                if waited < DELAY:
                    return max(1, int(DELAY - waited))
            # new, expired, or retried too late: (re)start the clock
            self._db.execute(
                "INSERT OR REPLACE INTO triplets (key, first, passed, last) "
                "VALUES (?, ?, 0, ?)",
                (key, now, now),
            )
            return int(DELAY)

    def _sweep(self, now: float) -> None:
        self._swept = now
        self._db.execute(
            "DELETE FROM triplets WHERE (passed > 0 AND last < ?) "
            "OR (passed = 0 AND first < ?)",
            (now - KEEP, now - WINDOW),
        )


def counts(path: Path) -> tuple[int, int]:
    """(triplets waiting for their retry, triplets passed and remembered) in
    the greylist file; (0, 0) when there is none. Blocking: a worker thread."""
    if not path.exists():
        return 0, 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute(
            "SELECT SUM(passed = 0), SUM(passed > 0) FROM triplets"
        ).fetchone()
    except sqlite3.Error:
        return 0, 0
    finally:
        db.close()
    return int(row[0] or 0), int(row[1] or 0)
