"""The ManageSieve module: the listener, connections and TLS for
``ManageSieveSession`` (RFC 5804).

What it does
- Listens on ``ManageSieveSettings.port`` (4190, RFC 5804 1.8) in plaintext,
  offering STARTTLS when a certificate is usable (2.2). There is no
  implicit-TLS port: RFC 5804 defines none.
- One ``ManageSieveProtocol`` per connection, built on the shared
  ``server.protocols.linereader.LineReader``. It reads whole commands: a line
  and, for each literal the line announces (``{n+}`` or ``{n}``: RFC 5804 4),
  the literal and the next line, then feeds the command to the session and
  writes the reply with flow control. After STARTTLS it upgrades with
  ``loop.start_tls``, throwing away what the client pipelined in plaintext
  (CVE-2011-0411 class), and sends the capabilities again (2.2).
- A literal above ``max_literal`` (the store's largest script plus
  ``LITERAL_SLACK``) is never read into memory: since clients send
  non-synchronizing literals, it is read past and dropped
  (``LineReader.discard``) and the command refused with NO (QUOTA/MAXSIZE);
  above ``MAX_DISCARD`` the connection says BYE and closes instead.
- A line above ``parser.MAX_LINE`` gets BYE. Idle connections are closed
  after ``ManageSieveSettings.timeout`` seconds (BYE); a command must arrive
  whole within that time (the reader's deadlines), so a client trickling a
  byte at a time cannot hold a slot.
- Connection control (bans, access list, per-IP limits, the shared total) is
  the ``_AdmissionGuard``'s, as for every module; ``stop()`` closes every
  session with BYE (TRYLATER).

What it does not do: protocol decisions (``session.py``), parsing
(``parser.py``) or rendering (``responses.py``). It never shows a client a
traceback or a path: the edge catch-all logs the traceback and says BYE.

Logging: logger ``quicksilver.managesieve``; every session line starts with
the peer; commands are logged at DEBUG through ``parser.mask_for_log``
(SASL data and scripts never reach the log).

Settings: ``ManageSieveSettings`` (bind, port, plaintext_login, timeout,
access), read from ``ctx.settings().managesieve`` at ``start()``;
``configure`` only validates. The scripts live in the core's shared
``ScriptStore`` (``ctx.scripts``), the one local delivery reads.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl

from server.config.schema import ManageSieveSettings, Settings, validate_section
from server.events import SessionClosed, SessionOpened
from server.greeting import greeting_text
from server.modules.base import (
    Listener,
    ListenerModule,
    ModuleContext,
    ModuleStartError,
    Refusal,
)
from server.policy import peer_ip
from server.protocols.linereader import (
    TLS_HANDSHAKE_TIMEOUT,
    ConnectionClosed,
    LineReader,
    LineTooLong,
)
from server.protocols.managesieve import responses as R
from server.protocols.managesieve.parser import (
    MAX_LINE,
    MAX_LITERALS,
    literal_request,
    mask_for_log,
)
from server.protocols.managesieve.session import (
    LOGIN_DELAY,
    ManageSieveSession,
)
from server.protocols.session_io import PeerLogger, Reply
from server.sieve.store import ScriptStore

LOGGER_NAME = "quicksilver.managesieve"
# Room above the largest script for a literal: a script a little too large is
# read (it is small anyway) and refused by the store with its own message.
LITERAL_SLACK = 64 * 1024
# A refused literal above this is not read past: BYE and close (reading
# gigabytes to throw them away would only cost time and bandwidth).
MAX_DISCARD = 16 * 1024 * 1024
# Unread pipelined input before we stop reading from the socket: a few
# command lines (literals are read with the reader's own flow control).
READ_HIGH_WATER = 8 * MAX_LINE


class LiteralTooLarge(Exception):
    """A literal too large to read past: the connection is closed."""


class ManageSieveModule(ListenerModule):
    """The ManageSieve server module (``name`` "managesieve")."""

    name = "managesieve"
    title = "ManageSieve"

    def __init__(
        self,
        ctx: ModuleContext,
        *,
        login_delay: float = LOGIN_DELAY,
        idle_timeout: float | None = None,
    ) -> None:
        super().__init__(ctx.events, logging.getLogger(LOGGER_NAME))
        self.ctx = ctx  # the base class reads it for connection control
        self.context: ModuleContext = ctx
        self.login_delay = login_delay
        self._idle_override = idle_timeout
        self.settings = ManageSieveSettings()
        self.tls_context: ssl.SSLContext | None = None
        self.protocols: set[ManageSieveProtocol] = set()
        self._ids = itertools.count(1)

    # -- life ---------------------------------------------------------------
    def configure(self, settings: Settings) -> None:
        """Validate only; the values are read again at ``start()``."""
        validate_section("managesieve", settings.managesieve)

    @property
    def idle_timeout(self) -> float:
        if self._idle_override is not None:
            return self._idle_override
        return float(self.settings.timeout)

    @property
    def scripts(self) -> ScriptStore:
        scripts = self.context.scripts
        if scripts is None:
            raise ModuleStartError("ManageSieve needs the Sieve script store.")
        return scripts

    @property
    def max_literal(self) -> int:
        return self.scripts.max_script_bytes + LITERAL_SLACK

    def listeners(self) -> list[Listener]:
        settings = self.context.settings()
        self.configure(settings)
        cfg = settings.managesieve
        self.settings = cfg
        _ = self.scripts  # fail to start, not per connection, without a store
        try:
            self.tls_context = self.context.tls.server_context()
        except Exception as exc:  # a bad certificate must not stop the module
            self.log.warning("TLS unavailable: %s", exc)
            self.tls_context = None
        if self.tls_context is None:
            self.log.warning("no usable TLS certificate: STARTTLS not offered")
        return [
            Listener(
                cfg.bind,
                cfg.port,
                "starttls" if self.tls_context is not None else "none",
                lambda: ManageSieveProtocol(self),
            )
        ]

    async def stop(self) -> None:
        tasks = [p.task for p in self.protocols if p.task is not None]
        await super().stop()
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    def refusal(self, refused: Refusal) -> bytes:
        """What a client refused by connection control reads (RFC 5804 1.3)."""
        return R.bye(refused.reason, "TRYLATER" if refused.temporary else "")

    def next_session_id(self) -> str:
        return f"managesieve-{next(self._ids)}"


class ManageSieveProtocol(LineReader):
    """One ManageSieve connection: the shared ``LineReader`` (buffering, flow
    control, STARTTLS) and the loop that feeds whole commands to the session."""

    def __init__(self, module: ManageSieveModule) -> None:
        super().__init__(high_water=READ_HIGH_WATER)
        self.module = module
        self.task: asyncio.Task[None] | None = None
        self.peer = "?"
        self.ip = ""
        self.session_id = ""
        self.log: logging.Logger | logging.LoggerAdapter[logging.Logger] = module.log
        self.session: ManageSieveSession | None = None
        self._aborted = False  # stop() or idle timeout: answer nothing more
        self._finished = False

    # -- asyncio callbacks --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        module = self.module
        peername = transport.get_extra_info("peername")
        self.ip = peer_ip(peername)
        port = peername[1] if isinstance(peername, tuple) and len(peername) > 1 else ""
        self.peer = f"{self.ip}:{port}" if port != "" else (self.ip or "?")
        self.log = PeerLogger(module.log, {"peer": self.peer})
        self.session_id = module.next_session_id()
        module.protocols.add(self)
        module.session_opened(
            id(self), self.peer, transport, close=self.abort, traffic=self.traffic
        )
        module.events.publish(SessionOpened(module.name, self.session_id, self.peer))
        self.log.info("connected")
        self.session = ManageSieveSession(
            module.scripts,
            module.context.auth,
            peer=self.peer,
            peer_ip=self.ip,
            tls_active=False,
            tls_available=module.tls_context is not None,
            plaintext_login=module.settings.plaintext_login,
            login_delay=module.login_delay,
            count=module.count,
            logger=self.log,
            ready=greeting_text(
                "Quicksilver ManageSieve ready.",
                "",
                False,
                module.context.settings().capture.enabled,
            ),
        )
        self.write(self.session.greeting())
        self.task = asyncio.get_running_loop().create_task(self._run())

    # -- control ------------------------------------------------------------
    def abort(self, reason: str = "Server shutting down.") -> None:
        """Say BYE and close (stop(), idle timeout)."""
        if self._aborted:
            return
        self._aborted = True
        self.clear_buffer()
        if not self.lost:
            self.write(R.bye(reason, "TRYLATER"))
            self.close()

    # -- reading ------------------------------------------------------------
    async def read_command(self) -> bytes | Reply:
        """One whole command: a line and the literals it announces (RFC 5804
        4), or the session's answer when a literal was refused."""
        session = self.session
        assert session is not None
        timeout = self.module.idle_timeout
        line = await self.readline(MAX_LINE, timeout)
        parts = [line]
        literals = 0
        limit = self.module.max_literal
        while (req := literal_request(line)) is not None:
            size, _nonsync = req  # both forms are read at once (parser.py)
            literals += 1
            if size > limit or literals > MAX_LITERALS:
                if size > MAX_DISCARD:
                    raise LiteralTooLarge()
                await self._skip_command(size)
                return session.literal_refused(size, limit)
            parts.append(await self.readexactly(size, timeout))
            line = await self.readline(MAX_LINE, timeout)
            parts.append(line)
        return b"".join(parts)

    async def _skip_command(self, size: int) -> None:
        """Read past a refused literal and the rest of its command."""
        timeout = self.module.idle_timeout
        while True:
            await self.discard(size, timeout)
            line = await self.readline(MAX_LINE, timeout)
            req = literal_request(line)
            if req is None:
                return
            size = req[0]
            if size > MAX_DISCARD:
                raise LiteralTooLarge()

    # -- the session loop ---------------------------------------------------
    async def _run(self) -> None:
        session = self.session
        assert session is not None
        try:
            while not self._aborted:
                try:
                    data = await self.read_command()
                except LineTooLong:
                    self.log.info("line too long, closing")
                    self.write(R.bye("Line too long."))
                    self.close()
                    return
                except LiteralTooLarge:
                    self.log.info("literal too large to read past, closing")
                    self.write(R.bye("Literal too large."))
                    self.close()
                    return
                except TimeoutError:
                    self.log.info("idle timeout, closing")
                    self.abort("Disconnected for inactivity.")
                    return
                except ConnectionClosed:
                    return
                if isinstance(data, Reply):
                    reply = data
                else:
                    if self.log.isEnabledFor(logging.DEBUG):
                        sasl = session.awaiting_sasl
                        shown = "(SASL response)" if sasl else mask_for_log(data)
                        self.log.debug("C: %s", shown)
                    reply = await session.handle(data)
                if self._aborted:
                    return
                self.write(reply.data)
                if self.log.isEnabledFor(logging.DEBUG) and reply.data:
                    last = reply.data.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1][:120]
                    self.log.debug("S: %s", last.decode("utf-8", "replace"))
                if reply.close:
                    self.close()
                    return
                if reply.start_tls:
                    if not await self._start_tls():
                        return
                    self.write(session.tls_started())
                await self._drain()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("unexpected error in the ManageSieve connection")
            self.write(R.bye("Internal server error.", "TRYLATER"))
            self.close()
        finally:
            self._finish()

    async def _drain(self) -> None:
        try:
            await self.drain()
        except ConnectionClosed:
            pass  # the next read ends the loop

    async def _start_tls(self) -> bool:
        """STARTTLS accepted: the OK goes out in plaintext, then the handshake
        (what the client pipelined after STARTTLS is dropped by ``start_tls``)."""
        tls = self.module.tls_context
        if tls is None:
            self.close()
            return False
        try:
            await self.drain()
            await self.start_tls(tls, TLS_HANDSHAKE_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except ConnectionClosed:
            self.close()
            return False
        except Exception as exc:
            self.log.info("TLS negotiation failed: %s", exc)
            self.close()
            return False
        assert self.transport is not None
        cipher = self.transport.get_extra_info("cipher", ("?",))[0]
        self.log.info("TLS started (%s)", cipher)
        return True

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self.session is not None:
            self.session.close()
        self.close()
        module = self.module
        module.protocols.discard(self)
        module.session_closed(id(self))
        module.events.publish(SessionClosed(module.name, self.session_id, self.peer))
        self.log.info("disconnected")
