"""The core's authenticator: one door for every protocol's login.

It runs the Argon2id check in a worker thread (never on the core loop), counts
failures per IP and per user across all protocols, and bans an IP for
``security.ban_time`` after ``security.max_failures`` failures within
``security.failure_window`` seconds. Passwords never reach a log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.accounts.base import AccountStore, User

log = logging.getLogger("quicksilver.auth")


@dataclass(frozen=True)
class Ban:
    ip: str
    until: float
    reason: str


class CoreAuthenticator:
    def __init__(
        self,
        accounts: AccountStore,
        settings: Callable[[], Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._accounts = accounts
        self._settings = settings
        self._clock = clock
        self._failures_ip: dict[str, deque[float]] = {}
        self._failures_user: dict[str, deque[float]] = {}
        self._bans: dict[str, Ban] = {}

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
        return self._bans.pop(peer_ip, None) is not None

    def _record_failure(self, ip: str, username: str) -> None:
        sec = self._settings().security
        now = self._clock()
        window = now - sec.failure_window
        for table, key in (
            (self._failures_ip, ip),
            (self._failures_user, username.lower()),
        ):
            if not key:
                continue
            q = table.setdefault(key, deque())
            q.append(now)
            while q and q[0] < window:
                q.popleft()
        q_ip = self._failures_ip.get(ip)
        if ip and ip not in ("local-ui",) and q_ip and len(q_ip) >= sec.max_failures:
            self._bans[ip] = Ban(ip, now + sec.ban_time, f"{len(q_ip)} failed logins")
            q_ip.clear()
            log.warning(
                "banned %s for %d s after repeated failed logins", ip, sec.ban_time
            )

    async def authenticate(
        self, username: str, password: str, *, peer: str, protocol: str
    ) -> User | None:
        ip = peer.rsplit(":", 1)[0] if peer.count(":") == 1 else peer
        if self.is_banned(ip):
            return None
        user = await asyncio.to_thread(self._accounts.authenticate, username, password)
        if user is None:
            self._record_failure(ip, username)
            log.info("[%s] %s login failed for %r", peer, protocol, username[:64])
            return None
        log.info("[%s] %s login ok: %s", peer, protocol, user.address)
        return user
