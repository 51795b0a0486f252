"""One buffered reader for the line-based servers (IMAP and POP3).

What it does
- ``LineReader`` is the ``asyncio.Protocol`` under an IMAP or POP3 connection.
  It buffers what the socket delivers and lets one coroutine pull from it:
  ``readline(limit, timeout)`` for a command line, ``readexactly(n, timeout)``
  and ``discard(n, timeout)`` for IMAP literals (RFC 3501 4.3, RFC 7888).
  Replies go out through ``write`` and ``drain``.
- Deadlines are per unit of input, not per socket read: a fresh timer on every
  read would let a client sending one byte every few seconds hold the
  connection (and, before login, a connection slot) for ever. A line must
  arrive whole before one deadline; a literal too, except that every
  ``LITERAL_PROGRESS`` octets received push its deadline out by ``timeout``,
  so a large APPEND over a slow link gets through while a trickle (fewer than
  ``LITERAL_PROGRESS`` octets per ``timeout``) is cut off. A missed deadline
  raises ``TimeoutError``; the protocol says goodbye in its own words.
- Flow control both ways: reading pauses once more than ``high_water`` octets
  wait in the buffer (a client pipelining faster than we answer) and resumes
  when the buffer is below half of it, or whenever a read has to wait for more
  data (a literal larger than the mark); ``drain`` waits while the transport
  asked us to stop writing (a client that does not read its answers).
- ``start_compress`` (IMAP COMPRESS=DEFLATE, RFC 4978): from then on input
  is inflated and output deflated (raw DEFLATE, a sync flush per write).
  Inflating is bounded like reading: at most what fits under the high-water
  mark is inflated at a time, the rest waits compressed (a small packet
  that would inflate to gigabytes never does at once).
- ``start_tls`` upgrades the connection with ``loop.start_tls`` and first
  throws away whatever is buffered: plaintext the client pipelined after
  STARTTLS/STLS must not be read as if it came over TLS (RFC 3501 6.2.1,
  RFC 2595 4; the CVE-2011-0411 class of injection).

What it does not do: parse, decide what a line means, time out an idle
session by itself (callers pass the timeouts their protocol wants), or count
connections (``modules/base.py`` does, from the transport the admission guard
handed over; a subclass registers its session in ``connection_made``).

Limits: ``READ_HIGH_WATER`` buffered octets by default; a line longer than the
``limit`` a caller passes raises ``LineTooLong`` as soon as it is known to be
too long (it never has to arrive whole).
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from typing import Protocol

from server import bytesutil
from server.modules.base import Traffic

# Pause reading once this much unread input is buffered (IMAP: a megabyte is
# some 16 maximal command lines, or a slice of a literal being read).
READ_HIGH_WATER = 1024 * 1024
# Octets of a literal that push its deadline out by one timeout.
LITERAL_PROGRESS = 64 * 1024
# Seconds a STARTTLS/STLS handshake may take.
TLS_HANDSHAKE_TIMEOUT = 30.0


# COMPRESS: octets inflated per step while a read waits for more
INFLATE_STEP = 64 * 1024


class ConnectionClosed(Exception):
    """The peer went away (or we closed): nothing more can be read or sent."""


class LineTooLong(Exception):
    """A line exceeded the caller's limit."""


