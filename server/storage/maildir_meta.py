"""The metadata file of a Maildir folder: ``quicksilver-meta``.

A cache, never the truth: what the IMAP module renders from a message's parse
(envelope, body structure, header) is made once, when the message is
delivered or appended (the store's ``indexer``) or first parsed by a FETCH,
and kept here, so neither new mail nor a restart costs a parse on the first
FETCH. The store never looks inside a record (``base.Indexer``).

Format: ``MAGIC``, the folder's UIDVALIDITY (4 bytes, little-endian), then
records appended one after the other: ``_HEAD`` (uid, crc32 of the rest,
the message's CRLF size, length of its unique name, length of the record),
the unique name (UTF-8, surrogate escapes kept) and the record.

How it stays correct (Dovecot's index cache works the same way):
- A record is used only for the message it was made for: its UID, unique name
  and size must match the folder's index entry. Another program that drops
  mail in, removes or renames files makes new UIDs (no record: parsed on
  demand) or gone ones (the record is dead).
- A rebuilt index has a new UIDVALIDITY: a file with another one is emptied
  before the next record is written, and meanwhile gives nothing.
- Appends are not fsynced (with group commit the batch's ``syncfs`` covers
  them anyway): a torn or damaged record (crc32 mismatch, cut short) ends the
  usable part, and the first full read cuts the file back there. Records
  appended behind such a tail before that read are lost with it: a cache
  miss (the message is parsed on demand), never a wrong answer.
- Dead records (expunged messages, replaced duplicates) are counted; when
  they are more than half the file and over ``COMPACT_MIN``, the live ones are
  rewritten into a new file that replaces the old one atomically.

Limits: a record over ``MAX_RECORD`` is not kept (parsed on demand instead).
Only our own process writes the file, with the folder lock held; reading it
needs the lock too (offsets change when it is compacted or cut back).
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Container, Iterable
from pathlib import Path
from typing import BinaryIO

from server import fsutil

log = logging.getLogger("quicksilver.storage")

META = "quicksilver-meta"
MAGIC = b"QSMETA1\n"
_TOP = struct.Struct("<8sI")  # magic, uidvalidity
_HEAD = struct.Struct("<IIQHI")  # uid, crc32, size, unique length, record length
MAX_RECORD = 1024 * 1024  # larger records are not kept
COMPACT_MIN = 1024 * 1024  # dead bytes before a compaction is worth it
_BLOCK = 4 * 1024 * 1024  # read at a time when scanning or reading records
_GAP = 16 * 1024  # records at most this far apart are read in one go

Span = tuple[int, int, str, int]  # record offset, record length, unique, size


def _pread(fd: int, length: int, at: int) -> bytes:
    """``length`` bytes at ``at`` (fewer at the end of the file); Windows
    has no ``pread``: seek and read (the caller holds the folder lock)."""
    if hasattr(os, "pread"):
        return os.pread(fd, length, at)
    os.lseek(fd, at, os.SEEK_SET)
    chunks: list[bytes] = []
    while length > 0 and (chunk := os.read(fd, length)):
        chunks.append(chunk)
        length -= len(chunk)
    return b"".join(chunks)


def _frame(uid: int, unique: str, size: int, record: bytes) -> bytes:
    name = unique.encode("utf-8", "surrogateescape")
    crc = zlib.crc32(record, zlib.crc32(name))
    return _HEAD.pack(uid, crc, size, len(name), len(record)) + name + record


class MetaFile:
    """The records of one folder. Caller holds the folder's lock."""

    def __init__(self, folder: Path, uidvalidity: int) -> None:
        self.path = folder / META
        self.uidvalidity = uidvalidity
        self.spans: dict[int, Span] = {}
        self.loaded = False  # spans hold every record of the file
        self.end = 0  # the usable part of the file ends here (0: no header yet)
        self.checked = False  # header (and ``end``) known without a full scan
        self.dead = 0  # bytes of records no message uses any more

    # -- reading ------------------------------------------------------------

    def load(self, live: Container[int]) -> None:
        """Read every record's position (not the records); cut back a torn
        tail; empty a file of another UIDVALIDITY. Records of UIDs not in
        ``live`` (the folder's messages now) count as dead."""
        self._scan()
        for uid in [u for u in self.spans if u not in live]:
            self.dead += self.spans.pop(uid)[1]

    def _scan(self) -> None:
        self.spans, self.dead, self.end = {}, 0, 0
        self.loaded = self.checked = True
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return
        with f:
            top = f.read(_TOP.size)
            if len(top) < _TOP.size or _TOP.unpack(top) != (MAGIC, self.uidvalidity):
                self._reset()
                return
            self.end = self._records(f)
        self._cut_back()

    def _records(self, f: BinaryIO) -> int:
        """Note the records that follow the header, read in blocks of
        ``_BLOCK``; return where the last good one ends."""
        buf = b""
        i = 0  # the next record's place in buf
        base = _TOP.size  # the file offset of buf[0]
        eof = False
        while True:
            need = _HEAD.size
            if len(buf) - i >= need:
                uid, crc, size, name_len, rec_len = _HEAD.unpack_from(buf, i)
                if rec_len > MAX_RECORD:
                    break  # damaged
                need += name_len + rec_len
            if len(buf) - i < need:
                if eof:
                    break  # torn
                more = f.read(max(_BLOCK, need))
                eof = not more
                buf, base, i = buf[i:] + more, base + i, 0
                continue
            start = i + _HEAD.size
            end = start + name_len + rec_len
            if zlib.crc32(memoryview(buf)[start:end]) != crc:
                break  # damaged
            unique = buf[start : start + name_len].decode("utf-8", "surrogateescape")
            old = self.spans.get(uid)
            if old is not None:
                self.dead += old[1]
            self.spans[uid] = (base + start + name_len, rec_len, unique, size)
            i = end
        return base + i

    def _reset(self) -> None:
        """Forget a file made for another UIDVALIDITY (or not ours)."""
        self.spans, self.dead, self.end = {}, 0, 0
        try:
            os.truncate(self.path, 0)
        except FileNotFoundError:
            pass

    def _cut_back(self) -> None:
        """Drop a torn or damaged tail, so appends follow good records."""
        try:
            if os.stat(self.path).st_size > self.end:
                os.truncate(self.path, self.end)
        except FileNotFoundError:
            self.end = 0

    def read(self, wanted: dict[int, tuple[str, int]]) -> dict[int, bytes]:
        """Records of ``wanted`` (uid -> (unique, size) of the message now),
        only those made for exactly that message. Call ``load`` first."""
        hits = [
            (uid, span)
            for uid, (unique, size) in wanted.items()
            if (span := self.spans.get(uid)) is not None
            and span[2] == unique
            and span[3] == size
        ]
        if not hits:
            return {}
        out: dict[int, bytes] = {}
        hits.sort(key=lambda h: h[1][0])
        try:
            fd = os.open(self.path, os.O_RDONLY | fsutil.O_BINARY)
        except FileNotFoundError:
            self.spans, self.loaded, self.end = {}, False, 0
            return {}
        try:
            # records close together are read in one go (a run), then sliced
            k = 0
            while k < len(hits):
                first = hits[k][1][0]
                last = k
                while (
                    last + 1 < len(hits)
                    and hits[last + 1][1][0] - (hits[last][1][0] + hits[last][1][1])
                    <= _GAP
                    and hits[last + 1][1][0] + hits[last + 1][1][1] - first <= _BLOCK
                ):
                    last += 1
                stop = hits[last][1][0] + hits[last][1][1]
                data = _pread(fd, stop - first, first)
                for uid, (at, length, _, _) in hits[k : last + 1]:
                    if at + length - first <= len(data):
                        out[uid] = data[at - first : at - first + length]
                k = last + 1
        finally:
            os.close(fd)
        return out

    # -- writing ------------------------------------------------------------

    def _check(self) -> None:
        """Know where appends go without reading every record: the header
        must be ours; a file that is not is emptied."""
        self.checked = True
        try:
            with open(self.path, "rb") as f:
                top = f.read(_TOP.size)
                size = os.fstat(f.fileno()).st_size
        except FileNotFoundError:
            self.end = 0
            return
        if len(top) < _TOP.size or _TOP.unpack(top) != (MAGIC, self.uidvalidity):
            self._reset()
            return
        self.end = size  # a torn tail is found (and cut) by the first scan

    def append(self, records: Iterable[tuple[int, str, int, bytes]]) -> None:
        """Append ``(uid, unique, size, record)``s. A cache: an error is
        logged and the records are dropped (they are parsed on demand)."""
        frames: list[bytes] = []
        new: list[tuple[int, Span]] = []
        try:
            if not self.checked:
                self._check()
            pos = self.end or _TOP.size
            if not self.end:
                frames.append(_TOP.pack(MAGIC, self.uidvalidity))
            for uid, unique, size, record in records:
                if len(record) > MAX_RECORD:
                    continue
                frame = _frame(uid, unique, size, record)
                at = pos + len(frame) - len(record)
                new.append((uid, (at, len(record), unique, size)))
                frames.append(frame)
                pos += len(frame)
            if not new:
                return
            fd = os.open(
                self.path,
                os.O_WRONLY | os.O_APPEND | os.O_CREAT | fsutil.O_BINARY,
                0o600,
            )
            try:
                fsutil.write_all(fd, b"".join(frames))
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc)
            self.spans, self.loaded, self.checked, self.end = {}, False, False, 0
            return
        self.end = pos
        if self.loaded:
            for uid, span in new:
                old = self.spans.get(uid)
                if old is not None:
                    self.dead += old[1]
                self.spans[uid] = span

    def drop(self, uid: int) -> None:
        """A message is gone: its record is dead (counted by ``load`` if the
        positions are not read yet)."""
        span = self.spans.pop(uid, None)
        if span is not None:
            self.dead += span[1]

    def tidy(self) -> None:
        """Compact when the dead records are worth it."""
        if self.loaded and self.dead > COMPACT_MIN and self.dead * 2 > self.end:
            self.compact()

    def compact(self) -> None:
        """Rewrite the live records into a new file (atomic replace)."""
        live = sorted(self.spans.items(), key=lambda s: s[1][0])
        try:
            fd = os.open(self.path, os.O_RDONLY | fsutil.O_BINARY)
            try:
                records = [
                    (uid, unique, size, _pread(fd, length, at))
                    for uid, (at, length, unique, size) in live
                ]
            finally:
                os.close(fd)
            frames = [_TOP.pack(MAGIC, self.uidvalidity)]
            spans: dict[int, Span] = {}
            pos = _TOP.size
            for uid, unique, size, record in records:
                frame = _frame(uid, unique, size, record)
                spans[uid] = (pos + len(frame) - len(record), len(record), unique, size)
                frames.append(frame)
                pos += len(frame)
            tmp_dir = self.path.parent / "tmp"
            fsutil.atomic_write(
                self.path,
                b"".join(frames),
                tmp_dir=tmp_dir if tmp_dir.is_dir() else None,
            )
        except OSError as exc:
            log.warning("cannot compact %s: %s", self.path, exc)
            self.spans, self.loaded, self.checked, self.end = {}, False, False, 0
            return
        self.spans, self.end, self.dead = spans, pos, 0
