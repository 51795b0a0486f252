"""Parsed-message metadata cache shared by all IMAP sessions of a module.

FETCH ENVELOPE / BODY / BODYSTRUCTURE and header searches need a parse of the
message; parsing (and reading the file) once per message instead of once per
command is what makes ``FETCH 1:* (FLAGS ENVELOPE ...)`` on a large mailbox
cheap. Entries are keyed by (owner, mailbox, uidvalidity, uid): a message's bytes
never change under that key (RFC 3501 2.3.1.1), so entries never go stale; a
bounded LRU keeps memory in check. FLAGS, INTERNALDATE and RFC822.SIZE come from
``MessageInfo`` and are not cached here.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from . import mime

CacheKey = tuple[str, str, int, int]
DEFAULT_ENTRIES = 60_000  # a 50,000-message folder stays warm
MAX_CACHED_HEADER = 64 * 1024


@dataclass(frozen=True)
class MessageMeta:
    header: bytes  # the top-level header block (truncated headers are not cached)
    envelope: bytes
    body: bytes  # FETCH BODY
    bodystructure: bytes  # FETCH BODYSTRUCTURE
    fields: tuple[tuple[str, str], ...] = ()  # parsed header, for SEARCH

    def header_part(self) -> mime.Part:
        return mime.Part(self.header, b"", list(self.fields))


def build_meta(raw: bytes, top: mime.Part | None = None) -> MessageMeta:
    if top is None:
        top = mime.parse(raw)
    return MessageMeta(
        header=top.header,
        envelope=mime.envelope(top),
        body=mime.bodystructure(top, extended=False),
        bodystructure=mime.bodystructure(top, extended=True),
        fields=tuple(top.fields),
    )


class MetaCache:
    def __init__(self, max_entries: int = DEFAULT_ENTRIES) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[CacheKey, MessageMeta] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: CacheKey) -> MessageMeta | None:
        meta = self._data.get(key)
        if meta is None:
            self.misses += 1
            return None
        self.hits += 1
        self._data.move_to_end(key)
        return meta

    def put(self, key: CacheKey, meta: MessageMeta) -> None:
        if len(meta.header) > MAX_CACHED_HEADER:
            return
        self._data[key] = meta
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
