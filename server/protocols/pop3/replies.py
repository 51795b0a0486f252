"""What a POP3 session sends: status lines, multi-line answers (RFC 1939
section 3: byte-stuffed, ended by ".CRLF"), TOP's part of a message, and
messages in their wire form (CRLF line ends). Pure, except that the async
helpers move the work for a large message off the loop (over
``bytesutil.OFF_LOOP_COPY``: stuffed in pieces in a worker thread and sent
piece by piece through ``Reply.more``).
"""

from __future__ import annotations

import asyncio

from server import bytesutil, mailtext
from server.protocols.session_io import Reply


async def wire_form(data: bytes, expected_size: int) -> bytes:
    """``to_crlf``; a large message that needs the scan has it off the loop."""
    if len(data) == expected_size or len(data) < bytesutil.OFF_LOOP_COPY:
        return to_crlf(data, expected_size)
    return await asyncio.to_thread(to_crlf, data)


def to_crlf(data: bytes, expected_size: int | None = None) -> bytes:
    """CRLF line ends. The store already gives them and ``MessageInfo.size`` is
    their length, so when the length matches we trust it and skip the scan;
    data already in CRLF form is returned as it is, without a copy."""
    if expected_size is not None and len(data) == expected_size:
        return data
    if mailtext.crlf_size(data) == len(data):
        return data
    return mailtext.to_crlf(data)


def multiline(first: str, body: bytes) -> bytes:
    """``+OK first`` then the body byte-stuffed and ended (RFC 1939 section 3)."""
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    if body.startswith(b"."):
        body = b"." + body
    body = body.replace(b"\r\n.", b"\r\n..")
    return b"".join((b"+OK ", first.encode("utf-8"), b"\r\n", body, b".\r\n"))


def multiline_parts(first: str, body: bytes) -> tuple[bytes, ...]:
    """``multiline`` in pieces of about ``mailtext.SLICE`` octets, cut after
    line ends (``mailtext.line_cuts``): each step is one short C call, so a
    large message is stuffed in a worker thread without holding the
    interpreter lock for long, and sent piece by piece (``Reply.more``)."""
    parts = [b"".join((b"+OK ", first.encode("utf-8"), b"\r\n"))]
    for i, j in mailtext.line_cuts(body):
        piece = body[i:j]
        # a piece begins a line unless a very long line was cut
        if piece.startswith(b".") and (i == 0 or body[i - 1 : i] == b"\n"):
            piece = b"." + piece
        parts.append(piece.replace(b"\r\n.", b"\r\n.."))
    if body and not body.endswith(b"\r\n"):
        parts.append(b"\r\n")
    parts.append(b".\r\n")
    return tuple(parts)


async def multiline_reply(first: str, body: bytes) -> Reply:
    """``multiline`` as a reply; a large body is stuffed off the loop and
    sent in pieces."""
    if len(body) < bytesutil.OFF_LOOP_COPY:
        return Reply(multiline(first, body))
    parts = await asyncio.to_thread(multiline_parts, first, body)
    return Reply(parts[0], more=parts[1:])


def top_of(data: bytes, lines: int) -> bytes:
    """Headers, the blank line and the first ``lines`` body lines (RFC 1939 s. 7)."""
    head, body = mailtext.split_header(data)
    if len(body) >= bytesutil.OFF_LOOP_COPY:  # a worker thread's: see below
        return data[: len(head) + _after_lines(body, lines)]
    # RFC 1939 7: more lines asked for than the body has is the whole message
    # (TOP 1 4294967295 included). Otherwise the first ``lines`` lines are
    # what precedes the rest after ``lines`` splits. Both passes run in C.
    if lines > body.count(b"\r\n"):
        return head + body
    rest = body.split(b"\r\n", lines)[-1]
    return head + body[: len(body) - len(rest)]


def _after_lines(body: bytes, lines: int) -> int:
    """Where the first ``lines`` lines of ``body`` end (all of it when it has
    fewer): one ``find`` per line, so a large body is walked in short C calls
    (``count`` and ``split`` over 20 MB would hold the lock for long)."""
    end = 0
    for _ in range(lines):
        nl = body.find(b"\r\n", end)
        if nl < 0:
            return len(body)
        end = nl + 2
    return end


def ok(text: str = "") -> bytes:
    return f"+OK {text}\r\n".encode() if text else b"+OK\r\n"


def err(text: str) -> bytes:
    return f"-ERR {text}\r\n".encode()
