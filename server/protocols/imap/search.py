"""SEARCH evaluation (RFC 3501 section 6.4.4). Pure: a parsed key tree is
matched against one message at a time through ``MessageView``.

``needs(key)`` tells the session how much of the message the program looks at
("meta": flags, size, dates and numbers only; "header"; "full"), so a search on
flags never opens a message file and a header search can use the cached header.
String matching is case-insensitive substring matching on decoded text (RFC 2047
in headers, transfer and charset decoding in bodies), as the RFC suggests. The
address keys (FROM, TO, CC, BCC) match the parsed addresses, as the ENVELOPE
shows them, not the raw header: comments and folding inside an address do not
hide it (as Dovecot).
Dates compare by day, disregarding time and zone; INTERNALDATE is taken in UTC.
"""

from __future__ import annotations

import codecs
import time
from dataclasses import dataclass

from . import mime
from .grammar import SeqSet
from .searchparse import FLAG_SEARCH_KEYS, SearchKey

SUPPORTED_CHARSETS = ("US-ASCII", "UTF-8")

# Keys answered from the index alone (flags, dates, sizes, sets): no file read.
_META = FLAG_SEARCH_KEYS | frozenset(
    {
        "BEFORE",
        "ON",
        "SINCE",
        "KEYWORD",
        "UNKEYWORD",
        "LARGER",
        "SMALLER",
        "UID",
        "SEQ",
    }
)
_HEADER = frozenset(
    {
        "BCC",
        "CC",
        "FROM",
        "SUBJECT",
        "TO",
        "HEADER",
        "SENTBEFORE",
        "SENTON",
        "SENTSINCE",
    }
)
_RANK = {"meta": 0, "header": 1, "full": 2}


def needs(key: SearchKey) -> str:
    if key.op in ("AND", "OR", "NOT"):
        best = "meta"
        for sub in key.args:
            n = needs(sub)
            if _RANK[n] > _RANK[best]:
                best = n
        return best
    if key.op in _META:
        return "meta"
    if key.op in _HEADER:
        return "header"
    return "full"


@dataclass
class MessageView:
    seq: int
    uid: int
    flags: frozenset[str]
    recent: bool
    size: int
    internal_date: float
    largest_seq: int
    largest_uid: int
    part: mime.Part | None = None  # header-only or full, per ``needs``
    _text: str | None = None

    def body(self) -> str:
        if self._text is None:
            self._text = mime.body_text(self.part) if self.part is not None else ""
        return self._text


def _day(stamp: float) -> tuple[int, int, int]:
    t = time.gmtime(stamp)
    return (t.tm_year, t.tm_mon, t.tm_mday)


def _contains(haystack: str, needle: str) -> bool:
    return needle.casefold() in haystack.casefold()


def _raw_header_values(view: MessageView, name: str) -> list[str]:
    if view.part is None:
        return []
    lname = name.lower()
    return [v for k, v in view.part.fields if k == lname]


def _header_values(view: MessageView, name: str) -> list[str]:
    return [mime.decode_words(v) for v in _raw_header_values(view, name)]


def address_text(value: str) -> str:
    """An address header as the envelope structure has it (RFC 3501 6.4.4:
    FROM/TO/CC/BCC match "the envelope structure's" field): each address as
    ``name <mailbox@host>``, comments and folding white space gone, names
    decoded (RFC 2047), joined with ", " as Dovecot writes them for SEARCH.
    ``<user (c)@ (c) example.org>`` is ``user@example.org`` here."""
    out: list[str] = []
    for name, _adl, mailbox, host in mime.parse_addresses(value):
        if mailbox is None:
            continue  # end of a group
        if host is None:  # start of a group: its display name
            out.append(mime.decode_words(mailbox) + ":")
            continue
        if host == "MISSING_DOMAIN":  # no "@": a bare word, maybe encoded
            spec = mime.decode_words(mailbox)
        else:
            spec = f"{mailbox}@{host}"
        out.append(f"{mime.decode_words(name)} <{spec}>" if name else spec)
    return ", ".join(out)


def matches(key: SearchKey, view: MessageView, charset: str = "UTF-8") -> bool:
    op = key.op
    a = key.args
    f = view.flags
    if op == "AND":
        return all(matches(k, view, charset) for k in a)
    if op == "OR":
        return matches(a[0], view, charset) or matches(a[1], view, charset)
    if op == "NOT":
        return not matches(a[0], view, charset)
    if op == "ALL":
        return True
    if op == "SEQ":
        seqset: SeqSet = a[0]
        return seqset.contains(view.seq, view.largest_seq)
    if op == "UID":
        uidset: SeqSet = a[0]
        return uidset.contains(view.uid, view.largest_uid)
    simple = {
        "ANSWERED": "\\Answered" in f,
        "DELETED": "\\Deleted" in f,
        "DRAFT": "\\Draft" in f,
        "FLAGGED": "\\Flagged" in f,
        "SEEN": "\\Seen" in f,
        "UNANSWERED": "\\Answered" not in f,
        "UNDELETED": "\\Deleted" not in f,
        "UNDRAFT": "\\Draft" not in f,
        "UNFLAGGED": "\\Flagged" not in f,
        "UNSEEN": "\\Seen" not in f,
        "RECENT": view.recent,
        "OLD": not view.recent,
        "NEW": view.recent and "\\Seen" not in f,
    }
    if op in simple:
        return simple[op]
    if op == "KEYWORD":
        return a[0] in f
    if op == "UNKEYWORD":
        return a[0] not in f
    if op == "LARGER":
        return view.size > int(a[0])
    if op == "SMALLER":
        return view.size < int(a[0])
    if op in ("BEFORE", "ON", "SINCE"):
        return _cmp_day(op, _day(view.internal_date), a[0])
    if op in ("SENTBEFORE", "SENTON", "SENTSINCE"):
        sent = mime.sent_date(view.part) if view.part is not None else None
        if sent is None:  # no usable Date: header, nothing to compare (Dovecot)
            return False
        return _cmp_day(op[4:], sent, a[0])
    text = _decode(a[-1], charset)
    if op in ("BCC", "CC", "FROM", "TO"):
        return any(
            _contains(address_text(v), text) for v in _raw_header_values(view, op)
        )
    if op == "SUBJECT":
        return any(_contains(v, text) for v in _header_values(view, op))
    if op == "HEADER":
        values = _header_values(view, a[0])
        if not text:
            return bool(values)
        return any(_contains(v, text) for v in values)
    if op == "BODY":
        return _contains(view.body(), text)
    if op == "TEXT":
        if view.part is not None and _contains(
            mime.decode_words(view.part.header.decode("utf-8", "replace")), text
        ):
            return True
        return _contains(view.body(), text)
    return False


def _cmp_day(op: str, day: tuple[int, int, int], want: tuple[int, int, int]) -> bool:
    if op == "BEFORE":
        return day < want
    if op == "ON":
        return day == want
    return day >= want


def charset_known(charset: str) -> bool:
    """RFC 3501 6.4.4: US-ASCII and UTF-8 are required; any charset Python
    knows is taken too (Dovecot does the same through iconv)."""
    try:
        codecs.lookup(charset)
    except LookupError:
        return False
    return True


def _decode(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset, "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")
