"""Collector accounts and what each has collected (``fetch.sqlite3``).

``accounts``: one row per remote mailbox (server, protocol, TLS mode,
accepted certificate fingerprint, user name, folder, interval, where the
mail goes, leave-on-server policy). The password is not here: it is in the
keyring (``server.secrets``, name ``fetch:<id>``).

``seen``: per account, the remote message's key (POP3: its UIDL; IMAP:
``UIDVALIDITY:UID``), its state and two times. The state makes a collection
exactly-once across a crash:

1. ``pending`` is written (and fsynced: ``synchronous=FULL``) with the
   ``created`` time before the message is handed to the queue; the job id
   and the Maildir file name derive from (account, key, created);
2. the message is made durable here (``queue.accept``);
3. ``done`` is written; only then may the remote copy be deleted.

A crash between 1 and 3 replays the same delivery under the same job id and
time, which the Maildir store recognizes (``unique`` keys): no second copy.
``big`` marks a message left on the server for its size (logged once).
Keys of messages no longer on the server are forgotten after a listing.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from server.errors import ValidationError

FILE_NAME = "fetch.sqlite3"
MAX_ACCOUNTS = 200
PROTOCOLS = ("pop3", "imap")
SECURITY = ("implicit", "starttls", "none")
INTERVAL_RANGE = (10, 86_400)  # seconds between polls
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    server TEXT NOT NULL,
    port INTEGER NOT NULL,
    protocol TEXT NOT NULL,
    security TEXT NOT NULL,
    fingerprint TEXT NOT NULL DEFAULT '',
    username TEXT NOT NULL,
    folder TEXT NOT NULL DEFAULT 'INBOX',
    interval INTEGER NOT NULL DEFAULT 300,
    enabled INTEGER NOT NULL DEFAULT 1,
    destination TEXT NOT NULL DEFAULT '',
    default_user TEXT NOT NULL DEFAULT '',
    leave_on_server INTEGER NOT NULL DEFAULT 0,
    delete_after_days INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS status (
    account TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    last_poll REAL NOT NULL DEFAULT 0,
    last_count INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    failures INTEGER NOT NULL DEFAULT 0,
    check_requested REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seen (
    account TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    first_seen REAL NOT NULL,
    PRIMARY KEY (account, key)
);
"""


@dataclass(frozen=True)
class FetchAccount:
    id: str  # a short name: "office", "bob-gmx"
    server: str
    username: str
    protocol: str = "pop3"
    port: int = 995
    security: str = "implicit"
    fingerprint: str = ""  # accepted certificate ("" = the usual check)
    folder: str = "INBOX"  # IMAP only
    interval: int = 300
    enabled: bool = True
    destination: str = ""  # a local user; "" = spread by the header (fan-out)
    default_user: str = ""  # fan-out: who gets mail for no local user
    leave_on_server: bool = False
    delete_after_days: int = 0  # with leave_on_server: delete after N days (0 never)

    @property
    def fan_out(self) -> bool:
        return not self.destination


@dataclass(frozen=True)
class AccountStatus:
    """What the window and ``fetch list`` show about an account's polls."""

    account: str
    last_poll: float = 0.0  # when the last poll ended (0: never)
    last_count: int = 0  # messages it collected
    total: int = 0
    last_error: str = ""  # "" after a good poll
    failures: int = 0  # polls in a row that failed (the back-off)
    # "check now" asked at (0: not asked; negative: a running collector has
    # taken the request and polls)
    check_requested: float = 0.0


@dataclass(frozen=True)
class Seen:
    key: str
    state: str  # "pending" | "done" | "big"
    created: float
    first_seen: float


