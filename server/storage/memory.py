"""``MemoryStore``: the in-memory reference implementation of ``MailStore``.

What it does: everything the contract says, with the same names, errors and
limits as ``MaildirStore`` (both share ``names.py`` and pass one contract
test), so protocol tests can run without a disk.

What it does not do: nothing survives the process; no threads (every method
completes on the loop, which is fine because nothing blocks), except the
indexer's CPU work at delivery (``set_indexer``), which runs in a worker
thread as it does in the Maildir store.

Limits: as ``MaildirStore``: 26 keywords per mailbox; deleting a mailbox that
has inferiors is refused with ``PermanentError("Mailbox has children")``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from server import mailtext
from server.errors import PermanentError
from server.storage import names
from server.storage.base import (
    SPECIAL_USE_FOLDERS,
    FlagChange,
    Indexer,
    MailboxChange,
    MailboxExists,
    MailboxInfo,
    MailboxNotFound,
    MailboxWatcher,
    MessageInfo,
    MessageNotFound,
    Owner,
    apply_flag_change,
    check_flag_mode,
    make_record,
)


@dataclass
class _Message:
    info: MessageInfo
    data: bytes  # LF form, as on disk in the Maildir store
    meta: bytes | None = None  # the indexer's record


@dataclass
class _Folder:
    uidvalidity: int
    uidnext: int = 1
    special_use: str | None = None
    messages: dict[int, _Message] = field(default_factory=dict)
    keywords: set[str] = field(default_factory=set)  # ever used (letter slots)
    highestmodseq: int = 1
    expunged: dict[int, int] = field(default_factory=dict)  # uid -> modseq
    mailbox_id: str = field(default_factory=names.new_mailbox_id)

    def next_modseq(self) -> int:
        self.highestmodseq += 1
        return self.highestmodseq


@dataclass
class _User:
    folders: dict[str, _Folder] = field(default_factory=dict)
    subscriptions: list[str] = field(default_factory=list)


class MemoryStore:
    """Mailboxes in dictionaries; see the module docstring."""

    def __init__(self) -> None:
        self._users: dict[str, _User] = {}
        self._watchers = names.WatcherRegistry()
        self._counter = itertools.count(1)
        self._indexer: Indexer | None = None

    # -- helpers ---------------------------------------------------------

    def _user(self, owner: Owner) -> tuple[str, _User]:
        local, domain = names.normalize_owner(owner)
        owner = f"{local}@{domain}"
        user = self._users.get(owner)
        if user is None:
            raise MailboxNotFound("Mailbox does not exist")
        return owner, user

    def _folder(self, owner: Owner, mailbox: str) -> tuple[str, str, _User, _Folder]:
        owner, user = self._user(owner)
        name = names.normalize_mailbox(mailbox)
        folder = user.folders.get(name)
        if folder is None:
            raise MailboxNotFound("Mailbox does not exist")
        return owner, name, user, folder

    @staticmethod
    def _check_keywords(folder: _Folder, flags: frozenset[str]) -> None:
        new = set(names.keywords_of(flags)) - folder.keywords
        if len(folder.keywords) + len(new) > names.MAX_KEYWORDS:
            raise PermanentError("Too many keywords in this mailbox")
        folder.keywords |= new

    def _add(
        self,
        folder: _Folder,
        data: bytes,
        flags: frozenset[str],
        internal_date: float,
        key: str,
    ) -> MessageInfo:
        self._check_keywords(folder, flags)
        uid = folder.uidnext
        folder.uidnext += 1
        info = MessageInfo(
            uid,
            key,
            flags,
            internal_date,
            mailtext.crlf_size(data),
            folder.next_modseq(),
        )
        folder.messages[uid] = _Message(info, data)
        return info

    def _new_key(self) -> str:
        now = time.time()
        return f"{int(now)}.M{int(now % 1 * 1e6)}Q{next(self._counter)}.memory"

    def _mailbox_info(self, user: _User, name: str) -> MailboxInfo:
        folder = user.folders[name]
        unseen = sum(
            1 for m in folder.messages.values() if "\\Seen" not in m.info.flags
        )
        return MailboxInfo(
            name=name,
            uidvalidity=folder.uidvalidity,
            uidnext=folder.uidnext,
            special_use=folder.special_use,
            subscribed=name in user.subscriptions,
            has_children=any(names.is_inferior(n, name) for n in user.folders),
            messages=len(folder.messages),
            unseen=unseen,
            highestmodseq=folder.highestmodseq,
            mailbox_id=folder.mailbox_id,
        )

    def _create(self, user: _User, name: str, special_use: str | None) -> None:
        for parent in names.missing_parents(user.folders, name):
            user.folders[parent] = _Folder(names.next_uidvalidity())
        user.folders[name] = _Folder(names.next_uidvalidity(), special_use=special_use)

    # -- MailStore -------------------------------------------------------

    async def ensure_user(self, owner: Owner) -> None:
        local, domain = names.normalize_owner(owner)
        user = self._users.setdefault(f"{local}@{domain}", _User())
        if names.INBOX not in user.folders:
            user.folders[names.INBOX] = _Folder(names.next_uidvalidity())
            if names.INBOX not in user.subscriptions:
                user.subscriptions.append(names.INBOX)
        for name, use in SPECIAL_USE_FOLDERS:
            # A renamed "Sent" keeps \Sent: do not make a second one.
            if name not in user.folders and not any(
                f.special_use == use for f in user.folders.values()
            ):
                self._create(user, name, use)
                if name not in user.subscriptions:
                    user.subscriptions.append(name)

    async def delete_user(self, owner: Owner) -> None:
        local, domain = names.normalize_owner(owner)
        owner = f"{local}@{domain}"
        user = self._users.pop(owner, None)
        if user is None:
            return
        for name in names.sorted_mailboxes(user.folders):
            self._watchers.notify(MailboxChange(owner, name, "deleted"))

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
        indexer = self._indexer
        record = None
        if indexer is not None:  # CPU work: a worker thread, as Maildir's
            record = await asyncio.to_thread(make_record, indexer, message)
        owner, name, _, folder = self._folder(owner, mailbox)
        flagset = names.normalize_flags(flags)
        if unique is not None:
            key = names.sanitize_unique(unique)
            for msg in folder.messages.values():
                if msg.info.key == key:
                    return msg.info
        else:
            key = self._new_key()
        when = time.time() if internal_date is None else internal_date
        info = self._add(folder, mailtext.to_lf(message), flagset, when, key)
        folder.messages[info.uid].meta = record
        self._watchers.notify(
            MailboxChange(owner, name, "added", (info.uid,), origin=origin)
        )
        return info

    async def list_mailboxes(self, owner: Owner) -> list[MailboxInfo]:
        _, user = self._user(owner)
        return [
            self._mailbox_info(user, n) for n in names.sorted_mailboxes(user.folders)
        ]

    async def mailbox_info(self, owner: Owner, mailbox: str) -> MailboxInfo:
        _, name, user, _ = self._folder(owner, mailbox)
        return self._mailbox_info(user, name)

    async def create_mailbox(
        self, owner: Owner, mailbox: str, special_use: str | None = None
    ) -> MailboxInfo:
        _, user = self._user(owner)
        name = names.normalize_mailbox(mailbox)
        names.check_special_use(special_use)
        if name in user.folders:
            raise MailboxExists("Mailbox already exists")
        self._create(user, name, special_use)
        return self._mailbox_info(user, name)

    async def delete_mailbox(self, owner: Owner, mailbox: str) -> None:
        owner, name, user, _ = self._folder(owner, mailbox)
        if name == names.INBOX:
            raise PermanentError("Cannot delete INBOX")
        if any(names.is_inferior(n, name) for n in user.folders):
            raise PermanentError("Mailbox has children")
        del user.folders[name]
        # RFC 3501 6.3.4: subscriptions are kept.
        self._watchers.notify(MailboxChange(owner, name, "deleted"))

    async def rename_mailbox(self, owner: Owner, old: str, new: str) -> None:
        owner, user = self._user(owner)
        old_name = names.normalize_mailbox(old)
        new_name = names.normalize_mailbox(new)
        moves = names.plan_rename(user.folders, old_name, new_name)
        for parent in names.missing_parents(user.folders, new_name):
            user.folders[parent] = _Folder(names.next_uidvalidity())
        if old_name == names.INBOX:
            inbox = user.folders[names.INBOX]
            target = _Folder(names.next_uidvalidity())
            user.folders[new_name] = target
            uids = tuple(inbox.messages)
            for msg in inbox.messages.values():
                self._add(
                    target,
                    msg.data,
                    msg.info.flags,
                    msg.info.internal_date,
                    msg.info.key,
                )
            inbox.messages.clear()
            if uids:
                modseq = inbox.next_modseq()
                inbox.expunged.update(dict.fromkeys(uids, modseq))
                self._watchers.notify(
                    MailboxChange(owner, names.INBOX, "expunged", uids)
                )
            return
        for src, dst in moves:
            user.folders[dst] = user.folders.pop(src)
            if src in user.subscriptions:
                user.subscriptions[user.subscriptions.index(src)] = dst
        for src, _ in moves:
            self._watchers.notify(MailboxChange(owner, src, "renamed"))

    async def set_subscribed(self, owner: Owner, mailbox: str, on: bool) -> None:
        _, user = self._user(owner)
        name = names.normalize_mailbox(mailbox)
        if on:
            if name not in user.folders:
                raise MailboxNotFound("Mailbox does not exist")
            if name not in user.subscriptions:
                user.subscriptions.append(name)
        elif name in user.subscriptions:
            user.subscriptions.remove(name)

    async def list_subscriptions(self, owner: Owner) -> list[str]:
        _, user = self._user(owner)
        return list(user.subscriptions)

    async def list_messages(self, owner: Owner, mailbox: str) -> list[MessageInfo]:
        _, _, _, folder = self._folder(owner, mailbox)
        return [m.info for m in folder.messages.values()]

    async def read_message(self, owner: Owner, mailbox: str, uid: int) -> bytes:
        _, _, _, folder = self._folder(owner, mailbox)
        msg = folder.messages.get(uid)
        if msg is None:
            raise MessageNotFound("No such message")
        return mailtext.to_crlf(msg.data)

    async def read_messages(
        self, owner: Owner, mailbox: str, uids: Sequence[int]
    ) -> dict[int, bytes]:
        _, _, _, folder = self._folder(owner, mailbox)
        return {
            uid: mailtext.to_crlf(folder.messages[uid].data)
            for uid in uids
            if uid in folder.messages
        }

    async def set_flags(
        self,
        owner: Owner,
        mailbox: str,
        changes: Sequence[FlagChange],
        *,
        origin: object | None = None,
        unchanged_since: int | None = None,
    ) -> list[MessageInfo]:
        owner, name, _, folder = self._folder(owner, mailbox)
        wanted = [
            (uid, check_flag_mode(mode), names.normalize_flags(flags))
            for uid, mode, flags in changes
        ]
        for _, mode, flagset in wanted:
            if mode != "-":  # removing a keyword never needs a slot
                self._check_keywords(folder, flagset)
        result: list[MessageInfo] = []
        changed: list[int] = []
        for uid, mode, flagset in wanted:
            msg = folder.messages.get(uid)
            if msg is None:
                continue
            if unchanged_since is not None and msg.info.modseq > unchanged_since:
                continue  # RFC 7162 3.1.3: changed since; left alone
            new = apply_flag_change(msg.info.flags, mode, flagset)
            if msg.info.flags != new:
                msg.info = replace(msg.info, flags=new, modseq=folder.next_modseq())
                if uid not in changed:
                    changed.append(uid)
            result.append(msg.info)
        if changed:
            self._watchers.notify(
                MailboxChange(owner, name, "flags", tuple(changed), origin=origin)
            )
        return result

    async def expunge(
        self,
        owner: Owner,
        mailbox: str,
        uids: Iterable[int],
        *,
        origin: object | None = None,
    ) -> list[int]:
        owner, name, _, folder = self._folder(owner, mailbox)
        return self._remove(owner, name, folder, set(uids), origin)

    async def expunge_deleted(
        self,
        owner: Owner,
        mailbox: str,
        uids: Iterable[int] | None = None,
        *,
        origin: object | None = None,
    ) -> list[int]:
        owner, name, _, folder = self._folder(owner, mailbox)
        only = None if uids is None else set(uids)
        doomed = {
            uid
            for uid, msg in folder.messages.items()
            if "\\Deleted" in msg.info.flags and (only is None or uid in only)
        }
        return self._remove(owner, name, folder, doomed, origin)

    def _remove(
        self,
        owner: str,
        name: str,
        folder: _Folder,
        uids: set[int],
        origin: object | None,
    ) -> list[int]:
        removed = sorted(
            uid for uid in uids if folder.messages.pop(uid, None) is not None
        )
        if removed:
            modseq = folder.next_modseq()
            folder.expunged.update(dict.fromkeys(removed, modseq))
            self._watchers.notify(
                MailboxChange(owner, name, "expunged", tuple(removed), origin=origin)
            )
        return removed

    async def copy(
        self,
        owner: Owner,
        source: str,
        uids: Sequence[int],
        target: str,
        *,
        origin: object | None = None,
    ) -> list[tuple[int, int]]:
        owner, _, _, src = self._folder(owner, source)
        _, target_name, _, dst = self._folder(owner, target)
        pairs: list[tuple[int, int]] = []
        for uid in sorted(set(uids)):
            msg = src.messages.get(uid)
            if msg is None:
                continue
            info = self._add(
                dst, msg.data, msg.info.flags, msg.info.internal_date, self._new_key()
            )
            dst.messages[info.uid].meta = msg.meta
            pairs.append((uid, info.uid))
        if pairs:
            self._watchers.notify(
                MailboxChange(
                    owner,
                    target_name,
                    "added",
                    tuple(new for _, new in pairs),
                    origin=origin,
                )
            )
        return pairs

    async def vanished(
        self, owner: Owner, mailbox: str, since: int
    ) -> list[tuple[int, int]]:
        _, _, _, folder = self._folder(owner, mailbox)
        return names.vanished_ranges(
            folder.messages, folder.uidnext, folder.expunged, since
        )

    async def usage(self, owner: Owner) -> int:
        _, user = self._user(owner)
        return sum(
            m.info.size for f in user.folders.values() for m in f.messages.values()
        )

    def set_indexer(self, indexer: Indexer | None) -> None:
        self._indexer = indexer

    async def read_meta(
        self, owner: Owner, mailbox: str, uids: Sequence[int]
    ) -> dict[int, bytes]:
        _, _, _, folder = self._folder(owner, mailbox)
        return {
            uid: meta
            for uid in uids
            if (msg := folder.messages.get(uid)) is not None
            and (meta := msg.meta) is not None
        }

    async def save_meta(
        self, owner: Owner, mailbox: str, records: Mapping[int, bytes]
    ) -> None:
        _, _, _, folder = self._folder(owner, mailbox)
        for uid, record in records.items():
            msg = folder.messages.get(uid)
            if msg is not None and msg.meta is None:
                msg.meta = record

    def watch(
        self, owner: Owner, mailbox: str, callback: MailboxWatcher
    ) -> Callable[[], None]:
        local, domain = names.normalize_owner(owner)
        return self._watchers.add(
            f"{local}@{domain}", names.normalize_mailbox(mailbox), callback
        )
