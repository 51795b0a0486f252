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

Kept across restarts by the store: the module sets ``index_message`` as the
store's indexer, so a message gets its record (``encode_meta``) when it is
delivered or appended, in the store's worker thread; a FETCH or SEARCH that
misses here asks the store for records first (``read_meta``, decoded without
a parse) and parses only messages without one, giving their records back to
the store (``save_meta``). How the store keeps records correct when other
programs change a Maildir: ``server/storage/maildir_meta.py``.

Not thread-safe: used on the core loop only (the parse that builds an entry
runs in a worker thread; the entry is put here afterwards, on the loop).
"""

from __future__ import annotations

import struct
from collections import OrderedDict

from . import mime

CacheKey = tuple[str, str, int, int]
DEFAULT_MAX_BYTES = 128 * 1024 * 1024
MAX_ENTRY_BYTES = 4 * 1024 * 1024  # a 10,000-part message's structure fits
ENTRY_OVERHEAD = 800  # key, dict and LRU links, the object, 4 bytes, a header Part
FIELD_OVERHEAD = 170  # one (name, value) tuple of two str objects


class MessageMeta:
    """What FETCH and header SEARCH need of a message, rendered once.

    ``fields`` (the parsed header, for SEARCH) is made from ``header`` when
    first asked for, so a record loaded from the store costs no parse until
    a search needs it."""

    __slots__ = ("_fields", "_part", "body", "bodystructure", "envelope", "header")

    def __init__(
        self,
        header: bytes,  # the top-level header block
        envelope: bytes,
        body: bytes,  # FETCH BODY
        bodystructure: bytes,  # FETCH BODYSTRUCTURE
        fields: tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        self.header = header
        self.envelope = envelope
        self.body = body
        self.bodystructure = bodystructure
        self._fields = fields
        self._part: mime.Part | None = None

    @property
    def parsed(self) -> bool:
        """Are the header fields parsed yet?"""
        return self._fields is not None

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        if self._fields is None:
            self._fields = tuple(mime.header_fields(self.header))
        return self._fields

    def header_part(self) -> mime.Part:
        """The header as a part (for SEARCH), made once."""
        if self._part is None:
            self._part = mime.Part.header_only(self.header, self.fields)
        return self._part

    def _parts(self) -> tuple[bytes, bytes, bytes, bytes]:
        return (self.header, self.envelope, self.body, self.bodystructure)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MessageMeta):
            return NotImplemented
        return self._parts() == other._parts() and self.fields == other.fields

    __hash__ = None  # type: ignore[assignment]  # equal by value, mutable cache

    def __repr__(self) -> str:
        return f"MessageMeta(envelope={self.envelope[:60]!r}...)"


# A record as the store keeps it (``MailStore.read_meta``): a version byte,
# the lengths of the four parts, then header, envelope, body, bodystructure.
_RECORD = struct.Struct("<BIIII")
RECORD_VERSION = 1
# Messages above this are not indexed when stored: their parse would hold up
# the delivery; a FETCH parses them when asked (and the record is kept then).
INDEX_MAX_MESSAGE = 8 * 1024 * 1024


def encode_meta(meta: MessageMeta) -> bytes:
    parts = meta._parts()
    return _RECORD.pack(RECORD_VERSION, *map(len, parts)) + b"".join(parts)


def decode_meta(record: bytes) -> MessageMeta | None:
    """A record back as metadata; None for one we cannot read (another
    version, damaged): the message is then parsed again."""
    if len(record) < _RECORD.size:
        return None
    version, *sizes = _RECORD.unpack_from(record)
    if version != RECORD_VERSION or _RECORD.size + sum(sizes) != len(record):
        return None
    at = _RECORD.size
    out = []
    for n in sizes:
        out.append(record[at : at + n])
        at += n
    return MessageMeta(out[0], out[1], out[2], out[3])


def index_message(raw: bytes) -> bytes | None:
    """The store's indexer (``base.Indexer``): a message's record, made
    when it is delivered or appended, in the store's worker thread."""
    if len(raw) > INDEX_MAX_MESSAGE:
        return None
    return encode_meta(build_meta(raw))


def entry_size(meta: MessageMeta) -> int:
    """Approximate memory one entry holds (fields not parsed yet count as
    if they were: they will be once a search asks)."""
    if meta._fields is None:  # about one field per header line
        fields = FIELD_OVERHEAD * meta.header.count(b"\n") + len(meta.header)
    else:
        fields = sum(FIELD_OVERHEAD + len(k) + len(v) for k, v in meta._fields)
    return (
        ENTRY_OVERHEAD
        + len(meta.header)
        + len(meta.envelope)
        + len(meta.body)
        + len(meta.bodystructure)
        + fields
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
