"""Where a user's files are, the locks, and the per-user files.

- Per user ``quicksilver-folders.json`` (special-use, written atomically) and
  ``subscriptions`` (one mailbox name per line, ``/`` as delimiter). A
  folders file that cannot be read is moved to ``<data root>/corrupt/`` (never
  deleted) and logged; the user then has no special-use marks until set again.
- Locks: one per folder, plus one per user (the folder name ``""``) for
  namespace changes (create, rename, delete). Several folders are always
  locked in sorted order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from server import fsutil
from server.storage import maildir_synchelper, names
from server.storage.base import (
    Indexer,
    InvalidMailboxName,
    MailboxNotFound,
    Owner,
    make_record,
)
from server.storage.maildir_commit import GroupCommitter
from server.storage.maildir_format import (
    FOLDERS_FILE,
    SUBSCRIPTIONS,
    Entry,
    Folder,
    counter,
    process_id,
    replace_small_file,
    sanitize_host,
    timestamp,
)

log = logging.getLogger("quicksilver.storage")


OWNER_CACHE = 4096  # owners whose normalized form and folder are kept
DURABLE_FOLDERS = 4096  # folders known to be made durable, then forgotten


class UserDirs:
    """Where a user's files are, the locks, and the per-user files."""

    def __init__(
        self,
        root: Path,
        hostname: str = "quicksilver",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.hostname = sanitize_host(hostname or socket.gethostname())
        self._clock = clock  # wall time, compared with file times (tmp/ cleanup)
        self._watchers = names.WatcherRegistry()
        self._folders: dict[tuple[str, str], Folder] = {}
        self._locks: dict[tuple[str, str], threading.RLock] = {}
        self._locks_guard = threading.Lock()
        # the group commit of every folder of this store (maildir_commit.py)
        # (its rounds for the event loop in a helper process where wanted)
        self._committer = GroupCommitter(
            self._sync_all,
            self._rollback,
            helper_root=self.root if maildir_synchelper.wanted() else None,
        )
        self._indexer: Indexer | None = None
        self._owners: dict[str, tuple[str, Path]] = {}  # see _owner
        # folders whose making this store has fsynced (_create_folder_files)
        self._durable_folders: set[Path] = set()

    def _sync_all(self) -> None:
        """The group commit's one call: ``syncfs`` flushes the whole file
        system, so it serves every folder of the store; a message for 50
        local users waits for one sync, not 50 in a row."""
        fsutil.syncfs(self.root)

    @staticmethod
    def _rollback(st: Folder, entries: list[Entry]) -> None:
        """Take stored messages out again (files and cache entries): a
        delivery whose commit failed leaves nothing behind. Their index
        lines, if written, name files that are gone, which a load forgets.
        Caller holds the folder lock."""
        for entry in entries:
            with contextlib.suppress(OSError):
                os.unlink(st.file_path(entry))
            st.remove(entry.info.uid)
        for sub in st.sub_paths.values():
            with contextlib.suppress(OSError):
                fsutil.fsync_dir(sub)

    def set_indexer(self, indexer: Indexer | None) -> None:
        self._indexer = indexer

    def _index(self, message: bytes) -> bytes | None:
        """The metadata record of a message being stored, if an indexer is set."""
        indexer = self._indexer
        return None if indexer is None else make_record(indexer, message)

    def _lock(self, owner: str, name: str) -> threading.RLock:
        with self._locks_guard:
            lock = self._locks.get((owner, name))
            if lock is None:
                lock = self._locks[(owner, name)] = threading.RLock()
            return lock

    def _user_lock(self, owner: str) -> threading.RLock:
        return self._lock(owner, "")  # "" is never a mailbox name

    def _owner(self, owner: Owner) -> tuple[str, Path]:
        """``owner`` normalized and the user's folder. Every store call asks,
        so the answers are kept (up to ``OWNER_CACHE``, then forgotten)."""
        known = self._owners.get(owner)
        if known is None:
            local, domain = names.normalize_owner(owner)
            known = (f"{local}@{domain}", self.root / domain / local)
            if len(self._owners) >= OWNER_CACHE:
                self._owners.clear()
            self._owners[owner] = known
        return known

    def _user_dir(self, owner: Owner) -> tuple[str, Path]:
        owner, udir = self._owner(owner)
        if not (udir / "cur").is_dir():
            raise MailboxNotFound("Mailbox does not exist")
        return owner, udir

    @staticmethod
    def _folder_path(udir: Path, name: str) -> Path:
        if name == names.INBOX:
            return udir
        dirname = names.encode_folder(name)
        if len(dirname.encode("utf-8")) > 255:
            raise InvalidMailboxName("Mailbox name too long")
        return udir / dirname

    def _existing(self, udir: Path) -> list[str]:
        """Mailbox names present on disk, INBOX first."""
        found = [names.INBOX]
        for dirname in os.listdir(udir):
            if dirname.startswith(".") and (udir / dirname / "cur").is_dir():
                name = names.decode_folder(dirname)
                if name is not None:
                    found.append(name)
        return names.sorted_mailboxes(found)

    def _new_unique(self) -> str:
        now = time.time()
        secs = int(now)
        usecs = int((now - secs) * 1_000_000)
        return f"{secs}.M{usecs}P{process_id()}Q{next(counter)}.{self.hostname}"

    def _move_to_corrupt(self, path: Path, owner: str, what: str, why: str) -> None:
        """Keep a damaged file for a person to look at; never delete it."""
        target = fsutil.quarantine(
            path, self.root.parent / "corrupt", f"{timestamp()}-{owner}-{what}"
        )
        log.warning(
            "%s of %s was unreadable (%s); moved to %s", what, owner, why, target
        )

    def _read_meta(self, owner: str, udir: Path) -> dict[str, str]:
        path = udir / FOLDERS_FILE
        try:
            data = json.loads(path.read_text("utf-8"))
            uses = data.get("special_use", {})
            if not isinstance(uses, dict):
                raise ValueError("special_use is not a table")
            return {str(k): str(v) for k, v in uses.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, AttributeError) as exc:
            self._move_to_corrupt(path, owner, FOLDERS_FILE, str(exc))
            return {}

    @staticmethod
    def _write_meta(udir: Path, meta: dict[str, str]) -> None:
        text = json.dumps({"version": 1, "special_use": meta}, indent=1, sort_keys=True)
        replace_small_file(udir / FOLDERS_FILE, text.encode("utf-8") + b"\n")

    @staticmethod
    def _read_subscriptions(udir: Path) -> list[str]:
        try:
            text = (udir / SUBSCRIPTIONS).read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return []
        out: list[str] = []
        for line in text.splitlines():
            with contextlib.suppress(InvalidMailboxName):
                name = names.normalize_mailbox(line)
                if name not in out:
                    out.append(name)
        return out

    @staticmethod
    def _write_subscriptions(udir: Path, subs: list[str]) -> None:
        replace_small_file(
            udir / SUBSCRIPTIONS, "".join(f"{s}\n" for s in subs).encode()
        )
