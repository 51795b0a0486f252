"""The Maildir folder cache: loading, rescanning, ``tmp/`` cleanup.

- Speed: each folder is cached in memory (uid, key, flags, size, mtime, file
  name); ``new/`` and ``cur/`` are re-listed only when their mtime changed (or
  changed less than two seconds ago, for coarse clocks), and only the
  differences are looked at. An index changed on disk (another process of
  ours) reloads the folder.
- Changes found on disk (mail dropped in, files removed or re-flagged by
  another program) are announced to watchers like our own changes.
- ``tmp/`` cleanup (the Maildir spec's reader duty; Dovecot does the same):
  when a folder is loaded and then every ``TMP_SCAN_INTERVAL``, files in its
  ``tmp/`` untouched for ``TMP_MAX_AGE`` (36 hours: not read, written or
  renamed) are removed and logged; at most ``TMP_SCAN_LIMIT`` entries a pass.
  It is how the leftovers of a crash mid-delivery go away.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from server import mailtext
from server.storage import names
from server.storage.base import (
    MailboxChange,
    MailboxNotFound,
    MessageInfo,
)
from server.storage.maildir_format import (
    UIDLIST,
    Entry,
    Events,
    Folder,
    base_fields,
    replace_flags,
    split_name,
    stamp,
    with_modseq,
)
from server.storage.maildir_index import FolderIndex
from server.storage.maildir_modseq import ModseqLog

log = logging.getLogger("quicksilver.storage")

_SETTLE_NS = 2_000_000_000  # a directory changed this recently is re-listed
# Maildir (cr.yp.to/proto/maildir.html): a reader may remove a tmp/ file not
# accessed for 36 hours; a delivery never takes that long.
TMP_MAX_AGE = 36 * 3600
TMP_SCAN_INTERVAL = 8 * 3600  # a folder's tmp/ is looked at again (Dovecot: 8 h)
# Entries looked at per pass, so a pass stays in milliseconds under the folder
# lock even if something filled tmp/; more than this is logged as a warning.
TMP_SCAN_LIMIT = 2000
_TMP_LOG_NAMES = 10  # names of removed files written to the log per pass


class FolderCache(FolderIndex):
    """Folders cached in memory and kept in line with the disk."""

    def _state(
        self, events: Events, owner: str, name: str, *, rescan: bool = True
    ) -> Folder:
        """The folder's cache, loaded and (if ``rescan``) brought up to date.

        Caller holds the folder lock.
        """
        _, udir = self._user_dir(owner)
        path = self._folder_path(udir, name)
        if not (path / "cur").is_dir():
            self._folders.pop((owner, name), None)
            raise MailboxNotFound("Mailbox does not exist")
        st = self._folders.get((owner, name))
        if st is None or st.path != path or stamp(st.index_path) != st.index_stamp:
            if st is not None:
                log.info("index of %s %s changed on disk; reloading", owner, name)
            st = self._load(events, owner, name, path)
            self._folders[(owner, name)] = st
        elif rescan:
            self._sync(events, owner, name, st)
        now = self._clock()
        if now >= st.tmp_due:
            st.tmp_due = now + TMP_SCAN_INTERVAL
            self._clean_tmp(owner, name, st.tmp_path, now)
        return st

    @staticmethod
    def _clean_tmp(owner: str, name: str, tmp_dir: Path, now: float) -> None:
        """Remove files in ``tmp/`` nobody has touched for ``TMP_MAX_AGE``.

        The Maildir spec lets a reader do this (a delivery never takes 36
        hours); it is how the leftovers of a crash mid-delivery go away. A file
        counts as touched by its newest of atime, mtime and ctime: ctime too,
        because a delivery sets an old mtime (the internal date) on its tmp
        file before the rename, and ctime is what that ``utime`` refreshes.
        Only regular files; at most ``TMP_SCAN_LIMIT`` entries per pass.
        Caller holds the folder lock.
        """
        removed: list[str] = []
        looked = 0
        try:
            with os.scandir(tmp_dir) as it:
                for entry in it:
                    looked += 1
                    if looked > TMP_SCAN_LIMIT:
                        log.warning(
                            "tmp/ of %s %s holds more than %d entries; looked at "
                            "the first %d only",
                            owner,
                            name,
                            TMP_SCAN_LIMIT,
                            TMP_SCAN_LIMIT,
                        )
                        break
                    try:
                        st = entry.stat(follow_symlinks=False)
                        if not entry.is_file(follow_symlinks=False):
                            continue
                        touched = max(st.st_atime, st.st_mtime, st.st_ctime)
                        if now - touched < TMP_MAX_AGE:
                            continue
                        os.unlink(entry.path)
                    except FileNotFoundError:
                        continue
                    removed.append(entry.name)
        except FileNotFoundError:
            return
        except OSError as exc:  # cleanup is a chore: never fail the caller
            log.warning("cannot clean tmp/ of %s %s: %s", owner, name, exc)
        if removed:
            shown = ", ".join(removed[:_TMP_LOG_NAMES])
            more = len(removed) - _TMP_LOG_NAMES
            log.info(
                "removed %d file(s) untouched for 36 hours from tmp/ of %s %s: %s%s",
                len(removed),
                owner,
                name,
                shown,
                f" and {more} more" if more > 0 else "",
            )

    def _load(self, events: Events, owner: str, name: str, path: Path) -> Folder:
        st = Folder(path)
        self._read_keywords(st, owner)
        records = self._read_uidlist(st, owner)
        rebuild = records is None
        if records is None:
            st.uidvalidity = names.next_uidvalidity()
            st.uidnext = 1
            log.info("building a new UID index for %s %s", owner, name)
        st.modseq = ModseqLog(path, st.uidvalidity)
        states = st.modseq.load()
        self._sync(events, owner, name, st, records or {}, announce=False)
        self._reconcile_modseqs(st, states)
        recorded = {uid for uid, _ in (records or {}).values()}
        if rebuild or set(st.entries) != recorded or not st.mailbox_id:
            self._write_uidlist(st)  # also drops lines of vanished files
        else:
            st.index_stamp = stamp(path / UIDLIST)
        st.flush_modseqs()
        return st

    @staticmethod
    def _reconcile_modseqs(st: Folder, states: dict[int, tuple[int, str]]) -> None:
        """Give the loaded messages their mod-sequences (maildir_modseq.py):
        the logged one where the file still has the letters logged with it,
        a new one where not (changed by another program, or the line was
        lost to a crash); UIDs logged but gone are expunged now."""
        log = st.modseqs()
        for uid in sorted(st.entries):
            entry = st.entries[uid]
            if entry.info.modseq:
                continue  # found new during this load: stamped already
            state = states.get(uid)
            if state is not None and state[1] == split_name(entry.filename)[1]:
                entry.info = with_modseq(entry.info, state[0])
            else:
                st.new_modseq(entry)
        gone = [u for u in states if u not in st.entries and u not in log.expunged]
        if gone:
            log.note_expunged(gone, log.next())
        st.changed()

    def _sync(
        self,
        events: Events,
        owner: str,
        name: str,
        st: Folder,
        records: dict[str, tuple[int, int | None]] | None = None,
        *,
        force: bool = False,
        announce: bool = True,
    ) -> None:
        """Bring the cache in line with ``new/`` and ``cur/``, looking only at
        the differences. ``records`` (from the index) say which UIDs files had.
        """
        stamps = (
            os.stat(st.sub_paths["new"]).st_mtime_ns,
            os.stat(st.sub_paths["cur"]).st_mtime_ns,
        )
        if not force and not st.settling and stamps == st.dir_stamp:
            return
        gone_uids: set[int] = set()
        added: list[tuple[str, str]] = []
        for sub in ("new", "cur"):
            listed = set(os.listdir(st.sub_paths[sub]))
            known = st.by_file[sub]
            gone_uids.update(known[f] for f in known.keys() - listed)
            added.extend((sub, f) for f in listed - known.keys() if f[:1] != ".")
        st.dir_stamp = stamps
        st.settling = time.time_ns() - max(stamps) < _SETTLE_NS
        if not gone_uids and not added:
            return
        flagged: list[int] = []
        fresh: list[tuple[str, str, str, str]] = []  # (base, sub, file, letters)
        for sub, filename in added:
            base, letters = split_name(filename)
            unique = base_fields(base)[0]
            uid = st.by_unique.get(unique)
            if uid is not None and uid in gone_uids:
                # Renamed by someone else (flags changed, new/ -> cur/).
                entry = st.entries[uid]
                flags, extra = self._parse_letters(st, letters)
                old_flags = entry.info.flags
                info = replace_flags(entry.info, flags)
                st.move(entry, sub, filename, info)
                entry.base, entry.extra = base, extra
                gone_uids.discard(uid)
                if records is None:  # at runtime; a load reconciles after
                    if flags != old_flags:
                        st.new_modseq(entry)
                    else:  # letters we keep but do not read: no new value
                        st.modseqs().note(uid, info.modseq, letters)
                if flags != old_flags:
                    flagged.append(uid)
            elif uid is not None:
                log.warning("duplicate Maildir file %s in %s %s", filename, owner, name)
            else:
                fresh.append((base, sub, filename, letters))
        for uid in sorted(gone_uids):
            st.remove(uid)
        new_entries: list[Entry] = []
        recorded: list[Entry] = []
        dirs = {sub: os.fspath(path) for sub, path in st.sub_paths.items()}
        seen: set[str] = set()
        for base, sub, filename, letters in sorted(fresh, key=lambda f: f[2]):
            unique, _, crlf = base_fields(base)
            if unique in seen:
                log.warning("duplicate Maildir file %s in %s %s", filename, owner, name)
                continue
            seen.add(unique)
            path = os.path.join(dirs[sub], filename)  # str: much faster than Path
            try:
                stat = os.stat(path)
                record = (records or {}).get(unique)
                size = crlf if crlf is not None else (record[1] if record else None)
                if size is None:
                    with open(path, "rb") as f:
                        size = mailtext.crlf_size(f.read())
            except FileNotFoundError:
                continue  # moved away while we looked; seen next time
            flags, extra = self._parse_letters(st, letters)
            if record is not None and record[0] not in st.entries:
                uid = record[0]
                target = recorded
            else:
                uid = st.uidnext
                st.uidnext += 1
                target = new_entries
            info = MessageInfo(uid, unique, flags, stat.st_mtime, size)
            entry = Entry(info, sub, filename, base, extra, crlf is not None)
            st.add(entry)
            if records is None:  # at runtime; a load reconciles after
                st.new_modseq(entry)
            target.append(entry)
        if records is None:
            if gone_uids:
                modseqs = st.modseqs()
                modseqs.note_expunged(gone_uids, modseqs.next())
            if new_entries:
                self._flush_index(st)
            if gone_uids:
                self._write_uidlist(st)
            st.flush_modseqs()
        if announce:
            if gone_uids:
                events.append(
                    MailboxChange(owner, name, "expunged", tuple(sorted(gone_uids)))
                )
            if flagged:
                events.append(
                    MailboxChange(owner, name, "flags", tuple(sorted(flagged)))
                )
            if new_entries:
                uids = tuple(e.info.uid for e in new_entries)
                events.append(MailboxChange(owner, name, "added", uids))
            if new_entries or gone_uids or flagged:
                log.info(
                    "%s %s changed on disk: %d new, %d gone, %d re-flagged",
                    owner,
                    name,
                    len(new_entries),
                    len(gone_uids),
                    len(flagged),
                )

    def _entry_file(
        self, events: Events, owner: str, name: str, st: Folder, uid: int
    ) -> Entry | None:
        """The entry for ``uid`` whose file exists now (rescanning once if a
        program renamed it behind our back)."""
        entry = st.entries.get(uid)
        if entry is None:
            return None
        if not st.file_path(entry).exists():
            self._sync(events, owner, name, st, force=True)
            entry = st.entries.get(uid)
        return entry
