"""Rendering of IMAP responses (RFC 3501 section 7 and 9).

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
    """A mailbox name on the wire: modified UTF-7, quoted when needed."""
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
