"""Selected-state commands (RFC 3501 6.4) but FETCH (fetch.py): CHECK, CLOSE,
UNSELECT (RFC 3691), EXPUNGE and UID EXPUNGE (RFC 4315), SEARCH with ESEARCH
(RFC 4731), STORE, COPY with COPYUID (RFC 4315) and MOVE (RFC 6851).

Flag changes and expunges go to the store as changes ("+", "-", "=" and
"remove what is \\Deleted now"), applied there under the folder lock to the
messages' current flags: this session's view may be stale and must not undo
what another session did meanwhile.

SEARCH reads only what its keys need (search.needs): the index for flags,
sizes and dates; the cached header for header keys; whole messages, a batch
of at most ``SEARCH_BATCH`` messages or ``READ_AHEAD_BYTES`` octets at a
time, parsed and matched in a worker thread, for text keys.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

from server.storage.base import (
    FlagChange,
    MailboxNotFound,
    MessageNotFound,
    apply_flag_change,
    check_flag_mode,
)

from .. import command as c
from .. import fetchitems as fi
from .. import mime, search, sorting
from .. import responses as R
from ..cache import MessageMeta, build_meta
from ..grammar import SeqSet
from ..searchparse import SearchKey, uses_modseq
from ..selected import MAX_LIVE_RESULTS, LiveResult, SelectedMailbox
from ..utf8mode import UTF8_ACCEPT
from . import metaload
from .fetch import READ_AHEAD_BYTES
from .mailbox import check_flags, check_room

if TYPE_CHECKING:
    from ..session import Session

SEARCH_BATCH = 64  # messages per worker-thread batch of a full-text SEARCH
SEARCH_YIELD_EVERY = 500  # messages matched on the loop between yields


async def check(s: Session, cmd: c.Check) -> None:
    await s.updates(cmd, force=True)
    s.tagged(cmd.tag, "OK", "CHECK completed")


async def close(s: Session, cmd: c.Close) -> None:
    """RFC 3501 6.4.2: expunge silently (not when read-only), deselect."""
    sel = s.sel
    if not sel.readonly:
        # the store decides on the messages' current flags, not our view
        try:
            await s.sv.store.expunge_deleted(s.owner, sel.name, origin=s)
        except MailboxNotFound:
            pass  # removed meanwhile: nothing left to expunge; still close
    s.deselect()
    s.tagged(cmd.tag, "OK", "CLOSE completed")


async def unselect(s: Session, cmd: c.Unselect) -> None:
    s.deselect()
    s.tagged(cmd.tag, "OK", "UNSELECT completed")


async def expunge(s: Session, cmd: c.Expunge) -> None:
    sel = s.sel
    if sel.readonly:
        s.tagged(cmd.tag, "NO", "Mailbox is read-only", "READ-ONLY")
        return
    wanted = None
    if cmd.seqset is not None:  # UID EXPUNGE: only these (RFC 4315 2.1)
        wanted = [u for _, u in sel.resolve(cmd.seqset, True)]
    # Which messages go is decided by the store on their current flags
    # (another session may have set or cleared \Deleted since our view).
    if wanted is None or wanted:
        removed = await s.sv.store.expunge_deleted(s.owner, sel.name, wanted, origin=s)
        for line in sel.remove(removed, qresync=s.qresync):
            s.send(line)
    await s.updates(cmd)
    s.tagged(cmd.tag, "OK", "EXPUNGE completed")


# -- SEARCH -------------------------------------------------------------------------
def _with_saved(key: SearchKey, saved: tuple[int, ...]) -> SearchKey:
    """The program with ``$`` (RFC 5182) as the UIDs the last SAVE found."""
    if key.op in ("AND", "OR", "NOT"):
        return SearchKey(key.op, tuple(_with_saved(k, saved) for k in key.args))
    if key.op == "SEQ" and key.args[0].saved:
        return SearchKey("UID", (SeqSet(tuple((u, u) for u in saved)),))
    return key


def _as_uids(sel: SelectedMailbox, found: list[int], by_uid: bool) -> list[int]:
    """A search's answer as UIDs (``found`` holds sequence numbers unless
    ``by_uid``)."""
    return found if by_uid else [sel.uids[n - 1] for n in found]


def _saved_result(returns: tuple[str, ...], found: list[int]) -> tuple[int, ...]:
    """RFC 5182 2.4: with MIN and/or MAX but not ALL or COUNT, only those
    are saved; else every message found."""
    if not found:
        return ()
    if {"MIN", "MAX"} & set(returns) and not {"ALL", "COUNT"} & set(returns):
        picked = set()
        if "MIN" in returns:
            picked.add(min(found))
        if "MAX" in returns:
            picked.add(max(found))
        return tuple(sorted(picked))
    return tuple(found)


async def search_(s: Session, cmd: c.Search) -> None:
    sel = s.sel
    if s.rev2 and cmd.returns is None:  # RFC 9051 6.4.4: always ESEARCH
        cmd = dataclasses.replace(cmd, returns=())
    # RFC 6855 3: with UTF8=ACCEPT, search strings are UTF-8
    charset = cmd.charset or ("UTF-8" if UTF8_ACCEPT.get() else "US-ASCII")
    saving = cmd.returns is not None and "SAVE" in cmd.returns
    if not search.charset_known(charset):
        if saving:
            sel.saved = ()  # RFC 5182 2.1: a failed SAVE empties "$"
        s.tagged(cmd.tag, "NO", "Unsupported charset", "BADCHARSET (US-ASCII UTF-8)")
        return
    await s.updates(cmd)
    key = _with_saved(cmd.key, sel.saved)  # "$" is the result saved before
    if saving:
        sel.saved = ()  # a failure below leaves it empty (RFC 5182 2.1)
    found = await _find(s, sel, key, charset, cmd.uid)
    modseq = await _found_modseq(s, sel, cmd.key, found, cmd.uid)
    if cmd.returns is not None and saving:
        uids = _as_uids(sel, found, cmd.uid)
        returns = cmd.returns
        sel.saved = _saved_result(returns, uids)
        others = tuple(r for r in returns if r != "SAVE")
        if others:  # SAVE alone: no ESEARCH response (RFC 5182 2.1)
            s.send(R.esearch(cmd.tag, cmd.uid, others, found, modseq, cmd.partial))
    elif cmd.returns is not None:
        s.send(R.esearch(cmd.tag, cmd.uid, cmd.returns, found, modseq, cmd.partial))
    else:
        s.send(R.search(found, modseq))
    if cmd.returns is not None and "UPDATE" in cmd.returns:
        uids = _as_uids(sel, found, cmd.uid)
        _keep_live(s, cmd, key, charset, None, uids)
    s.tagged(cmd.tag, "OK", "SEARCH completed")


# -- RFC 5267 contexts: results kept current -------------------------------------
def _keep_live(
    s: Session,
    cmd: c.Search | c.Sort,
    key: SearchKey,
    charset: str,
    criteria: tuple[tuple[str, bool], ...] | None,
    uids: list[int],
) -> None:
    """Keep this result current (UPDATE), or say why not (4.3.1 NOUPDATE):
    only programs the index answers (flags, dates, sizes, sets) are kept,
    no PARTIAL window, at most ``MAX_LIVE_RESULTS`` at once."""
    sel = s.sel
    why = None
    if search.needs(key) != "meta":
        why = "Only searches on flags, dates, sizes and numbers are kept current"
    elif cmd.partial is not None:
        why = "A PARTIAL result is not kept current"
    elif len(sel.live) >= MAX_LIVE_RESULTS and cmd.tag not in sel.live:
        why = "Too many results kept current already"
    if why is not None:
        s.send(R.untagged(f'NO [NOUPDATE "{cmd.tag}"] {why}'))
        return
    sel.live[cmd.tag] = LiveResult(
        cmd.tag, cmd.uid, key, charset, criteria, list(uids), sel.version
    )


async def cancelupdate(s: Session, cmd: c.CancelUpdate) -> None:
    """RFC 5267 4.3.5: stop keeping these results current."""
    unknown = [t for t in cmd.tags if t not in s.sel.live]
    for tag in cmd.tags:
        s.sel.live.pop(tag, None)
    if unknown:
        s.tagged(cmd.tag, "NO", "No result is kept current under that tag")
        return
    s.tagged(cmd.tag, "OK", "CANCELUPDATE completed")


async def live_updates(s: Session) -> None:
    """RFC 5267 4.3: tell what entered and left the results kept current
    since they were last told, as ESEARCH ADDTO / REMOVEFROM. A SEARCH's
    changes have position 0; a SORT's, the positions (removals from the
    last, in the result as the client has it, then additions in order of
    their place in the new result). Messages announced expunged have left
    every result already and are not named."""
    sel = s.sel
    for live in list(sel.live.values()):
        if live.version == sel.version:
            continue
        live.version = sel.version
        uids = await _find(s, sel, live.key, live.charset, True)
        if live.criteria is not None:
            items = await _sort_items(s, sel, uids)
            ordered = await asyncio.to_thread(sorting.sort_items, items, live.criteria)
            uids = [i.uid for i in ordered]
        before = [u for u in live.results if u in sel.infos]
        now = set(uids)
        was = set(before)
        live.results = uids

        def num(uid: int, live: LiveResult = live) -> int:
            return uid if live.uid else sel.seq_of(uid)

        parts: list[str] = []
        if live.criteria is None:
            gone = [num(u) for u in before if u not in now]
            came = [num(u) for u in uids if u not in was]
            if gone:
                parts.append(f"REMOVEFROM (0 {R.uid_set(sorted(gone))})")
            if came:
                parts.append(f"ADDTO (0 {R.uid_set(sorted(came))})")
        else:
            for pos in range(len(before), 0, -1):
                if before[pos - 1] not in now:
                    parts.append(f"REMOVEFROM ({pos} {num(before[pos - 1])})")
            for pos, uid in enumerate(uids, start=1):
                if uid not in was:
                    parts.append(f"ADDTO ({pos} {num(uid)})")
        if parts:
            head = f'ESEARCH (TAG "{live.tag}")' + (" UID" if live.uid else "")
            s.send(R.untagged(" ".join([head, *parts])))


async def _found_modseq(
    s: Session, sel: SelectedMailbox, key: SearchKey, found: list[int], by_uid: bool
) -> int | None:
    """RFC 7162 3.1.5: a program with the MODSEQ key turns CONDSTORE on, and
    its answer carries the highest mod-sequence of what it found (none
    when it found nothing)."""
    if not uses_modseq(key):
        return None
    await s.enable_condstore()
    uids = _as_uids(sel, found, by_uid)
    return max((sel.infos[u].modseq for u in uids if u in sel.infos), default=None)


async def _find(
    s: Session, sel: SelectedMailbox, key: SearchKey, charset: str, by_uid: bool
) -> list[int]:
    """The UIDs (``by_uid``) or sequence numbers of the messages ``key``
    matches, ascending; the index answers what it can, headers come from
    the metadata cache, whole messages are read in batches off the loop."""
    need = search.needs(key)
    found: list[int] = []
    largest_uid = sel.uids[-1] if sel.uids else 0
    batch: list[search.MessageView] = []
    batch_bytes = 0
    if search.matches_all(key):  # UID SEARCH ALL: no view to build
        return [
            uid if by_uid else seq
            for seq, uid in enumerate(sel.uids, start=1)
            if uid in sel.infos
        ]
    matches = search.compile_key(key, charset)
    with_saved = search.uses_save_date(key)
    if need == "header":
        await _header_metas(s, sel)
    for seq, uid in enumerate(list(sel.uids), start=1):
        info = sel.infos.get(uid)
        if info is None:
            continue
        view = search.MessageView(
            seq,
            uid,
            info.flags,
            uid in sel.recent,
            info.size,
            info.internal_date,
            len(sel.uids),
            largest_uid,
            saved=fi.save_date(info) if with_saved else 0.0,
            modseq=info.modseq,
        )
        if need == "full":
            # Whole messages: read a batch in one store call and parse and
            # match it in a worker thread, off the core loop.
            batch.append(view)
            batch_bytes += info.size  # 64 messages of 25 MB: 1.6 GB at once
            if len(batch) >= SEARCH_BATCH or batch_bytes >= READ_AHEAD_BYTES:
                found += await _search_batch(s, sel, key, charset, batch, by_uid)
                batch, batch_bytes = [], 0
            continue
        try:
            if need == "header":
                meta = s.sv.cache.get(sel.cache_key(uid))  # no await when cached
                if meta is None:
                    meta = await _meta(s, sel, uid)
                view.part = meta.header_part()
        except MessageNotFound:
            continue
        if matches(view):
            found.append(uid if by_uid else seq)
        if seq % SEARCH_YIELD_EVERY == 0:
            await asyncio.sleep(0)
    if batch:
        found += await _search_batch(s, sel, key, charset, batch, by_uid)
    return found


async def _sort_items(
    s: Session, sel: SelectedMailbox, uids: list[int]
) -> list[sorting.Item]:
    """What SORT and THREAD look at, for these messages: the index data and
    the header fields (from the metadata cache, read where missing)."""
    await _header_metas(s, sel, uids)
    seqs = {u: i for i, u in enumerate(sel.uids, start=1)}
    items = []
    for uid in uids:
        info = sel.infos.get(uid)
        if info is None or uid not in seqs:
            continue
        try:
            meta = s.sv.cache.get(sel.cache_key(uid)) or await _meta(s, sel, uid)
        except MessageNotFound:
            continue
        items.append(
            sorting.Item(seqs[uid], uid, info.internal_date, info.size, meta.fields)
        )
    return items


async def _matching_items(
    s: Session, cmd: c.Sort | c.Thread
) -> list[sorting.Item] | None:
    """SORT's and THREAD's common start: the charset checked (None when
    refused, answered), updates sent, the matching messages' items."""
    sel = s.sel
    if not search.charset_known(cmd.charset):
        s.tagged(cmd.tag, "NO", "Unsupported charset", "BADCHARSET (US-ASCII UTF-8)")
        return None
    await s.updates(cmd)
    uids = await _find(s, sel, _with_saved(cmd.key, sel.saved), cmd.charset, True)
    return await _sort_items(s, sel, uids)


