"""FETCH (RFC 3501 6.4.5) and UID FETCH (6.4.8).

The items render themselves (fetchitems.py); this handler decides what to
load for them and keeps the core loop free while doing it:

1. ``fetchitems.plan``: the greatest need of the items (index, metadata,
   file) and whether metadata is wanted.
2. ``\\Seen`` is set first, in one store call, when an item implies it (not
   in a read-only mailbox); FLAGS then goes first in each response unless it
   was asked for (RFC 3501 6.4.5).
3. Metadata not cached yet comes from the store's records first
   (``metaload.preload``, ``PRELOAD`` messages a call); metadata that had to
   be made by a parse goes back to the store (``metaload.keep``).
4. Messages go in batches of at most ``READ_AHEAD`` messages and
   ``READ_AHEAD_BYTES`` octets: the files a batch needs are read in one store
   call (one worker-thread hop), metadata comes from the module's cache.
5. A batch that needs a MIME parse, or whose files and cached headers add
   up to more than ``INLINE_RENDER_BYTES``, is rendered in a worker thread;
   otherwise (flags, cached metadata, small whole messages) on the loop,
   yielding after each batch.
6. Responses are written as they come, waiting for the client every
   ``FETCH_DRAIN_BYTES``; one above ``WRITE_SLICE`` goes out a slice at a
   time (one 50 MB write would be copied, and over TLS encrypted, in one go
   on the core loop).

A message expunged meanwhile is left out, not announced: RFC 3501 7.4.1
allows no EXPUNGE during FETCH (its UID form may, at the end).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from server.storage.base import FlagChange, MessageNotFound

from .. import command as c
from .. import fetchitems as fi
from .. import responses as R
from ..cache import MessageMeta
from ..selected import SelectedMailbox
from . import metaload

if TYPE_CHECKING:
    from ..session import Session

FETCH_DRAIN_BYTES = 256 * 1024
READ_AHEAD = 128  # message files read in one store call by FETCH (one thread hop)
READ_AHEAD_BYTES = 8 * 1024 * 1024
WRITE_SLICE = 1024 * 1024  # a larger response line is written a slice at a time
# A FETCH batch answered from cached metadata is rendered on the loop, unless
# its headers (HEADER.FIELDS filters them line by line) add up to more.
INLINE_RENDER_BYTES = 256 * 1024

SEEN = "\\Seen"


async def fetch(s: Session, cmd: c.Fetch) -> None:
    sel = s.sel
    items = list(cmd.items)
    if cmd.vanished and not s.qresync:
        s.bad(cmd.tag, "VANISHED needs ENABLE QRESYNC first")  # RFC 7162 3.2.6
        return
    if cmd.uid and not any(isinstance(i, fi.Uid) for i in items):
        items.insert(0, fi.Uid())  # RFC 3501 6.4.8: UID FETCH always says UID
    wants_modseq = any(isinstance(i, fi.Modseq) for i in items)
    if cmd.changedsince is not None or wants_modseq:
        await s.enable_condstore()  # RFC 7162 3.1: an enabling command
        if not wants_modseq:
            items.append(fi.Modseq())  # CHANGEDSINCE implies MODSEQ (3.1.4.1)
    msgs = sel.resolve(cmd.seqset, cmd.uid)
    if cmd.changedsince is not None:
        since = cmd.changedsince
        msgs = [
            (q, u) for q, u in msgs if u in sel.infos and sel.infos[u].modseq > since
        ]
        if cmd.vanished:  # RFC 7162 3.2.6: what went, among the UIDs asked for
            gone = await s.sv.store.vanished(s.owner, sel.name, since)
            asked = cmd.seqset.resolve(max(sel.uidnext - 1, 1))
            for line in R.vanished(R.intersect(gone, asked), earlier=True):
                s.send(line)
    need, needs_meta = fi.plan(items)
    needs_raw = need is fi.Need.FILE
    lead: tuple[fi.FetchItem, ...] = ()  # first, where \Seen was just set
    changed: set[int] = set()
    if not sel.readonly and any(i.sets_seen for i in items):
        changes: list[FlagChange] = [
            (uid, "+", frozenset({SEEN}))
            for _, uid in msgs
            if uid in sel.infos and SEEN not in sel.infos[uid].flags
        ]
        if changes:
            # "+": added to the current flags, whatever others changed
            infos = await s.sv.store.set_flags(s.owner, sel.name, changes, origin=s)
            changed = {
                i.uid
                for i in infos
                if i.uid in sel.infos and i.flags != sel.infos[i.uid].flags
            }
            sel.update_infos(infos)
            if not any(isinstance(i, fi.Flags) for i in items):
                lead += (fi.Flags(),)  # RFC 3501 6.4.5
            if s.condstore and not any(isinstance(i, fi.Modseq) for i in items):
                lead += (fi.Modseq(),)  # RFC 7162 3.1.4.2: its value moved
    live = [(q, u) for q, u in msgs if u in sel.infos and u not in sel.ghosts]
    if fi.downloads(items) and live:  # the window's "messages today", as RETR
        s.sv.count_message(len(live))
    for start in range(0, len(live), metaload.PRELOAD):
        chunk = live[start : start + metaload.PRELOAD]
        if needs_meta and not needs_raw:
            await metaload.preload(s, sel, [u for _, u in chunk])
        fresh = await _fetch_chunk(
            s, sel, items, chunk, needs_raw, needs_meta, lead, changed
        )
        await metaload.keep(s, sel, fresh)
    await s.updates(cmd)
    s.tagged(cmd.tag, "OK", "FETCH completed")


async def _fetch_chunk(
    s: Session,
    sel: SelectedMailbox,
    items: list[fi.FetchItem],
    chunk: list[tuple[int, int]],
    needs_raw: bool,
    needs_meta: bool,
    lead: tuple[fi.FetchItem, ...],
    changed: set[int],
) -> dict[int, MessageMeta]:
    """Answer for ``chunk`` (seq, uid); return the metadata that had to be
    made by a parse (for the store's records)."""
    made: dict[int, MessageMeta] = {}
    pending = 0
    for batch in _batches(sel, chunk):
        raws = await _read_ahead(s, sel, batch, needs_raw, needs_meta)
        jobs: list[tuple[fi.IndexView, tuple[fi.FetchItem, ...]]] = []
        cached = 0
        for seq, uid in batch:
            raw = raws.get(uid)
            if (needs_raw or (needs_meta and uid in raws)) and raw is None:
                continue  # vanished meanwhile (RFC 3501 7.4.1: no EXPUNGE here)
            meta = None
            if needs_meta:
                meta = s.sv.cache.get(sel.cache_key(uid))
                if meta is None and raw is None:  # evicted since read-ahead
                    try:
                        raw = await s.sv.store.read_message(s.owner, sel.name, uid)
                    except MessageNotFound:
                        continue
                if meta is not None:
                    cached += len(meta.header)
            view = fi.view_of(seq, uid, sel.infos[uid], sel.flags_of(uid), raw, meta)
            jobs.append((view, lead if uid in changed else ()))
        views = [v for v, _ in jobs]
        read = sum(len(v.raw) for v in views if isinstance(v, fi.FileView))
        if cached + read > INLINE_RENDER_BYTES or not fi.light(
            items, views, needs_meta
        ):
            # parsing and rendering is CPU work proportional to the
            # messages: a worker thread does it, off the core loop
            done = await asyncio.to_thread(fi.render_batch, items, jobs, needs_meta)
        else:  # flags and cached metadata only: cheap, but yield per batch
            done = fi.render_batch(items, jobs, needs_meta)
            await asyncio.sleep(0)
        # the batch's responses go out in writes of up to FETCH_DRAIN_BYTES,
        # not one system call per message
        out: list[bytes] = []
        for view, line, fresh in done:
            if fresh is not None:
                s.sv.cache.put(sel.cache_key(view.uid), fresh)
                made[view.uid] = fresh
            if len(line) > WRITE_SLICE:
                if out:
                    s.send(b"".join(out))
                    out = []
                await _send_large(s, line)
                pending = 0
                continue
            out.append(line)
            pending += len(line)
            if pending > FETCH_DRAIN_BYTES:
                s.send(b"".join(out))
                out = []
                await s.drain()
                pending = 0
        if out:
            s.send(b"".join(out))
    return made


async def _send_large(s: Session, data: bytes) -> None:
    """Write a large response in slices, waiting for each to drain."""
    for i in range(0, len(data), WRITE_SLICE):
        s.send(data[i : i + WRITE_SLICE])
        await s.drain()


def _batches(
    sel: SelectedMailbox, msgs: list[tuple[int, int]]
) -> list[list[tuple[int, int]]]:
    """Groups of at most READ_AHEAD messages and READ_AHEAD_BYTES octets."""
    out: list[list[tuple[int, int]]] = []
    cur: list[tuple[int, int]] = []
    size = 0
    for pair in msgs:
        n = sel.infos[pair[1]].size
        if cur and (len(cur) >= READ_AHEAD or size + n > READ_AHEAD_BYTES):
            out.append(cur)
            cur, size = [], 0
        cur.append(pair)
        size += n
    if cur:
        out.append(cur)
    return out


async def _read_ahead(
    s: Session,
    sel: SelectedMailbox,
    batch: list[tuple[int, int]],
    needs_raw: bool,
    needs_meta: bool,
) -> dict[int, bytes | None]:
    """Read the files a batch needs in one store call (one worker-thread
    hop); ``None`` for a message that has gone."""
    if needs_raw:
        want = [u for _, u in batch]
    elif needs_meta:
        want = [u for _, u in batch if not s.sv.cache.peek(sel.cache_key(u))]
    else:
        return {}
    if not want:
        return {}
    got = await s.sv.store.read_messages(s.owner, sel.name, want)
    return {uid: got.get(uid) for uid in want}
