"""Rendering of IMAP responses (RFC 3501 section 7 and 9). FETCH data items
render themselves (fetchitems.py); LIST lines are built in listing.py.

Values render to bytes here and nowhere else, so quoting is decided in one
place: a string goes out as an atom only where the grammar allows (``astring``
for mailbox names), as a quoted string when it is short 7-bit text without CR,
LF or NUL, and as a literal otherwise (8-bit data, line breaks, long values).
``NIL`` is the Python ``None``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from . import mutf7
from .grammar import MONTH_NAMES
from .utf8mode import UTF8_ACCEPT

_ASTRING_SAFE = frozenset(
    b"!#$&'+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz|}~"
)
_QUOTED_MAX = 1024
_NEEDS_LITERAL = re.compile(rb"[\x00\r\n\x7f-\xff]")


class Literal(bytes):
    """Bytes that must go out as a literal."""


def string(value: bytes | str | None) -> bytes:
    """``nstring``: NIL, a quoted string or a literal."""
    if value is None:
        return b"NIL"
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    if (
        isinstance(value, Literal)
        or len(raw) > _QUOTED_MAX
        or _NEEDS_LITERAL.search(raw) is not None
    ):
        return literal(raw)
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def literal(raw: bytes) -> bytes:
    return b"{%d}\r\n" % len(raw) + raw


def astring(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogateescape")
    if raw and all(c in _ASTRING_SAFE for c in raw) and raw.upper() != b"NIL":
        return raw
    return string(raw)


def mailbox(name: str) -> bytes:
    """A mailbox name on the wire: modified UTF-7, quoted when needed;
    UTF-8 once the session enabled UTF8=ACCEPT (RFC 6855 3)."""
    if UTF8_ACCEPT.get():
        raw = name.encode("utf-8", "surrogateescape")
        if raw.isascii() or any(c in raw for c in b"\r\n\x00"):
            return astring(name)
        # RFC 6855 3: a quoted string may carry UTF-8 (as Dovecot sends it)
        return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    wire = "INBOX" if name == "INBOX" else mutf7.encode(name)
    return astring(wire)


def flag_list(flags: Iterable[str]) -> bytes:
    return b"(" + " ".join(flags).encode("ascii", "replace") + b")"


def sort_flags(flags: Iterable[str]) -> list[str]:
    return sorted(flags, key=lambda f: (not f.startswith("\\"), f))


def internal_date(stamp: float) -> bytes:
    """``date-time`` (RFC 3501 9): "dd-Mon-yyyy hh:mm:ss +zzzz", in UTC.

    The day is zero-padded (``2DIGIT``, one of the two forms of
    ``date-day-fixed``), as Dovecot and Cyrus send it: lax client parsers
    split on spaces and stumble over the space-padded form.
    """
    t = time.gmtime(stamp)
    return (
        f'"{t.tm_mday:02d}-{MONTH_NAMES[t.tm_mon - 1]}-{t.tm_year:04d} '
        f'{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"'
    ).encode("ascii")


def paren(items: Sequence[bytes]) -> bytes:
    return b"(" + b" ".join(items) + b")"


@dataclass(frozen=True)
class Status:
    """A tagged or untagged status response: OK / NO / BAD / BYE / PREAUTH."""

    tag: str
    kind: str
    text: str
    code: str = ""

    def render(self) -> bytes:
        code = f"[{self.code}] " if self.code else ""
        text = self.text.replace("\r", " ").replace("\n", " ")
        return f"{self.tag} {self.kind} {code}{text}\r\n".encode("utf-8", "replace")


def untagged(text: str | bytes) -> bytes:
    if isinstance(text, str):
        text = text.encode("utf-8", "replace")
    return b"* " + text + b"\r\n"


def uid_set(nums: Iterable[int]) -> str:
    """Numbers as sequence-set text, in the order given, runs joined (RFC
    4315 uid-set: COPYUID pairs its two sets by position)."""
    out: list[str] = []
    start = prev = None
    for n in nums:
        if start is None:
            start = prev = n
        elif prev is not None and n == prev + 1:
            prev = n
        else:
            out.append(str(start) if start == prev else f"{start}:{prev}")
            start = prev = n
    if start is not None:
        out.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(out)


def esearch(
    tag: str,
    uid: bool,
    returns: Sequence[str],
    found: list[int],
    modseq: int | None = None,
    partial: tuple[int, int] | None = None,
) -> bytes:
    """RFC 4731 ESEARCH response; no RETURN option means ALL (3.1)."""
    return esort(tag, uid, returns, sorted(found), modseq, partial)


def esort(
    tag: str,
    uid: bool,
    returns: Sequence[str],
    ordered: list[int],
    modseq: int | None = None,
    partial: tuple[int, int] | None = None,
) -> bytes:
    """RFC 5267 ESORT (and ESEARCH, whose order is ascending): MIN and MAX
    are the first and last in that order, ALL keeps it (a run joins only
    ascending neighbours), PARTIAL the results at those positions (4.4).
    CONTEXT is a hint and UPDATE asks for later changes: neither is data,
    and CONTEXT alone counts as no option (ALL), as Dovecot reads it.
    ``modseq``: RFC 7162 3.1.5's MODSEQ, last."""
    opts = set(returns) - {"CONTEXT"} or {"ALL"}
    out = [f'ESEARCH (TAG "{tag}")'] + (["UID"] if uid else [])
    if ordered:
        if "MIN" in opts:
            out.append(f"MIN {ordered[0]}")
        if "MAX" in opts:
            out.append(f"MAX {ordered[-1]}")
        if "ALL" in opts:
            out.append(f"ALL {uid_set(ordered)}")
    if "PARTIAL" in opts and partial is not None:
        low, high = partial
        window = ordered[low - 1 : high]
        out.append(f"PARTIAL ({low}:{high} {uid_set(window) if window else 'NIL'})")
    if "COUNT" in opts:
        out.append(f"COUNT {len(ordered)}")
    if modseq is not None:
        out.append(f"MODSEQ {modseq}")
    return untagged(" ".join(out))


