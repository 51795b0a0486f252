"""SEARCH keys (RFC 3501 6.4.4): the search program as a tree of ``SearchKey``.

Pure grammar, like parser.py: ``search_key`` reads one key (and what it
nests) from a ``grammar.Reader``. search.py evaluates the tree; parser.py
reads the rest of a SEARCH command (RETURN options, CHARSET).

Limits: ``MAX_DEPTH`` levels of parentheses, NOT and OR (the recursion
stays far from Python's stack limit whatever a client sends).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .grammar import ParseError, Reader

# Nesting of ( ), NOT and OR in one search program.
MAX_DEPTH = 50


@dataclass(frozen=True)
class SearchKey:
    """One node of a search program. ``op`` is the upper-case key name, or
    AND / OR / NOT / SEQ; ``args`` depend on the key."""

    op: str
    args: tuple[Any, ...] = ()


FLAG_SEARCH_KEYS = frozenset(
    {
        "ALL",
        "SAVEDATESUPPORTED",  # RFC 8514: every mailbox here has save dates
        "ANSWERED",
        "DELETED",
        "DRAFT",
        "FLAGGED",
        "NEW",
        "OLD",
        "RECENT",
        "SEEN",
        "UNANSWERED",
        "UNDELETED",
        "UNDRAFT",
        "UNFLAGGED",
        "UNSEEN",
    }
)
_STRING_KEYS = frozenset({"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"})
_DATE_KEYS = frozenset(
    {
        "BEFORE",
        "ON",
        "SINCE",
        "SENTBEFORE",
        "SENTON",
        "SENTSINCE",
        "SAVEDBEFORE",  # RFC 8514 SAVEDATE
        "SAVEDON",
        "SAVEDSINCE",
    }
)


# RFC 4731 3.1 return options and SAVE (RFC 5182 SEARCHRES). (RFC 7162's
# MODSEQ is not a RETURN option: it is returned when the program has the
# MODSEQ key.)
# RFC 5267 CONTEXT=SEARCH adds UPDATE, CONTEXT (a hint) and PARTIAL.
ESEARCH_RETURNS = frozenset(
    {"MIN", "MAX", "ALL", "COUNT", "SAVE", "UPDATE", "CONTEXT", "PARTIAL"}
)
# RFC 8474 7: objectid = 1*255(ALPHA / DIGIT / "_" / "-")
_OBJECTID_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
)
# RFC 7162 3.1.5: the entry types of MODSEQ's optional metadata entry
MODSEQ_ENTRY_TYPES = frozenset({"PRIV", "SHARED", "ALL"})


def search_key(r: Reader, depth: int = 0) -> SearchKey:
    """One search key, and the keys it nests."""
    if depth > MAX_DEPTH:
        raise ParseError("search program nested too deeply")
    c = r.peek()
    if c == 0x28:
        r.expect(b"(")
        keys = [search_key(r, depth + 1)]
        while not r.maybe(b")"):
            r.sp()
            keys.append(search_key(r, depth + 1))
        return keys[0] if len(keys) == 1 else SearchKey("AND", tuple(keys))
    if c == 0x2A or c == 0x24 or 0x30 <= c <= 0x39:  # "*", "$" (RFC 5182), digits
        return SearchKey("SEQ", (r.seq_set(),))
    word = r.word()
    if word in FLAG_SEARCH_KEYS:
        return SearchKey(word)
    if word in _STRING_KEYS:
        r.sp()
        return SearchKey(word, (r.astring(),))
    if word in _DATE_KEYS:
        r.sp()
        return SearchKey(word, (r.date(),))
    if word == "HEADER":
        r.sp()
        name = r.astring()
        r.sp()
        return SearchKey(word, (name.decode("ascii", "replace"), r.astring()))
    if word in ("KEYWORD", "UNKEYWORD"):
        r.sp()
        return SearchKey(word, (r.flag(),))
    if word in ("LARGER", "SMALLER"):
        r.sp()
        return SearchKey(word, (r.number(),))
    if word in ("OLDER", "YOUNGER"):  # RFC 5032 WITHIN: seconds, not zero
        r.sp()
        seconds = r.number()
        if seconds == 0:
            raise ParseError(f"{word} needs a number of seconds above zero")
        return SearchKey(word, (seconds,))
    if word == "NOT":
        r.sp()
        return SearchKey("NOT", (search_key(r, depth + 1),))
    if word == "OR":
        r.sp()
        k1 = search_key(r, depth + 1)
        r.sp()
        return SearchKey("OR", (k1, search_key(r, depth + 1)))
    if word == "UID":
        r.sp()
        return SearchKey("UID", (r.seq_set(),))
    if word in ("EMAILID", "THREADID"):  # RFC 8474 6: objectid
        r.sp()
        oid = r.atom()
        if len(oid) > 255 or not set(oid) <= _OBJECTID_CHARS:
            raise ParseError(f"bad {word} value")
        return SearchKey(word, (oid,))
    if word == "MODSEQ":  # RFC 7162 3.1.5: [entry-name entry-type] modseq
        r.sp()
        if r.peek() == 0x22:
            entry = r.quoted()
            if not entry.startswith(b"/flags/"):
                raise ParseError("MODSEQ entry name must be /flags/<flag>")
            r.sp()
            if r.word() not in MODSEQ_ENTRY_TYPES:
                raise ParseError("MODSEQ entry type must be priv, shared or all")
            r.sp()
        return SearchKey("MODSEQ", (r.number64(),))
    raise ParseError(f"unknown search key {word}")


def uses_modseq(key: SearchKey) -> bool:
    """Does the program have the MODSEQ key (RFC 7162 3.1.5: the answer
    then carries the highest mod-sequence of what it found)?"""
    if key.op in ("AND", "OR", "NOT"):
        return any(uses_modseq(k) for k in key.args)
    return key.op == "MODSEQ"
