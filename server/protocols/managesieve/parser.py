"""ManageSieve command parser: one whole command of bytes in, one command out.

Pure functions over bytes (no I/O, no state), so they can be fuzzed. The
connection (``module.py``) reads a line and, for each literal the line
announces (``literal_request``), the literal and the next line, then hands
the whole command here; the parser never waits for more.

What it does (RFC 5804 section 4, the formal syntax):

- commands are an atom (case-insensitive) and arguments separated by one
  space, ending with CRLF (a bare LF is tolerated);
- strings are quoted (at most ``MAX_QUOTED`` octets between the quotes,
  ``\\"`` and ``\\\\`` the only escapes) or literals. RFC 5804 4 lets a client
  send only the non-synchronizing ``{n+}``; the synchronizing ``{n}`` is
  taken the same way (ManageSieve has no continuation to send for it, and
  some clients write it: Dovecot accepts both);
- numbers are 0..4294967295 (``number`` in section 4);
- a SASL exchange's client lines are a string (quoted or literal) of base64,
  or ``"*"`` (quoted or bare) to cancel (section 2.1).

What it does not do: decide whether a command is allowed now
(``session.py``), touch sockets (``module.py``) or check script names
(``ScriptStore.check_name``) and scripts (the Sieve compiler).

Limits (named constants below): ``MAX_LINE`` for a command line,
``MAX_QUOTED`` for a quoted string, ``MAX_NUMBER`` for numbers,
``MAX_LITERALS`` per command.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

# One command line (without its literals). RFC 5804 sets none; a line holds at
# most a verb and two quoted strings of ``MAX_QUOTED`` octets (doubled by
# escapes), or a SASL initial response.
MAX_LINE = 8192
# RFC 5804 4: quoted = DQUOTE *1024QUOTED-CHAR DQUOTE.
MAX_QUOTED = 1024
# RFC 5804 4: number = 0 .. 4,294,967,295.
MAX_NUMBER = 4_294_967_295
# No command takes more than two strings; a third literal is not ManageSieve.
MAX_LITERALS = 2
# Verbs are short atoms; anything longer is not a command.
MAX_VERB = 20

_LITERAL_AT_END = re.compile(rb"\{(\d{1,19})(\+?)\}\r?\n\Z")
_ATOM_CHARS = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/="
)


class ParseError(Exception):
    """A command that does not follow the grammar; ``message`` is safe to send."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- commands ---------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    """Base class; ``verb`` is the upper-case keyword."""

    @property
    def verb(self) -> str:
        return type(self).__name__.upper()


@dataclass(frozen=True)
class Authenticate(Command):
    """RFC 5804 2.1; ``initial`` is the base64 initial response as sent."""

    mechanism: str
    initial: str | None = None


@dataclass(frozen=True)
class StartTls(Command):
    """RFC 5804 2.2."""


@dataclass(frozen=True)
class Logout(Command):
    """RFC 5804 2.3."""


@dataclass(frozen=True)
class Capability(Command):
    """RFC 5804 2.4."""


@dataclass(frozen=True)
class HaveSpace(Command):
    """RFC 5804 2.5."""

    name: str
    size: int


@dataclass(frozen=True)
class PutScript(Command):
    """RFC 5804 2.6; ``script`` as sent (UTF-8 is checked by the session)."""

    name: str
    script: bytes


@dataclass(frozen=True)
class ListScripts(Command):
    """RFC 5804 2.7."""


@dataclass(frozen=True)
class SetActive(Command):
    """RFC 5804 2.8; the empty name deactivates."""

    name: str


@dataclass(frozen=True)
class GetScript(Command):
    """RFC 5804 2.9."""

    name: str


@dataclass(frozen=True)
class DeleteScript(Command):
    """RFC 5804 2.10."""

    name: str


@dataclass(frozen=True)
class RenameScript(Command):
    """RFC 5804 2.11.1."""

    old: str
    new: str


@dataclass(frozen=True)
class CheckScript(Command):
    """RFC 5804 2.12."""

    script: bytes


@dataclass(frozen=True)
class Noop(Command):
    """RFC 5804 2.13; ``tag`` comes back in the OK's TAG response code."""

    tag: str | None = None


@dataclass(frozen=True)
class Unauthenticate(Command):
    """RFC 5804 2.14.1."""


@dataclass(frozen=True)
class SaslCancel:
    """The client answered a SASL challenge with ``"*"`` (RFC 5804 2.1)."""


