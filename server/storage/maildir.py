"""``MaildirStore``: users' mail as Maildir++ on disk, with a UID index.

What it does
- Layout: ``<root>/<domain>/<local>/`` is the user's Maildir++; INBOX is that
  folder (``cur/ new/ tmp/``), other mailboxes are ``.Name`` folders
  (``Work/2024`` -> ``.Work.2024``; ``%`` ``.`` and Windows-hostile characters
  inside a component are ``%XX``-escaped, see ``names.py``). Each folder has
  ``maildirfolder`` as Maildir++ asks.
- Implements the ``MailStore`` contract (``base.py``): each call is one
  worker-thread hop; watchers hear of changes on the loop thread once the
  work is durable; disk full becomes ``StorageFullError``, other OS errors
  ``StoreUnavailable`` (the path stays in the log).

The store is built in layers, one file each (each docstring describes its
part of the on-disk format and its crash recovery):
- ``maildir_format.py``: file names, flag letters, the per-folder cache
  records, how files in ``tmp/`` are named and small files replaced.
- ``maildir_user.py``: paths, locks, ``corrupt/``, the per-user files.
- ``maildir_index.py``: the UID list and the keyword letters of a folder.
- ``maildir_meta.py``: the metadata records kept per folder (a cache the
  IMAP module fills through the store's ``indexer``).
- ``maildir_sync.py``: the folder cache, rescans, ``tmp/`` cleanup.
- ``maildir_delivery.py``: durable delivery, group commit, replays.
- ``maildir_commit.py``: the committer thread of the group commit.
- ``maildir_messages.py``: read, flag, expunge, copy.
- ``maildir_namespace.py``: users and mailboxes (create, delete, rename).

What it does not do: no locking against other programs beyond what Maildir
gives (atomic renames); no quota.

Limits: 26 keywords per folder; a mailbox with inferiors cannot be deleted
(``PermanentError("Mailbox has children")``, as Dovecot's Maildir++ layout);
a folder directory name is at most 255 bytes (so deep hierarchies of long
names are refused with ``InvalidMailboxName``); names differing only by case
collide on case-insensitive file systems (Windows, macOS).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from server.errors import MailError, StorageFullError
from server.storage import names
from server.storage.base import (
    FlagChange,
    MailboxChange,
    MailboxInfo,
    MailboxWatcher,
    MessageInfo,
    Owner,
    StoreUnavailable,
)
from server.storage.maildir_commit import LoopWaiter
from server.storage.maildir_format import (
    FULL_ERRNOS,
    Events,
)
from server.storage.maildir_messages import MessageOps
from server.storage.maildir_namespace import Namespace
from server.storage.maildir_sync import TMP_MAX_AGE, TMP_SCAN_INTERVAL, TMP_SCAN_LIMIT

__all__ = [
    "TMP_MAX_AGE",
    "TMP_SCAN_INTERVAL",
    "TMP_SCAN_LIMIT",
    "MaildirStore",
]

log = logging.getLogger("quicksilver.storage")

# Deliveries up to this size are written on the loop's thread (a few system
# calls); larger ones in a worker thread.
INLINE_DELIVERY_BYTES = 64 * 1024
# With an indexer set (the IMAP module on), the delivery also parses the
# message for its metadata record, and that costs what the message's shape
# says: 64 KiB of MIME parts took 51 ms, of addresses 28 ms. So on the loop
# only up to this size and this many part boundaries ("\n--") and "@" signs,
# which keeps the parse to about a millisecond at worst (62 nested parts:
# 1.4 ms; 32 marks: half that); the rest in a worker thread.
INLINE_INDEXED_BYTES = 16 * 1024
INLINE_INDEXED_MARKS = 32


def _storage_error(exc: OSError, what: str) -> MailError:
    """The classified error for a failed storage call (never a path)."""
    if exc.errno in FULL_ERRNOS:
        log.error("mail storage is full: %s", exc)
        return StorageFullError("Mailbox storage is full")
    log.error("mail storage error in %s: %s", what, exc)
    return StoreUnavailable("Mailbox storage is unavailable", detail=str(exc))


P = ParamSpec("P")
T = TypeVar("T")


class MaildirStore(MessageOps, Namespace):
    """Maildir++ mail store; see the module docstrings for formats and limits.

    The layers, each in its own file: ``UserDirs`` (paths, locks, per-user
    files) < ``FolderIndex`` (UID list, keywords) < ``FolderCache`` (cache,
    rescans, ``tmp/`` cleanup) < ``Delivery`` and ``Namespace``;
    ``MessageOps`` builds on ``Delivery``. This class is the ``MailStore``
    contract: one worker-thread hop per call, watchers told afterwards.
    """

    async def _run(
        self,
        fn: Callable[Concatenate[Events, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn`` in one worker thread, then announce what it changed.

        Watchers are called here, on the loop thread, after the work is durable.
        """
        events: Events = []
        try:
            return await asyncio.to_thread(fn, events, *args, **kwargs)
        except OSError as exc:
            raise _storage_error(exc, fn.__name__) from None
        finally:
            for change in events:
                self._watchers.notify(change)

    # -- MailStore ---------------------------------------------------------------

    async def ensure_user(self, owner: Owner) -> None:
        await self._run(self._ensure_user, owner)

    async def delete_user(self, owner: Owner) -> None:
        await self._run(self._delete_user, owner)

    async def deleted_copies(self, owner: Owner) -> list[Path]:
        """The Maildirs a deleted ``owner`` left in ``deleted/``, oldest first."""
        return await asyncio.to_thread(self._deleted_copies, owner)

    async def restore_deleted(self, owner: Owner) -> Path | None:
        """The newest deleted Maildir of ``owner`` back in place of its new,
        empty one (``PermanentError`` when that holds mail already)."""
        return await self._run(self._restore_deleted, owner)

    async def deliver(
        self,
        owner: Owner,
        message: bytes,
        *,
        mailbox: str = "INBOX",
        flags: Iterable[str] = (),
        internal_date: float | None = None,
        unique: str | None = None,
        origin: object | None = None,
    ) -> MessageInfo:
        if self._cheap_here(message):
            info = await self._deliver_here(
                owner, message, mailbox, tuple(flags), internal_date, unique, origin
            )
            if info is not None:
                return info
        return await self._run(
            self._deliver,
            owner,
            message,
            mailbox,
            tuple(flags),
            internal_date,
            unique,
            origin,
        )

    def _cheap_here(self, message: bytes) -> bool:
        """May this delivery run on the loop's thread (see the limits)?"""
        if self._indexer is None:
            return len(message) <= INLINE_DELIVERY_BYTES
        return (
            len(message) <= INLINE_INDEXED_BYTES
            and message.count(b"\n--") + message.count(b"@") <= INLINE_INDEXED_MARKS
        )

    async def _deliver_here(
        self,
        owner: Owner,
        message: bytes,
        mailbox: str,
        flags: tuple[str, ...],
        internal_date: float | None,
        unique: str | None,
        origin: object | None,
    ) -> MessageInfo | None:
        """A small delivery without a worker thread: written, renamed in and
        indexed on this thread (``Delivery._deliver_inline``: a few system
        calls), then made durable by the committer's next round, whose one
        hop back serves its whole batch. None when it needs a worker thread.
        """
        owner_id, _ = self._owner(owner)
        name = names.normalize_mailbox(mailbox)
        loop = asyncio.get_running_loop()
        waiter = LoopWaiter(loop, loop.create_future(), lambda: None)
        try:
            entry = self._deliver_inline(
                owner_id,
                name,
                message,
                names.normalize_flags(flags),
                internal_date,
                unique,
                waiter,
            )
        except OSError as exc:
            raise _storage_error(exc, "deliver") from None
        if entry is None:
            return None

        def announce() -> None:
            change = MailboxChange(
                owner_id, name, "added", (entry.info.uid,), origin=origin
            )
            self._watchers.notify(change)

        waiter.then = announce
        try:
            await waiter.future
        except OSError as exc:
            raise _storage_error(exc, "deliver") from None
        return entry.info

    async def list_mailboxes(self, owner: Owner) -> list[MailboxInfo]:
        return await self._run(self._list_mailboxes, owner)

    async def mailbox_info(self, owner: Owner, mailbox: str) -> MailboxInfo:
        return await self._run(self._mailbox_info, owner, mailbox)

    async def create_mailbox(
        self, owner: Owner, mailbox: str, special_use: str | None = None
    ) -> MailboxInfo:
        return await self._run(self._create_mailbox, owner, mailbox, special_use)

    async def delete_mailbox(self, owner: Owner, mailbox: str) -> None:
        await self._run(self._delete_mailbox, owner, mailbox)

    async def rename_mailbox(self, owner: Owner, old: str, new: str) -> None:
        await self._run(self._rename_mailbox, owner, old, new)

    async def set_subscribed(self, owner: Owner, mailbox: str, on: bool) -> None:
        await self._run(self._set_subscribed, owner, mailbox, on)

    async def list_subscriptions(self, owner: Owner) -> list[str]:
        return await self._run(self._list_subscriptions, owner)

    async def list_messages(self, owner: Owner, mailbox: str) -> list[MessageInfo]:
        return await self._run(self._list_messages, owner, mailbox)

    async def read_message(self, owner: Owner, mailbox: str, uid: int) -> bytes:
        return await self._run(self._read_message, owner, mailbox, uid)

    async def read_messages(
        self, owner: Owner, mailbox: str, uids: Sequence[int]
    ) -> dict[int, bytes]:
        return await self._run(self._read_messages, owner, mailbox, list(uids))

    async def set_flags(
        self,
        owner: Owner,
        mailbox: str,
        changes: Sequence[FlagChange],
        *,
        origin: object | None = None,
        unchanged_since: int | None = None,
    ) -> list[MessageInfo]:
        return await self._run(
            self._set_flags, owner, mailbox, list(changes), origin, unchanged_since
        )

    async def vanished(
        self, owner: Owner, mailbox: str, since: int
    ) -> list[tuple[int, int]]:
        return await self._run(self._vanished, owner, mailbox, since)

    async def expunge(
        self,
        owner: Owner,
        mailbox: str,
        uids: Iterable[int],
        *,
        origin: object | None = None,
    ) -> list[int]:
        return await self._run(self._expunge, owner, mailbox, list(uids), origin)

    async def expunge_deleted(
        self,
        owner: Owner,
        mailbox: str,
        uids: Iterable[int] | None = None,
        *,
        origin: object | None = None,
    ) -> list[int]:
        only = None if uids is None else list(uids)
        return await self._run(self._expunge_deleted, owner, mailbox, only, origin)

    async def copy(
        self,
        owner: Owner,
        source: str,
        uids: Sequence[int],
        target: str,
        *,
        origin: object | None = None,
    ) -> list[tuple[int, int]]:
        return await self._run(self._copy, owner, source, list(uids), target, origin)

    async def usage(self, owner: Owner) -> int:
        return await self._run(self._usage, owner)

    async def read_meta(
        self, owner: Owner, mailbox: str, uids: Sequence[int]
    ) -> dict[int, bytes]:
        return await self._run(self._read_records, owner, mailbox, list(uids))

    async def save_meta(
        self, owner: Owner, mailbox: str, records: Mapping[int, bytes]
    ) -> None:
        await self._run(self._save_records, owner, mailbox, dict(records))

    def watch(
        self, owner: Owner, mailbox: str, callback: MailboxWatcher
    ) -> Callable[[], None]:
        owner, _ = self._owner(owner)
        return self._watchers.add(owner, names.normalize_mailbox(mailbox), callback)
