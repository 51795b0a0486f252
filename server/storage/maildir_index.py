"""The index files of a Maildir folder: UIDs and keyword letters.

- UIDs: ``quicksilver-uidlist`` per folder: a header ``V<uidvalidity>
  N<uidnext> M<mailbox id>`` (RFC 8474 MAILBOXID; given to an index that has
  none when it is loaded), then ``<uid> <unique>[ W<size>]`` lines (unique ``%``-escaped
  where it holds ``%``, space or controls). New mail is appended (fsynced);
  the file is rewritten atomically when messages go away.
- Crash recovery: a torn last line (an append cut short) is forgotten, and
  the message gets its UID again from the next append or rescan. A missing
  index is rebuilt with a fresh UIDVALIDITY; an unreadable one is first moved
  to ``<data root>/corrupt/`` (never deleted) and logged.
- Index lines are only ever appended by ``_flush_index``, in ascending UID
  order and each once, whoever (delivery group commit, COPY, rescan, EXPUNGE
  rewrite) comes first; so the index never gets a duplicate line.
- Keywords: the folder's ``quicksilver-keywords`` (``<index> <keyword>`` per
  line) gives keyword ``index`` the info letter ``a`` + index; at most 26
  (``names.MAX_KEYWORDS``). A new keyword's letter is written (atomically)
  before any file name uses it. A file that is not UTF-8 goes to ``corrupt/``.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from server import fsutil
from server.errors import PermanentError
from server.storage import names
from server.storage.maildir_format import (
    KEYWORDS,
    UIDLIST,
    Entry,
    Folder,
    folder_label,
    replace_small_file,
    stamp,
)
from server.storage.maildir_user import DURABLE_FOLDERS, UserDirs

log = logging.getLogger("quicksilver.storage")

_INDEX_ESCAPE = re.compile(r"[%\x00-\x20\x7f]")


def _index_escape(text: str) -> str:
    return _INDEX_ESCAPE.sub(lambda m: f"%{ord(m.group()):02X}", text)


def _index_unescape(text: str) -> str:
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


@dataclass(frozen=True)
class UidList:
    """A ``quicksilver-uidlist`` read: ``records`` maps unique -> (uid, size
    when the line has one); ``last`` is the highest UID listed and
    ``uidnext`` at least one above it."""

    uidvalidity: int
    uidnext: int
    mailbox_id: str  # "" when the header has none (or a damaged one)
    last: int
    records: dict[str, tuple[int, int | None]]


def parse_uidlist(raw: bytes) -> UidList:
    """The index file's bytes, read (module docstring: a torn last line is
    forgotten). Pure; ``ValueError`` for a file that is not a usable index."""
    try:
        lines = raw.decode("utf-8", "surrogateescape").split("\n")
        header = lines[0].split()
        fields = {t[0]: t[1:] for t in header if t[:1] in ("V", "N", "M")}
        uidvalidity = int(fields["V"])
        uidnext = int(fields["N"])
        mailbox_id = fields.get("M", "")
        if not mailbox_id.isalnum():
            mailbox_id = ""  # none yet (or damaged): the load makes one
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
    except (KeyError, IndexError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    return UidList(uidvalidity, max(uidnext, last + 1), mailbox_id, last, records)


def parse_keywords(text: str) -> dict[int, str]:
    """``quicksilver-keywords`` read: keyword index -> keyword (lines that
    are not ``<index> <keyword>`` with an index below MAX_KEYWORDS are
    skipped)."""
    out: dict[int, str] = {}
    for line in text.splitlines():
        idx, _, word = line.partition(" ")
        if idx.isdigit() and int(idx) < names.MAX_KEYWORDS and word:
            out[int(idx)] = word
    return out


class FolderIndex(UserDirs):
    """The index files of a folder: UID list and keywords.

    Caller holds the folder lock."""

    def _create_folder_files(self, path: Path) -> None:
        """Make what is missing of a folder and make it durable. The parent
        directory is fsynced when something was made, or the first time this
        store sees the folder (an earlier attempt may have made it and failed
        before its fsync): not at every login, which ensures the user's
        folders each time (an fsync is a disk write)."""
        made = False
        for sub in ("cur", "new", "tmp"):
            try:
                (path / sub).mkdir(parents=True)
                made = True
            except FileExistsError:
                if not (path / sub).is_dir():  # a file in its place: refused
                    raise
        if path.name.startswith("."):
            marker = path / "maildirfolder"
            if not marker.exists():
                marker.touch()
                made = True
        if not (path / UIDLIST).exists():
            header = f"V{names.next_uidvalidity()} N1 M{names.new_mailbox_id()}\n"
            replace_small_file(path / UIDLIST, header.encode())
            made = True
        if made or path not in self._durable_folders:
            fsutil.fsync_dir(path.parent)
            if len(self._durable_folders) >= DURABLE_FOLDERS:
                self._durable_folders.clear()  # only costs fsyncs again
            self._durable_folders.add(path)

    def _read_keywords(self, st: Folder, owner: str) -> None:
        st.keywords, st.keyword_index, st.letter_cache = {}, {}, {}
        try:
            text = (st.path / KEYWORDS).read_text("utf-8")
        except FileNotFoundError:
            return
        except UnicodeDecodeError:
            self._move_to_corrupt(st.path / KEYWORDS, owner, KEYWORDS, "not UTF-8")
            return
        st.keywords = parse_keywords(text)
        st.keyword_index = {word: idx for idx, word in st.keywords.items()}

    def _read_uidlist(
        self, st: Folder, owner: str
    ) -> dict[str, tuple[int, int | None]] | None:
        """Load the header into ``st``; return unique -> (uid, size), or None.

        None means there is no usable index: the caller rebuilds it.
        """
        path = st.index_path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            index = parse_uidlist(raw)
        except ValueError as exc:
            self._move_to_corrupt(path, owner, folder_label(st.path, UIDLIST), str(exc))
            return None
        st.uidvalidity = index.uidvalidity
        st.mailbox_id = index.mailbox_id
        st.uidnext = index.uidnext
        st.indexed = index.last
        return index.records

    def _write_uidlist(self, st: Folder) -> None:
        if not st.mailbox_id:
            st.mailbox_id = names.new_mailbox_id()
        lines = [f"V{st.uidvalidity} N{st.uidnext} M{st.mailbox_id}\n"]
        lines.extend(
            self._index_line(e) for e in (st.entries[u] for u in sorted(st.entries))
        )
        data = "".join(lines).encode("utf-8", "surrogateescape")
        replace_small_file(st.index_path, data)
        st.index_stamp = stamp(st.index_path)
        # Every entry is in the index now, also deliveries whose group commit
        # has not run yet: it must not append them again.
        st.indexed = max(st.indexed, max(st.entries, default=0))
        self._write_records(st, st.unindexed)
        st.unindexed = []
        if st.meta is not None:
            st.meta.tidy()
        st.flush_modseqs()

    @staticmethod
    def _index_line(entry: Entry) -> str:
        unique = _index_escape(entry.unique)
        size = "" if entry.size_in_name else f" W{entry.info.size}"
        return f"{entry.info.uid} {unique}{size}\n"

    def _flush_index(self, st: Folder, *, sync: bool = True) -> None:
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
        path = st.index_path
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | fsutil.O_BINARY)
        try:
            fsutil.write_all(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        st.index_stamp = stamp(path)
        st.indexed = pending[-1].info.uid
        st.unindexed = []
        self._write_records(st, pending)
        st.flush_modseqs()

    @staticmethod
    def _write_records(st: Folder, entries: list[Entry]) -> None:
        """Write the metadata records waiting for these entries' index
        lines (a cache: not fsynced of its own, never fails the caller)."""
        if not st.meta_pending:
            return
        records = [
            (e.info.uid, e.unique, e.info.size, record)
            for e in sorted(entries, key=lambda e: e.info.uid)
            if st.entries.get(e.info.uid) is e
            and (record := st.meta_pending.pop(e.info.uid, None)) is not None
        ]
        if records:
            st.meta_file().append(records)

    def _parse_letters(self, st: Folder, letters: str) -> tuple[frozenset[str], str]:
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

    def _letters(self, st: Folder, flags: frozenset[str], extra: str) -> str:
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
            replace_small_file(st.path / KEYWORDS, text.encode("utf-8"))
        letters = set(extra)
        for flag in flags:
            if flag in names.FLAG_TO_LETTER:
                letters.add(names.FLAG_TO_LETTER[flag])
            else:
                letters.add(chr(ord("a") + st.keyword_index[flag]))
        return "".join(sorted(letters))
