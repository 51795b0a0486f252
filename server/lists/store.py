"""Distribution lists in SQLite (``lists.sqlite3`` in the data folder).

A list has an address on a local domain, a title, who may post (members,
anyone, moderators), a Reply-To policy (list, sender), a subject prefix,
members (local or remote, each with a bounce count and on/off), moderators,
messages held for moderation (the message itself a file next to the
database), and subscriptions waiting for their confirmation. Every write is
one transaction; reads open no transaction that a writer would wait for.
Blocking: callers run it in a worker thread or accept a few milliseconds
(small lists of a small office).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from server import fsutil
from server.errors import ValidationError

FILE_NAME = "lists.sqlite3"
POLICIES = ("members", "anyone", "moderators")
REPLY_TO = ("list", "sender")
MAX_LISTS = 1000
MAX_MEMBERS = 5000  # per list: each post is one queue job per member (VERP)
MAX_HELD = 500  # per list
BOUNCES_TO_DISABLE = 5  # bounces in a row that switch a member off
NAMES_RECHECK = 1.0  # seconds: another process's new list is seen within this

_LOCAL = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ADDRESS = re.compile(r"[^\s@<>\"(),;:]{1,64}@[a-z0-9.-]{1,253}")
# the list's own addresses: team-request@, team-bounces[+x]@, team-confirm+t@
RESERVED_SUFFIXES = ("-request", "-bounces", "-confirm", "-owner")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    address TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    policy TEXT NOT NULL DEFAULT 'members',
    reply_to TEXT NOT NULL DEFAULT 'list',
    prefix TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    list TEXT NOT NULL REFERENCES lists(address) ON DELETE CASCADE,
    address TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    bounces INTEGER NOT NULL DEFAULT 0,
    last_bounce REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (list, address)
);
CREATE TABLE IF NOT EXISTS moderators (
    list TEXT NOT NULL REFERENCES lists(address) ON DELETE CASCADE,
    address TEXT NOT NULL,
    PRIMARY KEY (list, address)
);
CREATE TABLE IF NOT EXISTS held (
    id TEXT PRIMARY KEY,
    list TEXT NOT NULL REFERENCES lists(address) ON DELETE CASCADE,
    sender TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    received REAL NOT NULL,
    approved INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS pending (
    token TEXT PRIMARY KEY,
    list TEXT NOT NULL REFERENCES lists(address) ON DELETE CASCADE,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    expires REAL NOT NULL
);
"""


@dataclass(frozen=True)
class MailList:
    address: str
    title: str = ""
    policy: str = "members"
    reply_to: str = "list"
    prefix: str = ""

    @property
    def local(self) -> str:
        return self.address.split("@", 1)[0]

    @property
    def domain(self) -> str:
        return self.address.split("@", 1)[1]

    @property
    def list_id(self) -> str:
        """RFC 2919 section 2: the list's address with "@" as "."."""
        return self.address.replace("@", ".")


@dataclass(frozen=True)
class Member:
    address: str
    enabled: bool = True
    bounces: int = 0


@dataclass(frozen=True)
class HeldMessage:
    id: str
    list: str
    sender: str
    subject: str
    received: float


@dataclass(frozen=True)
class Pending:
    token: str
    list: str
    address: str
    action: str  # "subscribe" / "unsubscribe"
    expires: float


def check_member_address(address: str) -> str:
    a = address.strip().lower()
    if not _ADDRESS.fullmatch(a):
        raise ValidationError(f"'{address}' is not a mail address (name@domain).")
    return a


class ListStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.held_dir = path.parent / "lists-held"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        # the list addresses, for the per-message check (addresses()): our
        # own writes drop it; another process's are seen by data_version
        self._names: frozenset[str] | None = None
        self._version = -1
        self._checked = 0.0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, args: tuple[object, ...] = ()) -> int:
        with self._lock:
            cur = self._db.execute(sql, args)
            return cur.rowcount

    # -- lists --------------------------------------------------------------------
    def addresses(self) -> frozenset[str]:
        """Every list's address. Asked for each local recipient, so it is a
        set in memory, looked at again when this store changed it, or at
        most once per ``NAMES_RECHECK`` seconds for another process's change
        (the shell's ``list add`` next to a running server)."""
        now = time.monotonic()
        names = self._names
        if names is not None and now - self._checked < NAMES_RECHECK:
            return names
        with self._lock:
            (version,) = self._db.execute("PRAGMA data_version").fetchone()
            if self._names is None or version != self._version:
                rows = self._db.execute("SELECT address FROM lists").fetchall()
                self._names = frozenset(r[0] for r in rows)
                self._version = version
            self._checked = now
            return self._names

    def lists(self) -> list[MailList]:
        with self._lock:
            rows = self._db.execute(
                "SELECT address, title, policy, reply_to, prefix FROM lists "
                "ORDER BY address"
            ).fetchall()
        return [MailList(*r) for r in rows]

    def get(self, address: str) -> MailList | None:
        with self._lock:
            row = self._db.execute(
                "SELECT address, title, policy, reply_to, prefix FROM lists "
                "WHERE address = ?",
                (address.lower(),),
            ).fetchone()
        return MailList(*row) if row else None

    def save(self, ml: MailList) -> MailList:
        """Create or change a list (the address is checked by the caller for
        being on a local domain and not a user's)."""
        address = ml.address.strip().lower()
        local, _, domain = address.partition("@")
        if not _LOCAL.fullmatch(local) or not domain:
            raise ValidationError(
                "A list address is name@domain with letters, digits, '.', '-' or "
                "'_' before the @."
            )
        if local.endswith(RESERVED_SUFFIXES):
            raise ValidationError(
                "A list's name may not end in -request, -bounces, -confirm or "
                "-owner (the list uses those addresses itself)."
            )
        if ml.policy not in POLICIES:
            raise ValidationError(f"Who may post: one of {', '.join(POLICIES)}.")
        if ml.reply_to not in REPLY_TO:
            raise ValidationError(f"Reply-To: one of {', '.join(REPLY_TO)}.")
        if len(ml.title) > 200 or len(ml.prefix) > 40:
            raise ValidationError("The title or the subject prefix is too long.")
        if any(ord(c) < 32 for c in ml.title + ml.prefix):
            raise ValidationError("The title or prefix contains a control character.")
        saved = MailList(address, ml.title.strip(), ml.policy, ml.reply_to, ml.prefix)
        with self._lock:
            count = self._db.execute("SELECT count(*) FROM lists").fetchone()[0]
            exists = self._db.execute(
                "SELECT 1 FROM lists WHERE address = ?", (address,)
            ).fetchone()
            if not exists and count >= MAX_LISTS:
                raise ValidationError(f"At most {MAX_LISTS} lists.")
            self._names = None
            self._db.execute(
                "INSERT INTO lists (address, title, policy, reply_to, prefix, created) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(address) DO UPDATE SET "
                "title = excluded.title, policy = excluded.policy, "
                "reply_to = excluded.reply_to, prefix = excluded.prefix",
                (*_row(saved), time.time()),
            )
        return saved

    def remove(self, address: str) -> None:
        self._names = None
        if not self._write("DELETE FROM lists WHERE address = ?", (address.lower(),)):
            raise ValidationError(f"There is no list {address}.")

    # -- members and moderators ------------------------------------------------------
    def members(self, address: str) -> list[Member]:
        with self._lock:
            rows = self._db.execute(
                "SELECT address, enabled, bounces FROM members WHERE list = ? "
                "ORDER BY address",
                (address.lower(),),
            ).fetchall()
        return [Member(a, bool(e), b) for a, e, b in rows]

    def is_member(self, list_address: str, address: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM members WHERE list = ? AND address = ?",
                (list_address.lower(), address.lower()),
            ).fetchone()
        return row is not None

    def add_member(self, list_address: str, address: str) -> Member:
        ml = self._existing(list_address)
        a = check_member_address(address)
        with self._lock:
            n = self._db.execute(
                "SELECT count(*) FROM members WHERE list = ?", (ml.address,)
            ).fetchone()[0]
            if n >= MAX_MEMBERS:
                raise ValidationError(f"A list has at most {MAX_MEMBERS} members.")
            self._db.execute(
                "INSERT INTO members (list, address) VALUES (?, ?) "
                "ON CONFLICT(list, address) DO UPDATE SET enabled = 1, bounces = 0",
                (ml.address, a),
            )
        return Member(a)

    def remove_member(self, list_address: str, address: str) -> bool:
        return bool(
            self._write(
                "DELETE FROM members WHERE list = ? AND address = ?",
                (list_address.lower(), address.strip().lower()),
            )
        )

    def set_member_enabled(self, list_address: str, address: str, on: bool) -> None:
        self._write(
            "UPDATE members SET enabled = ?, bounces = CASE WHEN ? THEN 0 "
            "ELSE bounces END WHERE list = ? AND address = ?",
            (int(on), int(on), list_address.lower(), address.lower()),
        )

    def count_bounce(self, list_address: str, address: str) -> Member | None:
        """One more bounce for the member; switched off at
        ``BOUNCES_TO_DISABLE``. None if not a member."""
        with self._lock:
            self._db.execute(
                "UPDATE members SET bounces = bounces + 1, last_bounce = ?, "
                "enabled = CASE WHEN bounces + 1 >= ? THEN 0 ELSE enabled END "
                "WHERE list = ? AND address = ?",
                (
                    time.time(),
                    BOUNCES_TO_DISABLE,
                    list_address.lower(),
                    address.lower(),
                ),
            )
            row = self._db.execute(
                "SELECT address, enabled, bounces FROM members "
                "WHERE list = ? AND address = ?",
                (list_address.lower(), address.lower()),
            ).fetchone()
        return Member(row[0], bool(row[1]), row[2]) if row else None

    def moderators(self, address: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT address FROM moderators WHERE list = ? ORDER BY address",
                (address.lower(),),
            ).fetchall()
        return [r[0] for r in rows]

    def set_moderators(self, list_address: str, addresses: list[str]) -> list[str]:
        ml = self._existing(list_address)
        clean = sorted({check_member_address(a) for a in addresses})
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM moderators WHERE list = ?", (ml.address,))
                self._db.executemany(
                    "INSERT INTO moderators (list, address) VALUES (?, ?)",
                    [(ml.address, a) for a in clean],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return clean

    # -- moderation ----------------------------------------------------------------
    def held(self, list_address: str | None = None) -> list[HeldMessage]:
        sql = "SELECT id, list, sender, subject, received FROM held"
        args: tuple[object, ...] = ()
        if list_address is not None:
            sql += " WHERE list = ?"
            args = (list_address.lower(),)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY received", args).fetchall()
        return [HeldMessage(*r) for r in rows]

    def hold(self, held: HeldMessage, message: bytes) -> bool:
        """Keep ``message`` for moderation (durably, before the SMTP OK);
        False when the list already holds ``MAX_HELD``."""
        with self._lock:
            n = self._db.execute(
                "SELECT count(*) FROM held WHERE list = ?", (held.list,)
            ).fetchone()[0]
        if n >= MAX_HELD:
            return False
        self.held_dir.mkdir(mode=0o700, exist_ok=True)
        fsutil.atomic_write(self.held_dir / f"{held.id}.eml", message, mode=0o600)
        self._write(
            "INSERT OR IGNORE INTO held (id, list, sender, subject, received) "
            "VALUES (?, ?, ?, ?, ?)",
            (held.id, held.list, held.sender, held.subject, held.received),
        )
        return True

    def held_message(self, held_id: str) -> tuple[HeldMessage, bytes]:
        if not re.fullmatch(r"[0-9a-f]{8,64}", held_id):
            raise ValidationError("There is no such held message.")
        with self._lock:
            row = self._db.execute(
                "SELECT id, list, sender, subject, received FROM held WHERE id = ?",
                (held_id,),
            ).fetchone()
        if row is None:
            raise ValidationError("There is no such held message.")
        try:
            data = (self.held_dir / f"{held_id}.eml").read_bytes()
        except FileNotFoundError:
            self._write("DELETE FROM held WHERE id = ?", (held_id,))
            raise ValidationError("The held message is gone.") from None
        return HeldMessage(*row), data

    def mark_approved(self, held_id: str) -> None:
        """Approved from another process (the CLI): the running core sends it
        at its next look (ListService.process_approved)."""
        if not self._write("UPDATE held SET approved = 1 WHERE id = ?", (held_id,)):
            raise ValidationError("There is no such held message.")

    def approved_ids(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM held WHERE approved = 1").fetchall()
        return [r[0] for r in rows]

    def release(self, held_id: str) -> None:
        self._write("DELETE FROM held WHERE id = ?", (held_id,))
        (self.held_dir / f"{held_id}.eml").unlink(missing_ok=True)

    # -- confirmations -----------------------------------------------------------------
    def add_pending(self, p: Pending) -> None:
        self._write("DELETE FROM pending WHERE expires < ?", (time.time(),))
        self._write(
            "INSERT INTO pending (token, list, address, action, expires) "
            "VALUES (?, ?, ?, ?, ?)",
            (p.token, p.list, p.address, p.action, p.expires),
        )

    def take_pending(self, token: str, now: float) -> Pending | None:
        """The confirmation for ``token`` (used up), None if unknown or old."""
        with self._lock:
            row = self._db.execute(
                "SELECT token, list, address, action, expires FROM pending "
                "WHERE token = ?",
                (token,),
            ).fetchone()
            self._db.execute("DELETE FROM pending WHERE token = ?", (token,))
        if row is None or row[4] < now:
            return None
        return Pending(*row)

    def _existing(self, address: str) -> MailList:
        ml = self.get(address)
        if ml is None:
            raise ValidationError(f"There is no list {address}.")
        return ml


def _row(ml: MailList) -> tuple[str, str, str, str, str]:
    return (ml.address, ml.title, ml.policy, ml.reply_to, ml.prefix)


ListMember = Member  # the name the window knows it by (server.api)
