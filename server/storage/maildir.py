"""``MaildirStore``: users' mail as Maildir++ on disk, with a UID index.

What it does
- Layout: ``<root>/<domain>/<local>/`` is the user's Maildir++; INBOX is that
  folder (``cur/ new/ tmp/``), other mailboxes are ``.Name`` folders
  (``Work/2024`` -> ``.Work.2024``; ``%`` ``.`` and Windows-hostile characters
  inside a component are ``%XX``-escaped, see ``names.py``). Each folder has
  ``maildirfolder`` as Maildir++ asks.
- Message files hold LF line ends; ``read_message`` gives CRLF. Our names are
  ``<unique>,S=<disk size>,W=<crlf size>[:2,<letters>]`` (Dovecot's form), so a
  listing never opens a file. Files other programs drop in (no ``W=``) are read
  once and their size is kept in the index.
- Flags are the Maildir info letters (``D F R S T``; ``P`` and letters we do
  not know are kept untouched); keywords get the letters ``a``..``z`` from the
  folder's ``quicksilver-keywords`` (``<index> <keyword>`` per line).
- UIDs: ``quicksilver-uidlist`` per folder: a header ``V<uidvalidity>
  N<uidnext>``, then ``<uid> <unique>[ W<size>]`` lines (unique ``%``-escaped
  where it holds ``%``, space or controls). New mail is appended (fsynced);
  the file is rewritten atomically when messages go away. A missing index
  is rebuilt with a fresh UIDVALIDITY; an unreadable one is first moved to
  ``<data root>/corrupt/`` (never deleted) and logged.
- Per user ``quicksilver-folders.json`` (special-use, written atomically) and
  ``subscriptions`` (one mailbox name per line, ``/`` as delimiter).
- Durability: tmp/ -> write -> fsync -> rename -> fsync the directory before a
  coroutine returns (the helpers are ``server.fsutil``'s, shared with the
  queue spool and the settings files); disk full becomes
  ``StorageFullError``. A file in ``tmp/`` always gets a fresh name of its
  own (never the message's key), so whatever a crash left there cannot block
  the next attempt; the index and the other small files are replaced through
  ``tmp/`` too.
- Idempotent delivery: ``deliver(unique=...)`` stores a key once per folder.
  A replay that finds its key makes that copy durable before it answers; a
  copy whose size no longer matches its ``S=`` (a power loss after the rename)
  moves to ``corrupt/`` and is delivered again.
- ``tmp/`` cleanup (the Maildir spec's reader duty; Dovecot does the same):
  when a folder is loaded and then every ``TMP_SCAN_INTERVAL``, files in its
  ``tmp/`` untouched for ``TMP_MAX_AGE`` (36 hours: not read, written or
  renamed) are removed and logged; at most ``TMP_SCAN_LIMIT`` entries a pass.
- Speed: each folder is cached in memory (uid, key, flags, size, mtime, file
  name); ``new/`` and ``cur/`` are re-listed only when their mtime changed (or
  changed less than two seconds ago, for coarse clocks), and only the
  differences are looked at. One worker-thread hop per operation; one lock
  per folder, plus one per user for namespace changes (create, rename, delete).
- Changes found on disk (mail dropped in, files removed or re-flagged by
  another program) are announced to watchers like our own changes.

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
import contextlib
import errno
import itertools
import json
import logging
import os
import re
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from server import fsutil, mailtext
from server.errors import MailError, PermanentError, StorageFullError
from server.storage import names
from server.storage.base import (
    SPECIAL_USE_FOLDERS,
    FlagChange,
    InvalidMailboxName,
    MailboxChange,
    MailboxExists,
    MailboxInfo,
    MailboxNotFound,
    MailboxWatcher,
    MessageInfo,
    MessageNotFound,
    Owner,
    StoreUnavailable,
    apply_flag_change,
    check_flag_mode,
)

log = logging.getLogger("quicksilver.storage")

P = ParamSpec("P")
T = TypeVar("T")
Events = list[MailboxChange]

UIDLIST = "quicksilver-uidlist"
KEYWORDS = "quicksilver-keywords"
FOLDERS_FILE = "quicksilver-folders.json"
SUBSCRIPTIONS = "subscriptions"
# Windows cannot have ":" in a file name; mbsync uses ";" there.
INFO_SEP = ";" if os.name == "nt" else ":"
_INFO_SEPS = (INFO_SEP, ":") if INFO_SEP != ":" else (":",)
_SETTLE_NS = 2_000_000_000  # a directory changed this recently is re-listed
_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_INDEX_ESCAPE = re.compile(r"[%\x00-\x20\x7f]")
_counter = itertools.count(1)
# Maildir (cr.yp.to/proto/maildir.html): a reader may remove a tmp/ file not
# accessed for 36 hours; a delivery never takes that long.
TMP_MAX_AGE = 36 * 3600
TMP_SCAN_INTERVAL = 8 * 3600  # a folder's tmp/ is looked at again (Dovecot: 8 h)
# Entries looked at per pass, so a pass stays in milliseconds under the folder
# lock even if something filled tmp/; more than this is logged as a warning.
TMP_SCAN_LIMIT = 2000
_TMP_LOG_NAMES = 10  # names of removed files written to the log per pass


# -- small pure helpers ---------------------------------------------------------


def _index_escape(text: str) -> str:
    return _INDEX_ESCAPE.sub(lambda m: f"%{ord(m.group()):02X}", text)


def _index_unescape(text: str) -> str:
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def _split_name(filename: str) -> tuple[str, str]:
    """``(base, info letters)`` of a Maildir file name."""
    for sep in _INFO_SEPS:
        i = filename.find(sep)
        if i >= 0:
            info = filename[i + 1 :]
            return filename[:i], info[2:] if info.startswith("2,") else ""
    return filename, ""


def _base_fields(base: str) -> tuple[str, int | None, int | None]:
    """``(unique, S=, W=)`` of a base name; sizes None when absent."""
    unique, *fields = base.split(",")
    disk = crlf = None
    for f in fields:
        if f.startswith("S=") and f[2:].isdigit():
            disk = int(f[2:])
        elif f.startswith("W=") and f[2:].isdigit():
            crlf = int(f[2:])
    return unique, disk, crlf


def _sanitize_host(host: str) -> str:
    # Maildir spec: "/" and ":" in the host name are written \057 and \072.
    return host.replace("/", "\\057").replace(":", "\\072") or "localhost"


def _tmp_name() -> str:
    """A fresh name for a file in ``tmp/`` (time, pid, counter, random).

    Never derived from what is being written: a replayed delivery must not
    meet the half-written file of an earlier attempt under the same name
    (issue 10: ``[Errno 17] File exists`` blocked the job until it expired).
    """
    now = time.time_ns()
    return (
        f"{now // 1_000_000_000}.M{now // 1000 % 1_000_000}P{os.getpid()}"
        f"Q{next(_counter)}R{secrets.token_hex(4)}.tmp"
    )


def _write_tmp(
    tmp_dir: Path, data: bytes, mtime: float | None, *, sync: bool = True
) -> tuple[Path, os.stat_result]:
    """Write ``data`` to a new file in ``tmp_dir``; return its path and stat."""
    for attempt in range(3):
        path = tmp_dir / _tmp_name()
        try:
            return path, fsutil.write_new_file(path, data, mtime=mtime, sync=sync)
        except FileExistsError:  # left by someone else: take another name
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _replace(path: Path, data: bytes) -> None:
    """Replace a small file of the store (index, keywords, per-user files)
    atomically (``fsutil.atomic_write``). The temporary file goes to the
    folder's ``tmp/`` (there is one next to every file written here), so what
    a crash leaves is swept by the ``tmp/`` cleanup like any other leftover.
    """
    tmp_dir = path.parent / "tmp"
    fsutil.atomic_write(path, data, tmp_dir=tmp_dir if tmp_dir.is_dir() else None)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _timestamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}-{next(_counter)}"


# -- per-folder state -------------------------------------------------------------


class _Entry:
    """One message as cached: where its file is and what it says."""

    __slots__ = (
        "base",
        "extra",
        "filename",
        "info",
        "size_in_name",
        "subdir",
        "unique",
    )

    def __init__(
        self,
        info: MessageInfo,
        subdir: str,
        filename: str,
        base: str,
        extra: str,
        size_in_name: bool,
    ) -> None:
        self.info = info
        self.subdir = subdir
        self.filename = filename
        self.base = base
        self.extra = extra  # info letters kept but not interpreted
        self.size_in_name = size_in_name
        self.unique = _base_fields(base)[0]


class _Folder:
    """The cache of one folder; only touched with the folder's lock held."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.uidvalidity = 0
        self.uidnext = 1
        self.entries: dict[int, _Entry] = {}
        self.by_unique: dict[str, int] = {}
        # subdir -> file name -> uid; per subdir so rescans diff with set ops
        self.by_file: dict[str, dict[str, int]] = {"new": {}, "cur": {}}
        self.keywords: dict[int, str] = {}
        self.keyword_index: dict[str, int] = {}
        self.letter_cache: dict[str, tuple[frozenset[str], str]] = {}
        self.dir_stamp: tuple[int, int] | None = None
        self.index_stamp: tuple[int, int, int] | None = None
        # The index holds a line for every UID up to ``indexed``; entries with
        # higher UIDs wait in ``unindexed`` until ``_flush_index`` appends them
        # (always in ascending UID order, each exactly once).
        self.indexed = 0
        self.unindexed: list[_Entry] = []
        self.settling = True
        self._infos: list[MessageInfo] | None = None
        self._unseen = 0
        # group commit of deliveries (see MaildirStore._deliver)
        self.uncommitted: list[_Entry] = []
        self.committed: set[_Entry] = set()
        self.failed: dict[_Entry, BaseException] = {}
        self.commit_lock = threading.Lock()
        self.tmp_due = 0.0  # clock time of the next tmp/ cleanup pass

    def changed(self) -> None:
        self._infos = None

    def infos(self) -> list[MessageInfo]:
        if self._infos is None:
            self._infos = [self.entries[u].info for u in sorted(self.entries)]
            self._unseen = sum(1 for i in self._infos if "\\Seen" not in i.flags)
        return self._infos

    def unseen(self) -> int:
        self.infos()
        return self._unseen

    def add(self, entry: _Entry) -> None:
        uid = entry.info.uid
        self.entries[uid] = entry
        self.by_unique[entry.unique] = uid
        self.by_file[entry.subdir][entry.filename] = uid
        if uid > self.indexed:
            self.unindexed.append(entry)
        self.changed()

    def remove(self, uid: int) -> _Entry | None:
        entry = self.entries.pop(uid, None)
        if entry is not None:
            self.by_unique.pop(entry.unique, None)
            self.by_file[entry.subdir].pop(entry.filename, None)
            self.changed()
        return entry

    def move(
        self, entry: _Entry, subdir: str, filename: str, info: MessageInfo
    ) -> None:
        self.by_file[entry.subdir].pop(entry.filename, None)
        entry.subdir, entry.filename, entry.info = subdir, filename, info
        self.by_file[subdir][filename] = info.uid
        self.changed()

    def file_path(self, entry: _Entry) -> Path:
        return self.path / entry.subdir / entry.filename


