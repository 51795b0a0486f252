"""IMAP4rev1 command parser (RFC 3501 section 9, formal syntax). Pure: bytes in,
objects out; it never touches a socket.

The connection code reads one line at a time. ``literal_request(line)`` tells it
whether the line ends in a literal announcement (``{n}`` synchronizing, or
``{n+}`` non-synchronizing, RFC 7888 LITERAL+) and how many octets to read
before the next line; the parser itself never waits for data. Once a command is
complete (its lines and literals joined, with the final CRLF),
``parse_command`` turns it into a ``Command`` or raises ``ParseError``, which the
session answers with ``BAD``.

What it does not do: no state checks (session.py does that), no mailbox
look-ups, no charset conversion of search strings (search.py does that).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from typing import Any

from . import mutf7

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


class ParseError(Exception):
    """The command does not follow the grammar: answered with BAD."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def literal_request(line: bytes) -> tuple[int, bool] | None:
    """If ``line`` ends with ``{n}`` or ``{n+}`` CRLF: (n, non_synchronizing)."""
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


# -- command objects -------------------------------------------------------


@dataclass(frozen=True)
class SeqSet:
    """A sequence set; ``None`` stands for ``*`` (RFC 3501 9, sequence-set)."""

    ranges: tuple[tuple[int | None, int | None], ...]

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
            spec += " (" + " ".join(_render_astring(f) for f in self.fields) + ")"
        return spec


@dataclass(frozen=True)
class FetchAtt:
    name: str  # ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE
    # RFC822.TEXT BODY BODYSTRUCTURE UID BODY[] BINARY[] BINARY.SIZE[]
    section: Section | None = None
    peek: bool = False
    partial: tuple[int, int] | None = None


@dataclass(frozen=True)
class SearchKey:
    """One node of a search program. ``op`` is the upper-case key name, or
    AND / OR / NOT / SEQ; ``args`` depend on the key."""

    op: str
    args: tuple[Any, ...] = ()


@dataclass
class Command:
    tag: str
    name: str  # upper case, e.g. FETCH
    uid: bool = False
    args: dict[str, Any] = field(default_factory=dict)


# -- the reader ------------------------------------------------------------


class _Reader:
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

    def seq_number(self) -> int | None:
        if self.maybe(b"*"):
            return None
        n = self.number32()
        if n == 0:
            raise ParseError("sequence number zero is not allowed")
        return n

    def seq_set(self) -> SeqSet:
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

    def word(self) -> str:
        """An upper-cased keyword made of letters, digits, '.', '-', '='."""
        raw = self.chars(_KEYWORD_CHARS)
        if not raw:
            raise ParseError("expected a keyword")
        return raw.decode("ascii").upper()


_KEYWORD_CHARS = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-=_"
)


def decode_mailbox(raw: bytes) -> str:
    """Wire mailbox name -> store name (modified UTF-7 decoded, INBOX folded)."""
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


def _render_astring(value: str) -> str:
    raw = value.encode("utf-8", "replace")
    if raw and all(c in _ASTRING_CHARS for c in raw):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- commands --------------------------------------------------------------


_NO_ARGS = frozenset(
    {
        "CAPABILITY",
        "NOOP",
        "LOGOUT",
        "STARTTLS",
        "CHECK",
        "CLOSE",
        "EXPUNGE",
        "UNSELECT",
        "IDLE",
        "NAMESPACE",
    }
)
_ONE_MAILBOX = frozenset({"DELETE", "SUBSCRIBE", "UNSUBSCRIBE"})
_UID_COMMANDS = frozenset({"FETCH", "STORE", "COPY", "MOVE", "SEARCH", "EXPUNGE"})
STATUS_ITEMS = frozenset(
    {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "SIZE"}
)


def parse_command(data: bytes) -> Command:
    """Parse one complete command (lines and literals joined, final CRLF)."""
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    r = _Reader(data)
    tag_raw = r.chars(_TAG_CHARS)
    if not tag_raw:
        raise ParseError("missing tag")
    tag = tag_raw.decode("ascii")
    r.sp()
    name = r.word()
    cmd = Command(tag, name)
    if name == "UID":
        r.sp()
        sub = r.word()
        if sub not in _UID_COMMANDS:
            raise ParseError(f"UID {sub} is not a command")
        cmd.name = sub
        cmd.uid = True
    _parse_args(r, cmd)
    r.end()
    return cmd


