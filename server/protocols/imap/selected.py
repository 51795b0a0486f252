"""The selected-mailbox view of one session (RFC 3501 sections 2.3.1, 5.2, 7.4.1).

It maps message sequence numbers to UIDs, keeps the session's ``\\Recent``
set, and turns changes made elsewhere (``MailStore.watch``: deliveries, other
sessions' STORE / EXPUNGE) into untagged EXISTS / RECENT / EXPUNGE / FETCH
responses, but only when the session asks for them, at moments RFC 3501
allows: never EXPUNGE while answering FETCH, STORE or SEARCH (7.4.1); until an
EXPUNGE may be sent, a vanished message keeps its sequence number (a "ghost")
so the numbering the client knows stays true.

With CONDSTORE on (RFC 7162), announced flag changes carry the UID and the
mod-sequence, and a change that left the flags as they were is announced too
(its mod-sequence moved); with QRESYNC on, expunges are announced as one
``VANISHED`` line instead of ``EXPUNGE`` lines, and the session's next tagged
OK carries the ``HIGHESTMODSEQ`` read *before* the messages were listed (so
it is never above a change not yet announced).

``RecentRegistry`` is shared by the sessions of one module: a message is
``\\Recent`` in exactly one session, the first that SELECTs it (RFC 3501 2.3.2);
an EXAMINE session shows the unclaimed ones as ``\\Recent`` too, without
claiming them (6.3.2).
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from server.storage.base import (
    MailboxChange,
    MailboxNotFound,
    MailStore,
    MessageInfo,
)
from server.storage.names import uid_ranges

from . import responses as R
from .cache import CacheKey
from .grammar import SeqSet
from .searchparse import SearchKey

MAX_LIVE_RESULTS = 10  # RFC 5267 UPDATE contexts kept per selected mailbox


@dataclass
class LiveResult:
    """A SEARCH or SORT with RFC 5267's UPDATE: its result (UIDs, in the
    result's order) kept current; ``version`` is the mailbox's when it was
    last computed."""

    tag: str
    uid: bool
    key: SearchKey
    charset: str
    criteria: tuple[tuple[str, bool], ...] | None  # None: a SEARCH
    results: list[int]
    version: int


class BadSequence(Exception):
    """A message sequence number that does not exist (answered BAD)."""


class RecentRegistry:
    def __init__(self) -> None:
        self._claimed: dict[tuple[str, str, int], int] = {}

    def claim(
        self, owner: str, mailbox: str, uidvalidity: int, uids: list[int]
    ) -> set[int]:
        key = (owner, mailbox, uidvalidity)
        last = self._claimed.get(key, 0)
        mine = {u for u in uids if u > last}
        if mine:
            self._claimed[key] = max(mine)
        return mine

    def peek(
        self, owner: str, mailbox: str, uidvalidity: int, uids: list[int]
    ) -> set[int]:
        """The messages no session has claimed yet, leaving them unclaimed:
        EXAMINE shows them as ``\\Recent`` but "MUST NOT cause messages to
        lose the \\Recent flag" (RFC 3501 6.3.2)."""
        last = self._claimed.get((owner, mailbox, uidvalidity), 0)
        return {u for u in uids if u > last}

    def count(self, owner: str, mailbox: str, uidvalidity: int, uids: list[int]) -> int:
        return len(self.peek(owner, mailbox, uidvalidity, uids))