class MaildirStore:
    """Maildir++ mail store; see the module docstring for formats and limits."""

    def __init__(
        self,
        root: Path,
        hostname: str = "quicksilver",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.hostname = _sanitize_host(hostname or socket.gethostname())
        self._clock = clock  # wall time, compared with file times (tmp/ cleanup)
        self._watchers = names.WatcherRegistry()
        self._folders: dict[tuple[str, str], _Folder] = {}
        self._locks: dict[tuple[str, str], threading.RLock] = {}
        self._locks_guard = threading.Lock()

    # -- plumbing ----------------------------------------------------------------

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
        except MailError:
            raise
        except OSError as exc:
            if exc.errno in _FULL_ERRNOS:
                log.error("mail storage is full: %s", exc)
                raise StorageFullError("Mailbox storage is full") from None
            log.error("mail storage error in %s: %s", fn.__name__, exc)
            raise StoreUnavailable(
                "Mailbox storage is unavailable", detail=str(exc)
            ) from None
        finally:
            for change in events:
                self._watchers.notify(change)

    def _lock(self, owner: str, name: str) -> threading.RLock:
        with self._locks_guard:
            lock = self._locks.get((owner, name))
            if lock is None:
                lock = self._locks[(owner, name)] = threading.RLock()
            return lock

    def _user_lock(self, owner: str) -> threading.RLock:
        return self._lock(owner, "")  # "" is never a mailbox name

    def _owner(self, owner: Owner) -> tuple[str, Path]:
        local, domain = names.normalize_owner(owner)
        return f"{local}@{domain}", self.root / domain / local

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
        return f"{secs}.M{usecs}P{os.getpid()}Q{next(_counter)}.{self.hostname}"

    def _move_to_corrupt(self, path: Path, owner: str, what: str, why: str) -> None:
        """Keep a damaged file for a person to look at; never delete it."""
        target = fsutil.quarantine(
            path, self.root.parent / "corrupt", f"{_timestamp()}-{owner}-{what}"
        )
        log.warning(
            "%s of %s was unreadable (%s); moved to %s", what, owner, why, target
        )

    # -- folder files ------------------------------------------------------------

    def _create_folder_files(self, path: Path) -> None:
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        if path.name.startswith("."):
            (path / "maildirfolder").touch()
        if not (path / UIDLIST).exists():
            header = f"V{names.next_uidvalidity()} N1\n"
            _replace(path / UIDLIST, header.encode())
        fsutil.fsync_dir(path.parent)

    def _read_keywords(self, st: _Folder, owner: str) -> None:
        st.keywords, st.keyword_index, st.letter_cache = {}, {}, {}
        try:
            text = (st.path / KEYWORDS).read_text("utf-8")
        except FileNotFoundError:
            return
        except UnicodeDecodeError:
            self._move_to_corrupt(st.path / KEYWORDS, owner, KEYWORDS, "not UTF-8")
            return
        for line in text.splitlines():
            idx, _, word = line.partition(" ")
            if idx.isdigit() and int(idx) < names.MAX_KEYWORDS and word:
                st.keywords[int(idx)] = word
                st.keyword_index[word] = int(idx)

    def _read_uidlist(
        self, st: _Folder, owner: str
    ) -> dict[str, tuple[int, int | None]] | None:
        """Load the header into ``st``; return unique -> (uid, size), or None.

        None means there is no usable index: the caller rebuilds it.
        """
        path = st.path / UIDLIST
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            lines = raw.decode("utf-8", "surrogateescape").split("\n")
            header = lines[0].split()
            fields = {t[0]: t[1:] for t in header if t[:1] in ("V", "N")}
            uidvalidity = int(fields["V"])
            uidnext = int(fields["N"])
            if not 0 < uidvalidity <= 0xFFFFFFFF or uidnext < 1:
                raise ValueError("bad header")
            records: dict[str, tuple[int, int | None]] = {}
            last = 0
            body = lines[1:]
            for n, line in enumerate(body):
                if not line:
                    continue
                try:
                    parts = line.split(" ")
                    uid = int(parts[0])
                    unique = _index_unescape(parts[1])
                    size = int(parts[2][1:]) if len(parts) > 2 else None
                    if records.get(unique, (0, None))[0] == uid:
                        continue  # the same line twice (older versions): harmless
                    if uid <= last or not unique:
                        raise ValueError("UIDs out of order")
                except (ValueError, IndexError):
                    if n == len(body) - 1:
                        continue  # a torn last append: forget just that line
                    raise
                records[unique] = (uid, size)
                last = uid
        except (ValueError, KeyError, IndexError, UnicodeDecodeError) as exc:
            self._move_to_corrupt(
                path, owner, _folder_label(st.path, UIDLIST), str(exc)
            )
            return None
        st.uidvalidity = uidvalidity
        st.uidnext = max(uidnext, last + 1)
        st.indexed = last
        return records

    def _write_uidlist(self, st: _Folder) -> None:
        lines = [f"V{st.uidvalidity} N{st.uidnext}\n"]
        lines.extend(
            self._index_line(e) for e in (st.entries[u] for u in sorted(st.entries))
        )
        data = "".join(lines).encode("utf-8", "surrogateescape")
        _replace(st.path / UIDLIST, data)
        st.index_stamp = _stamp(st.path / UIDLIST)
        # Every entry is in the index now, also deliveries whose group commit
        # has not run yet: it must not append them again.
        st.indexed = max(st.indexed, max(st.entries, default=0))
        st.unindexed = []

    @staticmethod
    def _index_line(entry: _Entry) -> str:
        unique = _index_escape(entry.unique)
        size = "" if entry.size_in_name else f" W{entry.info.size}"
        return f"{entry.info.uid} {unique}{size}\n"

    def _flush_index(self, st: _Folder, *, sync: bool = True) -> None:
        """Append the index lines of every entry not in the index yet, in
        ascending UID order, and advance ``st.indexed``. The only way lines are
        appended, so the index never gets a line twice or out of order, whoever
        (delivery group commit, COPY, rescan, EXPUNGE rewrite) comes first.
        Caller holds the folder lock."""
        pending = sorted(
            (
                e
                for e in st.unindexed
                if e.info.uid > st.indexed and st.entries.get(e.info.uid) is e
            ),
            key=lambda e: e.info.uid,
        )
        if not pending:
            st.unindexed = []
            return
        text = "".join(self._index_line(e) for e in pending)
        data = text.encode("utf-8", "surrogateescape")  # odd foreign file names
        path = st.path / UIDLIST
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | fsutil.O_BINARY)
        try:
            fsutil.write_all(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        st.index_stamp = _stamp(path)
        st.indexed = pending[-1].info.uid
        st.unindexed = []

    # -- flags -------------------------------------------------------------------

    def _parse_letters(self, st: _Folder, letters: str) -> tuple[frozenset[str], str]:
        cached = st.letter_cache.get(letters)
        if cached is not None:
            return cached
        flags: set[str] = set()
        extra = []
        for ch in letters:
            flag = names.LETTER_TO_FLAG.get(ch)
            if flag is None and "a" <= ch <= "z":
                flag = st.keywords.get(ord(ch) - ord("a"))
            if flag is None:
                extra.append(ch)
            else:
                flags.add(flag)
        result = (frozenset(flags), "".join(extra))
        st.letter_cache[letters] = result
        return result

    def _letters(self, st: _Folder, flags: frozenset[str], extra: str) -> str:
        """Info letters for ``flags``, giving new keywords a letter first."""
        missing = [k for k in names.keywords_of(flags) if k not in st.keyword_index]
        if missing:
            used = {c for e in st.entries.values() for c in e.extra}
            free = [
                i
                for i in range(names.MAX_KEYWORDS)
                if i not in st.keywords and chr(ord("a") + i) not in used
            ]
            if len(free) < len(missing):
                raise PermanentError("Too many keywords in this mailbox")
            for idx, word in zip(free, missing, strict=False):
                st.keywords[idx] = word
                st.keyword_index[word] = idx
            st.letter_cache = {}
            text = "".join(f"{i} {w}\n" for i, w in sorted(st.keywords.items()))
            _replace(st.path / KEYWORDS, text.encode("utf-8"))
        letters = set(extra)
        for flag in flags:
            if flag in names.FLAG_TO_LETTER:
                letters.add(names.FLAG_TO_LETTER[flag])
            else:
                letters.add(chr(ord("a") + st.keyword_index[flag]))
        return "".join(sorted(letters))

    # -- loading and rescanning ------------------------------------------------------

    def _state(
        self, events: Events, owner: str, name: str, *, rescan: bool = True
    ) -> _Folder:
        """The folder's cache, loaded and (if ``rescan``) brought up to date.

        Caller holds the folder lock.
        """
        _, udir = self._user_dir(owner)
        path = self._folder_path(udir, name)
        if not (path / "cur").is_dir():
            self._folders.pop((owner, name), None)
            raise MailboxNotFound("Mailbox does not exist")
        st = self._folders.get((owner, name))
        if st is None or st.path != path or _stamp(path / UIDLIST) != st.index_stamp:
            if st is not None:
                log.info("index of %s %s changed on disk; reloading", owner, name)
            st = self._load(events, owner, name, path)
            self._folders[(owner, name)] = st
        elif rescan:
            self._sync(events, owner, name, st)
        now = self._clock()
        if now >= st.tmp_due:
            st.tmp_due = now + TMP_SCAN_INTERVAL
            self._clean_tmp(owner, name, st.path / "tmp", now)
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

    def _load(self, events: Events, owner: str, name: str, path: Path) -> _Folder:
        st = _Folder(path)
        self._read_keywords(st, owner)
        records = self._read_uidlist(st, owner)
        rebuild = records is None
        if records is None:
            st.uidvalidity = names.next_uidvalidity()
            st.uidnext = 1
            log.info("building a new UID index for %s %s", owner, name)
        self._sync(events, owner, name, st, records or {}, announce=False)
        recorded = {uid for uid, _ in (records or {}).values()}
        if rebuild or set(st.entries) != recorded:
            self._write_uidlist(st)  # also drops lines of vanished files
        else:
            st.index_stamp = _stamp(path / UIDLIST)
        return st

    def _sync(
        self,
        events: Events,
        owner: str,
        name: str,
        st: _Folder,
        records: dict[str, tuple[int, int | None]] | None = None,
        *,
        force: bool = False,
        announce: bool = True,
    ) -> None:
        """Bring the cache in line with ``new/`` and ``cur/``, looking only at
        the differences. ``records`` (from the index) say which UIDs files had.
        """
        stamps = (
            os.stat(st.path / "new").st_mtime_ns,
            os.stat(st.path / "cur").st_mtime_ns,
        )
        if not force and not st.settling and stamps == st.dir_stamp:
            return
        gone_uids: set[int] = set()
        added: list[tuple[str, str]] = []
        for sub in ("new", "cur"):
            listed = set(os.listdir(st.path / sub))
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
            base, letters = _split_name(filename)
            unique = _base_fields(base)[0]
            uid = st.by_unique.get(unique)
            if uid is not None and uid in gone_uids:
                # Renamed by someone else (flags changed, new/ -> cur/).
                entry = st.entries[uid]
                flags, extra = self._parse_letters(st, letters)
                if flags != entry.info.flags:
                    flagged.append(uid)
                info = _replace_flags(entry.info, flags)
                st.move(entry, sub, filename, info)
                entry.base, entry.extra = base, extra
                gone_uids.discard(uid)
            elif uid is not None:
                log.warning("duplicate Maildir file %s in %s %s", filename, owner, name)
            else:
                fresh.append((base, sub, filename, letters))
        for uid in sorted(gone_uids):
            st.remove(uid)
        new_entries: list[_Entry] = []
        recorded: list[_Entry] = []
        dirs = {sub: os.fspath(st.path / sub) for sub in ("new", "cur")}
        seen: set[str] = set()
        for base, sub, filename, letters in sorted(fresh, key=lambda f: f[2]):
            unique, _, crlf = _base_fields(base)
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
            entry = _Entry(info, sub, filename, base, extra, crlf is not None)
            st.add(entry)
            target.append(entry)
        if new_entries and records is None:
            self._flush_index(st)
        if gone_uids and records is None:
            self._write_uidlist(st)
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

    # -- storing files -----------------------------------------------------------

    def _store(
        self,
        st: _Folder,
        data: bytes | Path,
        flags: frozenset[str],
        mtime: float | None,
        unique: str,
        crlf: int | None = None,
    ) -> _Entry:
        """Put one message into the folder durably (except the dir fsync and
        the index append, which callers batch). ``data`` is the LF form, or a
        file to hard-link (copies share the inode, like Dovecot's).
        """
        letters = self._letters(st, flags, "") if flags else ""
        sub = "cur" if flags else "new"
        info_part = f"{INFO_SEP}2,{letters}" if flags else ""
        stat: os.stat_result | None = None
        if isinstance(data, Path):
            assert crlf is not None
            base = f"{unique},S={os.stat(data).st_size},W={crlf}"
            filename = base + info_part
            try:
                os.link(data, st.path / sub / filename)
                stat = os.stat(st.path / sub / filename)
            except OSError as exc:
                if exc.errno in _FULL_ERRNOS:
                    raise
                data = data.read_bytes()  # no hard links here: copy the bytes
        if stat is None:
            assert isinstance(data, bytes)
            crlf = mailtext.crlf_size(data)
            base = f"{unique},S={len(data)},W={crlf}"
            filename = base + info_part
            tmp, stat = _write_tmp(st.path / "tmp", data, mtime)
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
        entry = _Entry(info, sub, filename, base, "", True)
        st.add(entry)
        return entry

    def _commit(
        self, st: _Folder, entries: list[_Entry], *, whole_fs: bool = False
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
    def _rollback(st: _Folder, entries: list[_Entry]) -> None:
        for entry in entries:
            with contextlib.suppress(OSError):
                os.unlink(st.file_path(entry))
            st.remove(entry.info.uid)
        for sub in ("new", "cur"):
            with contextlib.suppress(OSError):
                fsutil.fsync_dir(st.path / sub)
        # UIDs handed out stay used; a torn index append is repaired on reload
        # (the stamp no longer matches, so the index is re-read).

    def _entry_file(
        self, events: Events, owner: str, name: str, st: _Folder, uid: int
    ) -> _Entry | None:
        """The entry for ``uid`` whose file exists now (rescanning once if a
        program renamed it behind our back)."""
        entry = st.entries.get(uid)
        if entry is None:
            return None
        if not st.file_path(entry).exists():
            self._sync(events, owner, name, st, force=True)
            entry = st.entries.get(uid)
        return entry

    # -- worker-thread bodies --------------------------------------------------------

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
            target = self.root.parent / "deleted" / domain / f"{local}-{_timestamp()}"
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
        data = mailtext.to_lf(message)
        crlf = mailtext.crlf_size(data)
        unique_name = key or self._new_unique()
        base = f"{unique_name},S={len(data)},W={crlf}"
        whole_fs = fsutil.syncfs_available()
        tmp, stat = _write_tmp(st.path / "tmp", data, internal_date, sync=not whole_fs)
        try:
            with lock:
                st = self._state(events, owner, name, rescan=False)
                uid = st.by_unique.get(unique_name) if key is not None else None
                if uid is not None:  # a replay raced us: keep the first copy
                    os.unlink(tmp)
                    return st.entries[uid].info
                entry = self._place(st, tmp, base, stat, flagset, crlf, unique_name)
                if whole_fs:
                    st.uncommitted.append(entry)
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
        self, events: Events, owner: str, name: str, st: _Folder, uid: int
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
        disk = _base_fields(entry.base)[1]
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
            _folder_label(st.path, entry.filename),
            f"{size} bytes where its name says {disk}",
        )
        st.remove(uid)
        self._write_uidlist(st)
        events.append(MailboxChange(owner, name, "expunged", (uid,)))
        return None

    def _group_commit(self, st: _Folder, lock: threading.RLock, entry: _Entry) -> None:
        """Make ``entry`` durable together with every other queued delivery.

        Committers take turns on ``st.commit_lock``; the folder lock is held only
        to take the batch and append its index lines, not during ``syncfs``, so
        new deliveries keep being placed meanwhile and form the next batch.
        """
        with st.commit_lock:
            with lock:
                if entry in st.committed or entry in st.failed:
                    batch: list[_Entry] = []
                else:
                    batch, st.uncommitted = st.uncommitted, []
                    try:
                        # Lines of the batch an EXPUNGE rewrite or a COPY
                        # already put in the index are not appended again.
                        self._flush_index(st, sync=False)
                    except BaseException as exc:
                        self._rollback(st, batch)
                        st.failed.update(dict.fromkeys(batch, exc))
                        batch = []
            if batch:
                try:
                    fsutil.syncfs(st.path)
                except BaseException as exc:
                    with lock:
                        self._rollback(st, batch)
                        st.failed.update(dict.fromkeys(batch, exc))
                else:
                    with lock:
                        st.committed.update(batch)
            with lock:
                failure = st.failed.pop(entry, None)
                st.committed.discard(entry)
        if failure is not None:
            raise failure

    def _place(
        self,
        st: _Folder,
        tmp: Path,
        base: str,
        stat: os.stat_result,
        flags: frozenset[str],
        crlf: int,
        unique: str,
    ) -> _Entry:
        """Rename a written file into ``new/`` (or ``cur/`` with flags) and give
        it the next UID; the caller holds the folder lock."""
        letters = self._letters(st, flags, "") if flags else ""
        sub = "cur" if flags else "new"
        info_part = f"{INFO_SEP}2,{letters}" if flags else ""
        filename = base + info_part
        os.rename(tmp, st.path / sub / filename)
        uid = st.uidnext
        st.uidnext += 1
        info = MessageInfo(uid, unique, flags, stat.st_mtime, crlf)
        entry = _Entry(info, sub, filename, base, "", True)
        st.add(entry)
        return entry

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
                doomed = udir / "tmp" / f".deleted-{_timestamp()}{path.name}"
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
            moved: list[_Entry] = []
            for uid in sorted(inbox.entries):
                entry = inbox.entries[uid]
                flags = entry.info.flags
                letters = self._letters(target, flags, entry.extra)
                sub, filename = entry.subdir, entry.base
                if letters or sub == "cur":
                    sub, filename = "cur", f"{entry.base}{INFO_SEP}2,{letters}"
                os.rename(inbox.file_path(entry), path / sub / filename)
                info = MessageInfo(
                    target.uidnext,
                    entry.info.key,
                    flags,
                    entry.info.internal_date,
                    entry.info.size,
                )
                target.uidnext += 1
                new_entry = _Entry(
                    info, sub, filename, entry.base, entry.extra, entry.size_in_name
                )
                target.add(new_entry)
                moved.append(new_entry)
            for sub in ("new", "cur"):
                fsutil.fsync_dir(path / sub)
                fsutil.fsync_dir(udir / sub)
            self._flush_index(target)
            uids = tuple(sorted(inbox.entries))
            for uid in uids:
                inbox.remove(uid)
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
                    return mailtext.to_crlf(st.file_path(entry).read_bytes())
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
            paths = {
                uid: st.file_path(st.entries[uid]) for uid in uids if uid in st.entries
            }
        out: dict[int, bytes] = {}
        missing = []
        for uid, path in paths.items():  # reading needs no lock: files are whole
            try:
                out[uid] = mailtext.to_crlf(path.read_bytes())
            except FileNotFoundError:
                missing.append(uid)
        for uid in missing:  # renamed meanwhile (flags changed): look it up again
            try:
                out[uid] = self._read_message(events, owner, mailbox, uid)
            except MessageNotFound:
                pass
        return out

    def _set_flags(
        self,
        events: Events,
        owner: str,
        mailbox: str,
        changes: Sequence[FlagChange],
        origin: object | None,
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
                flagset = apply_flag_change(entry.info.flags, mode, flags)
                if entry.info.flags != flagset and uid not in changed:
                    changed.append(uid)
                letters = self._letters(st, flagset, entry.extra)
                filename = f"{entry.base}{INFO_SEP}2,{letters}"
                if entry.subdir != "cur" or entry.filename != filename:
                    # Maildir: a message that has been seen by a client lives
                    # in cur/; the rename is the atomic flag update.
                    os.rename(st.file_path(entry), st.path / "cur" / filename)
                    touched.update((entry.subdir, "cur"))
                    st.move(entry, "cur", filename, _replace_flags(entry.info, flagset))
                result.append(entry.info)
            for sub in sorted(touched):
                fsutil.fsync_dir(st.path / sub)
            if changed:
                events.append(
                    MailboxChange(owner, name, "flags", tuple(changed), origin=origin)
                )
            return result

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
        st: _Folder,
        uids: list[int],
        needs_flag: str | None,
        origin: object | None,
    ) -> list[int]:
        """Unlink the files of ``uids`` (ascending), only those whose current
        flags hold ``needs_flag`` when given; rewrite the index. Caller holds
        the folder lock."""
        removed: list[int] = []
        touched: set[str] = set()
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
            fsutil.fsync_dir(st.path / sub)
        if removed:
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
            stored: list[_Entry] = []
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

    def _usage(self, events: Events, owner: str) -> int:
        owner, udir = self._user_dir(owner)
        with self._user_lock(owner):
            total = 0
            for name in self._existing(udir):
                with self._lock(owner, name):
                    st = self._state(events, owner, name)
                    total += sum(e.info.size for e in st.entries.values())
            return total

    # -- per-user files -----------------------------------------------------------

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
        _replace(udir / FOLDERS_FILE, text.encode("utf-8") + b"\n")

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
        _replace(udir / SUBSCRIPTIONS, "".join(f"{s}\n" for s in subs).encode())

    # -- MailStore ---------------------------------------------------------------

    async def ensure_user(self, owner: Owner) -> None:
        await self._run(self._ensure_user, owner)

    async def delete_user(self, owner: Owner) -> None:
        await self._run(self._delete_user, owner)

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
    ) -> list[MessageInfo]:
        return await self._run(self._set_flags, owner, mailbox, list(changes), origin)

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

    def watch(
        self, owner: Owner, mailbox: str, callback: MailboxWatcher
    ) -> Callable[[], None]:
        owner, _ = self._owner(owner)
        return self._watchers.add(owner, names.normalize_mailbox(mailbox), callback)


def _replace_flags(info: MessageInfo, flags: frozenset[str]) -> MessageInfo:
    if info.flags == flags:
        return info
    return MessageInfo(info.uid, info.key, flags, info.internal_date, info.size)


def _folder_label(path: Path, what: str) -> str:
    folder = path.name if path.name.startswith(".") else "INBOX"
    return f"{folder}-{what}"
