"""``SqliteAccountStore``: domains, users and aliases in ``accounts.sqlite3``.

What it does: keeps the accounts in SQLite (WAL, one writing connection guarded
by a lock) and an in-memory snapshot for the lookups the protocols make on every
command (``is_local_domain``, ``get_user``, ``resolve``, ``login_address``).

Freshness: the shell commands of ``quicksilver-server`` write to the same file
from another process while a server runs, and their changes must hold for the
next login. Before every lookup the store asks a second, read-only connection
for ``PRAGMA data_version`` (a few microseconds; it changes whenever any other
connection commits) and re-reads the snapshot only when it changed. A password
check (``authenticate``) reads the user's row itself, so a disabled, deleted or
re-keyed user is refused by the very next login.

Postmaster (RFC 5321 4.5.1): every domain has ``postmaster@domain``, made as an
alias to the domain's first user (or the server's first user) when the domain
or its first user is added, and at start for older data folders. Its targets
may be changed, it cannot be removed, and a real user named postmaster takes its
place. ``RCPT TO:<postmaster>`` (no domain) is the primary domain's postmaster.

What it does not do: count failed logins or ban (the authenticator in
``server/auth.py`` does), or touch mailboxes (the facade does).
Limits: meant for the 2-200 mailboxes of one machine; all of it fits in memory
(a snapshot re-reads in 0.5 ms for 200 users, 2.5 ms for 1,000).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import mmap
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.accounts.base import Alias, Domain, User
from server.accounts.hashing import PasswordHashing
from server.accounts.strength import password_problem
from server.accounts.validate import (
    check_password,
    display_domain,
    normalize_address,
    normalize_domain,
    normalize_local,
)
from server.errors import ValidationError
from server.paths import create_private

log = logging.getLogger("quicksilver.accounts")

# RFC 5321 4.5.1: every SMTP server must accept mail for this local part.
POSTMASTER = "postmaster"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS domains (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS users (
    address TEXT PRIMARY KEY,
    local TEXT NOT NULL,
    domain TEXT NOT NULL REFERENCES domains(name),
    password_hash TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1,
    quota_bytes INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
    address TEXT NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (address, target)
);
"""

_USER_COLUMNS = "address, local, domain, display_name, enabled, quota_bytes, created"


@dataclass
class _Snapshot:
    domains: dict[str, Domain] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    primary: str = ""  # meta.primary_domain (may name a removed domain)

    def copy(self) -> _Snapshot:
        """A copy a writer may change (the shared one is read by other threads)."""
        return _Snapshot(
            dict(self.domains), dict(self.users), dict(self.aliases), self.primary
        )

    def first_user(self, domain: str = "") -> str | None:
        """The oldest user (of ``domain``, or of the server): postmaster's target."""
        users = [u for u in self.users.values() if not domain or u.domain == domain]
        if not users:
            return None
        return min(users, key=lambda u: (u.created, u.address)).address

    def primary_domain(self) -> str:
        """The domain a bare name belongs to: the one set up first (the first-run
        wizard's or ``init``'s), else the oldest user's, else the first by name."""
        if self.primary in self.domains:
            return self.primary
        first = self.first_user()
        if first is not None:
            return first.rsplit("@", 1)[1]
        return next(iter(self.domains), "")


def _user(row: tuple[Any, ...]) -> User:
    return User(
        address=row[0],
        local=row[1],
        domain=row[2],
        display_name=row[3],
        enabled=bool(row[4]),
        quota_bytes=int(row[5]),
        created=float(row[6]),
    )


