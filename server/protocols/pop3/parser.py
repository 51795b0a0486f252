"""POP3 command parser: one line of bytes in, one command object (or an error) out.

Pure functions over bytes (no I/O, no state), so they can be fuzzed. The
connection reads lines with the shared ``server.protocols.linereader`` (CRLF
per RFC 1939 section 3, bare LF tolerated as most servers do). What it does:

- turns a command line into one of the frozen command classes below, checking
  argument counts and syntax per RFC 1939 section 3 ("keywords are
  case-insensitive ... arguments are separated by a single SPACE"), RFC 2449
  (CAPA, STLS from RFC 2595) and RFC 5034 (AUTH);
- parses the client's lines inside a SASL exchange (RFC 5034 section 4:
  base64, or ``*`` to cancel).

What it does not do: decide whether a command is allowed now (``session.py``)
or touch sockets (``module.py``).

Limits (named constants below):
- ``MAX_COMMAND_LINE`` 255 octets including CRLF (RFC 2449 section 4), except
  AUTH (below);
- ``MAX_ARG_LENGTH`` 40 octets for keyword-like arguments (RFC 2449 section 4:
  mechanism names); not for values a person or a mechanism chooses: a USER
  name is bounded by the line (addresses are often longer than 40), PASS may
  contain spaces (RFC 1939 section 7), numbers have ``MAX_MSG_DIGITS``;
- ``MAX_SASL_LINE`` for AUTH with its initial response and for continuation
  lines (RFC 5034 section 4 asks clients to keep AUTH within 255 octets, but a
  PLAIN initial response for a long address and password does not fit RFC
  2449's 40-octet argument, and Dovecot takes long ones: we accept 4 KiB);
- ``TOP``'s line count may be any decimal number: more lines than the body
  has means the whole message (RFC 1939 section 7), not an error;
- ``MAX_LINE_HARD``: a line longer than this is absurd; the module closes
  (it passes this limit to ``LineReader.readline``).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

# RFC 2449 section 4: "the maximum length of a command line is 255 octets,
# including the terminating CRLF".
MAX_COMMAND_LINE = 255
# RFC 2449 section 4: "each argument may be up to 40 characters long"; kept for
# keywords (SASL mechanism names are at most 20, RFC 4422 3.1).
MAX_ARG_LENGTH = 40
# RFC 5034 section 4: continuation responses are base64 lines of any length the
# mechanism needs; PLAIN and LOGIN fit easily in 4 KiB.
MAX_SASL_LINE = 4096
# Anything longer without a line end is not a POP3 client: close the connection.
MAX_LINE_HARD = 8192
# RFC 1939 section 3: message numbers are decimal; ten digits cover any maildrop.
MAX_MSG_DIGITS = 10
# TOP's line count beyond this means "all of it": no message within any size
# limit has more lines, and the count stays a small integer.
MAX_TOP_LINES = 2**31 - 1


class ParseError(Exception):
    """A line that is not a valid command; ``message`` is safe to send."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LineTooLong(ParseError):
    pass


# -- commands ---------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    """Base class; ``verb`` is the upper-case keyword."""

    @property
    def verb(self) -> str:
        return type(self).__name__.upper()


@dataclass(frozen=True)
class User(Command):
    name: str


@dataclass(frozen=True)
class Pass(Command):
    password: str


@dataclass(frozen=True)
class Apop(Command):
    """RFC 1939 7: a name and the MD5 of the greeting's timestamp and the
    user's (legacy) password, 32 hex digits."""

    name: str
    digest: str


@dataclass(frozen=True)
class Utf8(Command):
    """RFC 6856 2: UTF-8 from now on (our answers and names already are)."""


@dataclass(frozen=True)
class Lang(Command):
    """RFC 6856 3: list the languages, or choose one ("*": the default)."""

    tag: str | None = None


@dataclass(frozen=True)
class Stat(Command):
    pass


@dataclass(frozen=True)
class List(Command):
    msg: int | None = None


@dataclass(frozen=True)
class Retr(Command):
    msg: int


@dataclass(frozen=True)
class Dele(Command):
    msg: int


@dataclass(frozen=True)
class Noop(Command):
    pass


@dataclass(frozen=True)
class Rset(Command):
    pass


@dataclass(frozen=True)
class Quit(Command):
    pass


@dataclass(frozen=True)
class Top(Command):
    msg: int
    lines: int


@dataclass(frozen=True)
class Uidl(Command):
    msg: int | None = None


@dataclass(frozen=True)
class Capa(Command):
    pass


@dataclass(frozen=True)
class Stls(Command):
    pass


@dataclass(frozen=True)
class Auth(Command):
    """RFC 5034: ``AUTH`` alone lists mechanisms (a widely used pre-RFC form)."""

    mechanism: str | None = None
    initial: str | None = None  # base64 text as sent; "=" means empty


@dataclass(frozen=True)
class SaslCancel:
    """The client sent ``*`` inside an AUTH exchange (RFC 5034 section 4)."""


# -- helpers ----------------------------------------------------------------
def _decode(raw: bytes) -> str:
    if b"\x00" in raw:
        raise ParseError("NUL is not allowed in a command")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("Command is not valid UTF-8") from None


def strip_eol(line: bytes) -> bytes:
    """Drop the trailing CRLF (or bare LF)."""
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith(b"\n"):
        return line[:-1]
    return line


def _number(text: str, what: str = "message number") -> int:
    if not text.isascii() or not text.isdigit() or len(text) > MAX_MSG_DIGITS:
        raise ParseError(f"Invalid {what}")
    return int(text)