async def sort_(s: Session, cmd: c.Sort) -> None:
    """RFC 5256 SORT: the matching messages in the order of the criteria."""
    items = await _matching_items(s, cmd)
    if items is None:
        return
    ordered = await asyncio.to_thread(sorting.sort_items, items, cmd.criteria)
    nums = [i.uid if cmd.uid else i.seq for i in ordered]
    modseq = await _found_modseq(s, s.sel, cmd.key, nums, cmd.uid)
    if cmd.returns is not None:
        s.send(R.esort(cmd.tag, cmd.uid, cmd.returns, nums, modseq, cmd.partial))
        if "UPDATE" in cmd.returns:
            key = _with_saved(cmd.key, s.sel.saved)
            uids = [i.uid for i in ordered]
            _keep_live(s, cmd, key, cmd.charset, cmd.criteria, uids)
    else:
        s.send(R.search(nums, modseq, verb="SORT"))
    s.tagged(cmd.tag, "OK", "SORT completed")


async def thread(s: Session, cmd: c.Thread) -> None:
    """RFC 5256 THREAD with ORDEREDSUBJECT or REFERENCES."""
    items = await _matching_items(s, cmd)
    if items is None:
        return

    def threaded() -> str:
        algorithm = (
            sorting.references
            if cmd.algorithm == "REFERENCES"
            else sorting.ordered_subject
        )
        return sorting.render(algorithm(items), cmd.uid)

    text = await asyncio.to_thread(threaded)
    s.send(R.untagged("THREAD " + text if text else "THREAD"))
    s.tagged(cmd.tag, "OK", "THREAD completed")