def _parse_args(r: _Reader, cmd: Command) -> None:
    name = cmd.name
    a = cmd.args
    if name in _NO_ARGS:
        if name == "EXPUNGE" and cmd.uid:
            r.sp()
            a["set"] = r.seq_set()
        return
    handler = _HANDLERS.get(name)
    if handler is None:
        raise ParseError(f"unknown command {name}")
    handler(r, cmd)


def _p_login(r: _Reader, cmd: Command) -> None:
    r.sp()
    cmd.args["user"] = r.astring()
    r.sp()
    cmd.args["password"] = r.astring()


def _p_authenticate(r: _Reader, cmd: Command) -> None:
    r.sp()
    cmd.args["mechanism"] = r.atom().upper()
    cmd.args["initial"] = None
    if r.maybe(b" "):
        raw = r.chars(
            frozenset(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
            )
        )
        if not raw:
            raise ParseError("bad initial response")
        cmd.args["initial"] = raw


def _p_select(r: _Reader, cmd: Command) -> None:
    """SELECT/EXAMINE mailbox. RFC 4466 2.1 select parameters belong to
    extensions (CONDSTORE, QRESYNC) that are not advertised: an empty list is
    taken, any parameter is a syntax error, not silently dropped."""
    r.sp()
    cmd.args["mailbox"] = r.mailbox()
    if r.maybe(b" "):
        r.expect(b"(")
        if not r.maybe(b")"):
            raise ParseError(f"unknown {cmd.name} parameter {r.word()}")


def _p_create(r: _Reader, cmd: Command) -> None:
    r.sp()
    cmd.args["mailbox"] = r.mailbox()
    cmd.args["use"] = None
    if r.maybe(b" "):  # RFC 6154 5.3 CREATE-SPECIAL-USE
        r.expect(b"(")
        if not r.maybe_ci("USE"):
            raise ParseError("unknown CREATE parameter")
        r.sp()
        uses = r.flag_list()
        r.expect(b")")
        cmd.args["use"] = uses


def _p_one_mailbox(r: _Reader, cmd: Command) -> None:
    r.sp()
    cmd.args["mailbox"] = r.mailbox()


def _p_rename(r: _Reader, cmd: Command) -> None:
    r.sp()
    cmd.args["old"] = r.mailbox()
    r.sp()
    cmd.args["new"] = r.mailbox()


def _p_list(r: _Reader, cmd: Command) -> None:
    """LIST, with the RFC 5258 LIST-EXTENDED forms."""
    a = cmd.args
    r.sp()
    a["select"] = []
    a["returns"] = []
    a["status"] = []
    a["extended"] = False
    if cmd.name == "LIST" and r.peek() == 0x28:
        r.expect(b"(")
        a["extended"] = True
        while not r.maybe(b")"):
            a["select"].append(r.word())
            r.maybe(b" ")
        r.sp()
    ref_raw = r.astring() if r.peek() != 0x22 else r.quoted()
    a["reference"] = ref_raw.decode("ascii", "replace")
    r.sp()
    patterns: list[str] = []
    if cmd.name == "LIST" and r.peek() == 0x28:
        r.expect(b"(")
        a["extended"] = True
        while True:
            patterns.append(r.list_mailbox())
            if r.maybe(b")"):
                break
            r.sp()
    else:
        patterns.append(r.list_mailbox())
    a["patterns"] = patterns
    if cmd.name == "LIST" and r.maybe(b" "):
        if not r.maybe_ci("RETURN"):
            raise ParseError("expected RETURN")
        a["extended"] = True
        r.sp()
        r.expect(b"(")
        while not r.maybe(b")"):
            opt = r.word()
            a["returns"].append(opt)
            if opt == "STATUS":
                r.sp()
                a["status"] = _status_items(r)
            r.maybe(b" ")


def _status_items(r: _Reader) -> list[str]:
    r.expect(b"(")
    items: list[str] = []
    while True:
        item = r.word()
        if item not in STATUS_ITEMS:  # HIGHESTMODSEQ is CONDSTORE's (not here)
            raise ParseError(f"unknown status item {item}")
        items.append(item)
        if r.maybe(b")"):
            return items
        r.sp()


def _p_status(r: _Reader, cmd: Command) -> None:
    r.sp()
    cmd.args["mailbox"] = r.mailbox()
    r.sp()
    cmd.args["items"] = _status_items(r)


