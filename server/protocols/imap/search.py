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
from collections.abc import Callable
from dataclasses import dataclass

from . import mime
from .fetchitems import email_id
from .grammar import SeqSet
from .searchparse import FLAG_SEARCH_KEYS, SearchKey

SUPPORTED_CHARSETS = ("US-ASCII", "UTF-8")

# Keys answered from the index alone (flags, dates, sizes, sets): no file read.
_META = FLAG_SEARCH_KEYS | frozenset(
    {
        "BEFORE",
        "ON",
        "SINCE",
        "SAVEDBEFORE",
        "SAVEDON",
        "SAVEDSINCE",
        "KEYWORD",
        "UNKEYWORD",
        "LARGER",
        "SMALLER",
        "OLDER",
        "YOUNGER",
        "UID",
        "SEQ",
        "MODSEQ",
        "THREADID",
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


SAVE_DATE_KEYS = frozenset({"SAVEDBEFORE", "SAVEDON", "SAVEDSINCE"})  # RFC 8514


def uses_save_date(key: SearchKey) -> bool:
    """Whether ``key`` compares save dates (the views need ``saved`` then)."""
    if key.op in SAVE_DATE_KEYS:
        return True
    return key.op in ("AND", "OR", "NOT") and any(uses_save_date(k) for k in key.args)


def matches_all(key: SearchKey) -> bool:
    """Whether ``key`` is ``ALL`` alone (every message, nothing to look at)."""
    return key.op == "ALL" or (key.op == "AND" and all(map(matches_all, key.args)))


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
    saved: float = 0.0  # the save date (RFC 8514)
    modseq: int = 0  # RFC 7162
    raw: bytes | None = None  # the whole message, for a "full" search
    _text: list[str] | None = None

    def body(self) -> list[str]:
        """The text of the body in pieces (``mime.body_text``)."""
        if self._text is None:
            self._text = mime.body_text(self.part) if self.part is not None else []
        return self._text


# SEARCH BODY/TEXT casefolds the text this many characters at a time
FOLD_WINDOW = 1024 * 1024


def folded_contains(pieces: list[str], needle: str) -> bool:
    """Whether ``needle`` (casefolded already) is in the casefolded
    concatenation of ``pieces``, folded and searched a window at a time with
    an overlap of ``len(needle) - 1`` characters: ``casefold`` maps each
    character on its own, so the windows' folds add up to the whole's, and a
    ``casefold`` of 20 MB at once held the interpreter lock (every thread, the
    loop's included) for up to 65 ms."""
    if not needle:
        return True
    keep = len(needle) - 1
    tail = ""
    for piece in pieces:
        for i in range(0, len(piece), FOLD_WINDOW):
            window = tail + piece[i : i + FOLD_WINDOW].casefold()
            if needle in window:
                return True
            tail = window[max(0, len(window) - keep) :] if keep else ""
    return False


def _day(stamp: float) -> tuple[int, int, int]:
    t = time.gmtime(stamp)
    return (t.tm_year, t.tm_mon, t.tm_mday)


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


Predicate = Callable[[MessageView], bool]

_FLAG_KEYS: dict[str, tuple[str, bool]] = {
    "ANSWERED": ("\\Answered", True),
    "DELETED": ("\\Deleted", True),
    "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True),
    "SEEN": ("\\Seen", True),
    "UNANSWERED": ("\\Answered", False),
    "UNDELETED": ("\\Deleted", False),
    "UNDRAFT": ("\\Draft", False),
    "UNFLAGGED": ("\\Flagged", False),
    "UNSEEN": ("\\Seen", False),
}


def matches(key: SearchKey, view: MessageView, charset: str = "UTF-8") -> bool:
    return compile_key(key, charset)(view)


def compile_key(key: SearchKey, charset: str = "UTF-8") -> Predicate:
    """The search program as a predicate: the key tree is walked and the
    search strings decoded and case-folded once, not once per message."""
    op = key.op
    a = key.args
    if op in ("AND", "OR", "NOT"):
        subs = [compile_key(k, charset) for k in a]
        if op == "AND":
            return lambda v: all(p(v) for p in subs)
        if op == "OR":
            first, second = subs
            return lambda v: first(v) or second(v)
        only = subs[0]
        return lambda v: not only(v)
    if op in ("ALL", "SAVEDATESUPPORTED"):
        return lambda v: True
    if op == "SEQ":
        seqset: SeqSet = a[0]
        return lambda v: seqset.contains(v.seq, v.largest_seq)
    if op == "UID":
        uidset: SeqSet = a[0]
        return lambda v: uidset.contains(v.uid, v.largest_uid)
    if op in _FLAG_KEYS:
        flag, present = _FLAG_KEYS[op]
        return lambda v: (flag in v.flags) is present
    if op == "RECENT":
        return lambda v: v.recent
    if op == "OLD":
        return lambda v: not v.recent
    if op == "NEW":
        return lambda v: v.recent and "\\Seen" not in v.flags
    if op == "KEYWORD":
        return lambda v: a[0] in v.flags
    if op == "UNKEYWORD":
        return lambda v: a[0] not in v.flags
    if op == "EMAILID":  # RFC 8474 6: a hash of the whole message
        wanted = str(a[0])
        return lambda v: v.raw is not None and email_id(v.raw) == wanted
    if op == "THREADID":  # no message has one (THREADID NIL)
        return lambda v: False
    if op == "MODSEQ":  # RFC 7162 3.1.5: changed at or after
        floor = int(a[0])
        return lambda v: v.modseq >= floor
    if op in ("LARGER", "SMALLER"):
        n = int(a[0])
        if op == "LARGER":
            return lambda v: v.size > n
        return lambda v: v.size < n
    if op in ("BEFORE", "ON", "SINCE"):
        return lambda v: _cmp_day(op, _day(v.internal_date), a[0])
    if op in SAVE_DATE_KEYS:
        return lambda v: _cmp_day(op[5:], _day(v.saved), a[0])
    if op in ("OLDER", "YOUNGER"):  # RFC 5032: now minus the interval
        edge = time.time() - int(a[0])
        if op == "OLDER":
            return lambda v: v.internal_date <= edge
        return lambda v: v.internal_date > edge
    if op in ("SENTBEFORE", "SENTON", "SENTSINCE"):

        def sent(v: MessageView) -> bool:
            day = mime.sent_date(v.part) if v.part is not None else None
            # no usable Date: header, nothing to compare (Dovecot)
            return day is not None and _cmp_day(op[4:], day, a[0])

        return sent
    text = _decode(a[-1], charset).casefold()
    if op in ("BCC", "CC", "FROM", "TO"):
        return lambda v: any(
            text in address_text(x).casefold() for x in _raw_header_values(v, op)
        )
    if op == "SUBJECT":
        return lambda v: any(text in x.casefold() for x in _header_values(v, op))
    if op == "HEADER":
        name = a[0]
        if not text:
            return lambda v: bool(_raw_header_values(v, name))
        return lambda v: any(text in x.casefold() for x in _header_values(v, name))
    if op == "BODY":
        return lambda v: folded_contains(v.body(), text)
    if op == "TEXT":

        def anywhere(v: MessageView) -> bool:
            if v.part is not None:
                head = mime.decode_words(v.part.header.decode("utf-8", "replace"))
                if text in head.casefold():
                    return True
            return folded_contains(v.body(), text)

        return anywhere
    return lambda v: False


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
