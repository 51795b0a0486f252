"""``SqliteAccountStore``: domains, users and aliases in ``accounts.sqlite3``.

What it does: keeps the accounts in SQLite (WAL, one connection guarded by a
lock) and an in-memory snapshot for the lookups the protocols make on every
command (``is_local_domain``, ``get_user``, ``resolve``), refreshed after each
write. What it does not do: count failed logins or ban (the authenticator in
``server/auth.py`` does), or touch mailboxes (the facade does).
Limits: meant for the 2-200 mailboxes of one machine; all of it fits in memory.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from server.accounts.base import Alias, Domain, User
from server.accounts.hashing import PasswordHashing
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


@dataclass
class _Snapshot:
    domains: dict[str, Domain] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)


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
        # a second, read-only connection for the loop's freshness checks
        self._probe = sqlite3.connect(
            f"file:{path}?mode=ro",
            uri=True,
            check_same_thread=False,
            isolation_level=None,
        )
        self._probe_lock = threading.Lock()
        self._probe_version = -1
        self._checked = 0.0
        self._dummy_hash = self.hashing.hash("not a real password")
        self._reload()

    def close(self) -> None:
        with self._probe_lock:
            self._probe.close()
        with self._lock:
            self._db.close()

    # -- snapshot --------------------------------------------------------------
    def _fresh(self) -> _Snapshot:
        """The snapshot, re-read when another process (the shell commands of
        ``quicksilver-server``) changed the database; checked at most every 0.5 s.

        Called on the core loop, so it never waits for ``_lock`` (held by writers
        across an fsync): it asks a separate read connection, which in WAL mode
        is never blocked by a writer.
        """
        now = time.monotonic()
        if now - self._checked > 0.5:
            self._checked = now
            with self._probe_lock:
                (version,) = self._probe.execute("PRAGMA data_version").fetchone()
                if version != self._probe_version:
                    self._probe_version = version
                    self._snap = self._read_snapshot(self._probe)
        return self._snap

    def _reload(self) -> None:
        """Re-read after a write of ours (the caller holds ``_lock``)."""
        with self._lock:
            self._snap = self._read_snapshot(self._db)
            self._checked = 0.0  # a probe read racing this one is corrected next call

    @staticmethod
    def _read_snapshot(db: sqlite3.Connection) -> _Snapshot:
        snap = _Snapshot()
        for (name,) in db.execute("SELECT name FROM domains ORDER BY name"):
            snap.domains[name] = Domain(name, display_domain(name))
        for row in db.execute(
            "SELECT address, local, domain, display_name, enabled, quota_bytes, "
            "created FROM users ORDER BY domain, local"
        ):
            snap.users[row[0]] = User(
                address=row[0],
                local=row[1],
                domain=row[2],
                display_name=row[3],
                enabled=bool(row[4]),
                quota_bytes=int(row[5]),
                created=float(row[6]),
            )
        targets: dict[str, list[str]] = {}
        for addr, target in db.execute(
            "SELECT address, target FROM aliases ORDER BY address, target"
        ):
            targets.setdefault(addr, []).append(target)
        snap.aliases = {k: tuple(v) for k, v in targets.items()}
        return snap

    # -- domains ---------------------------------------------------------------
    def list_domains(self) -> list[Domain]:
        return list(self._fresh().domains.values())

    def add_domain(self, name: str) -> Domain:
        dom = normalize_domain(name)
        with self._lock:
            if dom in self._snap.domains:
                raise ValidationError(
                    f"The domain {dom} already exists.", field="domain"
                )
            self._db.execute("INSERT INTO domains(name) VALUES (?)", (dom,))
            self._reload()
        log.info("domain added: %s", dom)
        return self._snap.domains[dom]

    def remove_domain(self, name: str) -> None:
        dom = normalize_domain(name)
        with self._lock:
            if dom not in self._snap.domains:
                raise ValidationError(f"There is no domain {dom}.", field="domain")
            if any(u.domain == dom for u in self._snap.users.values()):
                raise ValidationError(
                    f"The domain {dom} still has users: delete them first.",
                    field="domain",
                )
            self._db.execute("DELETE FROM aliases WHERE address LIKE ?", (f"%@{dom}",))
            self._db.execute("DELETE FROM domains WHERE name = ?", (dom,))
            self._reload()
        log.info("domain removed: %s", dom)

    def is_local_domain(self, domain: str) -> bool:
        try:
            return normalize_domain(domain) in self._fresh().domains
        except ValidationError:
            return False

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
    ) -> User:
        addr = normalize_address(address)
        local, dom = addr.rsplit("@", 1)
        check_password(password)
        _check_display(display_name)
        if quota_bytes < 0:
            raise ValidationError("The quota cannot be negative.", field="quota")
        if dom not in self._snap.domains:
            raise ValidationError(
                f"{dom} is not one of this server's domains: add the domain first.",
                field="address",
            )
        hashed = self.hashing.hash(password)
        with self._lock:
            if addr in self._snap.users:
                raise ValidationError(
                    f"The user {addr} already exists.", field="address"
                )
            if addr in self._snap.aliases:
                raise ValidationError(f"{addr} is already an alias.", field="address")
            self._db.execute(
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
                    time.time(),
                ),
            )
            self._reload()
        log.info("user added: %s", addr)
        return self._snap.users[addr]

    def update_user(
        self,
        address: str,
        *,
        display_name: str | None = None,
        quota_bytes: int | None = None,
        enabled: bool | None = None,
    ) -> User:
        addr = normalize_address(address)
        with self._lock:
            if addr not in self._snap.users:
                raise ValidationError(f"There is no user {addr}.", field="address")
            if display_name is not None:
                _check_display(display_name)
                self._db.execute(
                    "UPDATE users SET display_name=? WHERE address=?",
                    (display_name, addr),
                )
            if quota_bytes is not None:
                if quota_bytes < 0:
                    raise ValidationError(
                        "The quota cannot be negative.", field="quota"
                    )
                self._db.execute(
                    "UPDATE users SET quota_bytes=? WHERE address=?",
                    (quota_bytes, addr),
                )
            if enabled is not None:
                self._db.execute(
                    "UPDATE users SET enabled=? WHERE address=?", (int(enabled), addr)
                )
            self._reload()
        return self._snap.users[addr]

    def set_password(self, address: str, password: str) -> None:
        addr = normalize_address(address)
        check_password(password)
        hashed = self.hashing.hash(password)
        with self._lock:
            if addr not in self._snap.users:
                raise ValidationError(f"There is no user {addr}.", field="address")
            self._db.execute(
                "UPDATE users SET password_hash=? WHERE address=?", (hashed, addr)
            )
        log.info("password changed: %s", addr)

    def delete_user(self, address: str) -> None:
        addr = normalize_address(address)
        with self._lock:
            if addr not in self._snap.users:
                raise ValidationError(f"There is no user {addr}.", field="address")
            self._db.execute("DELETE FROM users WHERE address=?", (addr,))
            self._db.execute("DELETE FROM aliases WHERE target=?", (addr,))
            self._reload()
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
        norm_targets = []
        for t in targets:
            nt = normalize_address(t)
            if nt not in self._snap.users:
                raise ValidationError(f"{nt} is not a local user.", field="targets")
            norm_targets.append(nt)
        dom = addr.rsplit("@", 1)[1]
        if dom not in self._snap.domains:
            raise ValidationError(
                f"{dom} is not one of this server's domains.", field="address"
            )
        if addr in self._snap.users:
            raise ValidationError(f"{addr} is already a user.", field="address")
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute("DELETE FROM aliases WHERE address=?", (addr,))
                for t in sorted(set(norm_targets)):
                    self._db.execute(
                        "INSERT INTO aliases(address, target) VALUES (?, ?)", (addr, t)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._reload()
        return Alias(addr, self._snap.aliases[addr])

    def remove_alias(self, address: str) -> None:
        addr = _normalize_alias_address(address)
        with self._lock:
            if addr not in self._snap.aliases:
                raise ValidationError(f"There is no alias {addr}.", field="address")
            self._db.execute("DELETE FROM aliases WHERE address=?", (addr,))
            self._reload()

    def resolve(self, address: str) -> list[str] | None:
        """Users that receive mail for ``address``; None when nobody does.

        Order: a user, then an alias, then the domain's catch-all (``*@dom``).
        Local parts are case-insensitive (RFC 5321 2.4 allows it; every desktop
        server does it). No ``+detail`` stripping.
        """
        try:
            addr = normalize_address(address)
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
    def _find_login(self, username: str) -> str | None:
        name = username.strip().lower()
        if "@" in name:
            try:
                return normalize_address(name)
            except ValidationError:
                return None
        try:
            local = normalize_local(name)
        except ValidationError:
            return None
        matches = [u.address for u in self._fresh().users.values() if u.local == local]
        return matches[0] if len(matches) == 1 else None

    def authenticate(self, username: str, password: str) -> User | None:
        addr = self._find_login(username)
        stored = None
        if addr is not None:
            with self._lock:
                row = self._db.execute(
                    "SELECT password_hash FROM users WHERE address=?", (addr,)
                ).fetchone()
            stored = row[0] if row else None
        # Verify against a dummy hash for unknown users so timing says nothing.
        ok = self.hashing.verify(stored or self._dummy_hash, password)
        if not ok or stored is None or addr is None:
            return None
        user = self._snap.users.get(addr)
        if user is None or not user.enabled:
            return None
        if self.hashing.needs_rehash(stored):
            fresh = self.hashing.hash(password)  # slow: never under the lock
            with self._lock:
                self._db.execute(
                    "UPDATE users SET password_hash=? WHERE address=?", (fresh, addr)
                )
        return user


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
