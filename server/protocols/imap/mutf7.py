"""Modified UTF-7 mailbox names (RFC 3501 section 5.1.3).

Printable US-ASCII except ``&`` stands for itself, ``&`` is ``&-``, and every
other run of characters is UTF-16BE in modified base64 (``,`` for ``/``, no
padding) between ``&`` and ``-``. ``decode`` is strict: a malformed name raises
``ValueError`` so the session can answer BAD instead of guessing.
"""

from __future__ import annotations

import base64
import binascii


def _b64(chars: str) -> str:
    raw = chars.encode("utf-16-be")
    return base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",")


def encode(name: str) -> str:
    """Unicode -> modified UTF-7."""
    out: list[str] = []
    pending: list[str] = []
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            if pending:
                out.append("&" + _b64("".join(pending)) + "-")
                pending = []
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    if pending:
        out.append("&" + _b64("".join(pending)) + "-")
    return "".join(out)


def decode(name: str) -> str:
    """Modified UTF-7 -> Unicode; ``ValueError`` if the name is not valid."""
    out: list[str] = []
    i = 0
    n = len(name)
    while i < n:
        ch = name[i]
        if not 0x20 <= ord(ch) <= 0x7E:
            raise ValueError("mailbox name has a character outside US-ASCII")
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = name.find("-", i + 1)
        if end < 0:
            raise ValueError("unterminated &-sequence in mailbox name")
        chunk = name[i + 1 : end]
        i = end + 1
        if not chunk:
            out.append("&")
            continue
        if any(c not in _B64_CHARS for c in chunk):
            raise ValueError("bad modified base64 in mailbox name")
        b64 = chunk.replace(",", "/")
        b64 += "=" * (-len(b64) % 4)
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("bad modified base64 in mailbox name") from None
        if len(raw) % 2:
            raise ValueError("odd UTF-16 length in mailbox name")
        try:
            text = raw.decode("utf-16-be")
        except UnicodeDecodeError:
            raise ValueError("bad UTF-16 in mailbox name") from None
        out.append(text)
    return "".join(out)


_B64_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"
)
