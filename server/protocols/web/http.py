"""The little HTTP/1.1 the web module speaks (RFC 9110, RFC 9112): pure
parsing of a request head and rendering of a response. No I/O.

One request per connection (every response says ``Connection: close``), so
there is no keep-alive, pipelining or chunked request body: a request with
``Transfer-Encoding`` is refused (501), a body needs ``Content-Length``
(411 without). Everything that grows has a limit below; going over one is an
``HttpError`` with the status to answer (400, 413, 414, 431).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_REQUEST_LINE = 2048  # bytes, CRLF included: longer is 414
MAX_HEADER_LINE = 4096
MAX_HEADERS = 64  # header fields: more is 431
MAX_HEAD = 16 * 1024  # the whole head: more is 431
MAX_BODY = 8 * 1024  # a one-click POST is ~30 bytes; a form a few hundred

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REQUEST_LINE = re.compile(rb"([A-Z]{1,16}) (\S{1,2000}) HTTP/1\.([01])\r?\n")

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


class HttpError(Exception):
    """A request we answer with ``status`` and close."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # the origin-form path (with any query), as sent
    minor: int  # HTTP/1.<minor>
    headers: tuple[tuple[str, str], ...]  # (lower-case name, value)
    content_length: int

    def header(self, name: str) -> str | None:
        for n, v in self.headers:
            if n == name:
                return v
        return None

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


def parse_request_line(line: bytes) -> tuple[str, str, int]:
    if len(line) > MAX_REQUEST_LINE:
        raise HttpError(414, "request line too long")
    m = _REQUEST_LINE.fullmatch(line)
    if m is None:
        raise HttpError(400, "malformed request line")
    target = m.group(2).decode("ascii", "replace")
    if not target.startswith("/"):
        raise HttpError(400, "only origin-form targets are served")
    return m.group(1).decode("ascii"), target, int(m.group(3))


def parse_header_line(line: bytes) -> tuple[str, str]:
    if line[:1] in (b" ", b"\t"):
        raise HttpError(400, "obsolete line folding")  # RFC 9112 5.2
    name, colon, value = line.partition(b":")
    if not colon or not _TOKEN.fullmatch(name):
        raise HttpError(400, "malformed header field")
    text = value.strip(b" \t\r\n")
    if any((c < 0x20 and c != 0x09) or c == 0x7F for c in text):
        raise HttpError(400, "control character in a header field")
    return name.decode("ascii").lower(), text.decode("latin-1")


def finish_head(
    method: str, target: str, minor: int, headers: list[tuple[str, str]]
) -> Request:
    """Check the head as a whole (Host, framing) once its blank line came."""
    if minor == 1 and sum(1 for n, _ in headers if n == "host") != 1:
        raise HttpError(400, "an HTTP/1.1 request needs one Host field")
    if any(n == "transfer-encoding" for n, _ in headers):
        raise HttpError(501, "transfer codings are not accepted")
    lengths = {v for n, v in headers if n == "content-length"}
    length = 0
    if len(lengths) > 1:
        raise HttpError(400, "conflicting Content-Length fields")
    if lengths:
        value = lengths.pop()
        if not value.isdigit() or len(value) > 10:
            raise HttpError(400, "bad Content-Length")
        length = int(value)
    elif method == "POST":
        raise HttpError(411, "a POST needs Content-Length")
    if length > MAX_BODY:
        raise HttpError(413, "request body too large")
    return Request(method, target, minor, tuple(headers), length)


def response(
    status: int,
    body: bytes = b"",
    *,
    content_type: str = "text/html; charset=utf-8",
    extra: tuple[tuple[str, str], ...] = (),
    head_only: bool = False,
) -> bytes:
    """A whole HTTP/1.1 response that closes the connection. The security
    headers keep a browser from framing the page, guessing its type, sending
    the link (a token) on as a referrer or running anything in it."""
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        "Cache-Control: no-store",
        "X-Content-Type-Options: nosniff",
        "X-Frame-Options: DENY",
        "Referrer-Policy: no-referrer",
        "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
        "form-action 'self'; frame-ancestors 'none'",
        *(f"{n}: {v}" for n, v in extra),
    ]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body


_MULTIPART_FIELD = re.compile(
    rb'content-disposition:[ \t]*form-data;[^\r\n]*name="?List-Unsubscribe"?'
    rb"[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\nOne-Click\r\n",
    re.IGNORECASE,
)


def is_one_click(content_type: str, body: bytes) -> bool:
    """Does the body carry ``List-Unsubscribe=One-Click`` (RFC 8058 3.2),
    as ``application/x-www-form-urlencoded`` or ``multipart/form-data``?
    Bounded: the body is at most ``MAX_BODY``."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "multipart/form-data":
        return _MULTIPART_FIELD.search(body) is not None
    from urllib.parse import parse_qs

    try:
        fields = parse_qs(body.decode("ascii"), max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        return False
    return "One-Click" in fields.get("List-Unsubscribe", [])