# -- the reader -------------------------------------------------------------
def literal_request(line: bytes) -> tuple[int, bool] | None:
    """If ``line`` ends with ``{n+}`` or ``{n}`` CRLF: (n, non_synchronizing).

    The connection asks this of every line it reads, to know whether a literal
    follows (RFC 5804 4, ``literal-c2s``)."""
    m = _LITERAL_AT_END.search(line)
    if m is None:
        return None
    return int(m.group(1)), bool(m.group(2))


def strip_eol(data: bytes) -> bytes:
    if data.endswith(b"\r\n"):
        return data[:-2]
    if data.endswith(b"\n"):
        return data[:-1]
    return data


class _Reader:
    """A cursor over one whole command (its literals inline)."""

    def __init__(self, data: bytes) -> None:
        # The command's line end is not stripped off the data: a literal may
        # end in CR and its line in a bare LF (``{3+}\r\nab\r`` then ``\n``),
        # and that CR is the literal's. Arguments outside literals stop at
        # ``eol``; a literal reads from the whole data.
        self.data = data
        self.eol = len(strip_eol(data))
        self.pos = 0
        self.literals = 0

    def at_end(self) -> bool:
        return self.pos >= self.eol

    def space(self) -> None:
        if self.data[self.pos : self.pos + 1] != b" ":
            raise ParseError("Expected a space between arguments")
        self.pos += 1

    def atom(self) -> bytes:
        start = self.pos
        while self.pos < self.eol and self.data[self.pos] in _ATOM_CHARS:
            self.pos += 1
        if self.pos == start:
            raise ParseError("Expected an atom")
        return self.data[start : self.pos]

    def string_bytes(self) -> bytes:
        """A quoted string or a literal (RFC 5804 4, ``string``)."""
        head = self.data[self.pos : self.pos + 1]
        if head == b'"':
            return self._quoted()
        if head == b"{":
            return self._literal()
        raise ParseError("Expected a quoted string or a literal")

    def _quoted(self) -> bytes:
        self.pos += 1
        out = bytearray()
        while True:
            if self.pos >= self.eol:
                raise ParseError("Unterminated quoted string")
            ch = self.data[self.pos]
            self.pos += 1
            if ch == 0x22:  # "
                return bytes(out)
            if ch == 0x5C:  # backslash: QUOTED-SPECIALS only
                nxt = self.data[self.pos : self.pos + 1]
                if nxt not in (b'"', b"\\"):
                    raise ParseError("Invalid escape in quoted string")
                out += nxt
                self.pos += 1
            elif ch in (0x0D, 0x0A, 0x00):
                raise ParseError("Line break or NUL in quoted string")
            else:
                out.append(ch)
            if len(out) > MAX_QUOTED:
                raise ParseError(
                    f"Quoted strings are at most {MAX_QUOTED} octets; use a literal"
                )

    def _literal(self) -> bytes:
        end = self.data.find(b"}", self.pos)
        if end < 0:
            raise ParseError("Malformed literal")
        spec = self.data[self.pos + 1 : end]
        if spec.endswith(b"+"):
            spec = spec[:-1]
        if not spec.isdigit() or len(spec) > 19:
            raise ParseError("Malformed literal")
        size = int(spec)
        pos = end + 1
        if self.data[pos : pos + 2] == b"\r\n":
            pos += 2
        elif self.data[pos : pos + 1] == b"\n":
            pos += 1
        else:
            raise ParseError("A literal must end its line")
        if pos + size > len(self.data):
            raise ParseError("Literal shorter than announced")
        self.literals += 1
        if self.literals > MAX_LITERALS:
            raise ParseError("Too many literals in one command")
        self.pos = pos + size
        return self.data[pos : self.pos]

    def string(self) -> str:
        raw = self.string_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("Strings must be UTF-8") from None
        if "\x00" in text:
            raise ParseError("NUL is not allowed in a string")
        return text

    def number(self) -> int:
        start = self.pos
        while self.pos < self.eol and self.data[self.pos : self.pos + 1].isdigit():
            self.pos += 1
        digits = self.data[start : self.pos]
        if not digits or len(digits) > 10 or int(digits) > MAX_NUMBER:
            raise ParseError("Expected a number from 0 to 4294967295")
        if len(digits) > 1 and digits[0:1] == b"0":
            raise ParseError("Numbers have no leading zeros")
        return int(digits)

    def end(self) -> None:
        if not self.at_end():
            raise ParseError("Unexpected data after the arguments")


