"""Every byte the ManageSieve server sends is rendered here (RFC 5804 4).

``Status`` is a final response (``OK`` / ``NO`` / ``BYE``, an optional response
code, an optional human-readable string); ``string`` renders a string as a
quoted string when it may be one, else as a literal (``literal-s2c``:
``{n}`` CRLF octets, RFC 5804 4); ``capability_lines`` renders the
capability listing (RFC 5804 1.7). Text that reaches a client through here is
written by the server: never a path, a setting or a traceback.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from server.protocols.managesieve.parser import MAX_QUOTED

# RFC 5804 1.3: the response codes this server uses.
CODES = frozenset(
    {
        "ACTIVE",
        "ALREADYEXISTS",
        "AUTH-TOO-WEAK",
        "ENCRYPT-NEEDED",
        "NONEXISTENT",
        "QUOTA",
        "QUOTA/MAXSCRIPTS",
        "QUOTA/MAXSIZE",
        "SASL",
        "TAG",
        "TRYLATER",
        "WARNINGS",
    }
)


def string(value: str | bytes) -> bytes:
    """A ``string`` (RFC 5804 4): quoted when short, free of CR, LF and NUL,
    else a literal ``{n}`` CRLF followed by the octets."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if len(raw) <= MAX_QUOTED and not any(b in raw for b in b"\r\n\x00"):
        return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(raw) + raw


@dataclass(frozen=True)
class Status:
    """``OK`` / ``NO`` / ``BYE`` [SP "(" code [SP string] ")"] [SP string] CRLF."""

    kind: str
    text: str = ""
    code: str = ""
    code_arg: str | None = None

    def render(self) -> bytes:
        assert self.kind in ("OK", "NO", "BYE"), self.kind
        assert not self.code or self.code in CODES, self.code
        parts = [self.kind.encode()]
        if self.code:
            inner = self.code.encode()
            if self.code_arg is not None:
                inner += b" " + string(self.code_arg)
            parts.append(b"(" + inner + b")")
        if self.text:
            parts.append(string(self.text))
        return b" ".join(parts) + b"\r\n"


def ok(text: str = "", code: str = "", arg: str | None = None) -> bytes:
    return Status("OK", text, code, arg).render()


def no(text: str, code: str = "", arg: str | None = None) -> bytes:
    return Status("NO", text, code, arg).render()


def bye(text: str, code: str = "") -> bytes:
    return Status("BYE", text, code).render()


def capability_lines(items: Iterable[tuple[str, str | None]]) -> bytes:
    """One line per capability: ``"NAME"`` or ``"NAME" SP string``."""
    out = []
    for name, value in items:
        line = string(name)
        if value is not None:
            line += b" " + string(value)
        out.append(line + b"\r\n")
    return b"".join(out)


def script_list(items: Iterable[tuple[str, bool]]) -> bytes:
    """LISTSCRIPTS lines (RFC 5804 2.7): the name, then ``ACTIVE`` if it is."""
    return b"".join(
        string(name) + (b" ACTIVE" if active else b"") + b"\r\n"
        for name, active in items
    )


def script_body(text: bytes) -> bytes:
    """GETSCRIPT's script (RFC 5804 2.9): always a literal, then CRLF."""
    return b"{%d}\r\n" % len(text) + text + b"\r\n"


def challenge(data: bytes) -> bytes:
    """A SASL challenge (RFC 5804 2.1): a string of base64, on its own line."""
    return string(base64.b64encode(data)) + b"\r\n"