def _p_append(r: _Reader, cmd: Command) -> None:
    a = cmd.args
    r.sp()
    a["mailbox"] = r.mailbox()
    r.sp()
    a["flags"] = []
    a["date"] = None
    if r.peek() == 0x28:
        a["flags"] = r.flag_list()
        r.sp()
    if r.peek() == 0x22:
        a["date"] = r.date_time()
        r.sp()
    if r.peek() not in (0x7B, 0x7E):
        raise ParseError("APPEND needs a literal")
    a["message"] = r.literal()


def _p_store(r: _Reader, cmd: Command) -> None:
    a = cmd.args
    r.sp()
    a["set"] = r.seq_set()
    r.sp()
    if r.peek() == 0x28:  # RFC 4466 store modifiers: CONDSTORE's, not offered
        raise ParseError("unknown STORE modifier")
    mode = ""
    if r.maybe(b"+"):
        mode = "+"
    elif r.maybe(b"-"):
        mode = "-"
    item = r.word()
    if item not in ("FLAGS", "FLAGS.SILENT"):
        raise ParseError("STORE expects FLAGS, +FLAGS or -FLAGS")
    a["mode"] = mode
    a["silent"] = item.endswith(".SILENT")
    r.sp()
    if r.peek() == 0x28:
        flags = r.flag_list()
    else:
        flags = [r.flag()]
        while r.maybe(b" "):
            flags.append(r.flag())
    a["flags"] = flags


def _p_copy(r: _Reader, cmd: Command) -> None:
    r.sp()
    cmd.args["set"] = r.seq_set()
    r.sp()
    cmd.args["mailbox"] = r.mailbox()


_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_SIMPLE_ATTS = frozenset(
    {
        "ENVELOPE",
        "FLAGS",
        "INTERNALDATE",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.SIZE",
        "RFC822.TEXT",
        "BODYSTRUCTURE",
        "UID",
    }
)


def _p_fetch(r: _Reader, cmd: Command) -> None:
    r.sp()
    cmd.args["set"] = r.seq_set()
    r.sp()
    atts: list[FetchAtt] = []
    if r.maybe(b"("):
        while True:
            atts.append(_fetch_att(r))
            if r.maybe(b")"):
                break
            r.sp()
    else:
        save = r.i
        word = r.word()
        if word in _MACROS and r.peek() != 0x5B:
            atts = [FetchAtt(x) for x in _MACROS[word]]
        else:
            r.i = save
            atts.append(_fetch_att(r))
    if r.maybe(b" ("):  # RFC 4466 fetch modifiers: CONDSTORE's, not offered
        raise ParseError("unknown FETCH modifier")
    cmd.args["atts"] = atts


def _fetch_att(r: _Reader) -> FetchAtt:
    word = r.word()
    if word in ("BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"):
        if r.peek() != 0x5B:
            if word == "BODY":
                return FetchAtt("BODY")
            raise ParseError(f"{word} needs a section")
        section = _section(r, binary=word.startswith("BINARY"))
        partial = None
        if r.maybe(b"<"):
            start = r.number32()
            r.expect(b".")
            count = r.nz_number()
            if count > 0xFFFFFFFF:
                raise ParseError("number out of range")
            r.expect(b">")
            partial = (start, count)
            if word == "BINARY.SIZE":
                raise ParseError("BINARY.SIZE takes no partial")
        base = "BINARY.SIZE" if word == "BINARY.SIZE" else word.split(".")[0]
        return FetchAtt(base + "[]", section, word.endswith(".PEEK"), partial)
    if word in _SIMPLE_ATTS:
        return FetchAtt(word)
    raise ParseError(f"unknown fetch item {word}")


