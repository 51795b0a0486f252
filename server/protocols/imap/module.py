"""The IMAP module: listeners, sockets and connection limits (RFC 3501, RFC 8314).

What it does
- ``ImapModule(ctx)`` listens on ``ImapSettings.port`` (plain, with STARTTLS
  when a certificate is available) and ``ImapSettings.tls_port`` (implicit TLS,
  RFC 8314 3.3); port 0 means an ephemeral port (tests). Settings are read from
  ``ctx.settings().imap`` at ``start()``; ``configure`` only validates.
- Owns each socket through ``ImapConnection`` (an ``asyncio.Protocol`` with a
  bounded line reader, flow control both ways and STARTTLS via
  ``loop.start_tls``), and runs one ``Session`` (session.py) per connection.
- Limits: IMAP's own ``max_connections_per_ip`` (checked on connect) and
  ``max_connections_per_user`` (checked at login), on top of the base class's
  connection control (bans, access list, global limits), whose refusals are
  sent as ``* BYE``.
- Timeouts: a whole line must arrive within the session's timeout, and a
  literal too, its deadline pushed out by each 64 KiB received; a trickling
  client is logged out rather than holding its slot (``ImapConnection``).
- Logs on ``quicksilver.imap``, each line with the peer; passwords are masked.

What it does not do: parse or interpret commands (parser.py, session.py).

Settings: bind, port, tls_port, plaintext_login, timeout,
max_connections_per_user, max_connections_per_ip; general.max_message_size;
general.hostname (greeting).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl

from server.config.schema import ImapSettings, default_hostname, validate_section
from server.events import SessionClosed, SessionOpened
from server.modules.base import Listener, ListenerModule, ModuleContext, Refusal
from server.policy import peer_ip

from .cache import MetaCache
from .selected import RecentRegistry
from .session import ConnectionClosed, LineTooLong, Services, Session

log = logging.getLogger("quicksilver.imap")

READ_HIGH_WATER = 1024 * 1024  # pause reading when this much is buffered


class ImapConnection(asyncio.Protocol):
    """One client socket; implements ``session.Connection``."""

    def __init__(self, module: ImapModule, implicit_tls: bool) -> None:
        self.module = module
        self.implicit_tls = implicit_tls
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.peer_ip = ""
        self.tls_active = implicit_tls
        self._buf = bytearray()
        self._eof = False
        self._lost = False
        self._data_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self.task: asyncio.Task[None] | None = None
        self.key = 0

    # -- asyncio.Protocol ------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        name = transport.get_extra_info("peername")
        self.peer_ip = peer_ip(name)
        port = name[1] if isinstance(name, tuple) and len(name) > 1 else 0
        self.peer = f"{self.peer_ip}:{port}"
        self.task = asyncio.get_running_loop().create_task(self.module.serve(self))

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > READ_HIGH_WATER and not self._reading_paused:
            assert self.transport is not None
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._lost = True
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

    # -- reading ---------------------------------------------------------------
    def _wake(self) -> None:
        if self._data_waiter is not None and not self._data_waiter.done():
            self._data_waiter.set_result(None)

    def _consumed(self) -> None:
        if self._reading_paused and len(self._buf) < READ_HIGH_WATER // 2:
            self._reading_paused = False
            if self.transport is not None and not self._lost:
                self.transport.resume_reading()

    # Timeouts are per unit of input, not per socket read: a fresh timer on
    # every read would let a client sending a byte every few seconds hold the
    # connection (and, before login, a connection slot) for ever. A line must
    # arrive whole before one deadline; a literal too, except that every
    # LITERAL_PROGRESS octets received push its deadline out by ``timeout``,
    # so a large APPEND over a slow link gets through while a trickle (fewer
    # than LITERAL_PROGRESS octets per ``timeout``) is cut off. The session
    # turns the TimeoutError into "* BYE Autologout" (session.Session.run).
    LITERAL_PROGRESS = 64 * 1024

    @staticmethod
    def _deadline(timeout: float | None) -> float | None:
        if timeout is None:
            return None
        return asyncio.get_running_loop().time() + timeout

    async def _wait(self, deadline: float | None) -> None:
        if self._eof:
            raise ConnectionClosed()
        self._data_waiter = asyncio.get_running_loop().create_future()
        if self._reading_paused:
            self._consumed()
        try:
            async with asyncio.timeout_at(deadline):
                await self._data_waiter
        finally:
            self._data_waiter = None

    async def readline(self, limit: int, timeout: float | None) -> bytes:
        """One line, which must arrive whole within ``timeout`` seconds."""
        deadline = self._deadline(timeout)
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

    def _progress(
        self, timeout: float | None, deadline: float | None, progress: int
    ) -> tuple[float | None, int]:
        """Push a literal's deadline out once LITERAL_PROGRESS octets arrived."""
        if progress >= self.LITERAL_PROGRESS:
            return self._deadline(timeout), progress % self.LITERAL_PROGRESS
        return deadline, progress

    async def readexactly(self, n: int, timeout: float | None) -> bytes:
        """A literal of ``n`` octets (see LITERAL_PROGRESS for the deadline)."""
        deadline = self._deadline(timeout)
        progress = 0
        while len(self._buf) < n:
            if self._reading_paused:
                self._reading_paused = False
                if self.transport is not None and not self._lost:
                    self.transport.resume_reading()
            before = len(self._buf)
            await self._wait(deadline)
            progress += max(0, len(self._buf) - before)
            deadline, progress = self._progress(timeout, deadline, progress)
        data = bytes(self._buf[:n])
        del self._buf[:n]
        self._consumed()
        return data

    async def discard(self, n: int, timeout: float | None) -> None:
        """Skip a refused literal of ``n`` octets, on the same terms as
        readexactly."""
        deadline = self._deadline(timeout)
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

    # -- writing ---------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self._lost:
            self.transport.write(data)

    async def drain(self) -> None:
        if self._lost:
            raise ConnectionClosed()
        if not self._write_paused:
            return
        self._drain_waiter = asyncio.get_running_loop().create_future()
        try:
            await self._drain_waiter
        finally:
            self._drain_waiter = None

    async def starttls(self, context: ssl.SSLContext) -> None:
        # RFC 3501 6.2.1 / CVE-2011-0411: plaintext the client pipelined after
        # STARTTLS must not be read as if it came over TLS.
        self._buf.clear()
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        new = await loop.start_tls(
            self.transport, self, context, server_side=True, ssl_handshake_timeout=30
        )
        if new is None:
            raise ConnectionClosed()
        self.transport = new
        self.tls_active = True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class ImapModule(ListenerModule):
    """IMAP4rev1 server module (see module docstring)."""

    name = "imap"
    title = "IMAP"

    def __init__(self, ctx: ModuleContext) -> None:
        super().__init__(ctx.events, log)
        self.ctx = ctx  # the base class reads it for connection control
        self._ctx = ctx
        self.cache = MetaCache()
        self.recent = RecentRegistry()
        self._per_ip: dict[str, int] = {}
        self._per_user: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._hostname = "localhost"

    def refusal(self, refused: Refusal) -> bytes:
        """RFC 3501 7.1.5: a server refusing a connection sends BYE and closes."""
        return f"* BYE {refused.reason}\r\n".encode("utf-8", "replace")

    def configure(self, cfg: ImapSettings) -> None:
        validate_section("imap", cfg)

    @property
    def settings(self) -> ImapSettings:
        s: ImapSettings = self._ctx.settings().imap
        return s

    def listeners(self) -> list[Listener]:
        s = self.settings
        general = self._ctx.settings().general
        self._hostname = general.hostname or general.domain or default_hostname()
        tls = self._ctx.tls.server_context()
        out = [
            Listener(
                s.bind,
                s.port,
                "starttls" if tls else "none",
                lambda: ImapConnection(self, implicit_tls=False),
            ),
        ]
        if tls is not None:
            out.append(
                Listener(
                    s.bind,
                    s.tls_port,
                    "implicit",
                    lambda: ImapConnection(self, implicit_tls=True),
                    ssl_context=tls,
                )
            )
        else:
            log.warning(
                "no TLS certificate: the implicit-TLS port %d is not opened", s.tls_port
            )
        return out

    # -- connection limits ---------------------------------------------------
    def _user_login(self, address: str) -> bool:
        n = self._per_user.get(address, 0)
        if n >= self.settings.max_connections_per_user:
            return False
        self._per_user[address] = n + 1
        return True

    def _user_logout(self, address: str) -> None:
        n = self._per_user.get(address, 0) - 1
        if n > 0:
            self._per_user[address] = n
        else:
            self._per_user.pop(address, None)

    def services(self) -> Services:
        return Services(
            store=self._ctx.store,
            auth=self._ctx.auth,
            settings=self._ctx.settings,
            tls_context=self._ctx.tls.server_context,
            cache=self.cache,
            recent=self.recent,
            hostname=self._hostname,
            user_login=self._user_login,
            user_logout=self._user_logout,
            count=self.count,
            clock=self._ctx.clock,
        )

    async def serve(self, conn: ImapConnection) -> None:
        """Run one session; the edge where unexpected errors are caught."""
        key = next(self._ids)
        conn.key = key
        ip = conn.peer_ip
        sid = f"imap-{key}"
        if self._per_ip.get(ip, 0) >= self.settings.max_connections_per_ip:
            log.info("[%s] refused: too many connections from this address", conn.peer)
            conn.write(b"* BYE Too many connections from your address\r\n")
            conn.close()
            return
        self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        task = conn.task

        def close() -> None:
            conn.close()
            if task is not None and not task.done():
                task.cancel()

        self.session_opened(key, conn.peer, conn.transport, close)
        self.events.publish(SessionOpened("imap", sid, conn.peer))
        log.info("[%s] connected%s", conn.peer, " (TLS)" if conn.tls_active else "")
        session = Session(conn, self.services())
        try:
            await session.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("[%s] session failed", conn.peer)
            conn.write(b"* BYE Internal error\r\n")
        finally:
            n = self._per_ip.get(ip, 1) - 1
            if n > 0:
                self._per_ip[ip] = n
            else:
                self._per_ip.pop(ip, None)
            conn.close()
            self.session_closed(key)
            self.events.publish(SessionClosed("imap", sid, conn.peer))
            log.info("[%s] disconnected", conn.peer)
