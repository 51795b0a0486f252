"""The core's authenticator: one door for every protocol's login.

What it does
- Runs the Argon2id check in a worker thread (never on the core loop).
- Counts failed logins per IP and per user name across all protocols (POP3,
  IMAP, submission, the window's ``check_login``) inside a sliding window of
  ``security.failure_window`` seconds.
- Per IP: after ``security.max_failures`` failures the IP is banned for
  ``security.ban_time`` seconds; a banned IP is refused at connect by every
  listening module (``_AdmissionGuard``) and here.
- Per user: after ``user_max_failures`` failures for one user name (from any
  number of IPs: a distributed guess) that user's logins are refused for
  ``user_lock_time`` seconds, even with the right password; the failures keep
  being counted, so the IPs behind them still get banned. The lock is short on
  purpose: it slows a botnet to a crawl without locking the owner out for long.

What it does not do: store passwords, or log them (only the user name, cut to
64 characters, reaches the log). The in-memory tables are bounded: stale
entries are pruned once they pass ``MAX_TRACKED`` keys.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.accounts.base import AccountStore, User

log = logging.getLogger("quicksilver.auth")

# Peers that are not network addresses and are never banned (the window).
UNBANNABLE = frozenset({"", "local-ui"})
# Failed logins for one user name (from any IPs) before the user is locked.
DEFAULT_USER_MAX_FAILURES = 20
# Seconds a user stays locked after that (short: the owner must get back in).
DEFAULT_USER_LOCK_TIME = 300.0
# Keys per failure table before stale ones are pruned (memory bound).
MAX_TRACKED = 10_000


@dataclass(frozen=True)
class Ban:
    ip: str
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


class CoreAuthenticator:
    def __init__(
        self,
        accounts: AccountStore,
        settings: Callable[[], Any],
        clock: Callable[[], float] = time.time,
        *,
        user_max_failures: int = DEFAULT_USER_MAX_FAILURES,
        user_lock_time: float = DEFAULT_USER_LOCK_TIME,
    ) -> None:
        self._accounts = accounts
        self._settings = settings
        self._clock = clock
        self.user_max_failures = user_max_failures
        self.user_lock_time = user_lock_time
        self._failures_ip: dict[str, deque[float]] = {}
        self._failures_user: dict[str, deque[float]] = {}
        self._bans: dict[str, Ban] = {}
        self._user_locks: dict[str, float] = {}

    # -- bans (per IP) -----------------------------------------------------------
    def is_banned(self, peer_ip: str) -> bool:
        ban = self._bans.get(peer_ip)
        if ban is None:
            return False
        if ban.until <= self._clock():
            del self._bans[peer_ip]
            return False
        return True

    def bans(self) -> list[Ban]:
        now = self._clock()
        return [b for b in self._bans.values() if b.until > now]

    def unban(self, peer_ip: str) -> bool:
        self._failures_ip.pop(peer_ip, None)
        return self._bans.pop(peer_ip, None) is not None

    # -- locks (per user) -----------------------------------------------------------
    @staticmethod
    def _user_key(username: str) -> str:
        return username.strip().lower()[:320]

    def is_user_locked(self, username: str) -> bool:
        key = self._user_key(username)
        until = self._user_locks.get(key)
        if until is None:
            return False
        if until <= self._clock():
            del self._user_locks[key]
            return False
        return True

    def locked_users(self) -> list[tuple[str, float]]:
        """(login name, locked until) of every user locked now."""
        now = self._clock()
        return sorted((k, u) for k, u in self._user_locks.items() if u > now)

    def unlock_user(self, username: str) -> bool:
        key = self._user_key(username)
        self._failures_user.pop(key, None)
        return self._user_locks.pop(key, None) is not None

    def failures(self, *, ip: str = "", username: str = "") -> int:
        """Failures counted in the current window for an IP or a user name."""
        sec = self._settings().security
        since = self._clock() - sec.failure_window
        if ip:
            table, key = self._failures_ip, ip
        else:
            table, key = self._failures_user, self._user_key(username)
        return sum(1 for t in table.get(key, ()) if t >= since)

    # -- counting -----------------------------------------------------------------
    def _prune(self, table: dict[str, deque[float]], since: float) -> None:
        if len(table) <= MAX_TRACKED:
            return
        for key in [k for k, q in table.items() if not q or q[-1] < since]:
            del table[key]
        now = self._clock()
        for key in [k for k, b in self._bans.items() if b.until <= now]:
            del self._bans[key]
        for key in [k for k, u in self._user_locks.items() if u <= now]:
            del self._user_locks[key]

    def _record_failure(self, ip: str, username: str) -> None:
        sec = self._settings().security
        now = self._clock()
        since = now - sec.failure_window
        user = self._user_key(username)
        for table, key in ((self._failures_ip, ip), (self._failures_user, user)):
            if not key:
                continue
            self._prune(table, since)
            q = table.setdefault(key, deque())
            q.append(now)
            while q and q[0] < since:
                q.popleft()
        q_ip = self._failures_ip.get(ip)
        if ip not in UNBANNABLE and q_ip and len(q_ip) >= sec.max_failures:
            self._bans[ip] = Ban(ip, now + sec.ban_time, f"{len(q_ip)} failed logins")
            q_ip.clear()
            log.warning(
                "banned %s for %d s after repeated failed logins", ip, sec.ban_time
            )
        q_user = self._failures_user.get(user)
        if (
            user
            and q_user
            and len(q_user) >= self.user_max_failures
            and not self.is_user_locked(user)
        ):
            self._user_locks[user] = now + self.user_lock_time
            q_user.clear()
            log.warning(
                "logins for %r refused for %d s after %d failed logins",
                user[:64],
                self.user_lock_time,
                self.user_max_failures,
            )

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
