"""The facade's part for capture mode (``CoreApi.capture``): the captured
messages (newest first), one message for the viewer, an attachment, delete
and delete all, and release (one message to a real address through the
relay). Same rules as ``server/api.py``: coroutines on the core loop,
frozen values out, ``ValidationError`` for bad input; parsing runs in a
worker thread; a listing is at most ``MAX_LISTED`` messages, and rows are
kept in memory (``MAX_ROWS_KEPT``) as a message never changes under its UID.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from server import capture
from server.accounts.validate import normalize_domain
from server.api_mailboxes import byte_batches
from server.capture import (
    AttachmentData,
    CapturedMessage,
    CapturedRow,
    mailbox_address,
)
from server.delivery.relay import RelayModule
from server.errors import ValidationError
from server.modules.base import ModuleState
from server.secrets import SecretStore
from server.storage.base import MailboxNotFound, MessageInfo

if TYPE_CHECKING:
    from server.runtime import CoreServices

MAX_LISTED = 1000
MAX_ROWS_KEPT = 5000
MAX_RELEASE_SIZE = 64 * 1024 * 1024


@dataclass(frozen=True)
class CaptureStatus:
    enabled: bool
    address: str  # the capture mailbox (IMAP/POP3 login)
    exists: bool  # the mailbox user exists
    messages: int


def _check_recipient(address: str) -> str:
    text = address.strip()
    local, at, domain = text.rpartition("@")
    if (
        not at
        or not local
        or len(text) > 254
        or any(c.isspace() or c in '<>,;"\\' or ord(c) < 32 for c in local)
    ):
        raise ValidationError(f"{address!r} is not a mail address.")
    return f"{local}@{normalize_domain(domain)}"


class CaptureApi:
    def __init__(self, services: CoreServices) -> None:
        self._s = services
        self._rows: dict[tuple[int, int], CapturedRow] = {}  # (uidvalidity, uid)

    def address(self) -> str:
        return mailbox_address(self._s.settings, self._s.accounts)

    def _owner(self) -> str:
        owner = self.address()
        if self._s.accounts.get_user(owner) is None:
            raise ValidationError(
                "There is no capture mailbox yet: turn capture mode on first."
            )
        return owner

    async def status(self) -> CaptureStatus:
        owner = self.address()
        exists = self._s.accounts.get_user(owner) is not None
        count = 0
        if exists:
            try:
                count = len(await self._s.store.list_messages(owner, "INBOX"))
            except MailboxNotFound:
                count = 0
        return CaptureStatus(self._s.settings.capture.enabled, owner, exists, count)

    async def password(self) -> str:
        """The capture mailbox's generated password ("" when it was changed
        since, or none was made here)."""
        owner = self._owner()
        secrets = SecretStore(self._s.data_dir)
        stored = await asyncio.to_thread(secrets.get, capture.SECRET_KEY)
        if not stored:
            return ""
        user = await asyncio.to_thread(self._s.accounts.authenticate, owner, stored)
        return stored if user is not None else ""

    async def _infos(self, owner: str) -> list[MessageInfo]:
        try:
            return await self._s.store.list_messages(owner, "INBOX")
        except MailboxNotFound:
            return []

    async def messages(self) -> tuple[CapturedRow, ...]:
        """The newest ``MAX_LISTED`` captured messages, newest first."""
        owner = self._owner()
        infos = (await self._infos(owner))[-MAX_LISTED:][::-1]
        validity = await self._validity(owner)
        missing = [i for i in infos if (validity, i.uid) not in self._rows]
        for batch in byte_batches(missing):
            await self._summarize(owner, validity, batch)
        if len(self._rows) > MAX_ROWS_KEPT:
            keep = {(validity, i.uid) for i in infos}
            self._rows = {k: v for k, v in self._rows.items() if k in keep}
        rows = self._rows
        return tuple(
            rows[(validity, i.uid)] for i in infos if (validity, i.uid) in rows
        )

    async def _validity(self, owner: str) -> int:
        for box in await self._s.store.list_mailboxes(owner):
            if box.name == "INBOX":
                return int(box.uidvalidity)
        return 0

    async def _summarize(
        self, owner: str, validity: int, batch: list[MessageInfo]
    ) -> None:
        raws = await self._s.store.read_messages(owner, "INBOX", [i.uid for i in batch])

        def work() -> list[CapturedRow]:
            return [
                capture.summarize(i.uid, i.internal_date, i.size, raws[i.uid])
                for i in batch
                if i.uid in raws
            ]

        for row in await asyncio.to_thread(work):
            self._rows[(validity, row.uid)] = row

    async def _raw(self, owner: str, uid: int) -> tuple[MessageInfo, bytes]:
        info = next((i for i in await self._infos(owner) if i.uid == uid), None)
        if info is None:
            raise ValidationError(f"There is no captured message {uid}.")
        raws = await self._s.store.read_messages(owner, "INBOX", [uid])
        if uid not in raws:
            raise ValidationError(f"There is no captured message {uid}.")
        return info, raws[uid]

    async def message(self, uid: int) -> CapturedMessage:
        owner = self._owner()
        info, raw = await self._raw(owner, uid)

        def work() -> CapturedMessage:
            row = capture.summarize(uid, info.internal_date, info.size, raw)
            return capture.render(row, raw)

        return await asyncio.to_thread(work)

    async def attachment(self, uid: int, index: int) -> AttachmentData:
        owner = self._owner()
        _, raw = await self._raw(owner, uid)
        found = await asyncio.to_thread(capture.attachment, raw, index)
        if found is None:
            raise ValidationError(f"Message {uid} has no attachment {index}.")
        return found

    async def delete(self, uids: tuple[int, ...]) -> int:
        owner = self._owner()
        return len(await self._s.store.expunge(owner, "INBOX", uids))

    async def delete_all(self) -> int:
        owner = self._owner()
        infos = await self._infos(owner)
        return len(await self._s.store.expunge(owner, "INBOX", [i.uid for i in infos]))

    async def release(self, uid: int, to: str) -> str:
        """Send captured message ``uid`` to ``to`` through the relay (the
        smart host) now, as it was sent (from its envelope sender); return
        what the smart host said. The message stays captured."""
        address = _check_recipient(to)
        relay = self._s.modules.get("relay")
        if not isinstance(relay, RelayModule) or relay.state is not ModuleState.RUNNING:
            raise ValidationError(
                "Turn on the relay module (a smart host) to release mail."
            )
        owner = self._owner()
        info, raw = await self._raw(owner, uid)
        if info.size > MAX_RELEASE_SIZE:
            raise ValidationError("The message is too large to release.")
        sender, _ = capture.envelope(raw)
        message = capture.without_envelope(raw)
        signer = self._s.queue.signer
        if signer is not None:  # DKIM, as the queue signs what leaves
            message = await asyncio.to_thread(signer.sign, sender, message)
        results = await relay.deliver_remote(sender, [address], message)
        result = results[0]
        if not result.ok:
            raise ValidationError(
                f"The smart host did not take it: {result.reply or 'no answer'}"
            )
        capture.log.info("released captured UID %d to %s", uid, address)
        return result.reply or "Sent."
