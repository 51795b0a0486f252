"""The IMAP4rev1 grammar's tokens (RFC 3501 section 9): a pure cursor over
the bytes of one complete command (its lines and literals joined).

``Reader`` reads atoms, strings (quoted or literal), numbers, sequence sets,
flags, mailbox names and dates, and raises ``ParseError`` at the first octet
that does not fit. It never waits for data: a literal shorter than announced
is a syntax error here, because the connection has already read every
literal the command announced (connection.py). The command grammar built on
these tokens is in parser.py, fetch attributes in fetchitems.py and search
keys in searchparse.py.

Limits: numbers of at most 20 digits (``number32`` for the 32-bit ones of RFC
3501 9: sequence numbers, partial offsets); literals of at most 19 digits.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

from . import mutf7
from .utf8mode import UTF8_ACCEPT

# RFC 3501 9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
# quoted-specials / resp-specials
_ATOM_SPECIALS = frozenset(b'(){ %*"\\]') | frozenset(range(0x00, 0x20)) | {0x7F}
_ATOM_CHARS = frozenset(range(0x21, 0x7F)) - _ATOM_SPECIALS
_ASTRING_CHARS = _ATOM_CHARS | {ord("]")}
_LIST_CHARS = _ASTRING_CHARS | {ord("%"), ord("*")}
_TAG_CHARS = _ASTRING_CHARS - {ord("+")}

# RFC 3501 9 date-time; a one-digit day without its space is taken too (lax
# clients; Dovecot does the same)
_DATE_TIME = re.compile(
    rb"( ?\d|\d\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"
)
_LITERAL_AT_END = re.compile(rb"\{(\d{1,19})(\+?)\}\r?\n\Z")
_MONTHS = {
    m: i
    for i, m in enumerate(
        [
            "jan",
            "feb",
            "mar",
            "apr",
            "may",
            "jun",
            "jul",
            "aug",
            "sep",
            "oct",
            "nov",
            "dec",
        ],
        start=1,
    )
}
MONTH_NAMES = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


def literal_request(line: bytes) -> tuple[int, bool] | None:
    """If ``line`` ends with ``{n}`` or ``{n+}`` CRLF: (n, non_synchronizing).

    The connection asks this of every line it reads, to know whether a
    literal follows (RFC 3501 4.3, RFC 7888 LITERAL+)."""
    m = _LITERAL_AT_END.search(line)
    if m is None:
        return None
    return int(m.group(1)), bool(m.group(2))


def split_tag(data: bytes) -> str:
    """The tag of a line, or ``*`` when it has none (for BAD replies)."""
    i = 0
    while i < len(data) and i < 200 and data[i] in _TAG_CHARS:
        i += 1
    if i == 0 or (i < len(data) and data[i] not in b" \r\n"):
        return "*"
    return data[:i].decode("ascii")


class ParseError(Exception):
    """The command does not follow the grammar: answered with BAD."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class SeqSet:
    """A sequence set; ``None`` stands for ``*`` (RFC 3501 9, sequence-set).
    ``saved``: ``$``, the result a SEARCH saved (RFC 5182), which the
    selected mailbox resolves (``ranges`` is empty then)."""

    ranges: tuple[tuple[int | None, int | None], ...]
    saved: bool = False

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """Ranges with ``*`` replaced by ``largest`` and low <= high."""
        out = []
        for lo, hi in self.ranges:
            a = largest if lo is None else lo
            b = largest if hi is None else hi
            out.append((min(a, b), max(a, b)))
        return out

    def contains(self, n: int, largest: int) -> bool:
        return any(a <= n <= b for a, b in self.resolve(largest))

    def explicit_max(self) -> int:
        return max((x for r in self.ranges for x in r if x is not None), default=0)


