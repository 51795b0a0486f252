"""Users and mailboxes of the Maildir store: create, delete, rename, list.

- A new user gets INBOX and the special-use folders (RFC 6154), subscribed.
  A deleted user's Maildir is moved to ``<data root>/deleted/`` (never
  removed); when the address is a user again, the newest such copy can be
  put back in place of the new, still empty, Maildir (``_restore_deleted``).
- Deleting a mailbox renames it into ``tmp/`` first (out of sight
  atomically), then removes the files; its subscription stays (RFC 3501
  6.3.4). A mailbox with inferiors cannot be deleted.
- Renaming moves the folder and its inferiors, rolling back the renames done
  if one fails. Renaming INBOX moves its messages to the new mailbox and
  leaves INBOX empty (RFC 3501 6.3.5).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
from pathlib import Path

from server import fsutil
from server.errors import PermanentError
from server.storage import names
from server.storage.base import (
    SPECIAL_USE_FOLDERS,
    MailboxChange,
    MailboxExists,
    MailboxInfo,
    MailboxNotFound,
    MessageInfo,
)
from server.storage.maildir_format import (
    INFO_SEP,
    Entry,
    Events,
    timestamp,
)
from server.storage.maildir_sync import FolderCache

log = logging.getLogger("quicksilver.storage")

# what ``timestamp()`` adds to a deleted user's folder name
_DELETED_STAMP = re.compile(r"\d{8}T\d{6}-\d+-\d+")


class Namespace(FolderCache):
    """Users and mailboxes: create, delete, rename, list, subscribe."""

    def _ensure_user(self, events: Events, owner: str) -> None:
        owner, udir = self._owner(owner)
        with self._user_lock(owner):
            new_user = not (udir / "cur").is_dir()
            self._create_folder_files(udir)
            existing = set(self._existing(udir))
            meta = self._read_meta(owner, udir)
            subs = self._read_subscriptions(udir)
            meta_changed = False
            subs_before = list(subs)
            if new_user and names.INBOX not in subs:
                subs.append(names.INBOX)
            for name, use in SPECIAL_USE_FOLDERS:
                # A renamed "Sent" keeps \Sent: do not make a second one.
                if name in existing or any(meta.get(n) == use for n in existing):
                    continue
                self._create_folder_files(self._folder_path(udir, name))
                meta[name] = use
                meta_changed = True
                if name not in subs:
                    subs.append(name)
            if meta_changed:
                self._write_meta(udir, meta)
            if subs != subs_before:
                self._write_subscriptions(udir, subs)

    def _delete_user(self, events: Events, owner: str) -> None:
        owner, udir = self._owner(owner)
        with self._user_lock(owner):
            if not udir.exists():
                return
            existing = self._existing(udir) if (udir / "cur").is_dir() else []
            domain, local = udir.parent.name, udir.name
            target = self.root.parent / "deleted" / domain / f"{local}-{timestamp()}"
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(udir, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                shutil.move(str(udir), str(target))
            fsutil.fsync_dir(udir.parent)
            for key in list(self._folders):  # list(): other threads may add
                if key[0] == owner:
                    self._folders.pop(key, None)
            log.info("mail of %s moved to %s", owner, target)
            events.extend(MailboxChange(owner, n, "deleted") for n in existing)

    def _deleted_copies(self, owner: str) -> list[Path]:
        """The Maildirs kept in ``deleted/`` for this address, oldest first."""
        owner, udir = self._owner(owner)
        folder = self.root.parent / "deleted" / udir.parent.name
        prefix = f"{udir.name}-"
        try:
            found = [
                p
                for p in folder.iterdir()
                if p.name.startswith(prefix)
                and _DELETED_STAMP.fullmatch(p.name[len(prefix) :])
                and (p / "cur").is_dir()
            ]
        except FileNotFoundError:
            return []
        return sorted(found, key=lambda p: p.name[len(prefix) :])

    def _restore_deleted(self, events: Events, owner: str) -> Path | None:
        """Put the newest deleted copy of ``owner``'s Maildir back in place
        of the current one, which must hold no message (a user made again);
        the copy it came from, or None when there is none."""
        copies = self._deleted_copies(owner)
        if not copies:
            return None
        source = copies[-1]
        owner, udir = self._owner(owner)
        with self._user_lock(owner):
            if udir.exists():
                folders = [udir] + [
                    udir / d for d in os.listdir(udir) if d.startswith(".")
                ]
                if any(
                    any(os.scandir(f / sub))
                    for f in folders
                    for sub in ("cur", "new")
                    if (f / sub).is_dir()
                ):
                    raise PermanentError(
                        f"{owner} has mail already: its old mail is left in "
                        f"{source.name} (deleted/{udir.parent.name})"
                    )
                shutil.rmtree(udir)  # the new account's empty folders only
            udir.parent.mkdir(parents=True, exist_ok=True)
            os.rename(source, udir)
            fsutil.fsync_dir(udir.parent)
            fsutil.fsync_dir(source.parent)
            for key in list(self._folders):  # list(): other threads may add
                if key[0] == owner:
                    self._folders.pop(key, None)
            log.info("mail of %s brought back from %s", owner, source)
        del events  # a new account: no session has looked at its folders yet
        return source

    def _mailbox_info_locked(
        self,
        events: Events,
        owner: str,
        udir: Path,
        name: str,
        existing: list[str],
        meta: dict[str, str],
        subs: list[str],
    ) -> MailboxInfo:
        with self._lock(owner, name):
            st = self._state(events, owner, name)
            return MailboxInfo(
                name=name,
                uidvalidity=st.uidvalidity,
                uidnext=st.uidnext,
                special_use=meta.get(name),
                subscribed=name in subs,
                has_children=any(names.is_inferior(n, name) for n in existing),
                messages=len(st.entries),
                unseen=st.unseen(),
                highestmodseq=st.modseqs().highest,
                mailbox_id=st.mailbox_id,
            )

    def _list_mailboxes(self, events: Events, owner: str) -> list[MailboxInfo]:
        owner, udir = self._user_dir(owner)
        with self._user_lock(owner):
            existing = self._existing(udir)
            meta = self._read_meta(owner, udir)
            subs = self._read_subscriptions(udir)
            return [
                self._mailbox_info_locked(events, owner, udir, n, existing, meta, subs)
                for n in existing
            ]

    def _mailbox_info(self, events: Events, owner: str, mailbox: str) -> MailboxInfo:
        owner, udir = self._user_dir(owner)
        name = names.normalize_mailbox(mailbox)
        with self._user_lock(owner):
            existing = self._existing(udir)
            if name not in existing:
                raise MailboxNotFound("Mailbox does not exist")
            meta = self._read_meta(owner, udir)
            subs = self._read_subscriptions(udir)
            return self._mailbox_info_locked(
                events, owner, udir, name, existing, meta, subs
            )

    def _create_mailbox(
        self, events: Events, owner: str, mailbox: str, special_use: str | None
    ) -> MailboxInfo:
        owner, udir = self._user_dir(owner)
        name = names.normalize_mailbox(mailbox)
        names.check_special_use(special_use)
        path = self._folder_path(udir, name)
        with self._user_lock(owner):
            existing = self._existing(udir)
            if name in existing:
                raise MailboxExists("Mailbox already exists")
            for parent in names.missing_parents(existing, name):
                self._create_folder_files(self._folder_path(udir, parent))
            self._create_folder_files(path)
            if special_use is not None:
                meta = self._read_meta(owner, udir)
                meta[name] = special_use
                self._write_meta(udir, meta)
            return self._mailbox_info(events, owner, name)

    def _delete_mailbox(self, events: Events, owner: str, mailbox: str) -> None:
        owner, udir = self._user_dir(owner)
        name = names.normalize_mailbox(mailbox)
        with self._user_lock(owner):
            existing = self._existing(udir)
            if name not in existing:
                raise MailboxNotFound("Mailbox does not exist")
            if name == names.INBOX:
                raise PermanentError("Cannot delete INBOX")
            if any(names.is_inferior(n, name) for n in existing):
                raise PermanentError("Mailbox has children")
            with self._lock(owner, name):
                path = self._folder_path(udir, name)
                # Out of sight atomically first, then remove the files.
                doomed = udir / "tmp" / f".deleted-{timestamp()}{path.name}"
                os.rename(path, doomed)
                fsutil.fsync_dir(udir)
                self._folders.pop((owner, name), None)
                shutil.rmtree(doomed, ignore_errors=True)
            meta = self._read_meta(owner, udir)
            if meta.pop(name, None) is not None:
                self._write_meta(udir, meta)
            # RFC 3501 6.3.4: the subscription stays.
            events.append(MailboxChange(owner, name, "deleted"))

    def _rename_mailbox(self, events: Events, owner: str, old: str, new: str) -> None:
        owner, udir = self._user_dir(owner)
        old_name = names.normalize_mailbox(old)
        new_name = names.normalize_mailbox(new)
        with self._user_lock(owner):
            existing = self._existing(udir)
            moves = names.plan_rename(existing, old_name, new_name)
            for _, target in moves:
                self._folder_path(udir, target)  # refuse too-long names first
            for parent in names.missing_parents(existing, new_name):
                self._create_folder_files(self._folder_path(udir, parent))
            if old_name == names.INBOX:
                self._rename_inbox(events, owner, udir, new_name)
                return
            locks = [
                self._lock(owner, n) for n in sorted({n for m in moves for n in m})
            ]
            with contextlib.ExitStack() as stack:
                for lock in locks:
                    stack.enter_context(lock)
                done: list[tuple[Path, Path]] = []
                try:
                    for src, dst in moves:
                        a, b = (
                            self._folder_path(udir, src),
                            self._folder_path(udir, dst),
                        )
                        os.rename(a, b)
                        done.append((a, b))
                except OSError:
                    for a, b in reversed(done):
                        with contextlib.suppress(OSError):
                            os.rename(b, a)
                    raise
                fsutil.fsync_dir(udir)
                for src, dst in moves:
                    self._folders.pop((owner, src), None)
                    self._folders.pop((owner, dst), None)
            meta = self._read_meta(owner, udir)
            subs = self._read_subscriptions(udir)
            new_subs = list(subs)
            for src, dst in moves:
                if src in meta:
                    meta[dst] = meta.pop(src)
                if src in new_subs:
                    new_subs[new_subs.index(src)] = dst
            if any(src in meta or dst in meta for src, dst in moves):
                self._write_meta(udir, meta)
            if new_subs != subs:
                self._write_subscriptions(udir, new_subs)
            events.extend(MailboxChange(owner, src, "renamed") for src, _ in moves)

    def _rename_inbox(self, events: Events, owner: str, udir: Path, new: str) -> None:
        """RFC 3501 6.3.5: all INBOX messages move to a new mailbox; INBOX stays,
        empty, with its inferiors. Files are renamed (keeping their unique
        names), their keyword letters re-mapped to the new folder's."""
        path = self._folder_path(udir, new)
        self._create_folder_files(path)
        first, second = sorted((names.INBOX, new))  # the order every op uses
        with self._lock(owner, first), self._lock(owner, second):
            inbox = self._state(events, owner, names.INBOX)
            target = self._state(events, owner, new)
            moved: list[Entry] = []
            for uid in sorted(inbox.entries):
                entry = inbox.entries[uid]
                flags = entry.info.flags
                letters = self._letters(target, flags, entry.extra)
                sub, filename = entry.subdir, entry.base
                if letters or sub == "cur":
                    sub, filename = "cur", f"{entry.base}{INFO_SEP}2,{letters}"
                os.rename(inbox.file_path(entry), target.sub_paths[sub] / filename)
                info = MessageInfo(
                    target.uidnext,
                    entry.info.key,
                    flags,
                    entry.info.internal_date,
                    entry.info.size,
                )
                target.uidnext += 1
                new_entry = Entry(
                    info, sub, filename, entry.base, entry.extra, entry.size_in_name
                )
                target.add(new_entry)
                target.new_modseq(new_entry)
                moved.append(new_entry)
            for sub in ("new", "cur"):
                fsutil.fsync_dir(path / sub)
                fsutil.fsync_dir(udir / sub)
            self._flush_index(target)
            uids = tuple(sorted(inbox.entries))
            for uid in uids:
                inbox.remove(uid)
            if uids:
                modseqs = inbox.modseqs()
                modseqs.note_expunged(uids, modseqs.next())
            self._write_uidlist(inbox)
            if uids:
                events.append(MailboxChange(owner, names.INBOX, "expunged", uids))

    def _set_subscribed(
        self, events: Events, owner: str, mailbox: str, on: bool
    ) -> None:
        owner, udir = self._user_dir(owner)
        name = names.normalize_mailbox(mailbox)
        with self._user_lock(owner):
            subs = self._read_subscriptions(udir)
            if on:
                if name not in self._existing(udir):
                    raise MailboxNotFound("Mailbox does not exist")
                if name in subs:
                    return
                subs.append(name)
            elif name in subs:
                subs.remove(name)
            else:
                return
            self._write_subscriptions(udir, subs)

    def _list_subscriptions(self, events: Events, owner: str) -> list[str]:
        owner, udir = self._user_dir(owner)
        return self._read_subscriptions(udir)

    def _usage(self, events: Events, owner: str) -> int:
        """Bytes of all the user's mail: each folder's running total (kept
        as messages come and go), no rescan of its directory; a folder not
        loaded yet is read once."""
        owner, udir = self._user_dir(owner)
        with self._user_lock(owner):
            total = 0
            for name in self._existing(udir):
                with self._lock(owner, name):
                    st = self._state(events, owner, name, rescan=False)
                    total += st.total_size
            return total
