"""The life every module shares: configure, start, stop, status.

``configure(settings)`` only validates the module's own section of the
settings; ``start()`` opens sockets or tasks; ``stop()`` closes them *and*
every live client session (asyncio's ``Server.close()`` leaves accepted
connections open); ``status()`` is cheap and safe to call at any time. A
module that cannot start goes to FAILED with a message a person can act on;
the runtime keeps the other modules running.

``ListenerModule`` is the helper for protocol modules: it binds the listeners,
turns bind errors into plain advice, tracks live sessions and closes them on stop.
Every accepted connection first meets ``_AdmissionGuard`` (bans, the access
list, per-IP limits and the process-wide ``ConnectionBudget``); a refused client
reads the module's ``refusal()`` line and is closed.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import functools
import logging
import ssl
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from server.config.schema import LISTENER_SECTIONS, SECTIONS
from server.events import EventBus, ModuleStateChanged

if TYPE_CHECKING:
    from server.accounts.base import AccountStore, User
    from server.config.schema import Settings
    from server.delivery.base import DeliveryTarget, RemoteRoute
    from server.fetch.store import FetchStore
    from server.lists.service import Unsubscribed
    from server.lists.store import MailList
    from server.sieve.store import ScriptStore
    from server.storage.base import MailStore


class ModuleState(enum.Enum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    security: str = "none"  # "none" | "starttls" | "implicit"


@dataclass(frozen=True)
class ModuleStatus:
    name: str
    title: str
    enabled: bool
    state: ModuleState
    endpoints: tuple[Endpoint, ...] = ()
    sessions: int = 0
    messages_today: int = 0
    counters: tuple[tuple[str, int], ...] = ()
    last_error: str = ""


class Module(Protocol):
    """What the runtime drives. ``state`` and ``last_error`` are what the
    module reports; the runtime sets them itself only to mark a module FAILED
    whose start raised something unexpected."""

    name: str
    title: str
    state: ModuleState
    last_error: str

    def configure(self, settings: Settings) -> None:
        """Check this module's own section of ``settings`` (raises
        ``ValidationError``); the values are read again at ``start()``."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def status(self, enabled: bool) -> ModuleStatus: ...


class ModuleStartError(Exception):
    """A start failure with a message a person can act on."""


