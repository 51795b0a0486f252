"""FETCH data items (RFC 3501 6.4.5, 7.4.2; RFC 3516 BINARY) as small objects
that render themselves.

Each item the parser makes of a FETCH command is one of the classes below, and
its base class says what it needs to render (``Need``):

- ``IndexItem`` (UID, FLAGS, INTERNALDATE, RFC822.SIZE): the store's index
  (``MessageInfo``) and the session's flags; never a file read.
- ``MetaItem`` (ENVELOPE, BODY, BODYSTRUCTURE, and BODY[HEADER...] of the
  message itself): the parsed metadata (``cache.MessageMeta``), kept in the
  module's cache, so a client's "FETCH 1:* (FLAGS ENVELOPE)" does not read
  every file each time.
- ``FileItem`` (RFC822*, BODY[...] of parts or text, BINARY*): the file.

The FETCH handler (handlers/fetch.py) takes the greatest need of the items
asked for, loads that much for each message and hands each item a view of the
same tier or richer: ``IndexView`` < ``MetaView`` (``CachedView``: metadata
from the cache) < ``FileView`` (the file, its MIME parse and metadata made
from it on first use). An item is given a view too poor for it only if the
handler's plan is wrong: ``render_for`` then raises ``NotLoaded`` (answered
NO [SERVERBUG], never a wrong answer).

Rendering is pure and runs in a worker thread when files were read (parsing
is CPU work proportional to the message). Large data is joined with
``bytes.join`` (which lets other threads run above 1 MiB) rather than ``+``.
"""

from __future__ import annotations

import enum
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from server.errors import PermanentError
from server.mailtext import split_header
from server.storage.base import MessageInfo

from . import mime
from . import responses as R
from .cache import MessageMeta, build_meta
from .grammar import render_astring


class Need(enum.IntEnum):
    """How much of a message an item needs, in increasing cost."""

    INDEX = 0  # flags, dates, sizes: the store's index
    META = 1  # the parsed metadata: cache or file
    FILE = 2  # the message file


class NotLoaded(Exception):
    """An item was given less of a message than it needs (a planning bug)."""


# -- views: what the handler loaded for one message ---------------------------
class IndexView:
    """One message as the selected mailbox knows it; ``flags`` include the
    session's ``\\Recent`` (RFC 3501 2.3.2)."""

    def __init__(self, seq: int, uid: int, info: MessageInfo, flags: list[str]) -> None:
        self.seq = seq
        self.uid = uid
        self.info = info
        self.flags = flags


class MetaView(IndexView, ABC):
    @property
    @abstractmethod
    def meta(self) -> MessageMeta: ...


class CachedView(MetaView):
    """The metadata came from the cache; the file was not read."""

    def __init__(
        self,
        seq: int,
        uid: int,
        info: MessageInfo,
        flags: list[str],
        meta: MessageMeta,
    ) -> None:
        super().__init__(seq, uid, info, flags)
        self._meta = meta

    @property
    def meta(self) -> MessageMeta:
        return self._meta


class FileView(MetaView):
    """The file was read. Its MIME parse and its metadata are made on first
    use (``fresh`` keeps metadata made here, for the cache)."""

    def __init__(
        self,
        seq: int,
        uid: int,
        info: MessageInfo,
        flags: list[str],
        raw: bytes,
        meta: MessageMeta | None = None,
    ) -> None:
        super().__init__(seq, uid, info, flags)
        self.raw = raw
        self._meta = meta
        self._top: mime.Part | None = None
        self.fresh: MessageMeta | None = None

    @property
    def top(self) -> mime.Part:
        if self._top is None:
            self._top = mime.parse(self.raw)
        return self._top

    @property
    def meta(self) -> MessageMeta:
        if self._meta is None:
            self._meta = self.fresh = build_meta(self.raw, self.top)
        return self._meta

    @property
    def has_meta(self) -> bool:
        """Is the metadata there without a parse?"""
        return self._meta is not None


def view_of(
    seq: int,
    uid: int,
    info: MessageInfo,
    flags: list[str],
    raw: bytes | None,
    meta: MessageMeta | None,
) -> IndexView:
    """The richest view what was loaded allows."""
    if raw is not None:
        return FileView(seq, uid, info, flags, raw, meta)
    if meta is not None:
        return CachedView(seq, uid, info, flags, meta)
    return IndexView(seq, uid, info, flags)


