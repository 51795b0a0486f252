"""One IMAP4rev1 session: the state machine (RFC 3501 sections 3 and 6).

States: not authenticated -> authenticated -> selected -> logout (RFC 3501 3).
``_ALLOWED`` is the one place that says which command is valid in which
state, by command class (command.py groups them as RFC 3501 6.1-6.4 do); a
command in the wrong state, an unknown command or bad syntax gets ``BAD``.
Each command class has one handler (handlers/), found through a table built
once; handlers answer through this session and may return a ``steps.Step``
when the connection has to read more or change the link.

The session holds state, not sockets: it writes responses to a ``Writer``
and never reads. connection.py reads whole commands (lines and literals,
RFC 3501 4.3, RFC 7888 LITERAL+), AUTHENTICATE continuations and IDLE's DONE,
and hands them in; module.py owns the socket.

Extensions: IDLE (RFC 2177), UIDPLUS (RFC 4315), MOVE (RFC 6851), SPECIAL-USE
and CREATE-SPECIAL-USE (RFC 6154), NAMESPACE (RFC 2342), LITERAL+ (RFC 7888),
ID (RFC 2971), ENABLE (RFC 5161), UNSELECT (RFC 3691), CHILDREN (RFC 3348),
SASL-IR (RFC 4959), LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), ESEARCH
(RFC 4731), APPENDLIMIT (RFC 7889), SEARCHRES (RFC 5182), WITHIN (RFC 5032),
STATUS=SIZE (RFC 8438), MULTIAPPEND (RFC 3502), BINARY (RFC 3516), SORT and
THREAD=ORDEREDSUBJECT / REFERENCES (RFC 5256, sorting.py), ESORT (RFC 5267),
QUOTA with STORAGE (RFC 9208: one root, "", per user), COMPRESS=DEFLATE (RFC
4978), UTF8=ACCEPT (RFC 6855, utf8mode.py), AUTH=CRAM-MD5 with legacy
passwords, CONDSTORE and QRESYNC (RFC 7162: the store keeps mod-sequences;
``condstore`` / ``qresync`` say what this session turned on, by ENABLE or by
a CONDSTORE enabling command), OBJECTID (RFC 8474: MAILBOXID from the store,
EMAILID a hash of the message, THREADID NIL), CATENATE (RFC 4469, with
IMAP URLs to the user's own messages: imapurl.py), CONTEXT=SEARCH and
CONTEXT=SORT (RFC 5267: PARTIAL, and UPDATE for programs the index answers,
kept in ``SelectedMailbox.live``, told after each command and while idling).

IMAP4rev2 (RFC 9051) alongside IMAP4rev1: the client picks it with ENABLE
IMAP4rev2 (``rev2``): then mailbox names are UTF-8, there is no ``\\Recent``
(no RECENT responses or flag), SELECT answers LIST instead of UNSEEN, and
SEARCH answers ESEARCH. Everything else rev2 asks for is offered to both.

Not here: NOTIFY, METADATA, ACL.

Errors: a ``MailError`` becomes ``NO`` with its public message; anything
unexpected is logged with its traceback and answered ``NO [SERVERBUG]`` with no
detail; ``asyncio.CancelledError`` always propagates, and so do the errors
that mean the connection is over (``CONNECTION_ERRORS``).

Limits: ``MAX_BAD_COMMANDS`` BADs in a row, then BYE; before login, literals
of ``PREAUTH_MAX_LITERAL`` octets and a ``PREAUTH_TIMEOUT`` per command; after
login, literals up to ``general.max_message_size`` and ``imap.timeout``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from server import bytesutil
from server.config.schema import ImapSettings, Settings
from server.errors import (
    MailError,
    QuotaExceededError,
    StorageFullError,
    TemporaryError,
)
from server.modules.base import Authenticator
from server.policy import plaintext_login_allowed
from server.protocols.linereader import ConnectionClosed
from server.storage.base import (
    InvalidMailboxName,
    MailboxExists,
    MailboxNotFound,
    MailStore,
)

from . import command as c
from . import responses as R
from .cache import MetaCache
from .extensions import advertised
from .fetchitems import UnknownCte
from .grammar import ParseError, split_tag
from .handlers import HANDLERS
from .handlers.message import live_updates
from .parser import mask_for_log, parse_command
from .selected import BadSequence, RecentRegistry, SelectedMailbox
from .steps import ReadLine, Step

# -- limits ------------------------------------------------------------------
MAX_BAD_COMMANDS = 20  # consecutive BAD answers, then BYE (as Dovecot)
PREAUTH_TIMEOUT = 60.0  # seconds before login; RFC 3501 5.4 sets 30 min after
PREAUTH_MAX_LITERAL = 8 * 1024  # literals before login (user names, passwords)

# The connection is over: these pass through the session to connection.py.
CONNECTION_ERRORS = (ConnectionClosed, ConnectionError, EOFError, TimeoutError)

log = logging.getLogger("quicksilver.imap")

ADVERTISED = advertised(HANDLERS)  # extensions.py


class State(enum.Enum):
    NOT_AUTH = "not authenticated"
    AUTH = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


# RFC 3501 3 and 6: which command classes each state accepts.
_ALLOWED: dict[State, tuple[type[c.Command], ...]] = {
    State.NOT_AUTH: (c.AnyState, c.NotAuthenticated),
    State.AUTH: (c.AnyState, c.Authenticated),
    State.SELECTED: (c.AnyState, c.Authenticated, c.Selected),
    State.LOGOUT: (),
}


class Writer(Protocol):
    """Where responses go: the connection (module.py), or a test's buffer."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