def check_account(a: FetchAccount) -> FetchAccount:
    """The account with its names normalized, or ValidationError naming the
    field in words."""
    ident = a.id.strip().lower()
    if not _ID.fullmatch(ident):
        raise ValidationError(
            "The account name may use letters, digits, '.', '_' and '-'.", field="id"
        )
    server = a.server.strip().lower().rstrip(".")
    if not server or len(server) > 253 or any(c in server for c in " /\\@\x00"):
        raise ValidationError("Enter the server's host name.", field="server")
    if a.protocol not in PROTOCOLS:
        raise ValidationError("The protocol is POP3 or IMAP.", field="protocol")
    if a.security not in SECURITY:
        raise ValidationError("TLS is implicit, STARTTLS or none.", field="security")
    if not 1 <= a.port <= 65535:
        raise ValidationError("The port must be 1..65535.", field="port")
    if not a.username.strip() or any(c in a.username for c in "\r\n\x00"):
        raise ValidationError("Enter the user name for the server.", field="username")
    if not INTERVAL_RANGE[0] <= a.interval <= INTERVAL_RANGE[1]:
        raise ValidationError(
            f"Check every {INTERVAL_RANGE[0]} to {INTERVAL_RANGE[1]} seconds.",
            field="interval",
        )
    folder = a.folder.strip() or "INBOX"
    if any(c in folder for c in '\r\n"\\\x00') or len(folder) > 200:
        raise ValidationError("That folder name cannot be used.", field="folder")
    if not 0 <= a.delete_after_days <= 3650:
        raise ValidationError("Delete after 0 to 3650 days.", field="delete_after_days")
    destination = a.destination.strip().lower()
    default_user = a.default_user.strip().lower()
    if not destination and not default_user:
        raise ValidationError(
            "Choose the local user who gets the mail, or the default user of "
            "a domain mailbox.",
            field="destination",
        )
    from server.fetch.connect import normalize_fingerprint

    try:
        fingerprint = normalize_fingerprint(a.fingerprint)
    except ValueError as exc:
        raise ValidationError(
            f"Certificate fingerprint: {exc}.", field="fingerprint"
        ) from None
    return replace(
        a,
        id=ident,
        server=server,
        username=a.username.strip(),
        folder=folder,
        destination=destination,
        default_user=default_user,
        fingerprint=fingerprint,
    )


_COLUMNS = (
    "id, server, port, protocol, security, fingerprint, username, folder, "
    "interval, enabled, destination, default_user, leave_on_server, "
    "delete_after_days"
)


def _row(a: FetchAccount) -> tuple[object, ...]:
    return (
        a.id,
        a.server,
        a.port,
        a.protocol,
        a.security,
        a.fingerprint,
        a.username,
        a.folder,
        a.interval,
        int(a.enabled),
        a.destination,
        a.default_user,
        int(a.leave_on_server),
        a.delete_after_days,
    )


def _account(r: tuple[object, ...]) -> FetchAccount:
    (ident, server, port, protocol, security, fp, user, folder, interval) = r[:9]
    enabled, dest, default, leave, days = r[9:]
    return FetchAccount(
        id=str(ident),
        server=str(server),
        port=int(str(port)),
        protocol=str(protocol),
        security=str(security),
        fingerprint=str(fp),
        username=str(user),
        folder=str(folder),
        interval=int(str(interval)),
        enabled=bool(enabled),
        destination=str(dest),
        default_user=str(default),
        leave_on_server=bool(leave),
        delete_after_days=int(str(days)),
    )


