"""The IMAP conversation on one connection: all the reading, none of the
deciding.

``converse(stream, session)`` is the read loop. It sends the greeting, reads
whole commands (a line, and for each literal it announces, the literal and
the next line: RFC 3501 4.3), hands them to the session and follows the
steps a handler returns (steps.py): TLS after STARTTLS, the line answering an
AUTHENTICATE continuation, and IDLE's wait for DONE or for changes. The
``stream`` is the shared ``linereader.LineReader`` (module.py) or, in tests,
anything with the same methods.

Literals (RFC 3501 7.5, RFC 7888): a synchronizing literal gets a ``+``
before it is read, a non-synchronizing one (LITERAL+) none. A literal above
the session's limit is refused without reading it into memory: a
synchronizing one is never sent by the client; a LITERAL+ one is read past
and thrown away, unless it is above ``MAX_DISCARD``, when the connection
answers BAD and closes (RFC 7888 4).

The end: ``* BYE`` on a line above ``MAX_LINE`` (a command's, or one read
inside a command: an AUTHENTICATE response, IDLE's DONE), on ``MAX_BAD_COMMANDS`` BADs
in a row, and when a command (or a literal's progress) does not arrive within
the session's timeout (the reader's deadlines: linereader.py); the session is
closed (mailbox unwatched, user slot returned) however the loop ends.

Limits: ``MAX_LINE``, ``MAX_LITERALS_PER_COMMAND``, the whole command at most
the literal limit plus four lines, ``MAX_DISCARD``; ``IDLE_KEEPALIVE``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from server import bytesutil
from server.protocols.linereader import (
    TLS_HANDSHAKE_TIMEOUT,
    ConnectionClosed,
    LineTooLong,
    Stream,
)

from . import responses as R
from .grammar import literal_request, split_tag
from .session import Session
from .steps import Compress, Idling, ReadLine, StartTls, Step

MAX_LINE = 64 * 1024  # one command line; RFC 7162 3 asks for at least 8192
MAX_LITERALS_PER_COMMAND = 1000
MAX_DISCARD = 64 * 1024 * 1024  # a refused LITERAL+ above this closes the link
IDLE_KEEPALIVE = 120.0  # "* OK Still here" during IDLE, for NAT boxes (Dovecot)


class LiteralTooLarge(Exception):
    """A LITERAL+ too large to read past: the connection is closed."""


def _bye(stream: Stream, text: str) -> None:
    stream.write(R.Status("*", "BYE", text).render())


async def converse(stream: Stream, session: Session) -> None:
    """Serve one session until LOGOUT, BYE or the client goes away."""
    stream.write(session.greeting())
    try:
        while not session.logged_out:
            try:
                data = await read_command(stream, session)
                if data is None:
                    continue
                step = await session.handle(data)
                while step is not None:  # a line inside a command may be long too
                    step = await _follow(stream, session, step)
            except LineTooLong:
                stream.write(R.Status("*", "BAD", "Command line too long").render())
                _bye(stream, "Closing connection")
                session.log(logging.INFO, "command line too long, closing")
                break
            except LiteralTooLarge:
                _bye(stream, "Closing connection")
                break
            await stream.drain()
            if session.too_many_bad:
                _bye(stream, "Too many invalid commands")
                session.log(logging.INFO, "too many invalid commands, closing")
                break
    except TimeoutError:
        _bye(stream, "Autologout; idle for too long")
        session.log(logging.INFO, "idle timeout")
    except (ConnectionClosed, ConnectionError, EOFError):
        session.log(logging.DEBUG, "client went away")
    finally:
        await session.close()


def _crlf(line: bytes) -> bytes:
    """A line ended by a bare LF (tolerated) as ended by CRLF: the grammar's
    literal announcement (``{n}`` CRLF) holds for it too, and the parser's
    stripping of the command's line end cannot take a CR that ends the
    literal before it."""
    return line if line.endswith(b"\r\n") else line[:-1] + b"\r\n"


async def read_command(stream: Stream, session: Session) -> bytes | None:
    """One whole command: lines and literals (RFC 3501 4.3, RFC 7888), or
    None when a literal was refused (the session has answered)."""
    line = _crlf(await stream.readline(MAX_LINE, session.timeout))
    parts = [line]
    total = len(line)
    literals = 0
    while True:
        req = literal_request(line)
        if req is None:
            return await bytesutil.join(parts)  # off the loop when large
        size, nonsync = req
        literals += 1
        total += size
        limit = session.max_literal
        if (
            size > limit
            or literals > MAX_LITERALS_PER_COMMAND
            or (total > limit + MAX_LINE * 4)
        ):
            tag = split_tag(parts[0])
            if nonsync and size > MAX_DISCARD:
                # RFC 7888 4: rather than read that much, say so and close
                session.tagged(tag, "BAD", "Literal too large")
                session.log(logging.INFO, "LITERAL+ of %d octets, closing", size)
                raise LiteralTooLarge()
            if nonsync:
                await _skip_command(stream, session, size)
            session.literal_refused(tag, size)
            return None
        if not nonsync:
            stream.write(b"+ Ready for literal data\r\n")
            await stream.drain()
        parts.append(await stream.readexactly(size, session.timeout))
        line = _crlf(await stream.readline(MAX_LINE, session.timeout))
        parts.append(line)
        total += len(line)


async def _skip_command(stream: Stream, session: Session, size: int) -> None:
    """Read past a refused LITERAL+ literal and the rest of its command."""
    while True:
        await stream.discard(size, session.timeout)
        line = await stream.readline(MAX_LINE, session.timeout)
        req = literal_request(line)
        if req is None or not req[1]:
            return
        size = req[0]


async def _follow(stream: Stream, session: Session, step: Step) -> Step | None:
    """Do what a handler asked once it had answered (steps.py)."""
    if isinstance(step, StartTls):
        await stream.drain()  # the OK goes out in plaintext first
        try:
            # discards what the client pipelined after STARTTLS
            await stream.start_tls(step.context, TLS_HANDSHAKE_TIMEOUT)
        except (ssl.SSLError, OSError) as exc:
            session.log(logging.INFO, "TLS handshake failed: %s", exc)
            raise ConnectionClosed() from exc
        session.tls_started()
        return None
    if isinstance(step, ReadLine):
        line = await stream.readline(MAX_LINE, session.timeout)
        return await session.resume(step, line)
    if isinstance(step, Compress):
        stream.start_compress()  # the OK is already with the transport
        return None
    await _idle(stream, session, step)
    return None


async def _idle(stream: Stream, session: Session, step: Idling) -> None:
    """RFC 2177: until the client's line (DONE) arrives, send what changes
    in the selected mailbox, and a keepalive after ``IDLE_KEEPALIVE`` quiet
    seconds. The line must come within the session's timeout (RFC 2177
    asks clients to re-issue IDLE at least every 29 minutes)."""
    read = asyncio.ensure_future(stream.readline(MAX_LINE, session.timeout))
    try:
        while True:
            changes = session.idle_changes()
            waiters: set[asyncio.Future[Any]] = {read}
            change: asyncio.Future[Any] | None = None
            if changes is not None:
                change = asyncio.ensure_future(changes.wait())
                waiters.add(change)
            try:
                done, _ = await asyncio.wait(
                    waiters, timeout=IDLE_KEEPALIVE, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                if change is not None and not change.done():
                    change.cancel()
            if read.done():
                line = read.result()
                break
            if not await session.idle_update(step.cmd, keepalive=not done):
                return
            await stream.drain()
    finally:
        if not read.done():
            read.cancel()
        elif not read.cancelled():
            read.exception()  # the client went while we wrote: seen, not raised
    await session.idle_done(step.cmd, line)