@dataclass
class Services:
    """What the module hands each session (all injected, nothing global)."""

    store: MailStore
    auth: Authenticator
    settings: Callable[[], Settings]
    tls_context: Callable[[], ssl.SSLContext | None]
    cache: MetaCache
    recent: RecentRegistry
    hostname: str = "localhost"
    banner: str = "Quicksilver IMAP4rev1 ready"  # the greeting's text
    user_login: Callable[[str], bool] = lambda address: True
    user_logout: Callable[[str], None] = lambda address: None
    count: Callable[[str], None] = lambda counter: None
    count_message: Callable[[int], None] = lambda n: None  # n messages read
    clock: Callable[[], float] = time.time
    # the user's storage quota in bytes (0: none); QUOTA (RFC 9208)
    quota: Callable[[str], int] = lambda address: 0


class Session:
    """One client's IMAP conversation, minus the socket (module docstring)."""

    def __init__(
        self,
        out: Writer,
        services: Services,
        *,
        peer: str = "?",
        peer_ip: str = "",
        tls_active: bool = False,
    ) -> None:
        self.out = out
        self.sv = services
        self.peer = peer
        self.peer_ip = peer_ip
        self.tls_active = tls_active
        self.compressing = False  # COMPRESS=DEFLATE is on (RFC 4978)
        self.state = State.NOT_AUTH
        self.user: str | None = None
        self.doing = ""  # the last command, for the window's Sessions view
        self.selected: SelectedMailbox | None = None
        self.bad_count = 0
        # RFC 7162: on for the rest of the session once enabled
        self.condstore = False
        self.qresync = False
        self.enabled: set[str] = set()  # what ENABLE turned on (RFC 5161)
        self.rev2 = False  # ENABLE IMAP4rev2 (RFC 9051)

    # -- settings & logging ----------------------------------------------
    @property
    def imap(self) -> ImapSettings:
        return self.sv.settings().imap

    @property
    def max_literal(self) -> int:
        """The largest literal a command may carry now."""
        if self.state is State.NOT_AUTH:
            return PREAUTH_MAX_LITERAL
        return int(self.sv.settings().general.max_message_size)

    @property
    def timeout(self) -> float:
        """Seconds the client has for its next command (or literal progress)."""
        if self.state is State.NOT_AUTH:
            return min(PREAUTH_TIMEOUT, float(self.imap.timeout))
        return float(self.imap.timeout)

    @property
    def logged_out(self) -> bool:
        return self.state is State.LOGOUT

    @property
    def too_many_bad(self) -> bool:
        return self.bad_count >= MAX_BAD_COMMANDS

    def log(self, level: int, msg: str, *args: object) -> None:
        log.log(level, "[%s] " + msg, self.peer, *args)

    def login_allowed(self) -> bool:
        return plaintext_login_allowed(
            self.imap.plaintext_login, self.peer_ip, self.tls_active
        )

    def legacy_auth(self) -> bool:
        """AUTHENTICATE CRAM-MD5 is on and some user has a legacy password."""
        return bool(self.imap.legacy_auth) and self.sv.auth.legacy_available()

    def capabilities(self) -> str:
        """What extensions.py offers (each only with its commands' handlers),
        and what depends on the moment."""
        caps = [*ADVERTISED]
        caps.append(f"APPENDLIMIT={int(self.sv.settings().general.max_message_size)}")
        if self.state is State.NOT_AUTH:
            if not self.tls_active and self.sv.tls_context() is not None:
                caps.append("STARTTLS")
            if self.legacy_auth():
                caps.append("AUTH=CRAM-MD5")
            if self.login_allowed():
                caps.append("AUTH=PLAIN")
            else:
                caps.append("LOGINDISABLED")
        return " ".join(caps)

    def greeting(self) -> bytes:
        """RFC 3501 7.1.1: OK, with the capabilities (saves a round trip)."""
        return R.Status(
            "*",
            "OK",
            f"{self.sv.hostname} {self.sv.banner}",
            "CAPABILITY " + self.capabilities(),
        ).render()

    # -- output ------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.out.write(data)

    async def drain(self) -> None:
        await self.out.drain()

    def tagged(self, tag: str, kind: str, text: str, code: str = "") -> None:
        if kind != "BAD":
            # the cap counts BADs in a row: a long-lived client that once in a
            # while sends something we do not know must not be cut off
            self.bad_count = 0
        sel = self.selected
        if sel is not None and sel.expunge_reported:
            sel.expunge_reported = False
            if kind == "OK" and not code and self.qresync:
                # RFC 7162 3.2.10: expunges were announced; where to resume
                code = f"HIGHESTMODSEQ {sel.highestmodseq}"
        self.send(R.Status(tag, kind, text, code).render())

    async def enable_condstore(self) -> None:
        """A CONDSTORE enabling command (RFC 7162 3.1) ran: on from now. The
        first one with a mailbox selected tells its HIGHESTMODSEQ (3.1.2.1)."""
        if self.condstore:
            return
        self.condstore = True
        sel = self.selected
        if sel is not None:
            info = await self.sv.store.mailbox_info(self.owner, sel.name)
            self.send(R.untagged(f"OK [HIGHESTMODSEQ {info.highestmodseq}] Highest"))

    def bad(self, tag: str, text: str) -> None:
        """A BAD answer, counted towards ``MAX_BAD_COMMANDS``."""
        self.bad_count += 1
        self.tagged(tag, "BAD", text)

    # -- commands ------------------------------------------------------------
    async def handle(self, data: bytes) -> Step | None:
        """Answer one whole command (lines and literals joined)."""
        if log.isEnabledFor(logging.DEBUG):
            self.log(logging.DEBUG, "C: %s", mask_for_log(data))
        try:
            if len(data) < bytesutil.OFF_LOOP_COPY:
                cmd = parse_command(data)
            else:  # a large literal: slicing it out is a copy, off the loop
                cmd = await asyncio.to_thread(parse_command, data)
        except ParseError as exc:
            tag = split_tag(data)
            if exc.code:  # well-formed but unusable (a bad mailbox name): NO
                self.tagged(tag, "NO", exc.message, exc.code)
                return None
            self.bad(tag, f"Syntax error: {exc.message}")
            return None
        if not isinstance(cmd, _ALLOWED[self.state]):
            self.bad(cmd.tag, f"{cmd.name} is not allowed now")
            return None
        self.doing = cmd.name
        if (
            self.selected is not None
            and self.selected.gone
            and not isinstance(cmd, c.Logout)
        ):
            self.bye_gone()
            return None
        return await self._guarded(cmd, HANDLERS[type(cmd)](self, cmd))

    async def resume(self, step: ReadLine, line: bytes) -> Step | None:
        """The line a continuation asked for (AUTHENTICATE's response)."""
        return await self._guarded(step.cmd, step.resume(line))

    async def _guarded(
        self, cmd: c.Command, work: Awaitable[Step | None]
    ) -> Step | None:
        """Run a handler; answer what it raises as RFC 3501 7.1 says."""
        try:
            return await work
        except CONNECTION_ERRORS:
            raise
        except Exception as exc:
            self.answer_error(cmd, exc)
            return None

    def answer_error(self, cmd: c.Command, exc: Exception) -> None:
        """The tagged answer to a command that failed with ``exc``."""
        tag = cmd.tag
        if isinstance(exc, BadSequence):
            self.bad(tag, "Invalid message sequence number")
        elif isinstance(exc, ParseError):
            self.bad(tag, exc.message)
        elif isinstance(exc, MailboxNotFound):
            # RFC 3501 6.3.11, 6.4.7: TRYCREATE where creating would help
            code = "TRYCREATE" if isinstance(cmd, c.Append | c.Copy) else "NONEXISTENT"
            self.tagged(tag, "NO", "Mailbox does not exist", code)
        elif isinstance(exc, MailboxExists):
            self.tagged(tag, "NO", "Mailbox already exists", "ALREADYEXISTS")
        elif isinstance(exc, UnknownCte):
            self.tagged(tag, "NO", exc.public_message, "UNKNOWN-CTE")
        elif isinstance(exc, InvalidMailboxName):
            self.tagged(tag, "NO", exc.public_message, "CANNOT")
        elif isinstance(exc, StorageFullError | QuotaExceededError):
            self.tagged(tag, "NO", exc.public_message, "OVERQUOTA")
        elif isinstance(exc, TemporaryError):
            self.tagged(tag, "NO", exc.public_message, "UNAVAILABLE")
        elif isinstance(exc, MailError):
            self.tagged(tag, "NO", exc.public_message)
        else:
            log.error("[%s] %s failed", self.peer, cmd.name, exc_info=exc)
            self.tagged(
                tag, "NO", "Internal error; the server log has details", "SERVERBUG"
            )

    # -- IDLE (the connection waits; the session says what happened) --------
    def idle_changes(self) -> asyncio.Event | None:
        """Set when the selected mailbox changed (None: nothing selected)."""
        return self.selected.changed if self.selected is not None else None

    async def idle_update(self, cmd: c.Idle, keepalive: bool) -> bool:
        """Send what changed while idling (RFC 2177) and, after a quiet
        ``connection.IDLE_KEEPALIVE``, a keepalive for NAT boxes. False when
        the IDLE is over: the mailbox went away (BYE) or an error was
        answered."""
        try:
            sel = self.selected
            if sel is not None and sel.gone:
                self.bye_gone()
                return False
            if keepalive:  # RFC 2177: keep NAT state alive; no timer reset
                self.send(R.untagged("OK Still here"))
            await self.updates(None)
            return True
        except CONNECTION_ERRORS:
            raise
        except Exception as exc:
            self.answer_error(cmd, exc)
            return False

    async def idle_done(self, cmd: c.Idle, line: bytes) -> None:
        """The line that ended IDLE: DONE, or a client error (BAD)."""
        if line.rstrip(b"\r\n").upper() != b"DONE":
            self.bad(cmd.tag, "Expected DONE")
            return
        try:
            await self.updates(None)
        except CONNECTION_ERRORS:
            raise
        except Exception as exc:
            self.answer_error(cmd, exc)
            return
        self.tagged(cmd.tag, "OK", "IDLE terminated")

    # -- literals (read by the connection, refused here) ---------------------
    def literal_refused(self, tag: str, size: int) -> None:
        """A literal above ``max_literal`` (or one too many): before login a
        syntax error, after it RFC 7889's TOOBIG."""
        self.log(logging.INFO, "literal of %d octets refused", size)
        if self.state is State.NOT_AUTH:
            self.tagged(tag, "BAD", "Literal not allowed")
        else:
            self.tagged(tag, "NO", "Literal too large", "TOOBIG")
        self.bad_count += 1

    # -- state changes -------------------------------------------------------
    def tls_started(self) -> None:
        self.tls_active = True
        self.log(logging.INFO, "TLS started")

    async def logged_in(self, address: str) -> None:
        self.user = address
        await self.sv.store.ensure_user(address)
        self.state = State.AUTH

    def selected_mailbox(self, sel: SelectedMailbox) -> None:
        self.selected = sel
        self.state = State.SELECTED

    def deselect(self) -> None:
        if self.selected is not None:
            self.selected.close()
            self.selected = None
        if self.state is State.SELECTED:
            self.state = State.AUTH

    def logout(self) -> None:
        self.state = State.LOGOUT

    def bye_gone(self) -> None:
        """The selected mailbox was deleted or renamed by another session or
        program. RFC 3501 has no way to say so inside the selected state, so
        the session ends (as Dovecot does); the client reconnects."""
        self.send(
            R.Status("*", "BYE", "Selected mailbox was deleted or renamed").render()
        )
        self.log(logging.INFO, "selected mailbox went away, closing")
        self.state = State.LOGOUT

    async def updates(self, cmd: c.Command | None = None, force: bool = False) -> None:
        """Send pending untagged updates where RFC 3501 7.4.1 allows."""
        sel = self.selected
        if sel is None:
            return
        allow = cmd is None or cmd.allows_expunge
        # an expunge of our own was announced: re-read HIGHESTMODSEQ for the OK
        force = force or (self.qresync and sel.expunge_reported)
        lines = await sel.refresh(allow, force, self.condstore, self.qresync)
        for line in lines:
            self.send(line)
        if sel.live and allow:  # RFC 5267: when EXPUNGE could be sent too
            await live_updates(self)

    def activity(self) -> tuple[str, str]:
        """(user, last command and the selected mailbox) for the Sessions view."""
        where = self.selected.name if self.selected is not None else ""
        return self.user or "", f"{self.doing} ({where})" if where else self.doing

    @property
    def owner(self) -> str:
        """The logged-in user (handlers of authenticated commands only)."""
        if self.user is None:
            raise RuntimeError("no user logged in")
        return self.user

    @property
    def sel(self) -> SelectedMailbox:
        """The selected mailbox (handlers of selected-state commands only)."""
        if self.selected is None:
            raise RuntimeError("no mailbox selected")
        return self.selected

    async def close(self) -> None:
        """The connection ended: stop watching, give the user's slot back."""
        if self.selected is not None:
            self.selected.close()
            self.selected = None
        if self.user is not None:
            self.sv.user_logout(self.user)
            self.user = None
        self.state = State.LOGOUT