class FetchStore:
    """Blocking (SQLite): callers use a worker thread, or accept a few
    milliseconds for one account's row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # "done" before a remote delete
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- accounts ---------------------------------------------------------------
    def accounts(self) -> list[FetchAccount]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM accounts ORDER BY id"
            ).fetchall()
        return [_account(r) for r in rows]

    def get(self, ident: str) -> FetchAccount | None:
        with self._lock:
            r = self._db.execute(
                f"SELECT {_COLUMNS} FROM accounts WHERE id = ?", (ident.lower(),)
            ).fetchone()
        return _account(r) if r is not None else None

    def save(self, a: FetchAccount) -> FetchAccount:
        a = check_account(a)
        with self._lock:
            n = self._db.execute("SELECT count(*) FROM accounts").fetchone()[0]
            exists = self._db.execute(
                "SELECT 1 FROM accounts WHERE id = ?", (a.id,)
            ).fetchone()
            if not exists and n >= MAX_ACCOUNTS:
                raise ValidationError(f"At most {MAX_ACCOUNTS} collector accounts.")
            marks = ", ".join("?" * 14)
            self._db.execute(
                f"INSERT OR REPLACE INTO accounts ({_COLUMNS}) VALUES ({marks})",
                _row(a),
            )
        return a

    def remove(self, ident: str) -> bool:
        with self._lock:
            self._db.execute("DELETE FROM seen WHERE account = ?", (ident.lower(),))
            cur = self._db.execute(
                "DELETE FROM accounts WHERE id = ?", (ident.lower(),)
            )
        return bool(cur.rowcount)

    # -- status (written by the running collector, read by anyone) ----------------
    def statuses(self) -> dict[str, AccountStatus]:
        with self._lock:
            rows = self._db.execute(
                "SELECT account, last_poll, last_count, total, last_error, failures, "
                "check_requested FROM status"
            ).fetchall()
        return {r[0]: AccountStatus(*r) for r in rows}

    def record_poll(
        self, account: str, when: float, count: int, error: str, failures: int
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO status (account, last_poll, last_count, total, "
                "last_error, failures) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(account) DO UPDATE SET last_poll = excluded.last_poll, "
                "last_count = excluded.last_count, total = total + excluded.total, "
                "last_error = excluded.last_error, failures = excluded.failures, "
                "check_requested = CASE WHEN abs(check_requested) <= "
                "excluded.last_poll THEN 0 ELSE check_requested END",
                (account, when, count, count, error[:500], failures),
            )

    def request_check(self, account: str, when: float) -> None:
        """Ask the running collector to poll ``account`` now (the shell)."""
        if self.get(account) is None:
            raise ValidationError(f"There is no collector account {account!r}.")
        with self._lock:
            self._db.execute(
                "INSERT INTO status (account, check_requested) VALUES (?, ?) "
                "ON CONFLICT(account) DO UPDATE SET check_requested = excluded."
                "check_requested",
                (account.lower(), when),
            )

    def take_check_requests(self) -> list[str]:
        """The accounts a "check now" was asked for since the last look;
        marked as picked up (negative), so the shell knows a server has it."""
        with self._lock:
            rows = self._db.execute(
                "SELECT account FROM status WHERE check_requested > 0"
            ).fetchall()
            if rows:
                self._db.execute(
                    "UPDATE status SET check_requested = -check_requested "
                    "WHERE check_requested > 0"
                )
        return [r[0] for r in rows]

    # -- what was collected --------------------------------------------------------
    def seen(self, account: str) -> dict[str, Seen]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, state, created, first_seen FROM seen WHERE account = ?",
                (account,),
            ).fetchall()
        return {r[0]: Seen(r[0], r[1], r[2], r[3]) for r in rows}

    def begin(self, account: str, key: str, now: float) -> float:
        """Step 1: the ``created`` of this key's delivery (the one recorded
        by an earlier, interrupted attempt, or ``now``), durably."""
        with self._lock:
            r = self._db.execute(
                "SELECT created FROM seen WHERE account = ? AND key = ?",
                (account, key),
            ).fetchone()
            if r is not None:
                return float(r[0])
            self._db.execute(
                "INSERT INTO seen (account, key, state, created, first_seen) "
                "VALUES (?, ?, 'pending', ?, ?)",
                (account, key, now, now),
            )
        return now

    def mark(
        self, account: str, key: str, state: str, now: float | None = None
    ) -> None:
        """Step 3 (``done``), or ``big``."""
        t = time.time() if now is None else now
        with self._lock:
            self._db.execute(
                "INSERT INTO seen (account, key, state, created, first_seen) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(account, key) "
                "DO UPDATE SET state = excluded.state",
                (account, key, state, t, t),
            )

    def forget_missing(self, account: str, present: set[str]) -> int:
        """Drop keys the server no longer lists (its copy was deleted)."""
        known = self.seen(account)
        gone = [k for k in known if k not in present]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "DELETE FROM seen WHERE account = ? AND key = ?",
                    [(account, k) for k in gone],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(gone)
