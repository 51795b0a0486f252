"""The POP3 module: listeners, connections and TLS for ``Pop3Session``.

What it does
- Listens on ``Pop3Settings.port`` (plain, STLS offered when a certificate is
  usable: RFC 2595 section 4) and on ``Pop3Settings.tls_port`` (implicit TLS,
  RFC 8314 section 3.3) with ``ctx.tls.server_context()``. Without a usable
  certificate the implicit-TLS port is not opened and STLS is not offered.
- One ``Pop3Protocol`` per connection, built on the shared
  ``server.protocols.linereader.LineReader``: it reads the byte stream a line
  at a time (pipelining, RFC 2449 section 6.6), feeds the lines to the session
  one at a time, writes the replies with flow control, upgrades with
  ``loop.start_tls`` on STLS and throws away anything the client pipelined in
  plaintext after STLS (CVE-2011-0411 class).
- Closes idle connections after ``Pop3Settings.timeout`` seconds (RFC 1939
  section 3: at least 10 minutes) without entering UPDATE; a line must arrive
  whole within that time, so a client sending a byte at a time cannot hold a
  slot; refuses banned addresses at connect (``ctx.auth.is_banned``); closes a
  connection whose line exceeds ``parser.MAX_LINE_HARD``. A dropped connection
  answers only what it pipelined before a QUIT (so UPDATE still happens).
- ``stop()`` closes every live session without applying deletions.

What it does not do: protocol decisions (``session.py``) or parsing
(``parser.py``). It never shows a client a traceback or a path: the edge
catch-all logs the traceback and answers ``-ERR [SYS/TEMP]``.

Logging: logger ``quicksilver.pop3``; every session line starts with the peer;
client commands are logged at DEBUG through ``parser.mask_for_log`` (passwords
and SASL data never reach the log).

Settings: ``Pop3Settings`` (bind, port, tls_port, plaintext_login, timeout),
read from ``ctx.settings().pop3`` at ``start()``; ``configure`` only validates.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl

from server.config.schema import (
    Pop3Settings,
    Settings,
    default_hostname,
    validate_section,
)
from server.errors import ValidationError
from server.events import SessionClosed, SessionOpened
from server.greeting import greeting_text
from server.modules.base import Listener, ListenerModule, ModuleContext, Refusal
from server.policy import peer_ip
from server.protocols.linereader import (
    TLS_HANDSHAKE_TIMEOUT,
    ConnectionClosed,
    LineReader,
    LineTooLong,
)
from server.protocols.pop3.parser import MAX_LINE_HARD, mask_for_log
from server.protocols.pop3.replies import err
from server.protocols.pop3.session import (
    LOGIN_DELAY,
    MaildropLocks,
    Pop3Session,
)
from server.protocols.session_io import PeerLogger

LOGGER_NAME = "quicksilver.pop3"
# Unread pipelined input before we stop reading from the socket: eight lines
# of the longest kind (``MAX_LINE_HARD``), some 2,000 ordinary commands.
READ_HIGH_WATER = 8 * MAX_LINE_HARD
# RFC 1939 section 3: "an autologout timer ... of at least 10 minutes".
MIN_IDLE_TIMEOUT = 600


class Pop3Module(ListenerModule):
    """MercuryP: the POP3 server module (``name`` "pop3")."""

    name = "pop3"
    title = "POP3"

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
        self.locks = MaildropLocks()
        self.login_delay = login_delay
        self.last_logins: dict[str, float] = {}  # LOGIN-DELAY (RFC 2449)
        self._idle_override = idle_timeout
        self.settings = Pop3Settings()
        self.hostname = ""
        self.tls_context: ssl.SSLContext | None = None
        self.protocols: set[Pop3Protocol] = set()
        self._ids = itertools.count(1)

    # -- life ---------------------------------------------------------------
    def configure(self, settings: Settings) -> None:
        """Validate only; the values are read again at ``start()``."""
        cfg = settings.pop3
        validate_section("pop3", cfg)
        if cfg.port and cfg.port == cfg.tls_port:
            raise ValidationError(
                "pop3.tls_port: must differ from pop3.port", field="pop3.tls_port"
            )

    @property
    def idle_timeout(self) -> float:
        if self._idle_override is not None:
            return self._idle_override
        return float(self.settings.timeout)

    def listeners(self) -> list[Listener]:
        settings = self.context.settings()
        self.configure(settings)
        cfg = settings.pop3
        self.settings = cfg
        if cfg.timeout < MIN_IDLE_TIMEOUT:
            self.log.warning(
                "pop3.timeout is %d s; RFC 1939 asks for at least %d s",
                cfg.timeout,
                MIN_IDLE_TIMEOUT,
            )
        self.hostname = settings.general.hostname or default_hostname()
        try:
            self.tls_context = self.context.tls.server_context()
        except Exception as exc:  # a bad certificate must not stop plain POP3
            self.log.warning("TLS unavailable: %s", exc)
            self.tls_context = None
        tls = self.tls_context
        result = [
            Listener(
                cfg.bind,
                cfg.port,
                "starttls" if tls is not None else "none",
                lambda: Pop3Protocol(self, implicit_tls=False),
            )
        ]
        if tls is not None:
            result.append(
                Listener(
                    cfg.bind,
                    cfg.tls_port,
                    "implicit",
                    lambda: Pop3Protocol(self, implicit_tls=True),
                    ssl_context=tls,
                )
            )
        else:
            self.log.warning(
                "no usable TLS certificate: port %d (implicit TLS) not opened and "
                "STLS not offered",
                cfg.tls_port,
            )
        return result

    async def stop(self) -> None:
        tasks = [p.task for p in self.protocols if p.task is not None]
        await super().stop()
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    def refusal(self, refused: Refusal) -> bytes:
        """What a client refused by connection control reads (RFC 2449 s. 8)."""
        return err(f"[SYS/TEMP] {refused.reason}")

    def next_session_id(self) -> str:
        return f"pop3-{next(self._ids)}"


class Pop3Protocol(LineReader):
    """One POP3 connection: the shared ``LineReader`` (buffering, flow
    control, STLS) and the loop that feeds its lines to the session."""

    def __init__(self, module: Pop3Module, *, implicit_tls: bool) -> None:
        super().__init__(high_water=READ_HIGH_WATER)
        self.module = module
        self.implicit_tls = implicit_tls
        self.tls_active = implicit_tls
        self.task: asyncio.Task[None] | None = None
        self.peer = "?"
        self.ip = ""
        self.session_id = ""
        self.log: logging.Logger | logging.LoggerAdapter[logging.Logger] = module.log
        self.session: Pop3Session | None = None
        self._aborted = False  # stop() or idle timeout: answer nothing more
        self._banned = False
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
            id(self),
            self.peer,
            transport,
            close=self.abort,
            describe=self._describe,
            traffic=self.traffic,
        )
        module.events.publish(SessionOpened(module.name, self.session_id, self.peer))
        self.log.info("connected%s", " (TLS)" if self.implicit_tls else "")
        tls = module.tls_context
        self.session = Pop3Session(
            module.context.store,
            module.context.auth,
            module.locks,
            peer=self.peer,
            peer_ip=self.ip,
            tls_active=self.implicit_tls,
            tls_available=tls is not None and not self.implicit_tls,
            plaintext_login=module.settings.plaintext_login,
            hostname=module.hostname,
            banner=greeting_text(
                "Quicksilver POP3 server ready",
                module.settings.banner,
                module.settings.show_version,
                module.context.settings().capture.enabled,
            ),
            login_delay=module.login_delay,
            on_message=module.count_message,
            logger=self.log,
            legacy=module.settings.legacy_auth
            and module.context.auth.legacy_available(),
            login_interval=module.settings.min_login_interval,
            last_logins=module.last_logins,
        )
        try:
            banned = bool(module.context.auth.is_banned(self.ip))
        except Exception:
            self.log.exception("ban check failed")
            banned = False
        if banned:
            self._banned = True
            self.log.info("refused: address is banned")
            self.write(
                err("[SYS/TEMP] Too many failed logins from your address; try later")
            )
            self.close()
        else:
            self.write(self.session.greeting())
        self.task = asyncio.get_running_loop().create_task(self._run())

    def _describe(self) -> tuple[str, str]:
        session = getattr(self, "session", None)
        if session is None:
            return "", ""
        return session.owner or "", session.doing

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # Only a QUIT the client already sent can still take us to UPDATE;
        # anything else pipelined before the drop is not worth answering (a
        # RETR would mark as read a message nobody received).
        if not any(line[:4].upper() == b"QUIT" for line in self.buffered_lines()):
            self.clear_buffer()

    # -- control ------------------------------------------------------------
    def abort(self, reason: str = "Server shutting down") -> None:
        """Close without UPDATE (stop(), idle timeout)."""
        if self._aborted:
            return
        self._aborted = True
        self.clear_buffer()
        if not self.lost:
            self.write(err(f"[SYS/TEMP] {reason}"))
            self.close()

    # -- the session loop ---------------------------------------------------
    async def _run(self) -> None:
        session = self.session
        assert session is not None
        try:
            if self._banned:
                return
            while not self._aborted:
                try:
                    # RFC 1939 3: the autologout timer. Only a whole line
                    # counts as activity: a client trickling one byte at a
                    # time (slowloris) still meets the idle timeout.
                    line = await self.readline(MAX_LINE_HARD, self.module.idle_timeout)
                except LineTooLong:
                    self.log.info("line too long, closing")
                    self.write(err("Line too long, closing connection"))
                    self.close()
                    return
                except TimeoutError:
                    self.log.info("idle timeout, closing without UPDATE")
                    self.abort("Idle timeout, closing connection")
                    return
                except ConnectionClosed:
                    return
                if self.log.isEnabledFor(logging.DEBUG):
                    shown = (
                        "(SASL response)"
                        if session.awaiting_sasl
                        else (mask_for_log(line))
                    )
                    self.log.debug("C: %s", shown)
                reply = await session.handle_line(line)
                if self._aborted:
                    return
                self.write(reply.data)
                if reply.more and not await self._write_more(reply.more):
                    return
                if self.log.isEnabledFor(logging.DEBUG) and reply.data:
                    first = reply.data.split(b"\r\n", 1)[0][:120]
                    self.log.debug("S: %s", first.decode("utf-8", "replace"))
                if reply.close:
                    self.close()
                    return
                if reply.start_tls:
                    if not await self._start_tls():
                        return
                    continue
                try:
                    await self.drain()
                except ConnectionClosed:
                    pass  # a QUIT still buffered is answered (UPDATE) all the same
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("unexpected error in the POP3 connection")
            self.write(err("[SYS/TEMP] Internal server error, closing connection"))
            self.close()
        finally:
            self._finish()

    async def _write_more(self, pieces: tuple[bytes, ...]) -> bool:
        """A long answer's further pieces, each once the transport took the
        last (at the client's pace); False when the client went away."""
        for piece in pieces:
            try:
                await self.drain()
            except ConnectionClosed:
                return False
            self.write(piece)
        return True

    async def _start_tls(self) -> bool:
        """STLS accepted: upgrade (what the client pipelined after STLS is
        dropped by ``start_tls``: RFC 2595 / CVE-2011-0411)."""
        tls = self.module.tls_context
        if tls is None:
            self.close()
            return False
        try:
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
        if self.session is not None:
            self.session.tls_started()
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