def _section(r: _Reader, binary: bool) -> Section:
    r.expect(b"[")
    spec = r.chars(_KEYWORD_CHARS).decode("ascii").upper()
    parts: list[int] = []
    text = ""
    if spec:
        pieces = spec.split(".")
        k = 0
        while k < len(pieces) and pieces[k].isdigit():
            n = int(pieces[k])
            if n == 0 or pieces[k].startswith("0"):
                raise ParseError("bad section part number")
            parts.append(n)
            k += 1
        text = ".".join(pieces[k:])
        if text not in (
            "",
            "HEADER",
            "HEADER.FIELDS",
            "HEADER.FIELDS.NOT",
            "TEXT",
            "MIME",
        ):
            raise ParseError("bad section")
        if text == "MIME" and not parts:
            raise ParseError("MIME needs a part number")
        if binary and text:
            raise ParseError("BINARY takes part numbers only")
    fields: list[str] = []
    if text.startswith("HEADER.FIELDS"):
        r.sp()
        r.expect(b"(")
        while True:
            raw = r.astring()
            try:
                # field names are case-insensitive; echoed upper-case (Dovecot)
                fields.append(raw.decode("ascii").upper())
            except UnicodeDecodeError:
                raise ParseError("bad header field name") from None
            if r.maybe(b")"):
                break
            r.sp()
    r.expect(b"]")
    return Section(tuple(parts), text, tuple(fields))


# -- SEARCH (RFC 3501 6.4.4) ------------------------------------------------

FLAG_SEARCH_KEYS = frozenset(
    {
        "ALL",
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
_DATE_KEYS = frozenset({"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"})


# RFC 4731 3.1 return options; SAVE (RFC 5182) and MODSEQ (RFC 7162) belong to
# extensions that are not advertised.
ESEARCH_RETURNS = frozenset({"MIN", "MAX", "ALL", "COUNT"})


def _p_search(r: _Reader, cmd: Command) -> None:
    r.sp()
    charset = None
    returns: list[str] | None = None
    save = r.i
    if r.maybe_ci("RETURN ("):  # RFC 4731 ESEARCH
        returns = []
        while not r.maybe(b")"):
            opt = r.word()
            if opt not in ESEARCH_RETURNS:  # RFC 4731 3.1: unknown option is BAD
                raise ParseError(f"unknown SEARCH return option {opt}")
            returns.append(opt)
            r.maybe(b" ")
        r.sp()
        save = r.i
    if r.maybe_ci("CHARSET "):
        charset = r.astring().decode("ascii", "replace").upper()
        r.sp()
    else:
        r.i = save
    keys = [search_key(r)]
    while r.maybe(b" "):
        keys.append(search_key(r))
    cmd.args["charset"] = charset
    cmd.args["returns"] = returns
    cmd.args["key"] = keys[0] if len(keys) == 1 else SearchKey("AND", tuple(keys))


def search_key(r: _Reader, depth: int = 0) -> SearchKey:
    if depth > 50:
        raise ParseError("search program nested too deeply")
    c = r.peek()
    if c == 0x28:
        r.expect(b"(")
        keys = [search_key(r, depth + 1)]
        while not r.maybe(b")"):
            r.sp()
            keys.append(search_key(r, depth + 1))
        return keys[0] if len(keys) == 1 else SearchKey("AND", tuple(keys))
    if c == 0x2A or 0x30 <= c <= 0x39:
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
    raise ParseError(f"unknown search key {word}")


def _p_id(r: _Reader, cmd: Command) -> None:
    r.sp()
    params: dict[str, str | None] = {}
    if not r.maybe_ci("NIL"):
        r.expect(b"(")
        while not r.maybe(b")"):
            k = r.string()
            r.sp()
            v = r.nstring_or_nil()
            params[k.decode("utf-8", "replace")] = (
                None if v is None else v.decode("utf-8", "replace")
            )
            r.maybe(b" ")
            if len(params) > 30:
                raise ParseError("too many ID fields")
    cmd.args["params"] = params


def _p_enable(r: _Reader, cmd: Command) -> None:
    caps: list[str] = []
    while r.maybe(b" "):
        caps.append(r.atom().upper())
    if not caps:
        raise ParseError("ENABLE needs a capability")
    cmd.args["caps"] = caps


_HANDLERS = {
    "LOGIN": _p_login,
    "AUTHENTICATE": _p_authenticate,
    "SELECT": _p_select,
    "EXAMINE": _p_select,
    "CREATE": _p_create,
    "DELETE": _p_one_mailbox,
    "SUBSCRIBE": _p_one_mailbox,
    "UNSUBSCRIBE": _p_one_mailbox,
    "RENAME": _p_rename,
    "LIST": _p_list,
    "LSUB": _p_list,
    "STATUS": _p_status,
    "APPEND": _p_append,
    "STORE": _p_store,
    "COPY": _p_copy,
    "MOVE": _p_copy,
    "FETCH": _p_fetch,
    "SEARCH": _p_search,
    "ID": _p_id,
    "ENABLE": _p_enable,
}