async def _search_batch(
    s: Session,
    sel: SelectedMailbox,
    key: SearchKey,
    charset: str,
    views: list[search.MessageView],
    by_uid: bool,
) -> list[int]:
    raws = await s.sv.store.read_messages(s.owner, sel.name, [v.uid for v in views])

    matches = search.compile_key(key, charset)

    def match() -> list[int]:
        hits = []
        for view in views:
            raw = raws.get(view.uid)
            if raw is None:
                continue  # expunged meanwhile
            view.part = mime.parse(raw)
            view.raw = raw
            if matches(view):
                hits.append(view.uid if by_uid else view.seq)
        return hits

    return await asyncio.to_thread(match)


async def _header_metas(
    s: Session, sel: SelectedMailbox, only: list[int] | None = None
) -> None:
    """Metadata for a header search over the whole mailbox (or the messages
    ``only``): the store's records first, then the messages without one read
    and parsed in batches (worker threads), their records given back to the
    store."""
    uids = list(sel.uids) if only is None else list(only)
    for start in range(0, len(uids), metaload.PRELOAD):
        chunk = uids[start : start + metaload.PRELOAD]
        await metaload.preload(s, sel, chunk)
        missing = [u for u in chunk if not s.sv.cache.peek(sel.cache_key(u))]
        made: dict[int, MessageMeta] = {}
        for group in _groups(sel, missing):
            raws = await s.sv.store.read_messages(s.owner, sel.name, group)
            metas = await asyncio.to_thread(_parse_all, raws)
            for uid, meta in metas.items():
                s.sv.cache.put(sel.cache_key(uid), meta)
            made.update(metas)
        await metaload.keep(s, sel, made)
        # records come without parsed fields: parse the headers off the loop
        bare = [
            m
            for u in chunk
            if (m := s.sv.cache.get(sel.cache_key(u))) is not None and not m.parsed
        ]
        if bare:
            await asyncio.to_thread(_parse_fields, bare)


