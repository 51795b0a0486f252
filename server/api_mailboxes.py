"""The facade's part for looking into users' mailboxes
(``CoreApi.mailboxes``), as Mercury's and hMailServer's administrators do:
folders with their counts and sizes, a folder's messages (newest first),
one message's header or source, and delete, move and empty. Same rules as
``server/api.py``: coroutines on the core loop, frozen values out,
``ValidationError`` for bad input; every change goes through the mail
store, so IMAP and POP3 sessions hear of it as of any client's change.

Limits: a listing shows the newest ``MAX_LISTED`` messages; headers are read
in batches of at most ``BATCH_BYTES``; a source is shown up to
``MAX_SOURCE`` bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.errors import ValidationError
from server.mailtext import header_fields, split_header
from server.storage.base import MailboxNotFound, MessageInfo

if TYPE_CHECKING:
    from server.runtime import CoreServices

MAX_LISTED = 1000
BATCH_BYTES = 16 * 1024 * 1024
MAX_SOURCE = 2 * 1024 * 1024
HEADER_LIMIT = 64 * 1024  # header bytes parsed per message for the list


@dataclass(frozen=True)
class FolderView:
    name: str
    messages: int
    unseen: int
    size: int  # bytes


@dataclass(frozen=True)
class MessageRow:
    uid: int
    sender: str
    subject: str
    date: str  # the Date field as written
    received: float  # the internal date
    size: int
    flags: tuple[str, ...]


@dataclass(frozen=True)
class MessageSource:
    uid: int
    header: str
    text: str  # the whole source, or its first MAX_SOURCE bytes
    truncated: bool


def _row(info: MessageInfo, raw: bytes) -> MessageRow:
    fields = dict(header_fields(raw[:HEADER_LIMIT]))  # the first of each
    return MessageRow(
        info.uid,
        fields.get("from", ""),
        fields.get("subject", ""),
        fields.get("date", ""),
        info.internal_date,
        info.size,
        tuple(sorted(info.flags)),
    )


def byte_batches(
    infos: list[MessageInfo], limit: int = BATCH_BYTES
) -> Iterator[list[MessageInfo]]:
    """``infos`` in order, in batches of at most ``limit`` bytes (a larger
    message alone): what one ``read_messages`` call may read."""
    batch: list[MessageInfo] = []
    size = 0
    for info in infos:
        if batch and size + info.size > limit:
            yield batch
            batch, size = [], 0
        batch.append(info)
        size += info.size
    if batch:
        yield batch


def _rows(infos: list[MessageInfo], raws: dict[int, bytes]) -> list[MessageRow]:
    return [_row(i, raws[i.uid]) for i in infos if i.uid in raws]


class MailboxesApi:
    def __init__(self, services: CoreServices) -> None:
        self._s = services

    def _user(self, address: str) -> str:
        user = self._s.accounts.get_user(address)
        if user is None:
            raise ValidationError(f"There is no user {address}.")
        return user.address

    async def folders(self, address: str) -> tuple[FolderView, ...]:
        owner = self._user(address)
        out = []
        for box in await self._s.store.list_mailboxes(owner):
            infos = await self._s.store.list_messages(owner, box.name)
            out.append(
                FolderView(
                    box.name, box.messages, box.unseen, sum(i.size for i in infos)
                )
            )
        return tuple(out)

    async def messages(self, address: str, folder: str) -> tuple[MessageRow, ...]:
        """The folder's newest ``MAX_LISTED`` messages, newest first."""
        owner = self._user(address)
        store = self._s.store
        try:
            infos = (await store.list_messages(owner, folder))[-MAX_LISTED:][::-1]
        except MailboxNotFound:
            raise ValidationError(f"{address} has no folder {folder}.") from None
        rows: list[MessageRow] = []
        for batch in byte_batches(infos):
            raws = await store.read_messages(owner, folder, [i.uid for i in batch])
            rows += await asyncio.to_thread(_rows, batch, raws)
        return tuple(rows)

    async def source(self, address: str, folder: str, uid: int) -> MessageSource:
        owner = self._user(address)
        raw = await self._s.store.read_message(owner, folder, uid)
        head, _ = split_header(raw[:HEADER_LIMIT])
        shown = raw[:MAX_SOURCE]
        return MessageSource(
            uid,
            head.decode("utf-8", "replace"),
            shown.decode("utf-8", "replace"),
            len(raw) > MAX_SOURCE,
        )

    async def delete(self, address: str, folder: str, uids: tuple[int, ...]) -> int:
        owner = self._user(address)
        return len(await self._s.store.expunge(owner, folder, uids))

    async def move(
        self, address: str, folder: str, uids: tuple[int, ...], target: str
    ) -> int:
        """Copy to ``target``, then remove here (a failed copy removes nothing)."""
        owner = self._user(address)
        if target == folder:
            raise ValidationError("Choose another folder to move to.")
        pairs = await self._s.store.copy(owner, folder, uids, target)
        await self._s.store.expunge(owner, folder, [src for src, _ in pairs])
        return len(pairs)

    async def empty(self, address: str, folder: str) -> int:
        owner = self._user(address)
        infos = await self._s.store.list_messages(owner, folder)
        return len(await self._s.store.expunge(owner, folder, [i.uid for i in infos]))