def _line_count(text: str) -> int:
    """TOP's line count: any decimal number, capped at ``MAX_TOP_LINES``."""
    if not text.isascii() or not text.isdigit():
        raise ParseError("Invalid line count")
    return min(int(text), MAX_TOP_LINES)  # the 255-octet line bounds the digits


def _args(rest: str) -> list[str]:
    if rest == "":
        return []
    args = rest.split(" ")
    if any(a == "" for a in args):
        raise ParseError("Arguments must be separated by a single space")
    return args


def _no_args(cls: type[Command]) -> Command:
    return cls()


def parse_command(line: bytes) -> Command:
    """Parse one command line (with or without its CRLF).

    Raises ``ParseError`` (its message is fit for ``-ERR``) for anything else.
    """
    limit = MAX_SASL_LINE if line[:5].upper() == b"AUTH " else MAX_COMMAND_LINE
    if len(line) > limit:
        raise LineTooLong("Command line too long")
    text = _decode(strip_eol(line))
    if text.endswith("\r"):
        text = text[:-1]
    if "\r" in text or "\n" in text:
        raise ParseError("Stray line break in command")
    keyword, sep, rest = text.partition(" ")
    verb = keyword.upper()
    if not verb:
        raise ParseError("Empty command")
    if not verb.isascii() or not verb.isalnum() or len(verb) > 4:
        raise ParseError("Unknown command")

    # PASS takes the rest of the line verbatim (RFC 1939 section 7: "a POP3
    # server may treat spaces in the argument as part of the password").
    if verb == "PASS":
        if not rest:
            raise ParseError("PASS needs a password")
        return Pass(rest)

    # Trailing spaces are tolerated (some clients send "LIST "); inner ones not.
    args = _args(rest.rstrip(" ")) if sep else []
    if verb in _NO_ARGS:
        if args:
            raise ParseError(f"{verb} takes no arguments")
        return _NO_ARGS[verb]()
    if verb == "USER":
        if len(args) != 1:
            raise ParseError("USER needs exactly one argument")
        return User(args[0])
    if verb == "APOP":
        if len(args) != 2 or not re.fullmatch(r"[0-9A-Fa-f]{32}", args[1]):
            raise ParseError("APOP needs a name and a 32-digit MD5 digest")
        return Apop(args[0], args[1].lower())
    if verb == "LANG":
        if len(args) > 1:
            raise ParseError("LANG takes at most one language tag")
        if args and not re.fullmatch(r"\*|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*", args[0]):
            raise ParseError("Invalid language tag")
        return Lang(args[0] if args else None)
    if verb in ("LIST", "UIDL"):
        if len(args) > 1:
            raise ParseError(f"{verb} takes at most one argument")
        msg = _number(args[0]) if args else None
        return List(msg) if verb == "LIST" else Uidl(msg)
    if verb in ("RETR", "DELE"):
        if len(args) != 1:
            raise ParseError(f"{verb} needs a message number")
        n = _number(args[0])
        return Retr(n) if verb == "RETR" else Dele(n)
    if verb == "TOP":
        if len(args) != 2:
            raise ParseError("TOP needs a message number and a line count")
        return Top(_number(args[0]), _line_count(args[1]))
    if verb == "AUTH":
        if not args:
            return Auth()
        if len(args) > 2:
            raise ParseError("AUTH takes a mechanism and an optional initial response")
        mech = args[0].upper()
        if not mech.isascii() or len(mech) > MAX_ARG_LENGTH:
            raise ParseError("Invalid mechanism name")
        return Auth(mech, args[1] if len(args) == 2 else None)
    raise ParseError("Unknown command")


_NO_ARGS: dict[str, type[Command]] = {
    "STAT": Stat,
    "NOOP": Noop,
    "RSET": Rset,
    "QUIT": Quit,
    "CAPA": Capa,
    "STLS": Stls,
    "UTF8": Utf8,
}


def decode_sasl(text: str) -> bytes:
    """Base64 per RFC 5034 section 4 ("=" is an empty initial response)."""
    if text == "=":
        return b""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ParseError("Invalid base64 data") from None


def parse_sasl_response(line: bytes) -> bytes | SaslCancel:
    """A client line inside an AUTH exchange: decoded bytes, or a cancel."""
    if len(line) > MAX_SASL_LINE:
        raise LineTooLong("Response too long")
    text = strip_eol(line)
    if text.endswith(b"\r"):
        text = text[:-1]
    if text == b"*":
        return SaslCancel()
    try:
        ascii_text = text.decode("ascii")
    except UnicodeDecodeError:
        raise ParseError("Invalid base64 data") from None
    if ascii_text == "":
        return b""
    return decode_sasl(ascii_text)


def parse_plain(data: bytes) -> tuple[str, str, str]:
    """SASL PLAIN message (RFC 4616): authzid NUL authcid NUL passwd."""
    parts = data.split(b"\x00")
    if len(parts) != 3:
        raise ParseError("Malformed PLAIN response")
    try:
        authzid, authcid, passwd = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError:
        raise ParseError("PLAIN response is not UTF-8") from None
    if not authcid or not passwd:
        raise ParseError("Malformed PLAIN response")
    return authzid, authcid, passwd


def mask_for_log(line: bytes) -> str:
    """A printable, password-free rendering of a client command for the log."""
    text = strip_eol(line).rstrip(b"\r").decode("utf-8", "replace")
    keyword, _, rest = text.partition(" ")
    upper = keyword.upper()
    if upper == "PASS":
        return "PASS ***"
    if upper == "APOP":
        name, _, _ = rest.partition(" ")
        return f"APOP {name[:64]} ***"
    if upper == "AUTH":
        mech, sp, _ = rest.partition(" ")
        return f"AUTH {mech} ***" if sp else text[:80]
    printable = "".join(c if c.isprintable() else "?" for c in text)
    return printable[:120]