def _parse_fields(metas: list[MessageMeta]) -> None:
    for meta in metas:
        meta.fields  # noqa: B018 - parsed here, in a worker thread


def _parse_all(raws: dict[int, bytes]) -> dict[int, MessageMeta]:
    return {uid: build_meta(raw) for uid, raw in raws.items()}


def _groups(sel: SelectedMailbox, uids: list[int]) -> list[list[int]]:
    """Batches of at most ``SEARCH_BATCH`` messages and ``READ_AHEAD_BYTES``."""
    out: list[list[int]] = []
    size = 0
    for uid in uids:
        info = sel.infos.get(uid)
        n = info.size if info is not None else 0
        if not out or len(out[-1]) >= SEARCH_BATCH or size + n > READ_AHEAD_BYTES:
            out.append([])
            size = 0
        out[-1].append(uid)
        size += n
    return out


async def _meta(s: Session, sel: SelectedMailbox, uid: int) -> MessageMeta:
    """A message's cached metadata; on a miss the file is read and parsed
    in worker threads, never on the core loop."""
    key = sel.cache_key(uid)
    meta = s.sv.cache.get(key)
    if meta is None:
        raw = await s.sv.store.read_message(s.owner, sel.name, uid)
        meta = await asyncio.to_thread(build_meta, raw)
        s.sv.cache.put(key, meta)
    return meta