# -- sections ------------------------------------------------------------------
@dataclass(frozen=True)
class Section:
    """BODY[section] (RFC 3501 6.4.5)."""

    part: tuple[int, ...] = ()
    text: str = ""  # "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: tuple[str, ...] = ()

    def render(self) -> str:
        spec = ".".join(str(p) for p in self.part)
        if self.text:
            spec = f"{spec}.{self.text}" if spec else self.text
        if self.fields:
            spec += " (" + " ".join(render_astring(f) for f in self.fields) + ")"
        return spec

    @property
    def header_only(self) -> bool:
        """The message's own header (or some of its fields): the cached
        header is enough, no file read."""
        return not self.part and self.text.startswith("HEADER")


def _literal(prefix: bytes, data: bytes) -> bytes:
    """``prefix`` and ``data`` as a literal, joined without a GIL-held copy
    of a large ``data`` (bytes.join lets other threads run above 1 MiB)."""
    return b"".join((prefix, b"{%d}\r\n" % len(data), data))


def _origin(partial: tuple[int, int] | None) -> str:
    """RFC 3501 7.4.2: a partial fetch answers with its origin octet."""
    return f"<{partial[0]}>" if partial else ""


# -- the items -----------------------------------------------------------------
@dataclass(frozen=True)
class FetchItem(ABC):
    need: ClassVar[Need]

    @property
    def sets_seen(self) -> bool:
        """Does fetching this set ``\\Seen`` (RFC 3501 6.4.5)?"""
        return False

    @property
    def parses(self) -> bool:
        """Does rendering it from the file need a MIME parse (beyond the
        metadata, which may be cached)?"""
        return False

    @abstractmethod
    def render_for(self, view: IndexView) -> bytes:
        """``NAME value`` for this message, or ``NotLoaded``."""


@dataclass(frozen=True)
class IndexItem(FetchItem):
    need = Need.INDEX

    def render_for(self, view: IndexView) -> bytes:
        return self.render(view)

    @abstractmethod
    def render(self, view: IndexView) -> bytes: ...


@dataclass(frozen=True)
class MetaItem(FetchItem):
    need = Need.META

    def render_for(self, view: IndexView) -> bytes:
        if not isinstance(view, MetaView):
            raise NotLoaded(type(self).__name__)
        return self.render(view)

    @abstractmethod
    def render(self, view: MetaView) -> bytes: ...


@dataclass(frozen=True)
class FileItem(FetchItem):
    need = Need.FILE

    def render_for(self, view: IndexView) -> bytes:
        if not isinstance(view, FileView):
            raise NotLoaded(type(self).__name__)
        return self.render(view)

    @abstractmethod
    def render(self, view: FileView) -> bytes: ...


@dataclass(frozen=True)
class Uid(IndexItem):
    def render(self, view: IndexView) -> bytes:
        return b"UID %d" % view.uid


@dataclass(frozen=True)
class Flags(IndexItem):
    def render(self, view: IndexView) -> bytes:
        return b"FLAGS " + R.flag_list(view.flags)


@dataclass(frozen=True)
class InternalDate(IndexItem):
    def render(self, view: IndexView) -> bytes:
        return b"INTERNALDATE " + R.internal_date(view.info.internal_date)


def save_date(info: MessageInfo) -> float:
    """RFC 8514: when the message was saved in this mailbox. The store's
    unique names start with that time in seconds (Maildir's time-first
    names, and our delivery keys); a name that does not (a file another
    program named its own way) falls back to the internal date."""
    head, dot, _ = info.key.partition(".")
    if dot and head.isdigit() and 9 <= len(head) <= 11:
        return float(head)
    return info.internal_date


@dataclass(frozen=True)
class SaveDate(IndexItem):
    """SAVEDATE (RFC 8514)."""

    def render(self, view: IndexView) -> bytes:
        return b"SAVEDATE " + R.internal_date(save_date(view.info))


def email_id(raw: bytes) -> str:
    """RFC 8474 EMAILID: from the message's bytes (as Cyrus does), so a copy
    or a MOVE keeps it, and it stays the same across restarts; messages of
    identical bytes share it, which 5.1 allows."""
    return "M" + hashlib.sha256(raw).hexdigest()[:24]


@dataclass(frozen=True)
class EmailId(FileItem):
    """EMAILID (RFC 8474 5.1): a hash of the message, so the file is read."""

    def render(self, view: FileView) -> bytes:
        return b"EMAILID (%s)" % email_id(view.raw).encode()