class Reader:
    """A cursor over one complete command: each method reads one token of the
    RFC 3501 section 9 grammar or raises ``ParseError``."""

    def __init__(self, data: bytes) -> None:
        self.d = data
        self.i = 0

    def peek(self) -> int:
        return self.d[self.i] if self.i < len(self.d) else -1

    def at_end(self) -> bool:
        return self.i >= len(self.d)

    def expect(self, token: bytes) -> None:
        if self.d[self.i : self.i + len(token)] != token:
            want = token.decode("ascii", "replace")
            raise ParseError(f"expected {want!r}")
        self.i += len(token)

    def sp(self) -> None:
        if self.peek() != 0x20:
            raise ParseError("expected a space")
        self.i += 1

    def maybe(self, token: bytes) -> bool:
        if self.d[self.i : self.i + len(token)] == token:
            self.i += len(token)
            return True
        return False

    def maybe_ci(self, word: str) -> bool:
        w = word.encode("ascii")
        if self.d[self.i : self.i + len(w)].upper() == w:
            self.i += len(w)
            return True
        return False

    def end(self) -> None:
        if not self.at_end():
            raise ParseError("unexpected characters after the command")

    def chars(self, allowed: frozenset[int]) -> bytes:
        start = self.i
        d = self.d
        n = len(d)
        while self.i < n and d[self.i] in allowed:
            self.i += 1
        return d[start : self.i]

    def atom(self) -> str:
        raw = self.chars(_ATOM_CHARS)
        if not raw:
            raise ParseError("expected an atom")
        return raw.decode("ascii")

    def quoted(self) -> bytes:
        self.expect(b'"')
        out = bytearray()
        d = self.d
        while True:
            if self.i >= len(d):
                raise ParseError("unterminated quoted string")
            c = d[self.i]
            self.i += 1
            if c == 0x22:
                return bytes(out)
            if c == 0x5C:
                if self.i >= len(d) or d[self.i] not in (0x22, 0x5C):
                    raise ParseError("bad escape in quoted string")
                out.append(d[self.i])
                self.i += 1
            elif c in (0x0D, 0x0A, 0x00):
                raise ParseError("CR, LF or NUL in quoted string")
            else:
                out.append(c)

    def literal(self) -> bytes:
        self.maybe(b"~")  # literal8 (RFC 3516) is read the same way
        self.expect(b"{")
        digits = self.chars(frozenset(b"0123456789"))
        if not digits or len(digits) > 19:
            raise ParseError("bad literal length")
        self.maybe(b"+")
        self.expect(b"}\r\n")
        n = int(digits)
        if self.i + n > len(self.d):
            raise ParseError("literal is shorter than announced")
        out = self.d[self.i : self.i + n]
        self.i += n
        return out

    def string(self) -> bytes:
        c = self.peek()
        if c == 0x22:
            return self.quoted()
        if c in (0x7B, 0x7E):
            return self.literal()
        raise ParseError("expected a string")

    def astring(self) -> bytes:
        c = self.peek()
        if c in (0x22, 0x7B):
            return self.string()
        raw = self.chars(_ASTRING_CHARS)
        if not raw:
            raise ParseError("expected a string or atom")
        return raw

    def nstring_or_nil(self) -> bytes | None:
        if self.peek() in (0x22, 0x7B):
            return self.string()
        if self.maybe_ci("NIL"):
            return None
        raise ParseError("expected a string or NIL")

    def number(self) -> int:
        digits = self.chars(frozenset(b"0123456789"))
        if not digits or len(digits) > 20:
            raise ParseError("expected a number")
        return int(digits)

    def nz_number(self) -> int:
        n = self.number()
        if n == 0:
            raise ParseError("zero is not allowed here")
        return n

    def number32(self) -> int:
        n = self.number()
        if n > 0xFFFFFFFF:
            raise ParseError("number out of range")
        return n

    def number64(self) -> int:
        """RFC 7162 mod-sequence-valzer: 0 to 2^63 - 1."""
        n = self.number()
        if n > 0x7FFFFFFFFFFFFFFF:
            raise ParseError("mod-sequence out of range")
        return n

    def seq_number(self) -> int | None:
        if self.maybe(b"*"):
            return None
        n = self.number32()
        if n == 0:
            raise ParseError("sequence number zero is not allowed")
        return n

    def seq_set(self) -> SeqSet:
        if self.maybe(b"$"):  # RFC 5182 SEARCHRES: the saved search result
            return SeqSet((), saved=True)
        ranges: list[tuple[int | None, int | None]] = []
        while True:
            a = self.seq_number()
            b = a
            if self.maybe(b":"):
                b = self.seq_number()
            ranges.append((a, b))
            if not self.maybe(b","):
                break
        return SeqSet(tuple(ranges))

    def flag(self) -> str:
        if self.maybe(b"\\"):
            if self.maybe(b"*"):
                return "\\*"
            name = self.atom()
            return "\\" + name.capitalize()
        return self.atom()

    def flag_list(self) -> list[str]:
        self.expect(b"(")
        flags: list[str] = []
        if self.maybe(b")"):
            return flags
        while True:
            flags.append(self.flag())
            if self.maybe(b")"):
                return flags
            self.sp()

    def mailbox(self) -> str:
        return decode_mailbox(self.astring())

    def list_mailbox(self) -> str:
        c = self.peek()
        if c in (0x22, 0x7B):
            raw = self.string()
        else:
            raw = self.chars(_LIST_CHARS)
            if not raw:
                raise ParseError("expected a mailbox pattern")
        if UTF8_ACCEPT.get():  # RFC 6855: UTF-8, matched as the names are
            try:
                return mutf7.encode(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise ParseError("Mailbox pattern is not valid UTF-8") from None
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            # 8-bit in a pattern: let it through as UTF-8 (some clients do so)
            return mutf7.encode(raw.decode("utf-8", "replace"))

    def date(self) -> tuple[int, int, int]:
        quoted = self.maybe(b'"')
        raw = self.chars(
            frozenset(
                b"0123456789-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
            )
        )
        if quoted:
            self.expect(b'"')
        m = re.fullmatch(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4})", raw)
        if not m or m.group(2).decode().lower() not in _MONTHS:
            raise ParseError("bad date")
        day, mon, year = (
            int(m.group(1)),
            _MONTHS[m.group(2).decode().lower()],
            int(m.group(3)),
        )
        if not 1 <= day <= 31:
            raise ParseError("bad date")
        return year, mon, day

    def date_time(self) -> float:
        raw = self.quoted()
        m = _DATE_TIME.fullmatch(raw)
        if not m or m.group(2).decode().lower() not in _MONTHS:
            raise ParseError("bad date-time")
        day = int(m.group(1).strip())
        mon = _MONTHS[m.group(2).decode().lower()]
        year, hh, mm, ss = (int(m.group(k)) for k in (3, 4, 5, 6))
        if not (1 <= day <= 31 and hh < 24 and mm < 60 and ss < 61):
            raise ParseError("bad date-time")
        offset = (int(m.group(8)) * 60 + int(m.group(9))) * 60
        if m.group(7) == b"-":
            offset = -offset
        try:
            stamp = calendar.timegm((year, mon, day, hh, mm, min(ss, 59), 0, 0, 0))
        except (ValueError, OverflowError):
            raise ParseError("bad date-time") from None
        return float(stamp - offset)

    def tag(self) -> str:
        raw = self.chars(_TAG_CHARS)
        if not raw:
            raise ParseError("missing tag")
        return raw.decode("ascii")

    def word(self) -> str:
        """An upper-cased keyword made of letters, digits, '.', '-', '='."""
        raw = self.chars(KEYWORD_CHARS)
        if not raw:
            raise ParseError("expected a keyword")
        return raw.decode("ascii").upper()