class VerifiedLogins:
    """Logins that passed Argon2id a moment ago, so a client that logs in
    again and again (a phone polling, webmail per request) does not pay
    18 ms of Argon2id each time: the auth cache of Dovecot
    (``auth_cache_size``), in memory only.

    What is kept is a keyed digest of (address, password) under a random key
    of this process, never the password, with the stored hash it matched: a
    changed password (another hash), a disabled or deleted user (no row)
    misses. Entries last ``TTL`` seconds, at most ``MAX_ENTRIES`` (oldest
    out first). A failed login is never kept: every wrong guess costs the
    full Argon2id. Thread-safe (logins are checked in worker threads).
    """

    TTL = 600.0
    MAX_ENTRIES = 2000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[float, str]] = OrderedDict()
        self.clock = clock

    def proof(self, address: str, password: str) -> bytes:
        data = f"{address}\x00{password}".encode("utf-8", "surrogatepass")
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def holds(self, proof: bytes, stored: str) -> bool:
        with self._lock:
            hit = self._entries.get(proof)
            if hit is None:
                return False
            if hit[0] <= self.clock() or not hmac.compare_digest(hit[1], stored):
                del self._entries[proof]
                return False
            return True

    def remember(self, proof: bytes, stored: str) -> None:
        with self._lock:
            self._entries[proof] = (self.clock() + self.TTL, stored)
            self._entries.move_to_end(proof)
            while len(self._entries) > self.MAX_ENTRIES:
                self._entries.popitem(last=False)