def bind_error_message(exc: OSError, host: str, port: int) -> str:
    """Explain a failed bind in words that say what to do."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"Port {port} needs administrator rights on this system. Choose a port "
            f"above 1023 (for example {port + 2000 if port < 1024 else port + 1}) in "
            "the module settings, or let Python bind low ports: "
            "sudo setcap 'cap_net_bind_service=+ep' $(readlink -f $(which python3))"
        )
    if exc.errno == errno.EADDRINUSE:
        return (
            f"Port {port} on {host} is already in use by another program. Stop that "
            "program or choose another port in the module settings."
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"The address {host} does not belong to this computer."
    return f"Cannot listen on {host}:{port}: {exc.strerror or exc}"


LOOP_TURNS = 3  # what stop() gives the loop between its steps


async def _loop_turns() -> None:
    """Let the callbacks already scheduled (a transport's making, a socket's
    close) and the ones they schedule run before the next step of a stop."""
    for _ in range(LOOP_TURNS):
        await asyncio.sleep(0)


@dataclass
class Listener:
    host: str
    port: int
    security: str
    factory: Callable[[], asyncio.BaseProtocol]
    ssl_context: ssl.SSLContext | None = None
    server: asyncio.Server | None = None


# (user, what the session does now) for the window's Sessions view
Describe = Callable[[], tuple[str, str]]


@dataclass
class Traffic:
    """Bytes a session received and sent (application data, after TLS)."""

    received: int = 0
    sent: int = 0


@dataclass
class SessionRecord:
    peer: str
    transport: asyncio.BaseTransport | None
    opened: float = field(default_factory=time.time)
    close: Callable[[], None] | None = None
    describe: Describe | None = None
    traffic: Traffic | None = None


@dataclass(frozen=True)
class SessionInfo:
    """One connected client, as the Sessions view lists it."""

    module: str
    key: int
    peer: str  # ip:port
    since: float
    user: str = ""
    doing: str = ""
    received: int = 0  # bytes from the client
    sent: int = 0  # bytes to the client


class RefusalKind(enum.Enum):
    """Why connection control turned a client away."""

    BANNED = "banned"  # too many failed logins (security.ban_time)
    NOT_ALLOWED = "not allowed"  # the access list: retrying will not help
    PER_IP = "per ip"  # security.max_connections_per_ip
    TOTAL = "total"  # the process-wide total (ConnectionBudget)


@dataclass(frozen=True)
class Refusal:
    """A refusal; ``reason`` is safe to show the client (no path, no setting)."""

    kind: RefusalKind
    reason: str

    @property
    def temporary(self) -> bool:
        """True when the same client may be served later (a limit, not a rule)."""
        return self.kind in (RefusalKind.PER_IP, RefusalKind.TOTAL)


class ConnectionBudget:
    """The process-wide total of client connections, shared by every module.

    SECURITY.md promises one total (``security.max_connections``), and what it
    protects -- the process's file descriptors -- is shared by all modules. The
    runtime makes one budget and hands it to every module in
    ``ModuleContext.connections``. The limit is the configured total capped by
    ``ceiling`` (what ``RLIMIT_NOFILE`` allows, see ``server.descriptors``); it
    is read at every admission, so a settings change applies to the next client.

    The count is exact. A connection holds one unit from the moment connection
    control admits it -- synchronously in ``_AdmissionGuard.connection_made``,
    before any await -- until its module drops its record. A protocol that
    registers its session only later (IMAP does, from its task) inherits the
    unit of the provisional record made at admission. Counting at registration
    instead let a burst of clients all pass the check before any of them was
    counted: IMAP accepted 507 of 500.
    """

    def __init__(
        self, configured: Callable[[], int], ceiling: int | None = None
    ) -> None:
        self._configured = configured
        self.ceiling = ceiling
        self.held = 0
        self._members: weakref.WeakSet[ListenerModule] = weakref.WeakSet()

    @property
    def configured(self) -> int:
        """``security.max_connections``, as the settings say now."""
        return self._configured()

    @property
    def limit(self) -> int:
        configured = self._configured()
        return configured if self.ceiling is None else min(configured, self.ceiling)

    def join(self, module: ListenerModule) -> None:
        self._members.add(module)

    def take(self) -> None:
        self.held += 1

    def give_back(self, n: int = 1) -> None:
        self.held = max(0, self.held - n)

    def full(self) -> bool:
        """True when no further client may be admitted now."""
        if self.held < self.limit:
            return False
        # at the cap: first drop provisional records whose client already left
        for module in list(self._members):
            module.sweep_admitted()
        return self.held >= self.limit


class _AdmissionGuard(asyncio.Protocol):
    """The first protocol of every accepted connection.

    It applies connection control (bans, the access list, per-IP limits and the
    process-wide total) before any protocol code runs -- and, on implicit-TLS
    ports, before the TLS handshake, so a refused client costs no handshake.
    An admitted connection is counted at once (``ListenerModule.admit``); the
    guard then runs the TLS handshake itself (a client stuck in it is closed by
    ``stop()``), hands the transport to the module's real protocol with
    ``transport.set_protocol`` and steps aside.

    A client that speaks first (HTTPS) may send its request right behind its
    TLS Finished: the TLS layer then hands those bytes to the protocol of the
    moment, this guard, before the hand-over. They are kept (up to
    ``MAX_EARLY_BYTES``) and given to the real protocol right after its
    ``connection_made``; dropping them left the client waiting for an answer
    to a request the server never saw.
    """

    HANDSHAKE_TIMEOUT = 30.0
    MAX_EARLY_BYTES = 1024 * 1024

    def __init__(
        self,
        module: ListenerModule,
        factory: Callable[[], asyncio.BaseProtocol],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.module = module
        self.factory = factory
        self.tls = tls
        self.task: asyncio.Task[None] | None = None
        self._early: list[bytes] = []
        self._early_bytes = 0
        self._admitted = False
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.module.accepted(transport)
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        refused = self.module.admission(ip)
        if refused is not None:
            self.module.count("refused")
            self.module.log.info("[%s] connection refused: %s", ip, refused.reason)
            line = self.module.refusal(refused) if self.tls is None else b""
            if line and isinstance(transport, asyncio.WriteTransport):
                transport.write(line)
            transport.close()
            return
        where = f"{ip}:{peer[1]}" if isinstance(peer, tuple) and len(peer) > 1 else ip
        self.module.admit(where, transport)
        self._admitted = True
        self._transport = transport
        if self.tls is None:
            self._hand_over(transport)
            return
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()  # the ClientHello waits for the TLS layer
        self.task = asyncio.get_running_loop().create_task(
            self._handshake(transport, where)
        )

    async def _handshake(self, transport: asyncio.Transport, where: str) -> None:
        assert self.tls is not None
        loop = asyncio.get_running_loop()
        try:
            tls_transport = await loop.start_tls(
                transport,
                self,
                self.tls,
                server_side=True,
                ssl_handshake_timeout=self.HANDSHAKE_TIMEOUT,
            )
        except (OSError, ssl.SSLError, ConnectionError, TimeoutError) as exc:
            self.module.log.info("[%s] TLS handshake failed: %s", where, exc)
            self.module.discharge(transport)
            transport.close()
            return
        except BaseException:
            self.module.discharge(transport)
            raise
        if tls_transport is None or tls_transport.is_closing():
            self.module.discharge(transport)
            return
        self.module.readmit(transport, tls_transport)
        self._hand_over(tls_transport)

    def _hand_over(self, transport: asyncio.BaseTransport) -> None:
        inner = self.factory()
        transport.set_protocol(inner)
        inner.connection_made(transport)
        early, self._early = self._early, []
        if early and isinstance(inner, asyncio.Protocol) and not transport.is_closing():
            for data in early:
                inner.data_received(data)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return  # refused: ignore the rest
        # application data that came with the end of the TLS handshake
        self._early_bytes += len(data)
        if self._early_bytes > self.MAX_EARLY_BYTES:
            self._early.clear()
            self._admitted = False
            if self._transport is not None:
                self._transport.close()
            return
        self._early.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        pass


class ListenerModule:
    """Base for modules that own listening sockets."""

    name = "module"
    title = "Module"
    ctx: ModuleContext | None = None

    def __init__(self, events: EventBus, logger: logging.Logger) -> None:
        self.events = events
        self.log = logger
        self.state = ModuleState.STOPPED
        self.last_error = ""
        self._listeners: list[Listener] = []
        self._sessions: dict[int, SessionRecord] = {}
        # admitted connections whose protocol has not registered a session yet,
        # by id() of their transport (the record keeps the transport alive)
        self._admitted: dict[int, SessionRecord] = {}
        # every connection the listeners accepted, as the socket transport
        # (not the TLS one over it), until it is closed and freed: stop()
        # aborts what is left, sessions that ended included (a TLS close
        # waits up to 30 s for the client's close_notify)
        self._accepted: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        self._budget: ConnectionBudget | None = None
        self._counters: dict[str, int] = {}
        self._day = time.strftime("%Y-%m-%d")
        self._messages_today = 0

    # -- subclass API -------------------------------------------------------
    def listeners(self) -> list[Listener]:
        """The sockets to open, built from the current settings."""
        raise NotImplementedError

    def count(self, counter: str, n: int = 1) -> None:
        self._counters[counter] = self._counters.get(counter, 0) + n

    def count_message(self, n: int = 1) -> None:
        today = time.strftime("%Y-%m-%d")
        if today != self._day:
            self._day, self._messages_today = today, 0
        self._messages_today += n
        self.count("messages", n)

    def connections(self) -> ConnectionBudget:
        """The budget this module draws from: the runtime's shared one, or --
        for a module wired alone, as in some tests -- one of its own."""
        if self._budget is None:
            ctx = self.ctx
            budget = ctx.connections if ctx is not None else None
            if budget is None:
                budget = ConnectionBudget(self._configured_total)
            budget.join(self)
            self._budget = budget
        return self._budget

    def _configured_total(self) -> int:
        ctx = self.ctx
        return int(ctx.settings().security.max_connections) if ctx else 1 << 30

    def own_access(self, settings: Settings) -> tuple[str, ...]:
        """This module's own access list (its section's ``access``); empty
        for a module without a settings section of its own."""
        if self.name not in SECTIONS:
            return ()
        section = settings.section(self.name)
        return section.access if isinstance(section, LISTENER_SECTIONS) else ()

    def admission(self, ip: str) -> Refusal | None:
        """Why a connection from ``ip`` is refused, or None to accept it."""
        ctx = self.ctx
        if ctx is None:
            return None
        from server.auth import ban_key
        from server.netcontrol import is_allowed, parse_rules

        settings = ctx.settings()
        sec = settings.security
        own = self.own_access(settings)
        if ctx.auth.is_banned(ip):
            return Refusal(
                RefusalKind.BANNED,
                "Too many failed logins from your address; try again later",
            )
        if not is_allowed(parse_rules(tuple(own) or sec.access), ip):
            return Refusal(
                RefusalKind.NOT_ALLOWED, "Connections from your address are not allowed"
            )
        if self.connections().full():
            return Refusal(RefusalKind.TOTAL, "Too many connections; try again later")
        # Counted as bans are: ``::ffff:a.b.c.d`` is a.b.c.d, IPv6 by its /64.
        key = ban_key(ip)
        same_ip = sum(
            1
            for records in (self._sessions, self._admitted)
            for r in records.values()
            if ban_key(r.peer.rsplit(":", 1)[0].strip("[]")) == key
            or ban_key(r.peer) == key
        )
        if same_ip >= sec.max_connections_per_ip:
            return Refusal(
                RefusalKind.PER_IP,
                "Too many connections from your address; try again later",
            )
        return None

    def refusal(self, refused: Refusal) -> bytes:
        """The line a refused client reads before the connection closes."""
        return b""

    def accepted(self, transport: asyncio.BaseTransport) -> None:
        """Every accepted connection, admitted or not: ``stop`` ends what is
        still open of them (the set is weak: an ended one drops out)."""
        self._accepted.add(transport)

    # -- the count of connections ------------------------------------------------
    # Invariant: the budget's ``held`` is the sum, over its modules, of
    # ``len(_sessions) + len(_admitted)``; every change goes through these methods.
    def admit(self, peer: str, transport: asyncio.BaseTransport) -> None:
        """Count a connection connection control just let in (before any await)."""
        self._admitted[id(transport)] = SessionRecord(
            peer, transport, close=transport.close
        )
        self.connections().take()

    def readmit(self, old: asyncio.BaseTransport, new: asyncio.BaseTransport) -> None:
        """The admitted connection now speaks through ``new`` (TLS over ``old``)."""
        rec = self._admitted.pop(id(old), None)
        if rec is None:  # stop() dropped it meanwhile
            new.close()
            return
        self._admitted[id(new)] = SessionRecord(rec.peer, new, rec.opened, new.close)

    def discharge(self, transport: asyncio.BaseTransport) -> None:
        """An admitted connection ended before its protocol registered a session."""
        if self._admitted.pop(id(transport), None) is not None:
            self.connections().give_back()

    def sweep_admitted(self) -> None:
        """Drop admitted records whose connection closed before its protocol
        registered (IMAP refusing an address over its own per-IP limit)."""
        gone = [
            key
            for key, rec in self._admitted.items()
            if rec.transport is None or rec.transport.is_closing()
        ]
        for key in gone:
            del self._admitted[key]
        if gone:
            self.connections().give_back(len(gone))

    def session_opened(
        self,
        key: int,
        peer: str,
        transport: asyncio.BaseTransport | None,
        close: Callable[[], None] | None = None,
        describe: Describe | None = None,
        traffic: Traffic | None = None,
    ) -> None:
        old = self._sessions.get(key)
        if old is not None:  # again after STARTTLS: the same session
            describe = describe or old.describe
            close = close or old.close
            traffic = traffic or old.traffic
        if key not in self._sessions:
            self.count("sessions")
            admitted = (
                self._admitted.pop(id(transport), None)
                if transport is not None
                else None
            )
            if admitted is None:  # not through the guard: count it now
                self.connections().take()
        opened = old.opened if old is not None else time.time()
        self._sessions[key] = SessionRecord(
            peer, transport, opened, close=close, describe=describe, traffic=traffic
        )

    def sessions(self) -> list[SessionInfo]:
        """Who is connected now (the window's Sessions view)."""
        out: list[SessionInfo] = []
        for key, rec in self._sessions.items():
            user = doing = ""
            if rec.describe is not None:
                try:
                    user, doing = rec.describe()
                except Exception:  # a view must never break the module
                    self.log.exception("describing a session failed")
            t = rec.traffic or Traffic()
            out.append(
                SessionInfo(
                    self.name,
                    key,
                    rec.peer,
                    rec.opened,
                    user,
                    doing,
                    t.received,
                    t.sent,
                )
            )
        return out

    def disconnect(self, key: int) -> str | None:
        """Close one session; its peer's address, or None if it is gone."""
        rec = self._sessions.get(key)
        if rec is None:
            return None
        self.log.info("[%s] disconnected by the administrator", rec.peer)
        if rec.close is not None:
            rec.close()
        elif rec.transport is not None:
            rec.transport.close()
        return rec.peer

    def session_closed(self, key: int) -> None:
        if self._sessions.pop(key, None) is not None:
            self.connections().give_back()

    # -- life ---------------------------------------------------------------
    def _set_state(self, state: ModuleState, message: str = "") -> None:
        self.state = state
        self.events.publish(ModuleStateChanged(self.name, state.value, message))

    async def start(self) -> None:
        if self.state is ModuleState.RUNNING:
            return
        self.last_error = ""
        self._set_state(ModuleState.STARTING)
        loop = asyncio.get_running_loop()
        opened: list[Listener] = []
        try:
            for lst in self.listeners():
                try:
                    lst.server = await loop.create_server(
                        functools.partial(
                            _AdmissionGuard, self, lst.factory, lst.ssl_context
                        ),
                        lst.host,
                        lst.port,
                        reuse_address=True,
                    )
                except OSError as exc:
                    raise ModuleStartError(
                        bind_error_message(exc, lst.host, lst.port)
                    ) from exc
                sock = lst.server.sockets[0]
                lst.port = int(sock.getsockname()[1])
                opened.append(lst)
                self.log.info(
                    "listening on %s:%d (%s)", lst.host, lst.port, lst.security
                )
        except BaseException as exc:
            for lst in opened:
                if lst.server is not None:
                    lst.server.close()
            self._listeners = []
            message = (
                str(exc)
                if isinstance(exc, ModuleStartError)
                else (f"Could not start: {exc}")
            )
            self.last_error = message
            self._set_state(ModuleState.FAILED, message)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise ModuleStartError(message) from exc
        self._listeners = opened
        self._set_state(ModuleState.RUNNING)

    async def stop(self) -> None:
        self.last_error = ""  # turned off: a failure to start is over with
        if self.state in (ModuleState.STOPPED, ModuleState.FAILED) and not (
            self._listeners or self._sessions or self._admitted
        ):
            if self.state is ModuleState.FAILED:  # the window's red goes too
                self._set_state(ModuleState.STOPPED)
            self.state = ModuleState.STOPPED
            return
        self._set_state(ModuleState.STOPPING)
        # Stop accepting, let the connections already accepted become
        # transports, then close the servers. asyncio accepts in one callback
        # and makes the transport in a task a turn later; a server closed in
        # between fails that task (3.11: an assertion in Server._attach) and
        # leaves the accepted socket open and owned by nobody.
        loop = asyncio.get_running_loop()
        for lst in self._listeners:
            if lst.server is not None:
                for sock in lst.server.sockets:
                    loop.remove_reader(sock.fileno())
        await _loop_turns()
        for lst in self._listeners:
            if lst.server is not None:
                lst.server.close()
        records = [*self._sessions.values(), *self._admitted.values()]
        for rec in records:
            try:
                if rec.close is not None:
                    rec.close()
                elif rec.transport is not None:
                    rec.transport.close()
            except Exception:
                self.log.exception("closing a session failed")
        # A transport closes its socket in a callback it schedules on the
        # loop (call_soon): give those a few turns, or a loop that stops
        # right after (Runtime.stop) leaves sockets open until the garbage
        # collector finds them (ResourceWarning: unclosed transport). A TLS
        # connection's close waits for the client's close_notify (up to 30 s
        # in asyncio): after the turns, what is still open is aborted.
        await _loop_turns()
        ending = [rec.transport for rec in records]
        ending += list(self._accepted)  # ended sessions whose sockets linger
        self._accepted.clear()
        for transport in ending:
            if isinstance(transport, asyncio.Transport):
                transport.abort()
        await _loop_turns()
        for lst in self._listeners:
            if lst.server is not None:
                try:
                    await asyncio.wait_for(lst.server.wait_closed(), 2)
                except TimeoutError:
                    pass
        self._listeners = []
        self.connections().give_back(len(self._sessions) + len(self._admitted))
        self._sessions.clear()
        self._admitted.clear()
        self._set_state(ModuleState.STOPPED)
        self.log.info("stopped")

    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(Endpoint(x.host, x.port, x.security) for x in self._listeners)

    def status(self, enabled: bool) -> ModuleStatus:
        today = time.strftime("%Y-%m-%d")
        msgs = self._messages_today if today == self._day else 0
        self.sweep_admitted()
        return ModuleStatus(
            name=self.name,
            title=self.title,
            enabled=enabled,
            state=self.state,
            endpoints=self.endpoints(),
            sessions=len(self._sessions) + len(self._admitted),
            messages_today=msgs,
            counters=tuple(sorted(self._counters.items())),
            last_error=self.last_error,
        )


class TlsProvider(Protocol):
    def server_context(self) -> ssl.SSLContext | None:
        """The current server context (None when no certificate is usable)."""


class Authenticator(Protocol):
    async def authenticate(
        self, username: str, password: str, *, peer: str, protocol: str
    ) -> User | None:
        """Return the ``User`` on success, None on failure (never raises for a
        wrong password; raises ``TemporaryError`` when the account store is down).
        Runs the hash check off the loop and counts failures (brute-force bans)."""

    def is_banned(self, peer_ip: str) -> bool: ...

    def legacy_available(self) -> bool:
        """Some user has a legacy password: APOP and CRAM-MD5 may be offered."""

    async def authenticate_digest(
        self,
        username: str,
        verify: Callable[[str], bool],
        *,
        peer: str,
        protocol: str,
    ) -> User | None:
        """APOP or CRAM-MD5: ``verify`` checks the digest against the user's
        legacy password (``server/accounts/legacy.py``); counted like
        ``authenticate``."""


class RouteRegistry(Protocol):
    """Where a running route offers itself (the queue manager): of the routes
    offered, the one with the highest ``priority`` takes remote mail."""

    def add_route(self, route: RemoteRoute) -> None: ...

    def remove_route(self, route: RemoteRoute) -> None: ...


class ListDirectory(Protocol):
    """Which local addresses belong to a distribution list (server/lists/):
    SMTP accepts them at RCPT like users' addresses; the web module answers
    one-click unsubscribe links (RFC 8058) with the other two."""

    def is_list_address(self, address: str) -> bool: ...

    def unsubscribe_target(self, token: str) -> tuple[MailList, str] | None: ...

    def unsubscribe(self, token: str) -> Unsubscribed | None: ...


@dataclass
class ModuleContext:
    """What the runtime hands every module. Modules never import each other."""

    events: EventBus
    settings: Callable[[], Settings]  # the current settings
    accounts: AccountStore
    store: MailStore
    delivery: DeliveryTarget
    tls: TlsProvider
    auth: Authenticator
    clock: Callable[[], float] = time.time
    queue: RouteRegistry | None = None  # relay/mx offer themselves as remote route
    data_dir: Path | None = None  # the data folder (the secrets fallback file)
    connections: ConnectionBudget | None = None  # the process-wide total
    scripts: ScriptStore | None = None  # Sieve scripts (ManageSieve, delivery)
    lists: ListDirectory | None = None  # distribution lists' addresses (RCPT)
    fetch: FetchStore | None = None  # the collector's accounts (fetch.sqlite3)
    # capture mode's target: smtp and submission hand mail here instead of
    # ``delivery`` while ``capture.enabled`` (server/capture.py)
    capture: DeliveryTarget | None = None
