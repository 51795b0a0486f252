"""The core's authenticator: one door for every protocol's login.

What it does
- Runs the Argon2id check in a worker thread (never on the core loop).
- Counts failed logins per IP and per account across all protocols (POP3,
  IMAP, submission, the window's ``check_login``) inside a sliding window of
  ``security.failure_window`` seconds.
- Per IP: after ``security.max_failures`` failures the IP is banned for
  ``security.ban_time`` seconds; a banned IP is refused at connect by every
  listening module (``_AdmissionGuard``) and here. Addresses are compared by
  ``ban_key``: an IPv4-mapped IPv6 address (``::ffff:192.0.2.7``, what a
  dual-stack socket reports) is its IPv4 address, and an IPv6 address stands
  for its /64 (RFC 4291 2.5.4: one link's prefix; one subscriber gets at least
  that much, so a host can take any address in it). Loopback and link-local
  IPv6 addresses (``fe80::/10``, shared by every link) count one by one.
- Per account: after ``security.user_max_failures`` failures for one account
  (from any number of IPs: a distributed guess) its logins are refused for
  ``security.user_lock_time`` seconds, even with the right password; the
  failures keep being counted, so the IPs behind them still get banned. The
  lock is short on purpose: it slows a botnet to a crawl without locking the
  owner out for long. Failures count against the account the name resolves to
  (``AccountStore.login_address``: any case, a trailing dot, the bare name), so
  no other spelling gets past a lock. A name that is no account (a guess, an
  alias) is counted by the name as typed, case-folded, in a table of at most
  ``MAX_UNKNOWN_NAMES`` names, so guessing names costs the server no memory.

What it does not do: store passwords, or log them (only the user name, cut to
64 characters, reaches the log). Every table is bounded (``MAX_TRACKED``,
``MAX_UNKNOWN_NAMES``): stale entries go first, then the oldest.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from server.accounts.base import AccountStore, User
from server.accounts.legacy import LegacySecrets
from server.config.schema import Settings

log = logging.getLogger("quicksilver.auth")

# Peers that are not network addresses and are never banned (the window).
UNBANNABLE = frozenset({"", "local-ui"})
# Keys per IP / account / lock table (memory bound: a botnet of many IPs).
MAX_TRACKED = 10_000
# Login names that are no account, counted as typed (memory bound: a guesser
# trying a million names must not grow the table).
MAX_UNKNOWN_NAMES = 10_000
# Characters of a typed login name kept as its key (RFC 5321 4.5.3.1: 64 + 1 +
# 255 for an address).
MAX_NAME_KEY = 320
# RFC 4291 2.5.4: the prefix of one link; the unit an IPv6 ban covers.
IPV6_BAN_PREFIX = 64

_V = TypeVar("_V")


@dataclass(frozen=True)
class Ban:
    ip: str  # an IPv4 address, an IPv6 /64 ("2001:db8:1:2::/64"), or one IPv6
    until: float
    reason: str


def peer_address(peer: str) -> str:
    """The IP of a peer given as ``ip``, ``ip:port``, ``[v6]:port`` or ``v6``."""
    text = peer.strip()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
        return text  # a bare IPv4 or IPv6 address (an IPv6 never loses a part)
    except ValueError:
        pass
    if text.count(":") == 1:
        return text.rsplit(":", 1)[0]
    return text


def ban_key(ip: str) -> str:
    """What a ban or an IP's failure count is kept under.

    ``::ffff:192.0.2.7`` -> ``192.0.2.7`` (the access list does the same);
    ``2001:db8:1:2::5`` -> ``2001:db8:1:2::/64``; ``::1`` and ``fe80::1`` stay
    themselves; a network as shown in the bans list maps to itself, so "Unban"
    accepts either. Anything that is not an address is returned as given.
    """
    text = ip.strip()
    if text in UNBANNABLE:
        return text
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            if net.prefixlen == net.max_prefixlen:
                return ban_key(str(net.network_address))
            return str(net)
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        if addr.is_loopback or addr.is_link_local:
            return str(addr)
        return str(ipaddress.IPv6Network((addr, IPV6_BAN_PREFIX), strict=False))
    return str(addr)


def _bound(table: dict[str, _V], limit: int, stale: Callable[[_V], bool]) -> None:
    """Keep ``table`` under ``limit`` keys: drop stale entries, then the oldest."""
    if len(table) < limit:
        return
    for key in [k for k, v in table.items() if stale(v)]:
        del table[key]
    while len(table) >= limit:
        del table[next(iter(table))]


class CoreAuthenticator:
    def __init__(
        self,
        accounts: AccountStore,
        settings: Callable[[], Settings],
        clock: Callable[[], float] = time.time,
        legacy: LegacySecrets | None = None,
    ) -> None:
        self._legacy = legacy  # legacy passwords (APOP, CRAM-MD5)
        self._accounts = accounts
        self._settings = settings
        self._clock = clock
        self._failures_ip: dict[str, deque[float]] = {}
        self._failures_user: dict[str, deque[float]] = {}  # accounts
        self._failures_name: dict[str, deque[float]] = {}  # names of nobody
        self._bans: dict[str, Ban] = {}
        self._user_locks: dict[str, float] = {}

    # -- bans (per IP) -----------------------------------------------------------
    def is_banned(self, peer_ip: str) -> bool:
        key = ban_key(peer_ip)
        ban = self._bans.get(key)
        if ban is None:
            return False
        if ban.until <= self._clock():
            del self._bans[key]
            return False
        return True

    def bans(self) -> list[Ban]:
        now = self._clock()
        return [b for b in self._bans.values() if b.until > now]

    def unban(self, peer_ip: str) -> bool:
        key = ban_key(peer_ip)
        self._failures_ip.pop(key, None)
        return self._bans.pop(key, None) is not None

    # -- locks (per account) ------------------------------------------------------
    def _user_key(self, username: str) -> tuple[str, bool]:
        """(key, is an account): the account's address, or the typed name."""
        address = self._accounts.login_address(username)
        if address is not None:
            return address, True
        return username.strip().lower()[:MAX_NAME_KEY], False

    def is_user_locked(self, username: str) -> bool:
        return self._locked(self._user_key(username)[0])

    def _locked(self, key: str) -> bool:
        until = self._user_locks.get(key)
        if until is None:
            return False
        if until <= self._clock():
            del self._user_locks[key]
            return False
        return True

    def locked_users(self) -> list[tuple[str, float]]:
        """(account or login name, locked until) of every lock in force now."""
        now = self._clock()
        return sorted((k, u) for k, u in self._user_locks.items() if u > now)

    def unlock_user(self, username: str) -> bool:
        key, _ = self._user_key(username)
        self._failures_user.pop(key, None)
        self._failures_name.pop(key, None)
        return self._user_locks.pop(key, None) is not None

    def failures(self, *, ip: str = "", username: str = "") -> int:
        """Failures counted in the current window for an IP or a login name."""
        sec = self._settings().security
        since = self._clock() - sec.failure_window
        if ip:
            q = self._failures_ip.get(ban_key(ip), ())
        else:
            key, known = self._user_key(username)
            q = (self._failures_user if known else self._failures_name).get(key, ())
        return sum(1 for t in q if t >= since)

    # -- counting -----------------------------------------------------------------
    def _count(
        self, table: dict[str, deque[float]], key: str, limit: int, now: float
    ) -> deque[float]:
        since = now - self._settings().security.failure_window
        if key not in table:
            _bound(table, limit, lambda q: not q or q[-1] < since)
        q = table.setdefault(key, deque())
        q.append(now)
        while q and q[0] < since:
            q.popleft()
        return q

    def ban(self, ip: str, reason: str) -> Ban | None:
        """Ban ``ip`` for ``security.ban_time`` by hand (the window's
        "disconnect and ban"); None for what cannot be banned."""
        key = ban_key(ip)
        if key in UNBANNABLE:
            return None
        now = self._clock()
        _bound(self._bans, MAX_TRACKED, lambda b: b.until <= now)
        until = now + self._settings().security.ban_time
        ban = self._bans[key] = Ban(key, until, reason)
        log.warning("banned %s: %s", key, reason)
        return ban

    def _record_failure(self, ip: str, username: str) -> None:
        sec = self._settings().security
        now = self._clock()
        ip_key = ban_key(ip)
        if ip_key:
            q_ip = self._count(self._failures_ip, ip_key, MAX_TRACKED, now)
            if ip_key not in UNBANNABLE and len(q_ip) >= sec.max_failures:
                _bound(self._bans, MAX_TRACKED, lambda b: b.until <= now)
                self._bans[ip_key] = Ban(
                    ip_key, now + sec.ban_time, f"{len(q_ip)} failed logins"
                )
                q_ip.clear()
                log.warning(
                    "banned %s for %d s after repeated failed logins",
                    ip_key,
                    sec.ban_time,
                )
        user, known = self._user_key(username)
        if not user:
            return
        if known:
            q_user = self._count(self._failures_user, user, MAX_TRACKED, now)
        else:
            q_user = self._count(self._failures_name, user, MAX_UNKNOWN_NAMES, now)
        if len(q_user) >= sec.user_max_failures and not self._locked(user):
            _bound(self._user_locks, MAX_TRACKED, lambda until: until <= now)
            self._user_locks[user] = now + sec.user_lock_time
            q_user.clear()
            log.warning(
                "logins for %r refused for %d s after %d failed logins",
                user[:64],
                sec.user_lock_time,
                sec.user_max_failures,
            )

    def legacy_available(self) -> bool:
        """Some user has a legacy password (APOP and CRAM-MD5 may be offered)."""
        return self._legacy is not None and self._legacy.has_any()

    async def authenticate_digest(
        self,
        username: str,
        verify: Callable[[str], bool],
        *,
        peer: str,
        protocol: str,
    ) -> User | None:
        """APOP and CRAM-MD5: ``verify(secret)`` checks the client's digest
        against the user's legacy password (never the normal one). Bans,
        locks and failure counts as for ``authenticate``, except for a user
        who has no legacy password: nothing can be guessed there, and mail
        programs that try CRAM-MD5 first (Python's smtplib, some phones)
        then go on with PLAIN, which must not cost them a ban."""
        ip = peer_address(peer)
        if self.is_banned(ip) or self._legacy is None:
            return None
        if self.is_user_locked(username):
            self._record_failure(ip, username)
            return None
        address = self._accounts.login_address(username)
        user = self._accounts.get_user(address) if address else None
        secret = None
        if user is not None and user.enabled:
            secret = await asyncio.to_thread(self._legacy.get, user.address)
        if user is not None and user.enabled and secret is None:
            log.info("[%s] %s: %s has no legacy password", peer, protocol, user.address)
            return None
        if user is None or secret is None or not verify(secret):
            self._record_failure(ip, username)
            log.info(
                "[%s] %s legacy login failed for %r", peer, protocol, username[:64]
            )
            return None
        log.info("[%s] %s legacy login ok: %s", peer, protocol, user.address)
        return user

    async def authenticate(
        self, username: str, password: str, *, peer: str, protocol: str
    ) -> User | None:
        ip = peer_address(peer)
        if self.is_banned(ip):
            return None
        if self.is_user_locked(username):
            self._record_failure(ip, username)
            log.info(
                "[%s] %s login refused for %r: too many failed logins",
                peer,
                protocol,
                username[:64],
            )
            return None
        user = await asyncio.to_thread(self._accounts.authenticate, username, password)
        if user is None:
            self._record_failure(ip, username)
            log.info("[%s] %s login failed for %r", peer, protocol, username[:64])
            return None
        log.info("[%s] %s login ok: %s", peer, protocol, user.address)
        return user
