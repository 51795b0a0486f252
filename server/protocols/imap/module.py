"""The IMAP module: listeners, sockets and connection limits (RFC 3501, RFC 8314).

What it does
- ``ImapModule(ctx)`` listens on ``ImapSettings.port`` (plain, with STARTTLS
  when a certificate is available) and ``ImapSettings.tls_port`` (implicit TLS,
  RFC 8314 3.3); port 0 means an ephemeral port (tests). Settings are read from
  ``ctx.settings().imap`` at ``start()``; ``configure`` only validates.
- Owns each socket through ``ImapConnection`` (the shared
  ``server.protocols.linereader.LineReader``: a bounded line and literal
  reader, flow control both ways and STARTTLS via ``loop.start_tls``), and
  runs one ``Session`` (session.py) per connection through the read loop in
  connection.py.
- Limits: IMAP's own ``max_connections_per_ip`` (checked on connect) and
  ``max_connections_per_user`` (checked at login), on top of the base class's
  connection control (bans, access list, global limits), whose refusals are
  sent as ``* BYE``.
- Timeouts: a whole line must arrive within the session's timeout, and a
  literal too, its deadline pushed out by each 64 KiB received; a trickling
  client is logged out rather than holding its slot (``LineReader``).
- Logs on ``quicksilver.imap``, each line with the peer; passwords are masked.

What it does not do: read commands (connection.py), parse them (parser.py)
or interpret them (session.py, handlers/).

Settings: bind, port, tls_port, plaintext_login, timeout,
max_connections_per_user, max_connections_per_ip; general.max_message_size;
general.hostname (greeting).
"""

from __future__ import annotations

import asyncio
import itertools
import logging

from server.config.schema import (
    ImapSettings,
    Settings,
    default_hostname,
    validate_section,
)
from server.events import SessionClosed, SessionOpened
from server.greeting import greeting_text
from server.modules.base import Listener, ListenerModule, ModuleContext, Refusal
from server.policy import peer_ip
from server.protocols.linereader import READ_HIGH_WATER, LineReader

from .cache import MetaCache, index_message
from .connection import converse
from .selected import RecentRegistry
from .session import Services, Session

log = logging.getLogger("quicksilver.imap")


class ImapConnection(LineReader):
    """One client socket: the shared ``LineReader`` (buffering, deadlines,
    flow control, STARTTLS) plus the peer's name; ``serve`` runs the
    conversation (connection.py) over it."""

    def __init__(self, module: ImapModule, implicit_tls: bool) -> None:
        super().__init__(high_water=READ_HIGH_WATER)
        self.module = module
        self.implicit_tls = implicit_tls
        self.peer = "?"
        self.peer_ip = ""
        self.tls_active = implicit_tls
        self.task: asyncio.Task[None] | None = None
        self.key = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        name = transport.get_extra_info("peername")
        self.peer_ip = peer_ip(name)
        port = name[1] if isinstance(name, tuple) and len(name) > 1 else 0
        self.peer = f"{self.peer_ip}:{port}"
        self.task = asyncio.get_running_loop().create_task(self.module.serve(self))


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

    async def start(self) -> None:
        # While IMAP runs, mail gets its metadata record as it is stored, so
        # a first FETCH (also after a restart) needs no parse (cache.py).
        self._ctx.store.set_indexer(index_message)
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        self._ctx.store.set_indexer(None)

    def refusal(self, refused: Refusal) -> bytes:
        """RFC 3501 7.1.5: a server refusing a connection sends BYE and closes."""
        return f"* BYE {refused.reason}\r\n".encode("utf-8", "replace")

    def configure(self, settings: Settings) -> None:
        validate_section("imap", settings.imap)

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
            banner=greeting_text(
                "Quicksilver IMAP4rev1 ready",
                self.settings.banner,
                self.settings.show_version,
                self._ctx.settings().capture.enabled,
            ),
            user_login=self._user_login,
            user_logout=self._user_logout,
            count=self.count,
            count_message=self.count_message,
            clock=self._ctx.clock,
            quota=self._quota,
        )

    def _quota(self, address: str) -> int:
        accounts = self._ctx.accounts
        user = accounts.get_user(address) if accounts is not None else None
        return user.quota_bytes if user is not None else 0

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

        session = Session(
            conn,
            self.services(),
            peer=conn.peer,
            peer_ip=conn.peer_ip,
            tls_active=conn.tls_active,
        )
        self.session_opened(
            key, conn.peer, conn.transport, close, session.activity, conn.traffic
        )
        self.events.publish(SessionOpened("imap", sid, conn.peer))
        log.info("[%s] connected%s", conn.peer, " (TLS)" if conn.tls_active else "")
        try:
            await converse(conn, session)
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