class SelectedMailbox:
    def __init__(
        self,
        store: MailStore,
        owner: str,
        name: str,
        readonly: bool,
        recent: RecentRegistry,
        origin: object,
    ) -> None:
        self.store = store
        self.owner = owner
        self.name = name
        self.readonly = readonly
        self.registry = recent
        self.origin = origin
        self.uidvalidity = 0
        self.uidnext = 1
        self.uids: list[int] = []
        # RFC 5182: the UIDs the last SEARCH RETURN (SAVE) found ("$"); a
        # new selection starts with none
        self.saved: tuple[int, ...] = ()
        self.infos: dict[int, MessageInfo] = {}
        self.recent: set[int] = set()
        self.ghosts: set[int] = set()
        self.dirty = False
        self.gone = False
        self.changed = asyncio.Event()
        self._unwatch: Callable[[], None] | None = None
        self._index: dict[int, int] | None = None
        self.announced: set[str] = set()  # keywords the client was told of
        # keywords of infos taken in outside ``refresh`` (a FETCH's \Seen
        # brings back what others stored) that ``announced`` lacks: the next
        # refresh announces them. ``announced`` holds every other keyword in
        # ``infos``, so a refresh looks only at what it changes.
        self._unannounced: set[str] = set()
        # RFC 7162: the mailbox's HIGHESTMODSEQ when last read, and whether
        # an expunge was announced since the last tagged OK (QRESYNC)
        self.highestmodseq = 1
        self.expunge_reported = False
        self.mailbox_id = ""  # RFC 8474
        # RFC 5267 contexts: results kept current, by the command's tag; the
        # view's version goes up with every change it takes in
        self.live: dict[str, LiveResult] = {}
        self.version = 0
        # IMAP4rev2 (RFC 9051) is on in the session: no \Recent anywhere
        self.rev2 = False

    async def open(self) -> None:
        info = await self.store.mailbox_info(self.owner, self.name)
        self.uidvalidity = info.uidvalidity
        self.highestmodseq = info.highestmodseq  # read before the listing
        self.mailbox_id = info.mailbox_id
        self._unwatch = self.store.watch(self.owner, self.name, self._on_change)
        msgs = await self.store.list_messages(self.owner, self.name)
        self.uids = [m.uid for m in msgs]
        self.infos = {m.uid: m for m in msgs}
        self.uidnext = max(info.uidnext, (self.uids[-1] + 1) if self.uids else 1)
        self.recent = self._recent_of(self.uids)
        self.announced = self.keywords()
        self._unannounced = set()

    def _recent_of(self, uids: list[int]) -> set[int]:
        """SELECT claims the new messages' ``\\Recent``; EXAMINE reports the
        same ones without claiming them (RFC 3501 6.3.1, 6.3.2)."""
        take = self.registry.peek if self.readonly else self.registry.claim
        return take(self.owner, self.name, self.uidvalidity, uids)

    def follow_rename(self, new_name: str) -> None:
        """This session renamed the mailbox (or a parent): stay selected under
        the new name. UIDs and UIDVALIDITY survive a rename, so the client's
        view stays true; nothing is announced."""
        self.close()
        self.name = new_name
        self._unwatch = self.store.watch(self.owner, new_name, self._on_change)
        self.gone = False

    def close(self) -> None:
        if self._unwatch is not None:
            try:
                self._unwatch()
            finally:
                self._unwatch = None

    def _on_change(self, change: MailboxChange) -> None:
        if change.kind in ("deleted", "renamed"):
            self.gone = True
        elif change.origin is self.origin and change.kind in ("flags", "expunged"):
            return  # our own STORE / EXPUNGE: the view is already up to date
        self.dirty = True
        self.changed.set()

    def cache_key(self, uid: int) -> CacheKey:
        """The metadata cache's key for one of this mailbox's messages."""
        return (self.owner, self.name, self.uidvalidity, uid)

    # -- numbering ---------------------------------------------------------
    @property
    def exists(self) -> int:
        return len(self.uids)

    def seq_of(self, uid: int) -> int:
        if self._index is None:
            self._index = {u: i + 1 for i, u in enumerate(self.uids)}
        return self._index[uid]

    def resolve(self, seqset: SeqSet, uid_mode: bool) -> list[tuple[int, int]]:
        """(seq, uid) pairs of a set, ascending; raises BadSequence. ``$``
        is the saved search result (RFC 5182: UIDs, so messages expunged
        since drop out), the same with or without UID."""
        if seqset.saved:
            where = {u: i for i, u in enumerate(self.uids, start=1)}
            return sorted((where[u], u) for u in self.saved if u in where)
        if uid_mode:
            if not self.uids:
                return []
            largest = self.uids[-1]
            picked: set[int] = set()
            for lo, hi in seqset.resolve(largest):
                a = bisect.bisect_left(self.uids, lo)
                b = bisect.bisect_right(self.uids, hi)
                picked.update(range(a, b))
            return [(i + 1, self.uids[i]) for i in sorted(picked)]
        n = len(self.uids)
        if seqset.explicit_max() > n or (n == 0 and seqset.ranges):
            raise BadSequence
        seqs: set[int] = set()
        for lo, hi in seqset.resolve(n):
            seqs.update(range(lo, hi + 1))
        return [(s, self.uids[s - 1]) for s in sorted(seqs)]

    def flags_of(self, uid: int) -> list[str]:
        flags = self.infos[uid].flags
        if uid in self.recent and not self.rev2:
            return R.sort_flags({*flags, "\\Recent"})
        if len(flags) < 2:  # most messages: nothing to sort
            return list(flags)
        return R.sort_flags(flags)

    def keywords(self) -> set[str]:
        out: set[str] = set()
        for info in self.infos.values():
            out.update(_keywords(info.flags))
        return out

    def flags_lines(self) -> list[bytes]:
        """The FLAGS and PERMANENTFLAGS responses (RFC 3501 7.2.6, 7.1)."""
        flags = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]
        flags += sorted(self.announced)
        perm = "()" if self.readonly else R.flag_list([*flags, "\\*"]).decode()
        return [
            R.untagged("FLAGS " + R.flag_list(flags).decode()),
            R.untagged(f"OK [PERMANENTFLAGS {perm}] Flags permitted"),
        ]

    def keyword_updates(self, flags: Iterable[str]) -> list[bytes]:
        """FLAGS / PERMANENTFLAGS again when a new keyword came into use, so
        clients that build their tag list from FLAGS see it (as Dovecot).
        ``flags``: the flags just stored or taken in."""
        now = _keywords(flags)
        if now <= self.announced:
            return []
        self.announced |= now
        return self.flags_lines()

    def first_unseen(self) -> int | None:
        for i, uid in enumerate(self.uids):
            if "\\Seen" not in self.infos[uid].flags:
                return i + 1
        return None

    # -- changes -----------------------------------------------------------
    def update_infos(self, infos: list[MessageInfo]) -> None:
        for info in infos:
            if info.uid in self.infos and self.infos[info.uid] != info:
                self.infos[info.uid] = info
                self.version += 1
                self._unannounced.update(_keywords(info.flags) - self.announced)

    def remove(
        self,
        uids: list[int] | set[int],
        announce_recent: bool = True,
        qresync: bool = False,
    ) -> list[bytes]:
        """Drop messages from the view; the untagged EXPUNGE lines to send
        (with ``qresync``, RFC 7162 3.2.10 VANISHED)."""
        present = [u for u in uids if u in self.infos or u in self.ghosts]
        if not present:
            return []
        gone = set(present)
        self.version += 1
        seqs = sorted(
            (self.seq_of(u) for u in gone if u in self._index_map()), reverse=True
        )
        recent_before = len(self.recent)
        self.uids = [u for u in self.uids if u not in gone]
        for u in gone:
            self.infos.pop(u, None)
            self.recent.discard(u)
            self.ghosts.discard(u)
        self._index = None
        if qresync:
            self.expunge_reported = True
            out = R.vanished(uid_ranges(gone), earlier=False)
        else:
            out = [R.untagged(f"{s} EXPUNGE") for s in seqs]
        recent_moved = len(self.recent) != recent_before
        if announce_recent and recent_moved and not self.rev2:  # RFC 3501 7.3.2
            out.append(R.untagged(f"{len(self.recent)} RECENT"))
        return out

    def _index_map(self) -> dict[int, int]:
        if self._index is None:
            self._index = {u: i + 1 for i, u in enumerate(self.uids)}
        return self._index

    async def refresh(
        self,
        allow_expunge: bool,
        force: bool = False,
        condstore: bool = False,
        qresync: bool = False,
    ) -> list[bytes]:
        """Re-read the mailbox and return the untagged responses to send
        (``condstore``, ``qresync``: RFC 7162 is on in the session)."""
        if self.gone:  # deleted or renamed elsewhere: the session says BYE
            return []
        if not (self.dirty or force or (allow_expunge and self.ghosts)):
            return []
        self.dirty = False
        self.changed.clear()
        highest = None
        try:
            if qresync:  # before the listing: never above what it shows
                box = await self.store.mailbox_info(self.owner, self.name)
                highest = box.highestmodseq
            current = await self.store.list_messages(self.owner, self.name)
        except MailboxNotFound:
            current = []
        if highest is not None:
            self.highestmodseq = highest
        out: list[bytes] = []
        now = {m.uid: m for m in current}
        touched = self._unannounced  # flags of the infos taken in below too
        self._unannounced = set()
        vanished = {u for u in self.uids if u not in now}
        if allow_expunge:
            out += self.remove(
                vanished | self.ghosts, announce_recent=False, qresync=qresync
            )
        else:
            self.ghosts |= vanished
        for uid, info in now.items():
            old = self.infos.get(uid)
            # the store hands back the same objects for messages that did not
            # change: "is" spares most of the comparisons
            if old is info or old is None or old == info:
                continue
            self.infos[uid] = info
            self.version += 1
            touched.update(info.flags)
            if old.flags != info.flags or (condstore and old.modseq != info.modseq):
                out.append(
                    R.fetch_flags(
                        self.seq_of(uid),
                        uid,
                        self.flags_of(uid),
                        info.modseq if condstore else None,
                    )
                )
        last = self.uids[-1] if self.uids else 0
        new = [m for m in current if m.uid > last]
        if new:
            for m in new:
                self.uids.append(m.uid)
                self.infos[m.uid] = m
                touched.update(m.flags)
            self._index = None
            self.version += 1
            self.uidnext = max(self.uidnext, new[-1].uid + 1)
            self.recent |= self._recent_of([m.uid for m in new])
        if new or (allow_expunge and vanished):
            out.append(R.untagged(f"{len(self.uids)} EXISTS"))
            if not self.rev2:  # RFC 9051 has no \Recent
                out.append(R.untagged(f"{len(self.recent)} RECENT"))
        return self.keyword_updates(touched) + out


def _keywords(flags: Iterable[str]) -> set[str]:
    """The keywords among ``flags`` (those not starting with a backslash)."""
    return {f for f in flags if not f.startswith("\\")}