@dataclass(frozen=True)
class ThreadId(IndexItem):
    """THREADID (RFC 8474 5.2): NIL, as the RFC allows a server that does
    not keep threads (THREAD computes them per request)."""

    def render(self, view: IndexView) -> bytes:
        return b"THREADID NIL"


@dataclass(frozen=True)
class Modseq(IndexItem):
    """MODSEQ (RFC 7162 3.1.4.2): the message's mod-sequence."""

    def render(self, view: IndexView) -> bytes:
        return b"MODSEQ (%d)" % view.info.modseq


@dataclass(frozen=True)
class Rfc822Size(IndexItem):
    """Octets as sent, with CRLF line ends (the store's ``size``)."""

    def render(self, view: IndexView) -> bytes:
        return b"RFC822.SIZE %d" % view.info.size


@dataclass(frozen=True)
class Envelope(MetaItem):
    def render(self, view: MetaView) -> bytes:
        return b"ENVELOPE " + view.meta.envelope


@dataclass(frozen=True)
class Body(MetaItem):
    """BODY without a section: the non-extensible BODYSTRUCTURE."""

    def render(self, view: MetaView) -> bytes:
        return b"BODY " + view.meta.body


@dataclass(frozen=True)
class BodyStructure(MetaItem):
    def render(self, view: MetaView) -> bytes:
        return b"BODYSTRUCTURE " + view.meta.bodystructure


@dataclass(frozen=True)
class HeaderSection(MetaItem):
    """BODY[HEADER], BODY[HEADER.FIELDS (...)], BODY[HEADER.FIELDS.NOT (...)]
    of the message itself: from the file when it was read anyway, else from
    the cached header."""

    section: Section
    peek: bool = False
    partial: tuple[int, int] | None = None

    @property
    def sets_seen(self) -> bool:
        return not self.peek

    def render(self, view: MetaView) -> bytes:
        s = self.section
        if isinstance(view, FileView):
            data = mime.section(view.raw, None, (), s.text, s.fields)
        else:
            data = mime.section(view.meta.header, None, (), s.text, s.fields)
        prefix = f"BODY[{s.render()}]{_origin(self.partial)} ".encode()
        return _literal(prefix, mime.partial(data, self.partial))


@dataclass(frozen=True)
class BodySection(FileItem):
    """BODY[section]<partial> and BODY.PEEK (RFC 3501 6.4.5) for anything but
    the message's own header."""

    section: Section
    peek: bool = False
    partial: tuple[int, int] | None = None

    @property
    def sets_seen(self) -> bool:
        return not self.peek

    @property
    def parses(self) -> bool:
        return bool(self.section.part)

    @cached_property
    def _prefix(self) -> bytes:
        """``BODY[section]<origin> ``: the same for every message."""
        return f"BODY[{self.section.render()}]{_origin(self.partial)} ".encode()

    def render(self, view: FileView) -> bytes:
        s = self.section
        top = view.top if s.part else None
        data = mime.section(view.raw, top, s.part, s.text, s.fields)
        return _literal(self._prefix, mime.partial(data, self.partial))


class UnknownCte(PermanentError):
    """RFC 3516 4.3: BINARY of a part whose transfer encoding we cannot undo
    (NO [UNKNOWN-CTE])."""


KNOWN_CTE = frozenset({"", "7bit", "8bit", "binary", "base64", "quoted-printable"})


def _decoded_kind(view: FileView, section: Section) -> tuple[bytes, bool]:
    """RFC 3516: a part with its content transfer encoding undone (and
    whether that encoding was base64 or binary); the whole message as it is
    for an empty section; an unknown part is empty."""
    try:
        entity = mime.find_part(view.top, section.part)
    except mime.NoSuchPart:
        return b"", False
    if not section.part:
        return view.raw, False
    cte = (entity.get("content-transfer-encoding") or "").strip().lower()
    if cte not in KNOWN_CTE:
        raise UnknownCte(f"Unknown Content-Transfer-Encoding {cte[:40]!r}")
    return mime.decode_transfer(entity), cte in ("base64", "binary")