def _args_strings(r: _Reader, n: int) -> list[str]:
    out = []
    for _ in range(n):
        r.space()
        out.append(r.string())
    return out


def parse_command(data: bytes) -> Command:
    """Parse one whole command (its literals inline, with or without CRLF).

    Raises ``ParseError`` (its message is fit for a NO) for anything else.
    """
    r = _Reader(data)
    raw_verb = r.atom()
    if len(raw_verb) > MAX_VERB:
        raise ParseError("Unknown command")
    verb = raw_verb.decode("ascii").upper()
    if verb in _NO_ARGS:
        r.end()
        return _NO_ARGS[verb]()
    if verb == "AUTHENTICATE":
        r.space()
        # auth-type is a string; a bare atom is taken too (Dovecot does)
        head = r.data[r.pos : r.pos + 1]
        mech = r.string() if head in (b'"', b"{") else r.atom().decode("ascii")
        initial = None
        if not r.at_end():
            r.space()
            initial = r.string()
        r.end()
        mech = mech.upper()
        if not mech or len(mech) > MAX_VERB or not mech.isascii():
            raise ParseError("Invalid mechanism name")
        return Authenticate(mech, initial)
    if verb == "NOOP":
        tag = None
        if not r.at_end():
            r.space()
            tag = r.string()
        r.end()
        return Noop(tag)
    if verb == "HAVESPACE":
        (name,) = _args_strings(r, 1)
        r.space()
        size = r.number()
        r.end()
        return HaveSpace(name, size)
    if verb == "PUTSCRIPT":
        (name,) = _args_strings(r, 1)
        r.space()
        script = r.string_bytes()
        r.end()
        return PutScript(name, script)
    if verb == "CHECKSCRIPT":
        r.space()
        script = r.string_bytes()
        r.end()
        return CheckScript(script)
    if verb in _ONE_NAME:
        (name,) = _args_strings(r, 1)
        r.end()
        return _ONE_NAME[verb](name)
    if verb == "RENAMESCRIPT":
        old, new = _args_strings(r, 2)
        r.end()
        return RenameScript(old, new)
    raise ParseError("Unknown command")


_NO_ARGS: dict[str, type[Command]] = {
    "STARTTLS": StartTls,
    "LOGOUT": Logout,
    "CAPABILITY": Capability,
    "LISTSCRIPTS": ListScripts,
    "UNAUTHENTICATE": Unauthenticate,
}
_ONE_NAME: dict[str, type[SetActive | GetScript | DeleteScript]] = {
    "SETACTIVE": SetActive,
    "GETSCRIPT": GetScript,
    "DELETESCRIPT": DeleteScript,
}


# -- SASL -------------------------------------------------------------------
def decode_base64(text: str) -> bytes:
    """Base64 as RFC 4648 writes it (the SASL data of RFC 5804 2.1)."""
    if text == "":
        return b""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ParseError("Invalid base64 data") from None


def parse_sasl_response(data: bytes) -> bytes | SaslCancel:
    """A client's answer to a challenge: a string of base64, or ``"*"``
    (RFC 5804 2.1: the server then rejects the AUTHENTICATE with NO). A bare
    ``*`` (IMAP's form, which some clients send) cancels too."""
    if strip_eol(data) == b"*":
        return SaslCancel()
    r = _Reader(data)
    text = r.string()
    r.end()
    if text == "*":
        return SaslCancel()
    return decode_base64(text)


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


def mask_for_log(data: bytes) -> str:
    """A printable, password-free rendering of a command for the log: the
    verb, and for AUTHENTICATE the mechanism only; a script is never logged."""
    first = data[:1024].split(b"\n", 1)[0].rstrip(b"\r")  # never the script
    text = first.decode("utf-8", "replace")
    verb, _, rest = text.partition(" ")
    upper = verb.upper()
    if upper == "AUTHENTICATE":
        mech = rest.split(" ", 1)[0]
        return f"AUTHENTICATE {mech[:40]}{' ***' if ' ' in rest else ''}"
    if upper in ("PUTSCRIPT", "CHECKSCRIPT"):
        return f"{upper} {rest[:80]}".rstrip()
    printable = "".join(c if c.isprintable() else "?" for c in text)
    return printable[:120]