# -- STORE, COPY, MOVE ----------------------------------------------------------------
async def store(s: Session, cmd: c.Store) -> None:
    """STORE (RFC 3501 6.4.6), with RFC 7162 UNCHANGEDSINCE: messages changed
    after it are left alone and named in ``[MODIFIED]``. With CONDSTORE on,
    each answer carries the new mod-sequence (and .SILENT still says it)."""
    sel = s.sel
    if sel.readonly:
        s.tagged(cmd.tag, "NO", "Mailbox is read-only", "READ-ONLY")
        return
    flags = check_flags(cmd.flags)  # \Recent: BAD (RFC 3501 2.3.2)
    msgs = sel.resolve(cmd.seqset, cmd.uid)
    mode = check_flag_mode(cmd.mode or "=")
    if cmd.unchanged_since is not None:
        await s.enable_condstore()  # RFC 7162 3.1: an enabling command
    # The change itself goes to the store (FLAGS "=", +FLAGS "+", -FLAGS
    # "-"), applied there to the current flags: our view may be stale and
    # must not undo what another session stored meanwhile.
    changes: list[FlagChange] = [
        (uid, mode, flags)
        for _, uid in msgs
        if uid in sel.infos and uid not in sel.ghosts
    ]
    surprise: set[int] = set()  # also changed by someone else meanwhile
    moved: set[int] = set()  # their mod-sequence moved
    modified: set[int] = set()  # failed UNCHANGEDSINCE
    if changes:
        infos = await s.sv.store.set_flags(
            s.owner, sel.name, changes, origin=s, unchanged_since=cmd.unchanged_since
        )
        for i in infos:
            old = sel.infos.get(i.uid)
            if old is not None and i.flags != apply_flag_change(old.flags, mode, flags):
                surprise.add(i.uid)
            if old is not None and i.modseq != old.modseq:
                moved.add(i.uid)
        if cmd.unchanged_since is not None:
            done = {i.uid for i in infos}
            modified = {u for u, _, _ in changes if u not in done}
        sel.update_infos(infos)
        for line in sel.keyword_updates(f for i in infos for f in i.flags):
            s.send(line)
    show_uid = cmd.uid or s.qresync  # RFC 7162 3.2.4: QRESYNC always names it
    for seq, uid in msgs:
        if uid not in sel.infos or uid in sel.ghosts or uid in modified:
            continue
        modseq = sel.infos[uid].modseq if s.condstore else None
        if not cmd.silent or uid in surprise:
            s.send(
                R.fetch_flags(seq, uid if show_uid else None, sel.flags_of(uid), modseq)
            )
        elif modseq is not None and uid in moved:  # .SILENT: the new value only
            s.send(R.fetch_flags(seq, uid if show_uid else None, None, modseq))
    await s.updates(cmd)
    if modified:
        failed = [
            u if cmd.uid else sel.seq_of(u) for u in sorted(modified) if u in sel.infos
        ]
        s.tagged(
            cmd.tag,
            "OK",
            "Conditional STORE failed for some messages",
            f"MODIFIED {R.uid_set(sorted(failed))}",
        )
        return
    s.tagged(cmd.tag, "OK", "STORE completed")


