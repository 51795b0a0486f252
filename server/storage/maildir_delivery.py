"""Durable delivery into a Maildir folder.

- Durability: tmp/ -> write -> fsync -> rename -> fsync the directory ->
  append the index line, before a coroutine returns; on failure the message is
  taken out again, so a client told "no" leaves nothing behind.
- Group commit: where ``syncfs`` exists, deliveries write without fsync, are
  renamed in under the folder lock, and one ``syncfs`` per batch makes files,
  renames and index lines durable at once; only then does anyone's
  ``deliver`` return.
- Idempotent delivery: ``deliver(unique=...)`` stores a key once per folder.
  A replay that finds its key makes that copy durable before it answers (the
  earlier attempt may have died between its rename and its ``syncfs``); a copy
  whose size no longer matches its ``S=`` (a power loss after the rename)
  moves to ``corrupt/`` and is delivered again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from server import fsutil, mailtext
from server.storage import names
from server.storage.base import (
    MailboxChange,
    MessageInfo,
)
from server.storage.maildir_format import (
    FULL_ERRNOS,
    INFO_SEP,
    Entry,
    Events,
    Folder,
    base_fields,
    folder_label,
    write_tmp,
)
from server.storage.maildir_sync import FolderCache

log = logging.getLogger("quicksilver.storage")


class Delivery(FolderCache):
    """Putting messages into folders durably: delivery, its group commit, replays."""

    def _store(
        self,
        st: Folder,
        data: bytes | Path,
        flags: frozenset[str],
        mtime: float | None,
        unique: str,
        crlf: int | None = None,
    ) -> Entry:
        """Put one message into the folder durably (except the dir fsync and
        the index append, which callers batch). ``data`` is the LF form, or a
        file to hard-link (copies share the inode, like Dovecot's).
        """
        letters = self._letters(st, flags, "") if flags else ""
        sub = "cur" if flags else "new"
        info_part = f"{INFO_SEP}2,{letters}" if flags else ""
        modseq = st.modseqs().next()  # may write: before the file is in
        stat: os.stat_result | None = None
        if isinstance(data, Path):
            assert crlf is not None
            base = f"{unique},S={os.stat(data).st_size},W={crlf}"
            filename = base + info_part
            try:
                os.link(data, st.path / sub / filename)
                stat = os.stat(st.path / sub / filename)
            except OSError as exc:
                if exc.errno in FULL_ERRNOS:
                    raise
                data = data.read_bytes()  # no hard links here: copy the bytes
        if stat is None:
            assert isinstance(data, bytes)
            crlf = mailtext.crlf_size(data)
            base = f"{unique},S={len(data)},W={crlf}"
            filename = base + info_part
            tmp, stat = write_tmp(st.path / "tmp", data, mtime)
            try:
                os.rename(tmp, st.path / sub / filename)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        assert crlf is not None
        uid = st.uidnext
        st.uidnext += 1
        info = MessageInfo(uid, unique, flags, stat.st_mtime, crlf)
        entry = Entry(info, sub, filename, base, "", True)
        st.add(entry)
        st.new_modseq(entry, modseq)
        return entry

    def _commit(
        self, st: Folder, entries: list[Entry], *, whole_fs: bool = False
    ) -> None:
        """Make stored files durable and give them their index lines; on
        failure take them out again, so a client told "no" (or a COPY that
        failed, RFC 3501 6.4.7) leaves no message behind.

        ``whole_fs``: the files were written without fsync; one ``syncfs``
        after the index append makes files, renames and index durable at once.
        """
        if not entries:
            return
        try:
            if whole_fs:
                self._flush_index(st, sync=False)
                fsutil.syncfs(st.path)
                return
            for sub in sorted({e.subdir for e in entries}):
                fsutil.fsync_dir(st.path / sub)
            self._flush_index(st)
        except BaseException:
            self._rollback(st, entries)
            raise

    @staticmethod
    def _rollback(st: Folder, entries: list[Entry]) -> None:
        for entry in entries:
            with contextlib.suppress(OSError):
                os.unlink(st.file_path(entry))
            st.remove(entry.info.uid)
        for sub in ("new", "cur"):
            with contextlib.suppress(OSError):
                fsutil.fsync_dir(st.path / sub)

    def _deliver(
        self,
        events: Events,
        owner: str,
        message: bytes,
        mailbox: str,
        flags: Iterable[str],
        internal_date: float | None,
        unique: str | None,
        origin: object | None,
    ) -> MessageInfo:
        owner, _ = self._owner(owner)
        name = names.normalize_mailbox(mailbox)
        flagset = names.normalize_flags(flags)
        key = names.sanitize_unique(unique) if unique is not None else None
        lock = self._lock(owner, name)
        with lock:
            st = self._state(events, owner, name, rescan=False)
            # The cache knows every unique name: the folder was fully scanned
            # when loaded, and since then only we store our unique names.
            uid = st.by_unique.get(key) if key is not None else None
            if uid is not None:
                found = self._replayed(events, owner, name, st, uid)
                if found is not None:
                    return found
        # Group commit. The file is written and fsynced without the folder
        # lock, so concurrent deliveries overlap their slowest step; then each
        # delivery is renamed in and queued, and whoever holds the lock next
        # fsyncs the directory and appends the index once for every queued one.
        # Only then does anyone's ``deliver`` return.
        record = self._index(message)
        data = mailtext.to_lf(message)
        crlf = mailtext.crlf_size(data)
        unique_name = key or self._new_unique()
        base = f"{unique_name},S={len(data)},W={crlf}"
        whole_fs = fsutil.syncfs_available()
        tmp, stat = write_tmp(st.path / "tmp", data, internal_date, sync=not whole_fs)
        try:
            with lock:
                st = self._state(events, owner, name, rescan=False)
                uid = st.by_unique.get(unique_name) if key is not None else None
                if uid is not None:  # a replay raced us: keep the first copy
                    os.unlink(tmp)
                    return st.entries[uid].info
                entry = self._place(st, tmp, base, stat, flagset, crlf, unique_name)
                if record is not None:
                    st.meta_pending[entry.info.uid] = record
                if whole_fs:
                    st.uncommitted.append(entry)
                    with self._commit_waiting_guard:
                        self._commit_waiting[id(st)] = (st, lock)
                else:  # index lines must go out in UID order
                    self._commit(st, [entry])
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if whole_fs:
            self._group_commit(st, lock, entry)
        with lock:
            events.append(
                MailboxChange(owner, name, "added", (entry.info.uid,), origin=origin)
            )
            return entry.info

    def _replayed(
        self, events: Events, owner: str, name: str, st: Folder, uid: int
    ) -> MessageInfo | None:
        """A keyed delivery found its key: the copy stored by an earlier attempt.

        Return its info once it is durable (the earlier attempt may have died
        between its rename and its ``syncfs``), or None if it is damaged -- a
        size that no longer matches its ``S=``, as a power loss after the rename
        can leave -- after moving it to ``corrupt/``: the caller stores the
        message again. A copy a client has since removed counts as delivered.
        Caller holds the folder lock.
        """
        info = st.entries[uid].info
        entry = self._entry_file(events, owner, name, st, uid)
        if entry is None:
            return info
        path = st.file_path(entry)
        disk = base_fields(entry.base)[1]
        try:
            fd = fsutil.open_for_fsync(path)
        except FileNotFoundError:
            return entry.info
        try:
            size = os.fstat(fd).st_size
            if disk is None or size == disk:
                os.fsync(fd)
        finally:
            os.close(fd)
        if disk is None or size == disk:
            fsutil.fsync_dir(path.parent)
            return entry.info
        self._move_to_corrupt(
            path,
            owner,
            folder_label(st.path, entry.filename),
            f"{size} bytes where its name says {disk}",
        )
        st.remove(uid)
        self._write_uidlist(st)
        events.append(MailboxChange(owner, name, "expunged", (uid,)))
        return None

    def _group_commit(self, st: Folder, lock: threading.RLock, entry: Entry) -> None:
        """Make ``entry`` durable together with every other queued delivery,
        of this folder and of every other folder of the store.

        ``syncfs`` flushes the whole file system, so one call serves every
        folder: committers take turns on the store's ``_commit_turn``; the
        one whose turn it is takes the waiting deliveries of all folders
        (each under its folder lock, only to take the batch and append its
        index lines), syncs once, and marks them committed. New deliveries
        keep being placed meanwhile and form the next batch. A message for
        50 local users thus waits for one sync, not 50 in a row.
        """
        with self._commit_turn:
            with lock:
                done = entry in st.committed or entry in st.failed
            if not done:
                with self._commit_waiting_guard:
                    folders = list(self._commit_waiting.values())
                    self._commit_waiting.clear()
                batches: list[tuple[Folder, threading.RLock, list[Entry]]] = []
                for fst, flock in folders:
                    with flock:
                        batch, fst.uncommitted = fst.uncommitted, []
                        if not batch:
                            continue
                        try:
                            # Lines of the batch an EXPUNGE rewrite or a COPY
                            # already put in the index are not appended again.
                            self._flush_index(fst, sync=False)
                        except BaseException as exc:
                            self._rollback(fst, batch)
                            fst.failed.update(dict.fromkeys(batch, exc))
                            continue
                    batches.append((fst, flock, batch))
                if batches:
                    try:
                        fsutil.syncfs(st.path)
                    except BaseException as exc:
                        for fst, flock, batch in batches:
                            with flock:
                                self._rollback(fst, batch)
                                fst.failed.update(dict.fromkeys(batch, exc))
                    else:
                        for fst, flock, batch in batches:
                            with flock:
                                fst.committed.update(batch)
            with lock:
                failure = st.failed.pop(entry, None)
                st.committed.discard(entry)
        if failure is not None:
            raise failure

    def _place(
        self,
        st: Folder,
        tmp: Path,
        base: str,
        stat: os.stat_result,
        flags: frozenset[str],
        crlf: int,
        unique: str,
    ) -> Entry:
        """Rename a written file into ``new/`` (or ``cur/`` with flags) and give
        it the next UID; the caller holds the folder lock."""
        letters = self._letters(st, flags, "") if flags else ""
        sub = "cur" if flags else "new"
        info_part = f"{INFO_SEP}2,{letters}" if flags else ""
        filename = base + info_part
        modseq = st.modseqs().next()  # may write: before the file is in
        os.rename(tmp, st.path / sub / filename)
        uid = st.uidnext
        st.uidnext += 1
        info = MessageInfo(uid, unique, flags, stat.st_mtime, crlf)
        entry = Entry(info, sub, filename, base, "", True)
        st.add(entry)
        st.new_modseq(entry, modseq)
        return entry
