"""Local delivery: resolve an address (user, alias, catch-all) and store the
message in each user's INBOX with a ``Return-Path`` header (RFC 5321 4.4), or
in the user's Junk folder when the smtp module marked it as spam
(``X-Spam-Flag: YES``, server/antispam/verdict.py; ``smtp.junk_spam``), or
where the user's Sieve scripts say (their ``keep``, explicit or implicit, then
means Junk too; a ``fileinto`` goes where it says; ``server.sieve.deliver``:
global "before" scripts, the user's active script, global "after" scripts). A
user with no script to run takes the plain path: the check is a few ``stat``
calls, no thread hop.

Idempotent per (job, user): the store key of each copy is derived from the job
(``delivery_key``), so a job replayed after a crash finds the copy an earlier
attempt stored and never stores it twice. The key names the copy in the
mailbox only; the store writes it under a fresh temporary name, so nothing an
interrupted attempt left behind can stand in the replay's way.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable

from server import bytesutil
from server.accounts.base import AccountStore
from server.antispam.verdict import is_marked
from server.errors import (
    MailError,
    OverQuotaForGood,
    PermanentError,
    QuotaExceededError,
)
from server.lists.service import ListService
from server.sieve.deliver import ScriptRejected, SieveDelivery, SieveDeliveryRequest
from server.storage.base import MailboxExists, MailboxNotFound, MailStore
from server.storage.names import MAX_UNIQUE_CHARS

log = logging.getLogger("quicksilver.delivery")

_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class UnknownRecipient(PermanentError):
    smtp_code = 550
    enhanced = "5.1.1"


_CONTROLS = re.compile("[\x00-\x1f\x7f]")


def return_path_header(sender: str) -> bytes:
    clean = _CONTROLS.sub("", sender)  # C0 controls and DEL: never in a header
    return b"Return-Path: <" + clean.encode("utf-8", "replace") + b">\r\n"


def delivery_key(
    job_id: str, created: float, address: str, host: str, folder: str = "INBOX"
) -> str:
    """The store key of ``job_id``'s copy for the user ``address`` in ``folder``.

    The same on every attempt of the job (that is what makes a replay find its
    earlier copy). An address too long for the store's key limit is replaced by
    its hash, so a long but valid address (RFC 5321 4.5.3.1 allows 64 + 255
    octets) is not refused as an invalid key. A copy a Sieve ``fileinto`` puts
    in another folder carries a hash of the folder's name too, so every copy
    of the job has a key of its own.
    """
    tag = ""
    if folder != "INBOX":
        tag = "F" + hashlib.sha256(folder.encode("utf-8")).hexdigest()[:16]
    key = f"{int(created)}.Q{job_id}U{_SAFE.sub('_', address)}{tag}.{host}"
    if len(key) > MAX_UNIQUE_CHARS:
        digest = hashlib.sha256(address.encode("utf-8")).hexdigest()[:32]
        key = f"{int(created)}.Q{job_id}H{digest}{tag}.{host}"
    return key


class LocalDelivery:
    def __init__(
        self,
        accounts: AccountStore,
        store: MailStore,
        hostname: str,
        sieve: SieveDelivery | None = None,
        lists: ListService | None = None,
        junk_spam: Callable[[], bool] = lambda: True,
    ) -> None:
        self.junk_spam = junk_spam
        self.accounts = accounts
        self.store = store
        self.sieve = sieve
        self.lists = lists
        self.host = _SAFE.sub("_", hostname or "quicksilver")[:60]
        self._ensured: set[str] = set()

    async def deliver(
        self,
        job_id: str,
        created: float,
        sender: str,
        recipient: str,
        message: bytes,
        *,
        already: set[str] | None = None,
        at_smtp: bool = False,
    ) -> list[str]:
        """Deliver to every user behind ``recipient``; return their addresses.

        ``already`` holds users this job has delivered to (one copy per user even
        when an alias and the user are both recipients). ``at_smtp``: the SMTP
        client waits for this delivery and ``recipient`` is the message's only
        one; a script's reject then raises ``ScriptRejected`` (550 5.7.1, RFC
        5429) when ``recipient`` is one user, else it becomes a DSN.
        """
        if self.lists is not None and self.lists.is_list_address(recipient):
            # a list's address (never a user's or an alias; before a
            # catch-all): the list server takes it (server/lists/)
            await self.lists.deliver(job_id, created, sender, recipient, message)
            return [recipient]
        targets = self.accounts.resolve(recipient)
        if not targets:
            raise UnknownRecipient("No such user here")
        delivered: list[str] = []
        data: bytes | None = None
        return_path = return_path_header(sender)
        spam = self.junk_spam() and is_marked(message)
        for user_addr in targets:
            if already is not None and user_addr in already:
                continue
            user = self.accounts.get_user(user_addr)
            if user is None:  # deleted between RCPT and delivery
                raise UnknownRecipient("No such user here")
            unique = delivery_key(job_id, created, user.address, self.host)
            if user.address not in self._ensured:
                await self.store.ensure_user(user.address)
                self._ensured.add(user.address)
            keep = await self._junk_folder(user.address) if spam else "INBOX"
            found = self.sieve.wanted(user.address) if self.sieve else None
            if self.sieve is not None and found is not None:
                await self.sieve.deliver(
                    SieveDeliveryRequest(
                        job_id=job_id,
                        created=created,
                        sender=sender,
                        recipient=recipient,
                        user=user.address,
                        return_path=return_path,
                        inbox_key=unique,
                        folder_key=self._folder_key(job_id, created, user.address),
                        quota_bytes=user.quota_bytes,
                        smtp_reject=at_smtp and len(targets) == 1,
                        keep_folder=keep,
                    ),
                    message,
                    found,
                )
            else:
                if data is None:
                    # a large copy runs off the core loop (bytesutil)
                    data = await bytesutil.join((return_path, message))
                if user.quota_bytes:
                    if len(data) > user.quota_bytes:
                        raise OverQuotaForGood(
                            "Message is larger than the recipient's mailbox quota"
                        )
                    used = await self.store.usage(user.address)
                    if used + len(data) > user.quota_bytes:
                        raise QuotaExceededError("Mailbox is full")
                await self._store(user.address, data, job_id, created, keep, unique)
            delivered.append(user.address)
            if already is not None:
                already.add(user.address)
            log.debug(
                "job %s delivered to %s (for %s)", job_id, user.address, recipient
            )
        return delivered

    async def _store(
        self,
        user: str,
        data: bytes,
        job_id: str,
        created: float,
        folder: str,
        unique: str,
    ) -> None:
        if folder != "INBOX":
            key = delivery_key(job_id, created, user, self.host, folder)
            try:
                await self.store.deliver(user, data, mailbox=folder, unique=key)
                return
            except MailboxNotFound:  # removed meanwhile: INBOX takes it
                log.info("the Junk folder of %s is gone: stored in INBOX", user)
        await self.store.deliver(user, data, unique=unique)

    async def _junk_folder(self, user: str) -> str:
        """The user's folder for spam: the one marked ``\\Junk`` (RFC 6154;
        the user may have renamed it), else ``Junk``, made if missing."""
        try:
            boxes = await self.store.list_mailboxes(user)
        except MailError:
            return "INBOX"
        for box in boxes:
            if box.special_use and "\\Junk" in box.special_use.split():
                return box.name
        if not any(b.name == "Junk" for b in boxes):
            try:
                await self.store.create_mailbox(user, "Junk", special_use="\\Junk")
            except MailboxExists:
                pass
            except MailError as exc:
                log.warning(
                    "cannot make a Junk folder for %s (%s): spam goes to INBOX",
                    user,
                    exc.public_message,
                )
                return "INBOX"
        return "Junk"

    def _folder_key(
        self, job_id: str, created: float, address: str
    ) -> Callable[[str], str]:
        def key(folder: str) -> str:
            return delivery_key(job_id, created, address, self.host, folder)

        return key


__all__ = [
    "LocalDelivery",
    "ScriptRejected",
    "UnknownRecipient",
    "delivery_key",
    "return_path_header",
]