class Stream(Protocol):
    """What protocol code needs from a connection: ``LineReader`` offers it,
    and a test can offer it without a socket."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    async def readline(self, limit: int, timeout: float | None) -> bytes: ...

    async def readexactly(self, n: int, timeout: float | None) -> bytes: ...

    async def discard(self, n: int, timeout: float | None) -> None: ...

    async def start_tls(
        self, context: ssl.SSLContext, handshake_timeout: float = ...
    ) -> None: ...

    def close(self) -> None: ...

    def start_compress(self) -> None: ...


def _split(buf: bytearray, n: int) -> tuple[bytes, bytearray]:
    """(the first ``n`` octets, the rest) of ``buf``; blocking, large."""
    with memoryview(buf) as view:
        return bytesutil.slice_of(view, 0, n), bytearray(view[n:])


def _deadline(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    return asyncio.get_running_loop().time() + timeout


class LineReader(asyncio.Protocol):
    """A connection's buffered input and its output (see the module docstring).

    One coroutine reads at a time. Subclasses extend ``connection_made`` (call
    this one first) to register the session and start their read loop.
    """

    def __init__(self, *, high_water: int = READ_HIGH_WATER) -> None:
        self.high_water = high_water
        self.transport: asyncio.Transport | None = None
        self.tls_active = False
        self.lost = False  # connection_lost ran: the socket is gone
        self._buf = bytearray()
        self._eof = False
        self._data_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self.traffic = Traffic()  # the Sessions view's byte counts
        # COMPRESS=DEFLATE (start_compress): the streams, and input that
        # waits compressed until there is room to inflate it
        self._inflate: zlib._Decompress | None = None
        self._deflate: zlib._Compress | None = None
        self._compressed = b""

    # -- asyncio.Protocol --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.traffic.received += len(data)
        if self._inflate is not None:
            self._compressed += data
            self._inflate_some()
            self._wake()
            return
        self._buf += data
        if len(self._buf) > self.high_water and not self._reading_paused:
            self._reading_paused = True
            if self.transport is not None:
                self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._wake()
        return None  # close our side too; what is buffered can still be read

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self.lost = True
        self._wake()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(ConnectionClosed())
            self._drain_waiter.exception()  # mark retrieved

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # -- the buffer --------------------------------------------------------
    def buffered_lines(self) -> list[bytes]:
        """The complete lines waiting in the buffer (each with its LF)."""
        return [line + b"\n" for line in bytes(self._buf).split(b"\n")[:-1]]

    def clear_buffer(self) -> None:
        """Forget unread input (a connection being aborted, or STARTTLS)."""
        self._buf.clear()
        self._consumed()

    def _wake(self) -> None:
        if self._data_waiter is not None and not self._data_waiter.done():
            self._data_waiter.set_result(None)

    def _resume(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            if self.transport is not None and not self.lost:
                self.transport.resume_reading()

    def _consumed(self) -> None:
        if self._compressed:
            self._inflate_some()
        if (
            self._reading_paused
            and len(self._buf) < self.high_water // 2
            and not self._compressed
        ):
            self._resume()

    def _inflate_some(self, wanted: bool = False) -> None:
        """Inflate what fits under the high-water mark (``wanted``: a read
        waits for more, so at least ``INFLATE_STEP`` more); pause reading
        while compressed input is left over."""
        assert self._inflate is not None
        room = max(self.high_water - len(self._buf), INFLATE_STEP if wanted else 0)
        if room and self._compressed:
            try:
                out = self._inflate.decompress(self._compressed, room)
            except zlib.error:
                self._compressed = b""
                self._eof = True  # not DEFLATE: the stream is over
                if self.transport is not None:
                    self.transport.close()
                return
            self._compressed = self._inflate.unconsumed_tail
            self._buf += out
        if (self._compressed or len(self._buf) > self.high_water) and not (
            self._reading_paused
        ):
            self._reading_paused = True
            if self.transport is not None:
                self.transport.pause_reading()

    def start_compress(self) -> None:
        """COMPRESS=DEFLATE from now on, both ways (RFC 4978); what the
        client sent after its COMMAND is already compressed."""
        self._inflate = zlib.decompressobj(-15)
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        self._compressed, self._buf = bytes(self._buf), bytearray()
        self._inflate_some()

    @property
    def compressing(self) -> bool:
        return self._deflate is not None

    async def _wait(self, deadline: float | None) -> None:
        """Wait for more input until ``deadline``; a read that must wait
        needs more than is buffered, so reading resumes whatever the mark."""
        if self._eof:
            raise ConnectionClosed()
        if self._compressed:  # a read wants more: inflate before asking for it
            before = len(self._buf)
            self._inflate_some(wanted=True)
            if len(self._buf) > before:
                return
        self._resume()
        self._data_waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout_at(deadline):
                await self._data_waiter
        finally:
            self._data_waiter = None

    # -- reading -----------------------------------------------------------
    async def readline(self, limit: int, timeout: float | None) -> bytes:
        """One line with its line end, which must arrive whole within
        ``timeout`` seconds; longer than ``limit`` octets: ``LineTooLong``."""
        deadline = _deadline(timeout)
        while True:
            idx = self._buf.find(b"\n")
            if idx >= 0:
                if idx + 1 > limit:
                    raise LineTooLong()
                line = bytes(self._buf[: idx + 1])
                del self._buf[: idx + 1]
                self._consumed()
                return line
            if len(self._buf) > limit:
                raise LineTooLong()
            await self._wait(deadline)

    @staticmethod
    def _progress(
        timeout: float | None, deadline: float | None, progress: int
    ) -> tuple[float | None, int]:
        """Push a literal's deadline out once LITERAL_PROGRESS octets arrived."""
        if progress >= LITERAL_PROGRESS:
            return _deadline(timeout), progress % LITERAL_PROGRESS
        return deadline, progress

    async def readexactly(self, n: int, timeout: float | None) -> bytes:
        """A literal of ``n`` octets (see LITERAL_PROGRESS for the deadline)."""
        deadline = _deadline(timeout)
        progress = 0
        while len(self._buf) < n:
            before = len(self._buf)
            await self._wait(deadline)
            progress += max(0, len(self._buf) - before)
            deadline, progress = self._progress(timeout, deadline, progress)
        if n < bytesutil.OFF_LOOP_COPY:
            data = bytes(self._buf[:n])
            del self._buf[:n]
        else:
            # a large literal is copied out in a worker thread: the buffer is
            # handed over whole, and what arrives meanwhile goes to a new one
            buf, self._buf = self._buf, bytearray()
            data, rest = await asyncio.to_thread(_split, buf, n)
            rest += self._buf
            self._buf = rest
        self._consumed()
        return data

    async def discard(self, n: int, timeout: float | None) -> None:
        """Skip ``n`` octets (a refused literal) without keeping them, on the
        same terms as ``readexactly``."""
        deadline = _deadline(timeout)
        progress = 0
        while n > 0:
            if not self._buf:
                await self._wait(deadline)
            k = min(n, len(self._buf))
            del self._buf[:k]
            n -= k
            progress += k
            deadline, progress = self._progress(timeout, deadline, progress)
            self._consumed()

    # -- writing -----------------------------------------------------------
    def write(self, data: bytes) -> None:
        if data and self.transport is not None and not self.lost:
            if self._deflate is not None:
                data = self._deflate.compress(data) + self._deflate.flush(
                    zlib.Z_SYNC_FLUSH
                )
            self.traffic.sent += len(data)
            self.transport.write(data)

    async def drain(self) -> None:
        """Wait until the transport takes more; ``ConnectionClosed`` if the
        peer went away (so long answers stop being produced)."""
        if self.lost:
            raise ConnectionClosed()
        if not self._write_paused:
            return
        self._drain_waiter = asyncio.get_running_loop().create_future()
        try:
            await self._drain_waiter
        finally:
            self._drain_waiter = None

    async def start_tls(
        self,
        context: ssl.SSLContext,
        handshake_timeout: float = TLS_HANDSHAKE_TIMEOUT,
    ) -> None:
        """Upgrade to TLS (server side); buffered plaintext is discarded.
        Raises what the handshake raises, or ``ConnectionClosed``."""
        self.clear_buffer()
        if self.transport is None or self.lost:
            raise ConnectionClosed()
        loop = asyncio.get_running_loop()
        new = await loop.start_tls(
            self.transport,
            self,
            context,
            server_side=True,
            ssl_handshake_timeout=handshake_timeout,
        )
        if new is None:
            raise ConnectionClosed()
        self.transport = new
        self.tls_active = True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