def search(
    found: Iterable[int], modseq: int | None = None, verb: str = "SEARCH"
) -> bytes:
    """RFC 3501 7.2.5 SEARCH response (or RFC 5256 SORT's); ``modseq``: RFC
    7162 3.1.5's ``(MODSEQ n)`` after the numbers."""
    tail = f" (MODSEQ {modseq})" if modseq is not None else ""
    return untagged(verb + "".join(f" {n}" for n in found) + tail)


def fetch_flags(
    seq: int,
    uid: int | None,
    flags: Iterable[str] | None,
    modseq: int | None = None,
) -> bytes:
    """``* n FETCH ([UID u ][MODSEQ (m) ]FLAGS (...))``: a STORE's answer
    (RFC 3501 6.4.6) or a flag change announced; with CONDSTORE on, the
    mod-sequence (RFC 7162 3.1.3), and only that for STORE .SILENT
    (``flags`` None)."""
    parts = []
    if uid is not None:
        parts.append(f"UID {uid}".encode())
    if modseq is not None:
        parts.append(f"MODSEQ ({modseq})".encode())
    if flags is not None:
        parts.append(b"FLAGS " + flag_list(flags))
    return f"* {seq} FETCH (".encode() + b" ".join(parts) + b")\r\n"


def vanished(ranges: Iterable[tuple[int, int]], earlier: bool) -> list[bytes]:
    """RFC 7162 3.2.10 VANISHED responses for UID runs, in lines of at most
    ``VANISHED_PER_LINE`` runs (RFC 2683 3.2.1.5, as 7162 updates it: keep
    lines reasonably short)."""
    text = [str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in ranges]
    head = "VANISHED (EARLIER) " if earlier else "VANISHED "
    return [
        untagged(head + ",".join(text[i : i + VANISHED_PER_LINE]))
        for i in range(0, len(text), VANISHED_PER_LINE)
    ]


VANISHED_PER_LINE = 500


def _merged(runs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(runs):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out


def intersect(
    a: Iterable[tuple[int, int]], b: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The numbers in both lists of (first, last) runs, as ascending runs
    (one pass over both, sorted and merged first)."""
    xs, ys = _merged(a), _merged(b)
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        start = max(xs[i][0], ys[j][0])
        end = min(xs[i][1], ys[j][1])
        if start <= end:
            out.append((start, end))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out
