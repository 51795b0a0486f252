"""Message operations on a Maildir folder: read, flag, expunge, copy.

- Flags change by renaming the file (its info letters); a message whose
  flags were set lives in ``cur/``. The renames are fsynced per directory.
- Expunge unlinks the files, then rewrites the index atomically.
- Copy hard-links the file (copies share the inode, like Dovecot's) or
  copies the bytes where links fail; the copies get their index lines in one
  commit, or none of them stays (RFC 3501 6.4.7).
- Reads need no lock: files are whole once renamed in; a file renamed
  meanwhile (flags changed) is looked up again.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Sequence

from server import fsutil, mailtext
from server.storage import names
from server.storage.base import (
    FlagChange,
    MailboxChange,
    MessageInfo,
    MessageNotFound,
    apply_flag_change,
    check_flag_mode,
)
from server.storage.maildir_delivery import Delivery
from server.storage.maildir_format import (
    INFO_SEP,
    Entry,
    Events,
    Folder,
    replace_flags,
)

log = logging.getLogger("quicksilver.storage")


class MessageOps(Delivery):
    """Reading, flagging, expunging and copying messages."""

    def _list_messages(
        self, events: Events, owner: str, mailbox: str
    ) -> list[MessageInfo]:
        owner, _ = self._owner(owner)
        name = names.normalize_mailbox(mailbox)
        with self._lock(owner, name):
            return list(self._state(events, owner, name).infos())

    def _read_message(
        self, events: Events, owner: str, mailbox: str, uid: int
    ) -> bytes:
        owner, _ = self._owner(owner)
        name = names.normalize_mailbox(mailbox)
        with self._lock(owner, name):
            st = self._state(events, owner, name, rescan=False)
            for attempt in range(2):
                entry = st.entries.get(uid)
                if entry is None:
                    break
                try:
                    data = fsutil.read_file(st.file_path(entry), entry.disk_size or 0)
                    return mailtext.to_crlf(data)
                except FileNotFoundError:
                    if attempt == 0:
                        self._sync(events, owner, name, st, force=True)
            raise MessageNotFound("No such message")

    def _read_messages(
        self, events: Events, owner: str, mailbox: str, uids: list[int]
    ) -> dict[int, bytes]:
        owner, _ = self._owner(owner)
        name = names.normalize_mailbox(mailbox)
        with self._lock(owner, name):
            st = self._state(events, owner, name, rescan=False)
            folder = os.fspath(st.path)
            paths = {
                uid: (
                    os.path.join(folder, entry.subdir, entry.filename),
                    entry.disk_size or 0,  # S=: the size on disk
                )
                for uid in uids
                if (entry := st.entries.get(uid)) is not None
            }
        out: dict[int, bytes] = {}
        missing = []
        for uid, (path, size) in paths.items():  # no lock: files are whole
            try:
                out[uid] = mailtext.to_crlf(fsutil.read_file(path, size))
            except FileNotFoundError:
                missing.append(uid)
        for uid in missing:  # renamed meanwhile (flags changed): look it up again
            try:
                out[uid] = self._read_message(events, owner, mailbox, uid)
            except MessageNotFound:
                pass
        return out

    def _read_records(
        self, events: Events, owner: str, mailbox: str, uids: list[int]
    ) -> dict[int, bytes]:
        owner, _ = self._owner(owner)
        name = names.normalize_mailbox(mailbox)
        with self._lock(owner, name):
            st = self._state(events, owner, name, rescan=False)
            wanted = {
                uid: (entry.unique, entry.info.size)
                for uid in uids
                if (entry := st.entries.get(uid)) is not None
            }
            return st.meta_file(loaded=True).read(wanted) if wanted else {}

    def _save_records(
        self, events: Events, owner: str, mailbox: str, records: dict[int, bytes]
    ) -> None:
        owner, _ = self._owner(owner)
        name = names.normalize_mailbox(mailbox)
        with self._lock(owner, name):
            st = self._state(events, owner, name, rescan=False)
            meta = st.meta_file(loaded=True)
            meta.append(
                (uid, entry.unique, entry.info.size, records[uid])
                for uid in sorted(records)
                if (entry := st.entries.get(uid)) is not None
                and uid not in meta.spans
                and uid not in st.meta_pending
            )

    def _set_flags(
        self,
        events: Events,
        owner: str,
        mailbox: str,
        changes: Sequence[FlagChange],
        origin: object | None,
        unchanged_since: int | None = None,
    ) -> list[MessageInfo]:
        owner, _ = self._owner(owner)
        name = names.normalize_mailbox(mailbox)
        wanted = [
            (uid, check_flag_mode(mode), names.normalize_flags(flags))
            for uid, mode, flags in changes
        ]
        with self._lock(owner, name):
            st = self._state(events, owner, name, rescan=False)
            # keyword letters first (removing a keyword never needs one), so a
            # "too many keywords" refusal changes nothing
            adding = frozenset().union(*(f for _, m, f in wanted if m != "-"))
            self._letters(st, adding, "")
            result: list[MessageInfo] = []
            changed: list[int] = []
            touched: set[str] = set()
            for uid, mode, flags in wanted:
                # the entry whose file exists now: its name holds the current
                # flags (rescanned if another program renamed it)
                entry = self._entry_file(events, owner, name, st, uid)
                if entry is None:
                    continue
                if unchanged_since is not None and entry.info.modseq > unchanged_since:
                    continue  # RFC 7162 3.1.3: changed since; left alone
                flagset = apply_flag_change(entry.info.flags, mode, flags)
                differs = entry.info.flags != flagset
                if differs and uid not in changed:
                    changed.append(uid)
                letters = self._letters(st, flagset, entry.extra)
                filename = f"{entry.base}{INFO_SEP}2,{letters}"
                if entry.subdir != "cur" or entry.filename != filename:
                    # may write a reservation: taken before the rename
                    modseq = st.modseqs().next() if differs else None
                    # Maildir: a message that has been seen by a client lives
                    # in cur/; the rename is the atomic flag update.
                    os.rename(st.file_path(entry), st.sub_paths["cur"] / filename)
                    touched.update((entry.subdir, "cur"))
                    st.move(entry, "cur", filename, replace_flags(entry.info, flagset))
                    if modseq is not None:
                        st.new_modseq(entry, modseq)
                    else:  # new/ -> cur/ only: the flags are the same
                        st.modseqs().note(uid, entry.info.modseq, letters)
                result.append(entry.info)
            for sub in sorted(touched):
                fsutil.fsync_dir(st.sub_paths[sub])
            st.flush_modseqs()
            if changed:
                events.append(
                    MailboxChange(owner, name, "flags", tuple(changed), origin=origin)
                )
            return result

    def _vanished(
        self, events: Events, owner: str, mailbox: str, since: int
    ) -> list[tuple[int, int]]:
        owner, _ = self._owner(owner)
        name = names.normalize_mailbox(mailbox)
        with self._lock(owner, name):
            st = self._state(events, owner, name)
            return names.vanished_ranges(
                st.entries, st.uidnext, st.modseqs().expunged, since
            )

    def _expunge(
        self,
        events: Events,
        owner: str,
        mailbox: str,
        uids: Iterable[int],
        origin: object | None,
    ) -> list[int]:
        owner, _ = self._owner(owner)
        name = names.normalize_mailbox(mailbox)
        with self._lock(owner, name):
            st = self._state(events, owner, name, rescan=False)
            return self._remove_files(
                events, owner, name, st, sorted(set(uids)), None, origin
            )

    def _expunge_deleted(
        self,
        events: Events,
        owner: str,
        mailbox: str,
        uids: list[int] | None,
        origin: object | None,
    ) -> list[int]:
        owner, _ = self._owner(owner)
        name = names.normalize_mailbox(mailbox)
        with self._lock(owner, name):
            # rescan: flags another program changed count too
            st = self._state(events, owner, name)
            only = None if uids is None else set(uids)
            candidates = sorted(
                uid
                for uid, entry in st.entries.items()
                if "\\Deleted" in entry.info.flags and (only is None or uid in only)
            )
            return self._remove_files(
                events, owner, name, st, candidates, "\\Deleted", origin
            )

    def _remove_files(
        self,
        events: Events,
        owner: str,
        name: str,
        st: Folder,
        uids: list[int],
        needs_flag: str | None,
        origin: object | None,
    ) -> list[int]:
        """Unlink the files of ``uids`` (ascending), only those whose current
        flags hold ``needs_flag`` when given; rewrite the index. Caller holds
        the folder lock."""
        removed: list[int] = []
        touched: set[str] = set()
        # may write a reservation: taken before any file goes
        modseq = st.modseqs().next() if uids else 0
        for uid in uids:
            entry = self._entry_file(events, owner, name, st, uid)
            if entry is None:
                continue
            if needs_flag is not None and needs_flag not in entry.info.flags:
                continue  # re-flagged on disk by another program meanwhile
            with contextlib.suppress(FileNotFoundError):
                os.unlink(st.file_path(entry))
            touched.add(entry.subdir)
            st.remove(uid)
            removed.append(uid)
        for sub in sorted(touched):
            fsutil.fsync_dir(st.sub_paths[sub])
        if removed:
            st.modseqs().note_expunged(removed, modseq)
            self._write_uidlist(st)
            events.append(
                MailboxChange(owner, name, "expunged", tuple(removed), origin=origin)
            )
        return removed

    def _copy(
        self,
        events: Events,
        owner: str,
        source: str,
        uids: Sequence[int],
        target: str,
        origin: object | None,
    ) -> list[tuple[int, int]]:
        owner, _ = self._owner(owner)
        src_name = names.normalize_mailbox(source)
        dst_name = names.normalize_mailbox(target)
        order = sorted({src_name, dst_name})
        with contextlib.ExitStack() as stack:
            for n in order:
                stack.enter_context(self._lock(owner, n))
            src = self._state(events, owner, src_name, rescan=False)
            dst = self._state(events, owner, dst_name, rescan=False)
            pairs: list[tuple[int, int]] = []
            stored: list[Entry] = []
            records = self._records_of(src, uids)
            try:
                for uid in sorted(set(uids)):
                    entry = self._entry_file(events, owner, src_name, src, uid)
                    if entry is None:
                        continue
                    new = self._store(
                        dst,
                        src.file_path(entry),
                        entry.info.flags,
                        entry.info.internal_date,
                        self._new_unique(),
                        entry.info.size,
                    )
                    stored.append(new)
                    pairs.append((uid, new.info.uid))
                    if uid in records:
                        dst.meta_pending[new.info.uid] = records[uid]
            except BaseException:
                self._rollback(dst, stored)
                raise
            self._commit(dst, stored)
            if stored:
                events.append(
                    MailboxChange(
                        owner,
                        dst_name,
                        "added",
                        tuple(e.info.uid for e in stored),
                        origin=origin,
                    )
                )
            return pairs

    @staticmethod
    def _records_of(st: Folder, uids: Sequence[int]) -> dict[int, bytes]:
        """The metadata records of messages being copied: the copies keep
        them. Caller holds the folder lock."""
        wanted = {
            uid: (entry.unique, entry.info.size)
            for uid in uids
            if (entry := st.entries.get(uid)) is not None
        }
        if not wanted:
            return {}
        records = {u: r for u, r in st.meta_pending.items() if u in wanted}
        records.update(st.meta_file(loaded=True).read(wanted))
        return records
