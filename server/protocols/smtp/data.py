"""Receiving SMTP DATA content in bulk (RFC 5321 4.1.1.4, 4.5.2, 4.5.3.1.6).

aiosmtpd reads DATA a line at a time: a coroutine step and a few Python
operations per line, then a join of a list with one item per line and a
dot-unstuffing pass over every line, all on the core loop. A 24 MB message of
empty MIME parts is 4.8 million lines: each 256 KiB the socket delivers held
the loop for 100 ms, and the end of a 50 MB message another 250 ms. Here the
content is read in whole buffers and every step is a bulk bytes operation
(find, split, replace, join) over at most what one read delivered.

Same rules as aiosmtpd's ``smtp_DATA``, so the protocol does not change:
- the content ends with a line that is exactly ``.`` (CRLF.CRLF; a bare LF or
  CR never ends a line, so "LF.LF" and "CR.CR" do not end the message: RFC
  5321 4.5.2 and the SMTP smuggling attacks of 2023);
- a line starting with ``.`` loses that dot (transparency, 4.5.2);
- a line longer than ``line_limit`` octets with its CRLF makes the message
  TOO_LONG (500), more than ``size_limit`` octets of lines TOO_MUCH (552);
  either way the rest is read and dropped (RFC 5321 4.2.5 asks for the reply
  after the end of the data). The first problem found is the one reported
  (within one piece read, a long line before the size).

Pure bookkeeping in ``DataReceiver``; ``receive`` drives it from an
``asyncio.StreamReader`` without ever reading past the final ``.`` line, so
commands the client pipelines after the message stay in the reader.
"""

from __future__ import annotations

import asyncio
import enum


class DataState(enum.Enum):
    NOMINAL = enum.auto()
    TOO_LONG = enum.auto()
    TOO_MUCH = enum.auto()


_END = b".\r\n"  # the last line; a match counts only at the start of a line
# Content whose lines end in "." arrives a line at a time (see ``receive``):
# kept pieces smaller than this are gathered and joined into one, so a 50 MB
# message is a few hundred pieces, not 600,000 (whose list alone took the
# loop 30-80 ms to walk, and twice the message's size in object headers).
GATHER_BYTES = 256 * 1024


class DataReceiver:
    """Content fed piece by piece; ``feed`` says when the end line came.

    Pieces may be cut anywhere, except that the final ``.`` line, when it
    comes, ends a piece (``receive`` guarantees it)."""

    def __init__(self, size_limit: int | None, line_limit: int) -> None:
        self.size_limit = size_limit
        self.line_limit = line_limit
        self.state = DataState.NOMINAL
        self.size = 0  # octets of content lines, with CRLFs and stuffed dots
        self._kept: list[bytes] = []  # unstuffed complete lines
        self._small: list[bytes] = []  # small pieces not yet gathered
        self._small_size = 0
        self._partial = b""  # the current line, not yet ended by CRLF
        self._last2 = b"\r\n"  # the two octets before the next piece

    def feed(self, piece: bytes) -> bool:
        """Take one piece; True when it ended with the final ``.`` line."""
        ctx = piece[-5:] if len(piece) >= 5 else (self._last2 + piece)[-5:]
        done = ctx.endswith(_END) and ctx[:2] == b"\r\n"
        if done:
            piece = piece[: -len(_END)]
            self._last2 = b"\r\n"
        else:
            self._last2 = piece[-2:] if len(piece) >= 2 else self._last2[-1:] + piece
        self.size += len(piece)
        if self.state is not DataState.NOMINAL:
            return done
        text = self._partial + piece if self._partial else piece
        cut = len(text) if done else text.rfind(b"\r\n") + 2
        lines, self._partial = (text[:cut], text[cut:]) if cut >= 2 else (b"", text)
        longest = max(map(len, lines.split(b"\r\n"))) + 2 if lines else 0
        if self._partial:  # at least this long once its CRLF comes
            crlf = 1 if self._partial.endswith(b"\r") else 2
            longest = max(longest, len(self._partial) + crlf)
        if longest > self.line_limit:
            self._fail(DataState.TOO_LONG)
        elif self.size_limit and self.size > self.size_limit:
            self._fail(DataState.TOO_MUCH)
        elif lines:
            # RFC 5321 4.5.2: drop the first dot of every line that has one
            if lines.startswith(b"."):
                lines = lines[1:]
            self._keep(lines.replace(b"\r\n.", b"\r\n"))
        return done

    def _keep(self, lines: bytes) -> None:
        if len(lines) >= GATHER_BYTES:
            self._gather()
            self._kept.append(lines)
            return
        self._small.append(lines)
        self._small_size += len(lines)
        if self._small_size >= GATHER_BYTES:
            self._gather()

    def _gather(self) -> None:
        if self._small:
            self._kept.append(b"".join(self._small))
            self._small.clear()
            self._small_size = 0

    def _fail(self, state: DataState) -> None:
        self.state = state
        self._kept.clear()  # nothing more is kept: the message is refused
        self._small.clear()
        self._small_size = 0
        self._partial = b""

    def pieces(self) -> list[bytes]:
        """The message in pieces, once ``feed`` returned True and the state
        is NOMINAL (joined by the caller, off the loop when large)."""
        self._gather()
        return self._kept

    def content(self) -> bytes:
        return b"".join(self.pieces())


YIELD_EVERY = 64  # pieces handled between yields to the loop (see receive)


async def receive(
    reader: asyncio.StreamReader, size_limit: int | None, line_limit: int
) -> DataReceiver | None:
    """Read DATA content up to and including the final ``.`` line; None when
    the client went away first.

    ``readuntil`` finds the next ".CRLF" and never reads past it (the final
    line is one, at the start of a line); when the buffer holds more than the
    reader's limit without one, what cannot be part of it is taken with
    ``read``. So a step handles at most what the transport delivered in one
    go (it pauses reading above twice the limit). Only content with many
    lines ending in "." comes in small pieces, and then the loop is given a
    turn every YIELD_EVERY of them."""
    data = DataReceiver(size_limit, line_limit)
    pieces = 0
    while True:
        try:
            piece = await reader.readuntil(_END)
        except asyncio.LimitOverrunError as exc:
            piece = await reader.read(exc.consumed)
        except asyncio.IncompleteReadError:
            return None
        if not piece:
            return None
        if data.feed(piece):
            return data
        pieces += 1
        if pieces % YIELD_EVERY == 0:
            await asyncio.sleep(0)