async def copy(s: Session, cmd: c.Copy) -> None:
    """COPY (RFC 3501 6.4.7) and MOVE (RFC 6851, a ``Move``), with COPYUID
    (RFC 4315 3); MOVE sends it untagged before the EXPUNGEs."""
    sel = s.sel
    move = isinstance(cmd, c.Move)
    if move and sel.readonly:
        s.tagged(cmd.tag, "NO", "Mailbox is read-only", "READ-ONLY")
        return
    msgs = [(q, u) for q, u in sel.resolve(cmd.seqset, cmd.uid) if u not in sel.ghosts]
    info = await s.sv.store.mailbox_info(s.owner, cmd.mailbox)
    if not msgs:
        await s.updates(cmd)
        s.tagged(cmd.tag, "OK", f"{cmd.name} completed")
        return
    if not move:  # a MOVE within the user's folders adds nothing
        await check_room(s, sum(sel.infos[u].size for _, u in msgs if u in sel.infos))
    pairs = await s.sv.store.copy(
        s.owner, sel.name, [u for _, u in msgs], cmd.mailbox, origin=s
    )
    code = ""
    if pairs:
        code = (
            f"COPYUID {info.uidvalidity} {R.uid_set(p[0] for p in pairs)} "
            f"{R.uid_set(p[1] for p in pairs)}"
        )
    if move:
        if code:
            s.send(R.untagged(f"OK [{code}] Moved"))
        removed = await s.sv.store.expunge(
            s.owner, sel.name, [p[0] for p in pairs], origin=s
        )
        for line in sel.remove(removed, qresync=s.qresync):
            s.send(line)
        await s.updates(cmd)
        s.tagged(cmd.tag, "OK", "MOVE completed")
        return
    await s.updates(cmd)
    s.tagged(cmd.tag, "OK", "COPY completed", code)
