"""Durable delivery into a Maildir folder.

- Durability: tmp/ -> write -> fsync -> rename -> fsync the directory ->
  append the index line, before a coroutine returns; on failure the message is
  taken out again, so a client told "no" leaves nothing behind.
- Group commit: where ``syncfs`` exists, deliveries write without fsync, are
  renamed in and indexed under the folder lock, and the committer thread's
  one ``syncfs`` per batch makes files, renames and index lines durable at
  once (maildir_commit.py); only then does anyone's ``deliver`` return. A
  small delivery does all of this on the event loop's thread
  (``_deliver_inline``), a large one in a worker thread (``_deliver``).
- Idempotent delivery: ``deliver(unique=...)`` stores a key once per folder.
  A replay that finds its key makes that copy durable before it answers (the
  earlier attempt may have died between its rename and its ``syncfs``); a copy
  whose size no longer matches its ``S=`` (a power loss after the rename)
  moves to ``corrupt/`` and is delivered again.
"""

from __future__ import annotations

import concurrent.futures
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
from server.storage.maildir_commit import LoopWaiter, Pending, Waiter
from server.storage.maildir_format import (
    FULL_ERRNOS,
    INFO_SEP,
    Entry,
    Events,
    Folder,
    folder_label,
    stamp,
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
            target = st.sub_paths[sub] / filename
            try:
                os.link(data, target)
                stat = os.stat(target)
            except OSError as exc:
                if exc.errno in FULL_ERRNOS:
                    raise
                data = data.read_bytes()  # no hard links here: copy the bytes
        if stat is None:
            assert isinstance(data, bytes)
            crlf = mailtext.crlf_size(data)
            base = f"{unique},S={len(data)},W={crlf}"
            filename = base + info_part
            tmp, stat = write_tmp(st.tmp_path, data, mtime)
            try:
                os.rename(tmp, st.sub_paths[sub] / filename)
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

    def _commit(self, st: Folder, entries: list[Entry]) -> None:
        """Make stored (and fsynced) files durable and give them their index
        lines; on failure take them out again, so a client told "no" (or a
        COPY that failed, RFC 3501 6.4.7) leaves no message behind."""
        if not entries:
            return
        try:
            for sub in sorted({e.subdir for e in entries}):
                fsutil.fsync_dir(st.sub_paths[sub])
            self._flush_index(st)
        except BaseException:
            self._rollback(st, entries)
            raise

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
        # Group commit. The file is written without the folder lock and
        # without fsync (when ``syncfs`` serves), renamed in and indexed under
        # the lock; the committer thread makes the whole batch durable with
        # one ``syncfs`` (maildir_commit.py). Only then does ``deliver``
        # return.
        record, data, crlf, unique_name, base = self._prepare(message, key)
        whole_fs = fsutil.syncfs_available()
        tmp, stat = write_tmp(st.tmp_path, data, internal_date, sync=not whole_fs)
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
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
                    self._queue_commit(st, lock, entry, done)
                else:  # index lines must go out in UID order
                    self._commit(st, [entry])
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if whole_fs:
            done.result()
        with lock:
            events.append(
                MailboxChange(owner, name, "added", (entry.info.uid,), origin=origin)
            )
            return entry.info

    def _prepare(
        self, message: bytes, key: str | None
    ) -> tuple[bytes | None, bytes, int, str, str]:
        """What storing ``message`` needs: its metadata record (if an indexer
        is set), its LF bytes, its CRLF size, its unique name (``key`` or a
        new one) and the file's base name."""
        record = self._index(message)
        data = mailtext.to_lf(message)
        crlf = mailtext.crlf_size(data)
        unique_name = key or self._new_unique()
        return record, data, crlf, unique_name, f"{unique_name},S={len(data)},W={crlf}"

    def _deliver_inline(
        self,
        owner: str,
        name: str,
        message: bytes,
        flags: frozenset[str],
        internal_date: float | None,
        unique: str | None,
        waiter: LoopWaiter,
    ) -> Entry | None:
        """``_deliver`` on the caller's thread (the event loop's), up to its
        commit: the file written and renamed in, its index line appended, and
        the delivery registered with the committer. ``owner`` and ``name``
        are normalized. None when it needs a worker thread's ``_deliver``
        instead: no ``syncfs``, the folder lock taken (it may be held for
        long: a rescan), a folder not cached or changed on disk, a ``tmp/``
        cleanup or a mod-sequence reservation due, or a key already stored (a
        replay: ``_deliver`` checks the copy). Small messages only (the
        caller's limit): the cost is a few system calls.
        """
        if not fsutil.syncfs_available():
            return None
        key = names.sanitize_unique(unique) if unique is not None else None
        lock = self._lock(owner, name)
        if not lock.acquire(blocking=False):
            return None
        try:
            st = self._folders.get((owner, name))
            if (
                st is None
                or st.modseq is None
                or self._clock() >= st.tmp_due
                or (key is not None and key in st.by_unique)
                or st.modseq.would_reserve()
                or stamp(st.index_path) != st.index_stamp
            ):
                return None
            record, data, crlf, unique_name, base = self._prepare(message, key)
            try:
                tmp, stat = write_tmp(st.tmp_path, data, internal_date, sync=False)
            except FileNotFoundError:  # the folder went: ``_deliver`` says so
                return None
            try:
                entry = self._place(st, tmp, base, stat, flags, crlf, unique_name)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            if record is not None:
                st.meta_pending[entry.info.uid] = record
            self._queue_commit(st, lock, entry, waiter)
            return entry
        finally:
            lock.release()

    def _queue_commit(
        self, st: Folder, lock: threading.RLock, entry: Entry, waiter: Waiter
    ) -> None:
        """Append a placed entry's index line and register it for the next
        group commit; on failure take it out again. The caller holds the
        folder lock."""
        try:
            self._flush_index(st, sync=False)
        except BaseException:
            self._rollback(st, [entry])
            raise
        self._committer.register(Pending(entry, st, lock, waiter))

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
        disk = entry.disk_size
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
        os.rename(tmp, st.sub_paths[sub] / filename)
        uid = st.uidnext
        st.uidnext += 1
        info = MessageInfo(uid, unique, flags, stat.st_mtime, crlf)
        entry = Entry(info, sub, filename, base, "", True)
        st.add(entry)
        st.new_modseq(entry, modseq)
        return entry
