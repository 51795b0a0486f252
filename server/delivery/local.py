"""Local delivery: resolve an address (user, alias, catch-all) and store the
message in each user's INBOX with a ``Return-Path`` header (RFC 5321 4.4).

Idempotent per (job, user): the Maildir unique name is derived from the job id,
so a job replayed after a crash never stores a message twice.
"""

from __future__ import annotations

import logging
import re

from server import bytesutil
from server.accounts.base import AccountStore
from server.errors import PermanentError, QuotaExceededError
from server.storage.base import MailStore

log = logging.getLogger("quicksilver.delivery")

_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class UnknownRecipient(PermanentError):
    smtp_code = 550
    enhanced = "5.1.1"


def return_path_header(sender: str) -> bytes:
    clean = "".join(c for c in sender if ord(c) >= 0x20 and ord(c) != 0x7F)
    return b"Return-Path: <" + clean.encode("utf-8", "replace") + b">\r\n"


class LocalDelivery:
    def __init__(self, accounts: AccountStore, store: MailStore, hostname: str) -> None:
        self.accounts = accounts
        self.store = store
        self.host = _SAFE.sub("_", hostname or "quicksilver")[:60]
        self._ensured: set[str] = set()

    def targets(self, recipient: str) -> list[str]:
        users = self.accounts.resolve(recipient)
        if not users:
            raise UnknownRecipient("No such user here")
        return users

    async def deliver(
        self,
        job_id: str,
        created: float,
        sender: str,
        recipient: str,
        message: bytes,
        *,
        already: set[str] | None = None,
    ) -> list[str]:
        """Deliver to every user behind ``recipient``; return their addresses.

        ``already`` holds users this job has delivered to (one copy per user even
        when an alias and the user are both recipients).
        """
        delivered: list[str] = []
        # a large copy runs off the core loop (bytesutil)
        data = await bytesutil.join((return_path_header(sender), message))
        for user_addr in self.targets(recipient):
            if already is not None and user_addr in already:
                continue
            user = self.accounts.get_user(user_addr)
            if user is None:  # deleted between RCPT and delivery
                raise UnknownRecipient("No such user here")
            if user.quota_bytes:
                used = await self.store.usage(user.address)
                if used + len(data) > user.quota_bytes:
                    raise QuotaExceededError("Mailbox is full")
            unique = (
                f"{int(created)}.Q{job_id}U{_SAFE.sub('_', user.address)}.{self.host}"
            )
            if user.address not in self._ensured:
                await self.store.ensure_user(user.address)
                self._ensured.add(user.address)
            await self.store.deliver(user.address, data, unique=unique)
            delivered.append(user.address)
            if already is not None:
                already.add(user.address)
            log.debug(
                "job %s delivered to %s (for %s)", job_id, user.address, recipient
            )
        return delivered