@dataclass(frozen=True)
class Binary(FileItem):
    """BINARY[part]<partial> and BINARY.PEEK (RFC 3516 4.2)."""

    section: Section
    peek: bool = False
    partial: tuple[int, int] | None = None

    @property
    def sets_seen(self) -> bool:
        return not self.peek

    @property
    def parses(self) -> bool:
        return bool(self.section.part)

    def render(self, view: FileView) -> bytes:
        whole, binary = _decoded_kind(view, self.section)
        data = mime.partial(whole, self.partial)
        # RFC 3516 4.2: literal8 where the data may be binary: a base64 or
        # binary part, or any NUL (as Dovecot)
        tilde = b"~" if binary or b"\x00" in data else b""
        prefix = f"BINARY[{self.section.render()}]{_origin(self.partial)} "
        return _literal(prefix.encode() + tilde, data)


@dataclass(frozen=True)
class BinarySize(FileItem):
    """BINARY.SIZE[part] (RFC 3516 4.2): the decoded size."""

    section: Section

    @property
    def parses(self) -> bool:
        return bool(self.section.part)

    def render(self, view: FileView) -> bytes:
        size = len(_decoded_kind(view, self.section)[0])
        return f"BINARY.SIZE[{self.section.render()}] {size}".encode()


@dataclass(frozen=True)
class Rfc822(FileItem):
    """RFC822: BODY[] that sets ``\\Seen`` (RFC 3501 6.4.5)."""

    @property
    def sets_seen(self) -> bool:
        return True

    def render(self, view: FileView) -> bytes:
        return _literal(b"RFC822 ", view.raw)


@dataclass(frozen=True)
class Rfc822Header(FileItem):
    def render(self, view: FileView) -> bytes:
        return _literal(b"RFC822.HEADER ", split_header(view.raw)[0])


@dataclass(frozen=True)
class Rfc822Text(FileItem):
    @property
    def sets_seen(self) -> bool:
        return True

    def render(self, view: FileView) -> bytes:
        return _literal(b"RFC822.TEXT ", split_header(view.raw)[1])


# -- the response ----------------------------------------------------------------
def downloads(items: Sequence[FetchItem]) -> bool:
    """Does a FETCH with these items hand the client the message itself (its
    whole text, from the start)? Counted as a message read, as POP3's RETR."""
    for i in items:
        if isinstance(i, Rfc822 | Rfc822Text):
            return True
        if isinstance(i, BodySection | Binary):
            whole = not i.section.part and i.section.text in ("", "TEXT")
            if whole and (i.partial is None or i.partial[0] == 0):
                return True
    return False


def light(items: Sequence[FetchItem], views: Sequence[IndexView], meta: bool) -> bool:
    """Can these views be rendered without a MIME parse (the whole message,
    its header or text, cached metadata)? ``meta`` as for ``render_batch``."""
    if any(i.parses for i in items):
        return False
    if not meta and all(i.need is not Need.META for i in items):
        return True
    return all(v.has_meta for v in views if isinstance(v, FileView))


def plan(items: Sequence[FetchItem]) -> tuple[Need, bool]:
    """What to load for every message: the greatest need, and whether the
    metadata is wanted (a header section takes it from the file instead when
    the file is read anyway)."""
    need = max((i.need for i in items), default=Need.INDEX)
    meta = any(
        i.need is Need.META and not (need is Need.FILE and isinstance(i, HeaderSection))
        for i in items
    )
    return need, meta


def render(
    items: Sequence[FetchItem], view: IndexView, lead: Sequence[FetchItem] = ()
) -> bytes:
    """One ``* n FETCH (...)`` response. ``lead``: items not asked for that
    go first: FLAGS when FETCH set ``\\Seen`` implicitly (RFC 3501 6.4.5),
    and MODSEQ then too with CONDSTORE on (RFC 7162 3.1.4.2)."""
    parts = [item.render_for(view) for item in (*lead, *items)]
    return b"".join((b"* %d FETCH (" % view.seq, b" ".join(parts), b")\r\n"))


def render_batch(
    items: Sequence[FetchItem],
    jobs: Sequence[tuple[IndexView, Sequence[FetchItem]]],
    meta: bool,
) -> list[tuple[IndexView, bytes, MessageMeta | None]]:
    """The responses of a batch, and the metadata parsed on the way (for the
    cache). Pure: called in a worker thread when files were read. ``meta``:
    the plan wants metadata, so it is made (and cached) even when an item
    could do without it."""
    out: list[tuple[IndexView, bytes, MessageMeta | None]] = []
    for view, lead in jobs:
        line = render(items, view, lead)
        fresh = None
        if isinstance(view, FileView):
            if meta:
                view.meta  # noqa: B018 - made here, off the loop, for the cache
            fresh = view.fresh
        out.append((view, line, fresh))
    return out