class _WalHeader:
    """Has any connection, of any process, committed since the last look?

    In WAL mode every commit rewrites the header of the WAL index (the
    ``-shm`` file SQLite maps into every connection's memory: its change
    counter, frame count and salts, the first 48 bytes). Mapped here too,
    reading it is a memory read, with no system call, so no hand-over of the
    interpreter lock on the busy core loop. Any difference means "ask
    SQLite" (``PRAGMA data_version``, the authority); so does a header that
    cannot be mapped (no WAL: every look asks). The file stays while our own
    connections are open, so the mapping stays the live one.
    """

    SIZE = 48

    def __init__(self, db_path: Path) -> None:
        self.path = Path(f"{db_path}-shm")
        self._map: mmap.mmap | None = None
        self._tried = 0.0

    def _open(self) -> mmap.mmap | None:
        now = time.monotonic()
        if now - self._tried < 1.0:
            return None  # not there a moment ago: ask SQLite meanwhile
        self._tried = now
        try:
            with open(self.path, "rb") as f:
                return mmap.mmap(f.fileno(), self.SIZE, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None

    def current(self) -> bytes | None:
        """The header now; None when it cannot be read (then: ask)."""
        if self._map is None:
            self._map = self._open()
            if self._map is None:
                return None
        return self._map[: self.SIZE]

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


class SqliteAccountStore:
    def __init__(self, path: Path, hashing: PasswordHashing | None = None) -> None:
        self.path = path
        self.hashing = hashing or PasswordHashing()
        self._lock = threading.RLock()
        # 0600 before SQLite opens it: its -wal/-shm/-journal files copy this mode
        create_private(path)
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._db.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '1')"
        )
        self._snap = _Snapshot()
        # a second, read-only connection for the lookups' freshness checks
        self._probe = sqlite3.connect(
            f"file:{path}?mode=ro",
            uri=True,
            check_same_thread=False,
            isolation_level=None,
        )
        self._probe_lock = threading.Lock()
        self._probe_version = -1
        self._wal = _WalHeader(path)
        self._wal_seen: bytes | None = None
        self._dummy_hash = self.hashing.hash("not a real password")
        self._verified = VerifiedLogins()
        self._migrate()

    def close(self) -> None:
        with self._probe_lock:
            self._wal.close()
            self._probe.close()
        with self._lock:
            self._db.close()

    # -- snapshot --------------------------------------------------------------
    def _fresh(self) -> _Snapshot:
        """The snapshot, re-read when anyone (this store, or the shell commands
        of ``quicksilver-server`` in another process) committed a change.

        Called on the core loop, so it never waits for ``_lock`` (held by writers
        across an fsync): it asks a separate read connection, which in WAL mode
        is never blocked by a writer. ``PRAGMA data_version`` costs microseconds;
        the re-read happens only after a change. Before it, a look at the
        WAL index header (``_WalHeader``: memory, no system call) says
        whether any connection committed since the last look; only then is
        the version asked.
        """
        # read before the version is asked: a commit in between shows as a
        # changed header next time (one more ask), never as a missed one
        head = self._wal.current()
        if head is not None and head == self._wal_seen:
            return self._snap  # no commit anywhere since the last look
        with self._probe_lock:
            (version,) = self._probe.execute("PRAGMA data_version").fetchone()
            if version != self._probe_version:
                self._probe.execute("BEGIN")  # one consistent read of all tables
                try:
                    self._snap = self._read_snapshot(self._probe)
                finally:
                    self._probe.execute("COMMIT")
                self._probe_version = version
            self._wal_seen = head
            return self._snap

    @staticmethod
    def _read_snapshot(db: sqlite3.Connection) -> _Snapshot:
        snap = _Snapshot()
        for (name,) in db.execute("SELECT name FROM domains ORDER BY name"):
            snap.domains[name] = Domain(name, display_domain(name))
        for row in db.execute(
            f"SELECT {_USER_COLUMNS} FROM users ORDER BY domain, local"
        ):
            snap.users[row[0]] = _user(row)
        targets: dict[str, list[str]] = {}
        for addr, target in db.execute(
            "SELECT address, target FROM aliases ORDER BY address, target"
        ):
            targets.setdefault(addr, []).append(target)
        snap.aliases = {k: tuple(v) for k, v in targets.items()}
        row = db.execute(
            "SELECT value FROM meta WHERE key = 'primary_domain'"
        ).fetchone()
        snap.primary = row[0] if row else ""
        return snap

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. ``BEGIN IMMEDIATE`` takes SQLite's write lock
        first, so checks made against ``_fresh()`` inside it cannot be overtaken
        by another process's commit; the snapshot is re-read after the commit."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._fresh()

    def _migrate(self) -> None:
        """Bring a data folder from an older version up to date: record its
        primary domain, give its domains their postmaster aliases."""
        snap = self._fresh()
        if not snap.domains:
            return
        if snap.primary in snap.domains and not _missing_postmasters(snap):
            return
        with self._write() as db:
            snap = self._fresh()
            if snap.primary not in snap.domains:
                db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) "
                    "VALUES ('primary_domain', ?)",
                    (snap.primary_domain(),),
                )
            self._ensure_postmasters(snap)

    def _ensure_postmasters(self, snap: _Snapshot) -> None:
        """Give every domain without one a ``postmaster`` alias (inside ``_write``).

        The target is the domain's first user, else the server's first user;
        with no users at all there is nobody to point at yet (the first user's
        ``add_user`` calls this again).
        """
        for dom in _missing_postmasters(snap):
            addr = f"{POSTMASTER}@{dom}"
            target = snap.first_user(dom) or snap.first_user()
            if target is None:
                continue
            self._db.execute(
                "INSERT INTO aliases(address, target) VALUES (?, ?)", (addr, target)
            )
            log.info("postmaster alias added: %s -> %s", addr, target)

    # -- domains ---------------------------------------------------------------
    def list_domains(self) -> list[Domain]:
        return list(self._fresh().domains.values())

    def add_domain(self, name: str) -> Domain:
        dom = normalize_domain(name)
        with self._write() as db:
            snap = self._fresh().copy()
            if dom in snap.domains:
                raise ValidationError(
                    f"The domain {dom} already exists.", field="domain"
                )
            db.execute("INSERT INTO domains(name) VALUES (?)", (dom,))
            if not snap.domains:  # the first domain is the primary one
                db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) "
                    "VALUES ('primary_domain', ?)",
                    (dom,),
                )
            snap.domains[dom] = Domain(dom, display_domain(dom))
            self._ensure_postmasters(snap)
        log.info("domain added: %s", dom)
        return self._fresh().domains[dom]

    def remove_domain(self, name: str) -> None:
        dom = normalize_domain(name)
        with self._write() as db:
            snap = self._fresh()
            if dom not in snap.domains:
                raise ValidationError(f"There is no domain {dom}.", field="domain")
            if any(u.domain == dom for u in snap.users.values()):
                raise ValidationError(
                    f"The domain {dom} still has users: delete them first.",
                    field="domain",
                )
            db.execute("DELETE FROM aliases WHERE address LIKE ?", (f"%@{dom}",))
            db.execute("DELETE FROM domains WHERE name = ?", (dom,))
            if snap.primary_domain() == dom:  # the next one by the fallback rule
                left = snap.copy()
                del left.domains[dom]
                left.primary = ""
                db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) "
                    "VALUES ('primary_domain', ?)",
                    (left.primary_domain(),),
                )
        log.info("domain removed: %s", dom)

    def is_local_domain(self, domain: str) -> bool:
        try:
            return normalize_domain(domain) in self._fresh().domains
        except ValidationError:
            return False

    def primary_domain(self) -> str:
        """The primary domain: bare login names and ``<postmaster>`` belong to it."""
        return self._fresh().primary_domain()

    def set_primary_domain(self, name: str) -> None:
        """Make an existing domain the primary one (``init``, the first-run setup)."""
        dom = normalize_domain(name)
        with self._write() as db:
            if dom not in self._fresh().domains:
                raise ValidationError(f"There is no domain {dom}.", field="domain")
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('primary_domain', ?)",
                (dom,),
            )

    # -- users -----------------------------------------------------------------
    def list_users(self) -> list[User]:
        return list(self._fresh().users.values())

    def get_user(self, address: str) -> User | None:
        try:
            return self._fresh().users.get(normalize_address(address))
        except ValidationError:
            return None

    def add_user(
        self,
        address: str,
        password: str,
        *,
        display_name: str = "",
        quota_bytes: int = 0,
        enabled: bool = True,
        allow_weak: bool = False,
    ) -> User:
        """Add a mailbox user. The password must pass ``strength.password_problem``
        unless ``allow_weak`` (tests, scripted setups that know better)."""
        addr = normalize_address(address)
        local, dom = addr.rsplit("@", 1)
        check_password(password)
        _check_display(display_name)
        if quota_bytes < 0:
            raise ValidationError("The quota cannot be negative.", field="quota")
        snap = self._fresh()
        if dom not in snap.domains:
            raise ValidationError(
                f"{dom} is not one of this server's domains: add the domain first.",
                field="address",
            )
        if addr in snap.users:  # said before the password's faults
            raise ValidationError(f"The user {addr} already exists.", field="address")
        if not allow_weak:
            _check_strength(password, addr, display_name)
        hashed = self.hashing.hash(password)  # slow: never under the lock
        with self._write() as db:
            snap = self._fresh().copy()
            if dom not in snap.domains:
                raise ValidationError(
                    f"{dom} is not one of this server's domains.", field="address"
                )
            if addr in snap.users:
                raise ValidationError(
                    f"The user {addr} already exists.", field="address"
                )
            if addr in snap.aliases:
                if local != POSTMASTER:
                    raise ValidationError(
                        f"{addr} is already an alias.", field="address"
                    )
                # a real postmaster mailbox takes the alias's place
                db.execute("DELETE FROM aliases WHERE address=?", (addr,))
                del snap.aliases[addr]
            created = time.time()
            db.execute(
                "INSERT INTO users(address, local, domain, password_hash, display_name,"
                " enabled, quota_bytes, created) VALUES (?,?,?,?,?,?,?,?)",
                (
                    addr,
                    local,
                    dom,
                    hashed,
                    display_name,
                    int(enabled),
                    quota_bytes,
                    created,
                ),
            )
            snap.users[addr] = User(
                addr, local, dom, display_name, enabled, quota_bytes, created
            )
            self._ensure_postmasters(snap)
        log.info("user added: %s", addr)
        return self._fresh().users[addr]

    def update_user(
        self,
        address: str,
        *,
        display_name: str | None = None,
        quota_bytes: int | None = None,
        enabled: bool | None = None,
    ) -> User:
        addr = normalize_address(address)
        if display_name is not None:
            _check_display(display_name)
        if quota_bytes is not None and quota_bytes < 0:
            raise ValidationError("The quota cannot be negative.", field="quota")
        with self._write() as db:
            if addr not in self._fresh().users:
                raise ValidationError(f"There is no user {addr}.", field="address")
            if display_name is not None:
                db.execute(
                    "UPDATE users SET display_name=? WHERE address=?",
                    (display_name, addr),
                )
            if quota_bytes is not None:
                db.execute(
                    "UPDATE users SET quota_bytes=? WHERE address=?",
                    (quota_bytes, addr),
                )
            if enabled is not None:
                db.execute(
                    "UPDATE users SET enabled=? WHERE address=?", (int(enabled), addr)
                )
        if enabled is not None:
            log.info("user %s: %s", "enabled" if enabled else "disabled", addr)
        return self._fresh().users[addr]

    def set_password(
        self, address: str, password: str, *, allow_weak: bool = False
    ) -> None:
        addr = normalize_address(address)
        check_password(password)
        user = self._fresh().users.get(addr)
        if user is None:
            raise ValidationError(f"There is no user {addr}.", field="address")
        if not allow_weak:
            _check_strength(password, addr, user.display_name)
        hashed = self.hashing.hash(password)
        with self._write() as db:
            if addr not in self._fresh().users:
                raise ValidationError(f"There is no user {addr}.", field="address")
            db.execute(
                "UPDATE users SET password_hash=? WHERE address=?", (hashed, addr)
            )
        log.info("password changed: %s", addr)

    def delete_user(self, address: str) -> None:
        addr = normalize_address(address)
        with self._write() as db:
            snap = self._fresh().copy()
            if addr not in snap.users:
                raise ValidationError(f"There is no user {addr}.", field="address")
            db.execute("DELETE FROM users WHERE address=?", (addr,))
            db.execute("DELETE FROM aliases WHERE target=?", (addr,))
            del snap.users[addr]
            snap.aliases = {
                a: tuple(t for t in ts if t != addr) for a, ts in snap.aliases.items()
            }
            self._ensure_postmasters(snap)  # re-point a postmaster left empty
        log.info("user deleted: %s", addr)

    # -- aliases ---------------------------------------------------------------
    def list_aliases(self) -> list[Alias]:
        return [Alias(a, t) for a, t in self._fresh().aliases.items()]

    def set_alias(self, address: str, targets: list[str]) -> Alias:
        addr = _normalize_alias_address(address)
        if not targets:
            raise ValidationError(
                "An alias needs at least one target user.", field="targets"
            )
        norm_targets = sorted({normalize_address(t) for t in targets})
        dom = addr.rsplit("@", 1)[1]
        with self._write() as db:
            snap = self._fresh()
            for nt in norm_targets:
                if nt not in snap.users:
                    raise ValidationError(f"{nt} is not a local user.", field="targets")
            if dom not in snap.domains:
                raise ValidationError(
                    f"{dom} is not one of this server's domains.", field="address"
                )
            if addr in snap.users:
                raise ValidationError(f"{addr} is already a user.", field="address")
            db.execute("DELETE FROM aliases WHERE address=?", (addr,))
            for t in norm_targets:
                db.execute(
                    "INSERT INTO aliases(address, target) VALUES (?, ?)", (addr, t)
                )
        return Alias(addr, self._fresh().aliases[addr])

    def remove_alias(self, address: str) -> None:
        addr = _normalize_alias_address(address)
        if addr.split("@", 1)[0] == POSTMASTER:
            raise ValidationError(
                f"{addr} must exist (RFC 5321 4.5.1): change who receives its "
                "mail instead of removing it.",
                field="address",
            )
        with self._write() as db:
            if addr not in self._fresh().aliases:
                raise ValidationError(f"There is no alias {addr}.", field="address")
            db.execute("DELETE FROM aliases WHERE address=?", (addr,))

    def canonical_recipient(self, address: str) -> str:
        """The envelope recipient to keep for ``address``: a bare ``postmaster``
        (any case; RFC 5321 4.5.1 requires ``RCPT TO:<Postmaster>``) becomes the
        primary domain's postmaster; any other address is returned unchanged."""
        if address.strip().lower() == POSTMASTER:
            primary = self.primary_domain()
            if primary:
                return f"{POSTMASTER}@{primary}"
        return address

    def resolve(self, address: str) -> list[str] | None:
        """Users that receive mail for ``address``; None when nobody does.

        Order: a user, then an alias, then the domain's catch-all (``*@dom``).
        Local parts are case-insensitive (RFC 5321 2.4 allows it; every desktop
        server does it). No ``+detail`` stripping. A bare ``postmaster`` is the
        primary domain's (``canonical_recipient``).
        """
        try:
            addr = normalize_address(self.canonical_recipient(address))
        except ValidationError:
            return None
        snap = self._fresh()
        user = snap.users.get(addr)
        if user is not None:
            return [user.address]
        targets = snap.aliases.get(addr)
        if targets:
            return list(targets)
        dom = addr.rsplit("@", 1)[1]
        catch = snap.aliases.get(f"*@{dom}")
        if catch:
            return list(catch)
        return None

    # -- authentication --------------------------------------------------------
    def login_address(self, username: str) -> str | None:
        """The user a login name means, or None when it means nobody.

        A full address in any case, with or without a trailing dot on the
        domain; or a bare name: the primary domain's user of that name, else
        the one user of that name in any domain. Aliases are not login names
        (Dovecot's passdb has none either).
        """
        name = username.strip()
        snap = self._fresh()
        try:
            if "@" in name:
                addr = normalize_address(name)
                return addr if addr in snap.users else None
            local = normalize_local(name)
        except ValidationError:
            return None
        primary = snap.primary_domain()
        if f"{local}@{primary}" in snap.users:
            return f"{local}@{primary}"
        matches = [u.address for u in snap.users.values() if u.local == local]
        return matches[0] if len(matches) == 1 else None

    def authenticate(self, username: str, password: str) -> User | None:
        """Check a login (blocking: Argon2id). The user's row is read from the
        database, not the snapshot: a change committed by another process a
        moment ago (disabled, deleted, new password) holds for this login."""
        addr = self.login_address(username)
        row = None
        if addr is not None:
            with self._lock:
                row = self._db.execute(
                    f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE address=?",
                    (addr,),
                ).fetchone()
        stored: str | None = row[7] if row else None
        proof = self._verified.proof(addr or "", password)
        if (
            row is not None
            and stored is not None
            and self._verified.holds(proof, stored)
        ):
            ok = True  # this password matched this very hash a moment ago
        else:
            # Verify against a dummy hash for unknown users so timing says
            # nothing.
            ok = self.hashing.verify(stored or self._dummy_hash, password)
            if ok and row is not None and stored is not None:
                self._verified.remember(proof, stored)
        if not ok or row is None or stored is None:
            return None
        user = _user(row)
        if not user.enabled:
            return None
        if self.hashing.needs_rehash(stored):
            fresh = self.hashing.hash(password)  # slow: never under the lock
            with self._lock:
                self._db.execute(
                    "UPDATE users SET password_hash=? WHERE address=? "
                    "AND password_hash=?",
                    (fresh, user.address, stored),
                )
        return user


def _missing_postmasters(snap: _Snapshot) -> list[str]:
    """Domains with neither a postmaster user nor a postmaster alias."""
    return [
        dom
        for dom in snap.domains
        if f"{POSTMASTER}@{dom}" not in snap.users
        and not snap.aliases.get(f"{POSTMASTER}@{dom}")
    ]


def _check_strength(password: str, address: str, display_name: str) -> None:
    problem = password_problem(password, (address, display_name))
    if problem:
        raise ValidationError(problem, field="password")


def _normalize_alias_address(address: str) -> str:
    a = address.strip()
    if a.startswith("*@"):
        return "*@" + normalize_domain(a[2:])
    if a.startswith("@"):
        return "*@" + normalize_domain(a[1:])
    return normalize_address(a)


def _check_display(name: str) -> None:
    if len(name) > 200 or any(ord(c) < 0x20 for c in name):
        raise ValidationError(
            "The display name is too long or contains control characters.",
            field="display_name",
        )
