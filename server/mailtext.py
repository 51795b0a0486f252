"""Pure helpers over raw message bytes: where the header ends, line ends.

What it does
- ``header_end`` / ``split_header``: the header section ends at the first
  empty line (RFC 5322 2.1: "a header section ... followed by an empty line,
  followed by the body"). An empty line is a line end right after a line end:
  LF LF or LF CR LF, so LF-only, CRLF and mixed messages split alike (mail
  arrives with bare LFs from other programs; the Maildir keeps LF on disk).
  A message that starts with an empty line has an empty header section. A
  message with no empty line is all header and has no body (RFC 5322 2.1:
  the body is optional; so are the empty line and the body together).
  A bare CR is an ordinary octet: it never ends a line.
- ``to_lf`` / ``to_crlf`` / ``crlf_size``: the Maildir's disk form (LF) and
  the wire form (CRLF, RFC 5322 2.2 and RFC 5321 2.3.8). ``to_crlf`` turns
  every LF without a CR before it into CRLF and leaves bare CRs alone;
  ``to_lf`` turns every CRLF into LF.

What it does not do: no I/O, no parsing of fields (``imap/mime.py`` and
``sieve/message.py`` parse them), no decoding.

Limits: work on a large buffer goes ``SLICE`` octets per C call. Callers run
it in worker threads, but a single C call over 50 MB holds the interpreter
lock, and so stalls the core loop, for a tenth of a second.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from server import bytesutil

SLICE = 1024 * 1024  # octets per C call on a large buffer


def find(raw: bytes, needle: bytes, start: int, end: int) -> int:
    """``raw.find(needle, start, end)`` in windows of ``SLICE`` octets, so that
    a miss over 25 MB is not one long C call."""
    while start < end:
        stop = min(end, start + SLICE + len(needle) - 1)
        found = raw.find(needle, start, stop)
        if found >= 0 or stop == end:
            return found
        start += SLICE
    return -1


def count_octet(
    raw: bytes, octet: bytes, start: int = 0, end: int | None = None
) -> int:
    """``raw.count(octet, start, end)`` for a one-octet ``octet``, in windows
    of ``SLICE`` octets (a count over 50 MB held the interpreter lock 20 ms)."""
    if len(octet) != 1:
        raise ValueError("count_octet counts one octet")
    end = len(raw) if end is None else min(end, len(raw))
    total = 0
    while start < end:
        stop = min(end, start + SLICE)
        total += raw.count(octet, start, stop)
        start = stop
    return total


def header_end(raw: bytes, start: int = 0, end: int | None = None) -> int:
    """Where the body of the message (or MIME entity) in ``raw[start:end]``
    begins: just after the first empty line, or -1 when there is none.

    Found with ``find`` (no regex scan over a large header).
    """
    if end is None:
        end = len(raw)
    if raw.startswith(b"\r\n", start, end):
        return start + 2
    if raw.startswith(b"\n", start, end):
        return start + 1
    lf_lf = find(raw, b"\n\n", start, end)
    lf_crlf = find(raw, b"\n\r\n", start, lf_lf + 2 if lf_lf >= 0 else end)
    if lf_crlf >= 0:
        return lf_crlf + 3
    if lf_lf >= 0:
        return lf_lf + 2
    return -1


def split_header(raw: bytes) -> tuple[bytes, bytes]:
    """``(header section with its terminating empty line, body)``; a message
    without an empty line is all header, with an empty body."""
    at = header_end(raw)
    if at < 0:
        return raw, b""
    return bytesutil.slice_of(raw, 0, at), bytesutil.slice_of(raw, at)


def header_fields(raw: bytes, limit: int = 256 * 1024) -> list[tuple[str, str]]:
    """The header fields of ``raw`` (its first ``limit`` bytes) as (name in
    lower case, unfolded value), in order; a line that is neither a field
    nor a continuation is skipped. Pure; linear in ``limit``."""
    head, _ = split_header(raw[:limit])
    out: list[tuple[str, str]] = []
    for line in head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
        elif ":" in line:
            name, _, value = line.partition(":")
            out.append((name.strip().lower(), value.strip()))
    return out


def drop_fields(
    message: bytes,
    field: re.Pattern[bytes],
    drop: Callable[[bytes, re.Match[bytes]], bool] = lambda line, m: True,
) -> bytes:
    """``message`` without the header fields whose first line ``field``
    matches (a ``(?im)^name:`` pattern) and ``drop(line, match)`` accepts,
    continuation lines included; the body is not touched. Linear in the
    header; the message itself when nothing matches."""
    cut = header_end(message)
    head = message if cut < 0 else message[:cut]
    if not field.search(head):
        return message
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        m = field.match(line)
        dropping = m is not None and drop(line, m)
        if not dropping:
            kept.append(line)
    return b"".join(
        [b"\n".join(kept), *([] if cut < 0 else bytesutil.pieces(message, cut))]
    )


def line_cuts(data: bytes) -> Iterator[tuple[int, int]]:
    """``data`` as (start, end) pieces of about ``SLICE`` octets, each ending
    after a LF, so no CRLF is cut and every LF has the octet before it in its
    piece."""
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos + SLICE, pos + 2 * SLICE)
        if nl >= 0:
            cut = nl + 1
        else:  # a very long line: cut anywhere but between CR and LF
            cut = min(len(data), pos + 2 * SLICE)
            if data[cut - 1 : cut] == b"\r" and cut < len(data):
                cut -= 1
        yield pos, cut
        pos = cut


def to_lf(data: bytes) -> bytes:
    """Disk form: CRLF -> LF (the Maildir convention). Bare CRs stay."""
    if len(data) <= SLICE:  # one piece: no generator, no join
        return data.replace(b"\r\n", b"\n")
    return b"".join(data[i:j].replace(b"\r\n", b"\n") for i, j in line_cuts(data))


def to_crlf(data: bytes) -> bytes:
    """Wire form: every bare LF -> CRLF. (Dropping the CR of each CRLF and
    then giving every LF one is the same, and cheaper than a regex.)"""
    if len(data) <= SLICE:  # one piece: no generator, no join
        if b"\r" not in data:  # the Maildir form has none
            return data.replace(b"\n", b"\r\n")
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return b"".join(
        data[i:j].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        for i, j in line_cuts(data)
    )


def crlf_size(data: bytes) -> int:
    """``len(to_crlf(data))`` without building the copy."""
    if len(data) <= SLICE:  # one piece: no generator
        return len(data) + data.count(b"\n") - data.count(b"\r\n")
    return len(data) + sum(
        data.count(b"\n", i, j) - data.count(b"\r\n", i, j) for i, j in line_cuts(data)
    )