KEYWORD_CHARS = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-=_"
)


def decode_mailbox(raw: bytes) -> str:
    """Wire mailbox name -> store name (modified UTF-7 decoded, INBOX folded;
    UTF-8 as it is once UTF8=ACCEPT is enabled, RFC 6855 3)."""
    if UTF8_ACCEPT.get():
        try:
            return normalize_mailbox(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ParseError("Mailbox name is not valid UTF-8", "CANNOT") from None
    try:
        text = raw.decode("ascii")
        name = mutf7.decode(text)
    except UnicodeDecodeError:
        # RFC 3501 5.1.3: names are 7-bit modified UTF-7; UTF8=ACCEPT is not
        # offered, so 8-bit is refused (as Dovecot does) rather than guessed at
        raise ParseError("Mailbox name is not valid modified UTF-7", "CANNOT") from None
    except ValueError:
        raise ParseError("Mailbox name is not valid modified UTF-7", "CANNOT") from None
    return normalize_mailbox(name)


def normalize_mailbox(name: str) -> str:
    if name.upper() == "INBOX":
        return "INBOX"
    if name[:6].upper() == "INBOX/":
        return "INBOX/" + name[6:]
    return name


def render_astring(value: str) -> str:
    """``value`` as an atom when the grammar allows, else a quoted string
    (section specs echoed in FETCH responses)."""
    raw = value.encode("utf-8", "replace")
    if raw and all(c in _ASTRING_CHARS for c in raw):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
