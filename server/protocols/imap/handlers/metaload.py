"""Metadata for a FETCH or header SEARCH, from the module's cache or the
store's records (``cache.py``).

``preload`` fills the module's cache for the messages a command is about to
use, in one store call per ``PRELOAD`` messages: records are decoded on the
loop (a few slices each, no parse). ``keep`` gives the store the records of
messages a command had to parse, so the next session (or a restart) finds
them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..cache import MessageMeta, decode_meta, encode_meta
from ..selected import SelectedMailbox

if TYPE_CHECKING:
    from ..session import Session

PRELOAD = 2000  # messages whose records are asked for in one store call


async def preload(s: Session, sel: SelectedMailbox, uids: list[int]) -> None:
    """Put the store's records of ``uids`` (those not cached yet) into the
    module's cache."""
    want = [u for u in uids if not s.sv.cache.peek(sel.cache_key(u))]
    if not want:
        return
    records = await s.sv.store.read_meta(s.owner, sel.name, want)
    for uid, record in records.items():
        meta = decode_meta(record)
        if meta is not None:
            s.sv.cache.put(sel.cache_key(uid), meta)


async def keep(s: Session, sel: SelectedMailbox, fresh: dict[int, MessageMeta]) -> None:
    """Hand metadata made by a parse to the store, for messages without a
    record."""
    if fresh:
        records = {uid: encode_meta(meta) for uid, meta in fresh.items()}
        await s.sv.store.save_meta(s.owner, sel.name, records)
