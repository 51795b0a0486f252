"""Mod-sequences of a Maildir folder (RFC 7162 CONDSTORE / QRESYNC).

Every message has a mod-sequence, raised to a new highest value of the
folder when it is stored and whenever its flags change (by us or by another
program renaming the file); an expunge takes one too. ``quicksilver-modseq``
in the folder keeps them, as text lines appended:

- ``V<uidvalidity>``: the first line. A file for another UIDVALIDITY (the
  index was rebuilt) is started anew.
- ``R<n>``: a reservation. Mod-sequences are handed out up to ``n`` before
  the next ``R`` line is written, and that line is fsynced *before* any
  value above the old one is used. So after any crash the folder starts
  above every value a client can have seen: mod-sequences never go back.
- ``<uid> <modseq> <letters>``: the message had these info letters (its
  file name's flags) at that mod-sequence.
- ``X<modseq> <uid-set>``: these UIDs were expunged at that mod-sequence.

Only the ``R`` line is fsynced; the others may be lost to a crash, and the
folder's load makes up for it (``reconcile``): a message whose last line is
missing or names other letters than its file has now (changed by another
program, or by us just before a crash) gets a new mod-sequence; a UID with a
line but no file any more is recorded as expunged now.

Expunges are remembered for ``MAX_EXPUNGED`` UIDs (the oldest are
forgotten). ``vanished`` is never short: a UID missing from the folder is
reported unless it is known to have gone at or before the client's
mod-sequence (RFC 7162 3.2.5.1 lets the server send UIDs the client already
knows are gone; it must not leave any out).

The file is rewritten (atomically) when it holds more than
``COMPACT_FACTOR`` lines per message plus ``COMPACT_SLACK``. Caller holds
the folder lock for everything here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from server import fsutil
from server.storage.names import uid_ranges

log = logging.getLogger("quicksilver.storage")

MODSEQ_FILE = "quicksilver-modseq"
RESERVE_BLOCK = 4096  # mod-sequences handed out per fsynced reservation
MAX_EXPUNGED = 100_000  # expunged UIDs whose mod-sequence is remembered
COMPACT_FACTOR = 3
COMPACT_SLACK = 2000


def _render_set(uids: Iterable[int]) -> str:
    return ",".join(
        str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in uid_ranges(uids)
    )


def _parse_set(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        first, last = int(lo), int(hi or lo)
        if not 0 < first <= last or last - first > 10_000_000:
            raise ValueError("bad UID range")
        out.extend(range(first, last + 1))
    return out


class ModseqLog:
    """The mod-sequence state of one folder and its file (module docstring)."""

    def __init__(self, folder: Path, uidvalidity: int) -> None:
        self.path = folder / MODSEQ_FILE
        self.uidvalidity = uidvalidity
        self.highest = 1  # an empty folder's HIGHESTMODSEQ (as Dovecot)
        self.reserved = 0
        self.expunged: dict[int, int] = {}  # uid -> modseq, oldest first
        self.pending: list[str] = []
        self.lines = 0  # lines in the file
        self.started = False  # the file has our V line

    # -- loading -------------------------------------------------------------
    def load(self) -> dict[int, tuple[int, str]]:
        """Read the file; return uid -> (modseq, letters) of each message's
        last line. A torn last line is ignored; a file for another
        UIDVALIDITY counts as none (the load re-numbers everything
        above the last reservation it could read)."""
        states: dict[int, tuple[int, str]] = {}
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return states
        # every line ends with a newline: what follows the last one is an
        # append cut short, and is forgotten
        lines = raw.decode("utf-8", "surrogateescape").split("\n")[:-1]
        if not lines or lines[0] != f"V{self.uidvalidity}":
            # another UIDVALIDITY (or damage): keep only a reservation seen,
            # so values never go back even across an index rebuild
            for line in lines:
                if line[:1] == "R" and line[1:].isdigit():
                    self.reserved = max(self.reserved, int(line[1:]))
            self.highest = max(self.highest, self.reserved)
            return states
        self.started = True
        body = lines[1:]
        top = 0
        for n, line in enumerate(body):
            if not line:
                continue
            try:
                if line[0] == "R":
                    self.reserved = max(self.reserved, int(line[1:]))
                elif line[0] == "X":
                    modseq_text, _, uids = line[1:].partition(" ")
                    modseq = int(modseq_text)
                    for uid in _parse_set(uids):
                        self.expunged.pop(uid, None)
                        self.expunged[uid] = modseq
                        states.pop(uid, None)
                    top = max(top, modseq)
                else:
                    uid_text, modseq_text, letters = line.split(" ")
                    uid, modseq = int(uid_text), int(modseq_text)
                    if uid < 1 or modseq < 1:
                        raise ValueError("bad line")
                    states[uid] = (modseq, letters)
                    top = max(top, modseq)
            except (ValueError, IndexError):
                log.warning("%s: damaged line %d ignored", self.path, n + 2)
        self.lines = len(body)
        self.highest = max(self.highest, self.reserved, top)
        self._trim()
        return states

    # -- handing out -------------------------------------------------------------
    def would_reserve(self) -> bool:
        """Would ``next`` write (and fsync) a new reservation?"""
        return self.highest + 1 > self.reserved

    def next(self) -> int:
        """A new highest mod-sequence; the reservation covering it is on
        disk before it is returned."""
        self.highest += 1
        if self.highest > self.reserved:
            self.reserved = self.highest + RESERVE_BLOCK
            self.pending.append(f"R{self.reserved}\n")
            self.flush(sync=True)
        return self.highest

    def note(self, uid: int, modseq: int, letters: str) -> None:
        self.pending.append(f"{uid} {modseq} {letters}\n")

    def note_expunged(self, uids: Iterable[int], modseq: int) -> None:
        uids = sorted(uids)
        if not uids:
            return
        for uid in uids:
            self.expunged.pop(uid, None)
            self.expunged[uid] = modseq
        self._trim()
        self.pending.append(f"X{modseq} {_render_set(uids)}\n")

    def _trim(self) -> None:
        while len(self.expunged) > MAX_EXPUNGED:
            del self.expunged[next(iter(self.expunged))]

    # -- writing -------------------------------------------------------------------
    def flush(self, *, sync: bool = False) -> None:
        """Append the pending lines. Only a reservation must be durable
        (``sync``, and its failure is the caller's); the other lines are
        made up for at the next load if lost, so failing to write them is
        logged, not raised."""
        if not self.pending:
            return
        data = "".join(self.pending)
        if not self.started:
            data = f"V{self.uidvalidity}\n" + data
        try:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | fsutil.O_BINARY
            fd = os.open(self.path, flags, 0o600)
            try:
                if not self.started:
                    os.ftruncate(fd, 0)  # a file for another UIDVALIDITY
                fsutil.write_all(fd, data.encode("utf-8", "surrogateescape"))
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if not self.started and sync:
                fsutil.fsync_dir(self.path.parent)
        except OSError as exc:
            if sync:
                raise
            log.warning("cannot write %s: %s", self.path, exc)
            self.pending = []
            return
        self.lines += data.count("\n")
        self.started = True
        self.pending = []

    def due(self, messages: int) -> bool:
        """Has the file grown enough to be rewritten?"""
        return self.lines > COMPACT_FACTOR * messages + COMPACT_SLACK

    def compact(self, states: Iterable[tuple[int, int, str]]) -> None:
        """Rewrite the file from ``states`` ((uid, modseq, letters) of every
        message now) and the expunges remembered, atomically."""
        by_modseq: dict[int, list[int]] = {}
        for uid, modseq in self.expunged.items():
            by_modseq.setdefault(modseq, []).append(uid)
        parts = [f"V{self.uidvalidity}\n", f"R{self.reserved}\n"]
        parts += [f"X{m} {_render_set(u)}\n" for m, u in sorted(by_modseq.items())]
        parts += [f"{u} {m} {letters}\n" for u, m, letters in states]
        tmp_dir = self.path.parent / "tmp"
        try:
            fsutil.atomic_write(
                self.path,
                "".join(parts).encode("utf-8", "surrogateescape"),
                tmp_dir=tmp_dir if tmp_dir.is_dir() else None,
            )
        except OSError as exc:
            log.warning("cannot rewrite %s: %s", self.path, exc)
            return
        self.started = True
        self.pending = []
        self.lines = len(parts) - 1
