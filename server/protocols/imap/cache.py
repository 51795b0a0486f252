"""Parsed-message metadata cache shared by all IMAP sessions of a module.

FETCH ENVELOPE / BODY / BODYSTRUCTURE and header searches need a parse of the
message; parsing (and reading the file) once per message instead of once per
command is what makes ``FETCH 1:* (FLAGS ENVELOPE ...)`` on a large mailbox
cheap. Entries are keyed by (owner, mailbox, uidvalidity, uid): a message's bytes
never change under that key (RFC 3501 2.3.1.1), so entries never go stale.
FLAGS, INTERNALDATE and RFC822.SIZE come from ``MessageInfo`` and are not
cached here.

Bounded by bytes, not entries: one entry is a few kilobytes for ordinary mail
but megabytes for a message with thousands of parts, so a count of entries
says nothing about memory. ``DEFAULT_MAX_BYTES`` (128 MiB) keeps about 13,000
ordinary messages warm (some 10 KB each: a 3 KB header kept as bytes and as
parsed fields, envelope and body structure); the least recently used entries
go first. An entry above ``MAX_ENTRY_BYTES`` is not kept at all: it would push
out hundreds of others to save one re-parse. Sizes are estimates of what the
objects occupy (``entry_size``), not exact accounting.

Not thread-safe: used on the core loop only (the parse that builds an entry
runs in a worker thread; the entry is put here afterwards, on the loop).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from . import mime

CacheKey = tuple[str, str, int, int]
DEFAULT_MAX_BYTES = 128 * 1024 * 1024
MAX_ENTRY_BYTES = 4 * 1024 * 1024  # a 10,000-part message's structure fits
ENTRY_OVERHEAD = 600  # key tuple, dict and LRU links, the dataclass, 4 bytes objects
FIELD_OVERHEAD = 170  # one (name, value) tuple of two str objects


@dataclass(frozen=True)
class MessageMeta:
    header: bytes  # the top-level header block
    envelope: bytes
    body: bytes  # FETCH BODY
    bodystructure: bytes  # FETCH BODYSTRUCTURE
    fields: tuple[tuple[str, str], ...] = ()  # parsed header, for SEARCH

    def header_part(self) -> mime.Part:
        return mime.Part.header_only(self.header, self.fields)


def entry_size(meta: MessageMeta) -> int:
    """Approximate memory one entry holds."""
    return (
        ENTRY_OVERHEAD
        + len(meta.header)
        + len(meta.envelope)
        + len(meta.body)
        + len(meta.bodystructure)
        + sum(FIELD_OVERHEAD + len(k) + len(v) for k, v in meta.fields)
    )


def build_meta(raw: bytes, top: mime.Part | None = None) -> MessageMeta:
    """Parse and render a message's metadata. CPU work proportional to the
    message: callers run it in a worker thread, never on the core loop."""
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
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._data: OrderedDict[CacheKey, tuple[MessageMeta, int]] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: CacheKey) -> MessageMeta | None:
        entry = self._data.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._data.move_to_end(key)
        return entry[0]

    def peek(self, key: CacheKey) -> bool:
        """Is ``key`` cached? (Neither counts nor refreshes it.)"""
        return key in self._data

    def put(self, key: CacheKey, meta: MessageMeta) -> None:
        size = entry_size(meta)
        if size > min(MAX_ENTRY_BYTES, self.max_bytes):
            return
        old = self._data.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._data[key] = (meta, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, gone) = self._data.popitem(last=False)
            self.bytes -= gone

    def __len__(self) -> int:
        return len(self._data)
