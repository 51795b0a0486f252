"""The Maildir store's file names and in-memory records (no store logic).

- Message files hold LF line ends; ``read_message`` gives CRLF. Our names are
  ``<unique>,S=<disk size>,W=<crlf size>[:2,<letters>]`` (Dovecot's form), so a
  listing never opens a file. Files other programs drop in (no ``W=``) are read
  once and their size is kept in the index.
- Flags are the Maildir info letters (``D F R S T``; ``P`` and letters we do
  not know are kept untouched); keywords get the letters ``a``..``z`` (see
  ``maildir_index.py``). On Windows the info separator is ``;`` (no ``:`` in
  file names there; mbsync does the same).
- A file in ``tmp/`` always gets a fresh name of its own (never the message's
  key), so whatever a crash left there cannot block the next attempt; the
  index and the other small files are replaced through ``tmp/`` too, so their
  leftovers are swept with the rest (``maildir_sync.py``). The writes
  themselves (write, fsync, rename, fsync the directory) are
  ``server.fsutil``'s, shared with the queue spool and the settings files.
- ``Entry`` and ``Folder`` are the cache of one folder (uid, key, flags,
  size, mtime, file name), touched only with the folder's lock held.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import secrets
import time
from pathlib import Path

from server import fsutil
from server.storage.base import (
    MailboxChange,
    MessageInfo,
)
from server.storage.maildir_meta import MetaFile
from server.storage.maildir_modseq import ModseqLog

log = logging.getLogger("quicksilver.storage")

Events = list[MailboxChange]

UIDLIST = "quicksilver-uidlist"
KEYWORDS = "quicksilver-keywords"
FOLDERS_FILE = "quicksilver-folders.json"
SUBSCRIPTIONS = "subscriptions"
# Windows cannot have ":" in a file name; mbsync uses ";" there.
INFO_SEP = ";" if os.name == "nt" else ":"
INFO_SEPS = (INFO_SEP, ":") if INFO_SEP != ":" else (":",)
FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
counter = itertools.count(1)


class _Process:
    """This process's id and a random tag for file names, read once (each
    ``os.getpid`` or ``secrets`` call is a system call per delivery), and
    again in a forked child."""

    pid = os.getpid()
    tag = secrets.token_hex(4)

    @classmethod
    def renew(cls) -> None:
        cls.pid = os.getpid()
        cls.tag = secrets.token_hex(4)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_Process.renew)


def process_id() -> int:
    return _Process.pid


def split_name(filename: str) -> tuple[str, str]:
    """``(base, info letters)`` of a Maildir file name."""
    for sep in INFO_SEPS:
        i = filename.find(sep)
        if i >= 0:
            info = filename[i + 1 :]
            return filename[:i], info[2:] if info.startswith("2,") else ""
    return filename, ""


def base_fields(base: str) -> tuple[str, int | None, int | None]:
    """``(unique, S=, W=)`` of a base name; sizes None when absent."""
    unique, *fields = base.split(",")
    disk = crlf = None
    for f in fields:
        if f.startswith("S=") and f[2:].isdigit():
            disk = int(f[2:])
        elif f.startswith("W=") and f[2:].isdigit():
            crlf = int(f[2:])
    return unique, disk, crlf


def sanitize_host(host: str) -> str:
    # Maildir spec: "/" and ":" in the host name are written \057 and \072.
    return host.replace("/", "\\057").replace(":", "\\072") or "localhost"


def tmp_name() -> str:
    """A fresh name for a file in ``tmp/`` (time, pid, counter, the
    process's random tag).

    Never derived from what is being written: a replayed delivery must not
    meet the half-written file of an earlier attempt under the same name
    (issue 10: ``[Errno 17] File exists`` blocked the job until it expired).
    """
    now = time.time_ns()
    return (
        f"{now // 1_000_000_000}.M{now // 1000 % 1_000_000}P{_Process.pid}"
        f"Q{next(counter)}R{_Process.tag}.tmp"
    )


def write_tmp(
    tmp_dir: Path, data: bytes, mtime: float | None, *, sync: bool = True
) -> tuple[Path, os.stat_result]:
    """Write ``data`` to a new file in ``tmp_dir``; return its path and stat."""
    for attempt in range(3):
        path = tmp_dir / tmp_name()
        try:
            return path, fsutil.write_new_file(path, data, mtime=mtime, sync=sync)
        except FileExistsError:  # left by someone else: take another name
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def replace_small_file(path: Path, data: bytes) -> None:
    """Replace a small file of the store (index, keywords, per-user files)
    atomically (``fsutil.atomic_write``). The temporary file goes to the
    folder's ``tmp/`` (there is one next to every file written here), so what
    a crash leaves is swept by the ``tmp/`` cleanup like any other leftover.
    """
    tmp_dir = path.parent / "tmp"
    fsutil.atomic_write(path, data, tmp_dir=tmp_dir if tmp_dir.is_dir() else None)


def stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def timestamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + f"-{_Process.pid}-{next(counter)}"


def replace_flags(info: MessageInfo, flags: frozenset[str]) -> MessageInfo:
    if info.flags == flags:
        return info
    return MessageInfo(
        info.uid, info.key, flags, info.internal_date, info.size, info.modseq
    )


def with_modseq(info: MessageInfo, modseq: int) -> MessageInfo:
    return MessageInfo(
        info.uid, info.key, info.flags, info.internal_date, info.size, modseq
    )


def folder_label(path: Path, what: str) -> str:
    folder = path.name if path.name.startswith(".") else "INBOX"
    return f"{folder}-{what}"


class Entry:
    """One message as cached: where its file is and what it says."""

    __slots__ = (
        "base",
        "disk_size",
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
        # the file's size from its name's S= (None: not there), so neither a
        # read nor the integrity check parses the name again
        self.unique, self.disk_size, _ = base_fields(base)


class Folder:
    """The cache of one folder; only touched with the folder's lock held."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # the paths every delivery uses, joined once (a pathlib join costs
        # microseconds, several per message on the loop's thread)
        self.index_path = path / UIDLIST
        self.tmp_path = path / "tmp"
        self.sub_paths = {"new": path / "new", "cur": path / "cur"}
        self.uidvalidity = 0
        self.uidnext = 1
        self.mailbox_id = ""  # RFC 8474, kept in the index header ("M")
        self.entries: dict[int, Entry] = {}
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
        self.unindexed: list[Entry] = []
        self.settling = True
        self._infos: list[MessageInfo] | None = None
        self._unseen = 0
        self.tmp_due = 0.0  # clock time of the next tmp/ cleanup pass
        # metadata records (maildir_meta.py): the file, and the records of
        # stored messages waiting for their index line (written with it)
        self.meta: MetaFile | None = None
        self.meta_pending: dict[int, bytes] = {}
        # the sizes of ``entries`` added up, kept as they come and go (quota)
        self.total_size = 0
        # mod-sequences (maildir_modseq.py), for the UIDVALIDITY of now
        self.modseq: ModseqLog | None = None

    def modseqs(self) -> ModseqLog:
        """The folder's mod-sequence state, made and loaded by ``_load``
        (which also settles the UIDVALIDITY it belongs to)."""
        if self.modseq is None:
            raise RuntimeError("the folder's mod-sequences were not loaded")
        return self.modseq

    def new_modseq(self, entry: Entry, modseq: int | None = None) -> None:
        """Give ``entry`` the folder's next mod-sequence (it was stored, or
        its flags changed), or ``modseq`` taken before with
        ``modseqs().next()``, and note it with the file's letters."""
        log = self.modseqs()
        if modseq is None:
            modseq = log.next()
        entry.info = with_modseq(entry.info, modseq)
        log.note(entry.info.uid, modseq, split_name(entry.filename)[1])
        self.changed()

    def modseq_states(self) -> list[tuple[int, int, str]]:
        """(uid, mod-sequence, letters) of every message, for a rewrite."""
        return [
            (uid, e.info.modseq, split_name(e.filename)[1])
            for uid, e in sorted(self.entries.items())
        ]

    def flush_modseqs(self) -> None:
        """Write the noted mod-sequence lines; rewrite the file when due."""
        log = self.modseqs()
        log.flush()
        if log.due(len(self.entries)):
            log.compact(self.modseq_states())

    def meta_file(self, *, loaded: bool = False) -> MetaFile:
        """The folder's metadata file (for the UIDVALIDITY of now);
        ``loaded``: with every record's position read."""
        if self.meta is None or self.meta.uidvalidity != self.uidvalidity:
            self.meta = MetaFile(self.path, self.uidvalidity)
        if loaded and not self.meta.loaded:
            self.meta.load(self.entries)
        return self.meta

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

    def add(self, entry: Entry) -> None:
        uid = entry.info.uid
        old = self.entries.get(uid)
        if old is not None:
            self.total_size -= old.info.size
        self.entries[uid] = entry
        self.total_size += entry.info.size
        self.by_unique[entry.unique] = uid
        self.by_file[entry.subdir][entry.filename] = uid
        if uid > self.indexed:
            self.unindexed.append(entry)
        self.changed()

    def remove(self, uid: int) -> Entry | None:
        entry = self.entries.pop(uid, None)
        self.meta_pending.pop(uid, None)
        if self.meta is not None:
            self.meta.drop(uid)
        if entry is not None:
            self.total_size -= entry.info.size
            self.by_unique.pop(entry.unique, None)
            self.by_file[entry.subdir].pop(entry.filename, None)
            self.changed()
        return entry

    def move(self, entry: Entry, subdir: str, filename: str, info: MessageInfo) -> None:
        self.by_file[entry.subdir].pop(entry.filename, None)
        self.total_size += info.size - entry.info.size
        entry.subdir, entry.filename, entry.info = subdir, filename, info
        self.by_file[subdir][filename] = info.uid
        self.changed()

    def file_path(self, entry: Entry) -> Path:
        return self.sub_paths[entry.subdir] / entry.filename
