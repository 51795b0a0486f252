"""One IMAP4rev1 session: the state machine (RFC 3501 sections 3 and 6).

States: not authenticated -> authenticated -> selected -> logout (RFC 3501 3).
``_ALLOWED`` is the one place that says which command is valid in which state;
a command in the wrong state, an unknown command or bad syntax gets ``BAD``.
Each command is one coroutine ``cmd_<NAME>`` found through a table.

The session reads whole commands (lines plus literals) from a ``Connection``
(module.py owns the socket), answers synchronizing literals with a ``+``
continuation (RFC 3501 7.5) and takes RFC 7888 LITERAL+ without one, and
refuses a literal above the size limit without reading it into memory.

Extensions: IDLE (RFC 2177), UIDPLUS (RFC 4315), MOVE (RFC 6851), SPECIAL-USE
and CREATE-SPECIAL-USE (RFC 6154), NAMESPACE (RFC 2342), LITERAL+ (RFC 7888),
ID (RFC 2971), ENABLE (RFC 5161), UNSELECT (RFC 3691), CHILDREN (RFC 3348),
SASL-IR (RFC 4959), LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), ESEARCH
(RFC 4731), APPENDLIMIT (RFC 7889).

Not here: CONDSTORE/QRESYNC (their MODSEQ fetch item, search key, STATUS item
and FETCH/STORE/SELECT modifiers are syntax errors, RFC 7162 3), COMPRESS,
NOTIFY, METADATA, QUOTA, ACL. BINARY is parsed and answered but not advertised.

Errors: a ``MailError`` becomes ``NO`` with its public message; anything
unexpected is logged with its traceback and answered ``NO [SERVERBUG]`` with no
detail; ``asyncio.CancelledError`` always propagates.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from server.errors import MailError, StorageFullError, TemporaryError
from server.policy import plaintext_login_allowed
from server.protocols.linereader import ConnectionClosed, LineTooLong
from server.storage.base import (
    SYSTEM_FLAGS,
    FlagChange,
    InvalidMailboxName,
    MailboxExists,
    MailboxInfo,
    MailboxNotFound,
    MessageNotFound,
    apply_flag_change,
    check_flag_mode,
)

from . import command as c
from . import fetchitems as fi
from . import mime, mutf7, search, wildcard
from . import responses as R
from .cache import CacheKey, MessageMeta, MetaCache, build_meta
from .command import Command
from .grammar import ParseError, literal_request, split_tag
from .parser import mask_for_log, parse_command
from .selected import BadSequence, RecentRegistry, SelectedMailbox

# -- limits ------------------------------------------------------------------
MAX_LINE = 64 * 1024  # one command line; RFC 7162 3 asks for at least 8192
MAX_BAD_COMMANDS = 20  # consecutive BAD answers, then BYE (as Dovecot)
PREAUTH_TIMEOUT = 60.0  # seconds before login; RFC 3501 5.4 sets 30 min after
PREAUTH_MAX_LITERAL = 8 * 1024  # literals before login (user names, passwords)
MAX_LITERALS_PER_COMMAND = 1000
MAX_DISCARD = 64 * 1024 * 1024  # a refused LITERAL+ above this closes the link
IDLE_KEEPALIVE = 120.0  # "* OK Still here" during IDLE, for NAT boxes (Dovecot)
FETCH_DRAIN_BYTES = 256 * 1024
READ_AHEAD = 32  # message files read concurrently by FETCH
SEARCH_BATCH = 64  # messages per worker-thread batch of a full-text SEARCH
READ_AHEAD_BYTES = 8 * 1024 * 1024
WRITE_SLICE = 1024 * 1024  # a larger response line is written a slice at a time
# A FETCH batch answered from cached metadata is rendered on the loop, unless
# its headers (HEADER.FIELDS filters them line by line) add up to more.
INLINE_RENDER_BYTES = 256 * 1024
LIST_YIELD_EVERY = 256  # LIST candidates matched between yields to the loop

NOT_AUTH, AUTH, SELECTED, LOGOUT = (
    "not-authenticated",
    "authenticated",
    "selected",
    "logout",
)

_ANY = frozenset({"CAPABILITY", "NOOP", "LOGOUT", "ID"})
_NOT_AUTH_ONLY = frozenset({"STARTTLS", "AUTHENTICATE", "LOGIN"})
_AUTH_CMDS = frozenset(
    {
        "SELECT",
        "EXAMINE",
        "CREATE",
        "DELETE",
        "RENAME",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "LIST",
        "LSUB",
        "STATUS",
        "APPEND",
        "NAMESPACE",
        "IDLE",
        "ENABLE",
    }
)
_SELECTED_CMDS = frozenset(
    {
        "CHECK",
        "CLOSE",
        "EXPUNGE",
        "SEARCH",
        "FETCH",
        "STORE",
        "COPY",
        "MOVE",
        "UNSELECT",
    }
)
_ALLOWED: dict[str, frozenset[str]] = {
    NOT_AUTH: _ANY | _NOT_AUTH_ONLY,
    AUTH: _ANY | _AUTH_CMDS,
    SELECTED: _ANY | _AUTH_CMDS | _SELECTED_CMDS,
    LOGOUT: frozenset(),
}
_SPECIAL_USE_ATTRS = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
)

log = logging.getLogger("quicksilver.imap")


class Connection(Protocol):
    """What the session needs from the socket owner (module.py)."""

    peer: str
    peer_ip: str
    tls_active: bool

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    async def readline(self, limit: int, timeout: float | None) -> bytes: ...

    async def readexactly(self, n: int, timeout: float | None) -> bytes: ...

    async def discard(self, n: int, timeout: float | None) -> None: ...

    async def start_tls(
        self, context: ssl.SSLContext, handshake_timeout: float = ...
    ) -> None: ...

    def close(self) -> None: ...


class LiteralTooLarge(Exception):
    """A LITERAL+ too large to read past: the connection is closed."""


@dataclass
class Services:
    """What the module hands each session (all injected, nothing global)."""

    store: Any  # MailStore
    auth: Any  # Authenticator
    settings: Callable[[], Any]  # -> Settings
    tls_context: Callable[[], ssl.SSLContext | None]
    cache: MetaCache
    recent: RecentRegistry
    hostname: str = "localhost"
    user_login: Callable[[str], bool] = lambda address: True
    user_logout: Callable[[str], None] = lambda address: None
    count: Callable[[str], None] = lambda counter: None
    clock: Callable[[], float] = time.time


class Session:
    def __init__(self, conn: Connection, services: Services) -> None:
        self.conn = conn
        self.sv = services
        self.state = NOT_AUTH
        self.user: str | None = None
        self.selected: SelectedMailbox | None = None
        self.bad_count = 0
        self.enabled: set[str] = set()
        self._pending_idle_read: asyncio.Task[bytes] | None = None
        self._handlers: dict[str, Callable[[Command], Awaitable[None]]] = {
            name[4:]: getattr(self, name)
            for name in dir(self)
            if name.startswith("cmd_")
        }

    # -- settings & logging ----------------------------------------------
    @property
    def imap(self) -> Any:
        return self.sv.settings().imap

    @property
    def max_literal(self) -> int:
        if self.state == NOT_AUTH:
            return PREAUTH_MAX_LITERAL
        return int(self.sv.settings().general.max_message_size)

    @property
    def timeout(self) -> float:
        if self.state == NOT_AUTH:
            return min(PREAUTH_TIMEOUT, float(self.imap.timeout))
        return float(self.imap.timeout)

    def _log(self, level: int, msg: str, *args: object) -> None:
        log.log(level, "[%s] " + msg, self.conn.peer, *args)

    def login_allowed(self) -> bool:
        return plaintext_login_allowed(
            self.imap.plaintext_login, self.conn.peer_ip, self.conn.tls_active
        )

    def capabilities(self) -> str:
        caps = [
            "IMAP4rev1",
            "LITERAL+",
            "SASL-IR",
            "ID",
            "ENABLE",
            "IDLE",
            "NAMESPACE",
            "UIDPLUS",
            "MOVE",
            "UNSELECT",
            "CHILDREN",
            "SPECIAL-USE",
            "CREATE-SPECIAL-USE",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "ESEARCH",
            f"APPENDLIMIT={int(self.sv.settings().general.max_message_size)}",
        ]
        if self.state == NOT_AUTH:
            if not self.conn.tls_active and self.sv.tls_context() is not None:
                caps.append("STARTTLS")
            if self.login_allowed():
                caps.append("AUTH=PLAIN")
            else:
                caps.append("LOGINDISABLED")
        return " ".join(caps)

    # -- output ------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.conn.write(data)

    def tagged(self, tag: str, kind: str, text: str, code: str = "") -> None:
        if kind != "BAD":
            # the cap counts BADs in a row: a long-lived client that once in a
            # while sends something we do not know must not be cut off
            self.bad_count = 0
        self.send(R.Status(tag, kind, text, code).render())

    # -- main loop ---------------------------------------------------------
    async def run(self) -> None:
        self.send(
            R.Status(
                "*",
                "OK",
                f"{self.sv.hostname} Quicksilver IMAP4rev1 ready",
                "CAPABILITY " + self.capabilities(),
            ).render()
        )
        try:
            while self.state != LOGOUT:
                try:
                    data = await self.read_command()
                except LineTooLong:
                    self.send(R.Status("*", "BAD", "Command line too long").render())
                    self.send(R.Status("*", "BYE", "Closing connection").render())
                    self._log(logging.INFO, "command line too long, closing")
                    break
                except LiteralTooLarge:
                    self.send(R.Status("*", "BYE", "Closing connection").render())
                    break
                if data is None:
                    continue
                await self.handle(data)
                await self.conn.drain()
                if self.bad_count >= MAX_BAD_COMMANDS:
                    self.send(
                        R.Status("*", "BYE", "Too many invalid commands").render()
                    )
                    self._log(logging.INFO, "too many invalid commands, closing")
                    break
        except TimeoutError:
            self.send(R.Status("*", "BYE", "Autologout; idle for too long").render())
            self._log(logging.INFO, "idle timeout")
        except (ConnectionClosed, ConnectionError, EOFError):
            self._log(logging.DEBUG, "client went away")
        finally:
            await self.cleanup()

    async def cleanup(self) -> None:
        if self.selected is not None:
            self.selected.close()
            self.selected = None
        if self._pending_idle_read is not None:
            self._pending_idle_read.cancel()
        if self.user is not None:
            self.sv.user_logout(self.user)
            self.user = None
        self.state = LOGOUT

    async def read_command(self) -> bytes | None:
        """One whole command: lines and literals (RFC 3501 4.3, RFC 7888)."""
        line = await self.conn.readline(MAX_LINE, self.timeout)
        parts = [line]
        total = len(line)
        literals = 0
        while True:
            req = literal_request(line)
            if req is None:
                return b"".join(parts)
            size, nonsync = req
            literals += 1
            total += size
            limit = self.max_literal
            if (
                size > limit
                or literals > MAX_LITERALS_PER_COMMAND
                or (total > limit + MAX_LINE * 4)
            ):
                tag = split_tag(parts[0])
                if nonsync and size > MAX_DISCARD:
                    # RFC 7888 4: rather than read that much, say so and close
                    self.tagged(tag, "BAD", "Literal too large")
                    self._log(logging.INFO, "LITERAL+ of %d octets, closing", size)
                    raise LiteralTooLarge()
                if nonsync:
                    await self._drain_command(size)
                self._log(logging.INFO, "literal of %d octets refused", size)
                code = "TOOBIG" if self.state != NOT_AUTH else ""
                self.tagged(
                    tag,
                    "NO" if code else "BAD",
                    "Literal too large" if code else "Literal not allowed",
                    code,
                )
                self.bad_count += 1
                return None
            if not nonsync:
                self.send(b"+ Ready for literal data\r\n")
                await self.conn.drain()
            parts.append(await self.conn.readexactly(size, self.timeout))
            line = await self.conn.readline(MAX_LINE, self.timeout)
            parts.append(line)
            total += len(line)

    async def _drain_command(self, size: int) -> None:
        """Read past a refused LITERAL+ literal and the rest of its command."""
        while True:
            await self.conn.discard(size, self.timeout)
            line = await self.conn.readline(MAX_LINE, self.timeout)
            req = literal_request(line)
            if req is None or not req[1]:
                return
            size = req[0]

    async def handle(self, data: bytes) -> None:
        self._log(logging.DEBUG, "C: %s", mask_for_log(data))
        try:
            cmd = parse_command(data)
        except ParseError as exc:
            tag = split_tag(data)
            if exc.code:  # well-formed but unusable (a bad mailbox name): NO
                self.tagged(tag, "NO", exc.message, exc.code)
                return
            self.bad_count += 1
            self.tagged(tag, "BAD", f"Syntax error: {exc.message}")
            return
        if cmd.name not in self._handlers:
            self.bad_count += 1
            self.tagged(cmd.tag, "BAD", "Unknown command")
            return
        if cmd.name not in _ALLOWED[self.state]:
            self.bad_count += 1
            self.tagged(cmd.tag, "BAD", f"{cmd.name} is not allowed now")
            return
        if self.selected is not None and self.selected.gone and cmd.name != "LOGOUT":
            self._bye_gone()
            return
        try:
            await self._handlers[cmd.name](cmd)
        except BadSequence:
            self.bad_count += 1
            self.tagged(cmd.tag, "BAD", "Invalid message sequence number")
        except ParseError as exc:
            self.bad_count += 1
            self.tagged(cmd.tag, "BAD", exc.message)
        except MailboxNotFound:
            if cmd.name in ("APPEND", "COPY", "MOVE"):
                self.tagged(cmd.tag, "NO", "Mailbox does not exist", "TRYCREATE")
            else:
                self.tagged(cmd.tag, "NO", "Mailbox does not exist", "NONEXISTENT")
        except MailboxExists:
            self.tagged(cmd.tag, "NO", "Mailbox already exists", "ALREADYEXISTS")
        except InvalidMailboxName as exc:
            self.tagged(cmd.tag, "NO", exc.public_message, "CANNOT")
        except StorageFullError as exc:
            self.tagged(cmd.tag, "NO", exc.public_message, "OVERQUOTA")
        except TemporaryError as exc:
            self.tagged(cmd.tag, "NO", exc.public_message, "UNAVAILABLE")
        except MailError as exc:
            self.tagged(cmd.tag, "NO", exc.public_message)
        except (ConnectionClosed, ConnectionError, EOFError, TimeoutError, LineTooLong):
            raise
        except Exception:
            log.exception("[%s] %s failed", self.conn.peer, cmd.name)
            self.tagged(
                cmd.tag, "NO", "Internal error; the server log has details", "SERVERBUG"
            )

    def _bye_gone(self) -> None:
        """The selected mailbox was deleted or renamed by another session or
        program. RFC 3501 has no way to say so inside the selected state, so
        the session ends (as Dovecot does); the client reconnects."""
        self.send(
            R.Status("*", "BYE", "Selected mailbox was deleted or renamed").render()
        )
        self._log(logging.INFO, "selected mailbox went away, closing")
        self.state = LOGOUT

    async def updates(self, cmd: Command | None = None, force: bool = False) -> None:
        """Send pending untagged updates where RFC 3501 7.4.1 allows."""
        sel = self.selected
        if sel is None:
            return
        allow = cmd is None or cmd.allows_expunge
        for line in await sel.refresh(allow_expunge=allow, force=force):
            self.send(line)

    # -- any state ---------------------------------------------------------
    async def cmd_CAPABILITY(self, cmd: Command) -> None:
        self.send(R.untagged("CAPABILITY " + self.capabilities()))
        await self.updates(cmd)
        self.tagged(cmd.tag, "OK", "CAPABILITY completed")

    async def cmd_NOOP(self, cmd: Command) -> None:
        await self.updates(cmd, force=True)
        self.tagged(cmd.tag, "OK", "NOOP completed")

    async def cmd_LOGOUT(self, cmd: Command) -> None:
        self.send(R.Status("*", "BYE", "Logging out").render())
        self.tagged(cmd.tag, "OK", "LOGOUT completed")
        self.state = LOGOUT

    async def cmd_ID(self, cmd: c.Id) -> None:
        params = cmd.params
        if params:
            shown = " ".join(f"{k}={v}" for k, v in params[:8])
            self._log(logging.INFO, "client ID %s", shown[:300])
        self.send(R.untagged('ID ("name" "Quicksilver" "vendor" "Quicksilver")'))
        self.tagged(cmd.tag, "OK", "ID completed")

    # -- not authenticated ---------------------------------------------------
    async def cmd_STARTTLS(self, cmd: Command) -> None:
        ctx = self.sv.tls_context()
        if self.conn.tls_active:
            self.tagged(cmd.tag, "BAD", "TLS is already active")
            return
        if ctx is None:
            self.tagged(cmd.tag, "NO", "TLS is not available")
            return
        self.tagged(cmd.tag, "OK", "Begin TLS negotiation now")
        await self.conn.drain()
        # Plaintext pipelined after STARTTLS is discarded by start_tls()
        # (CVE-2011-0411 class of injection).
        try:
            await self.conn.start_tls(ctx)
        except (ssl.SSLError, OSError) as exc:
            self._log(logging.INFO, "TLS handshake failed: %s", exc)
            raise ConnectionClosed() from exc
        self._log(logging.INFO, "TLS started")

    async def cmd_LOGIN(self, cmd: c.Login) -> None:
        if not self.login_allowed():
            self.tagged(
                cmd.tag,
                "NO",
                "Login is disabled until TLS is active",
                "PRIVACYREQUIRED",
            )
            return
        user = cmd.user.decode("utf-8", "replace")
        password = cmd.password.decode("utf-8", "replace")
        await self._login(cmd.tag, user, password)

    async def cmd_AUTHENTICATE(self, cmd: c.Authenticate) -> None:
        if cmd.mechanism != "PLAIN":
            self.tagged(cmd.tag, "NO", "Unsupported authentication mechanism", "CANNOT")
            return
        if not self.login_allowed():
            self.tagged(
                cmd.tag,
                "NO",
                "Authentication is disabled until TLS is active",
                "PRIVACYREQUIRED",
            )
            return
        initial = cmd.initial
        if initial is None:
            self.send(b"+ \r\n")
            await self.conn.drain()
            initial = (await self.conn.readline(MAX_LINE, self.timeout)).rstrip(b"\r\n")
            if initial == b"*":
                self.tagged(cmd.tag, "BAD", "Authentication cancelled")
                return
        try:
            raw = b"" if initial == b"=" else base64.b64decode(initial, validate=True)
        except (binascii.Error, ValueError):
            self.bad_count += 1
            self.tagged(cmd.tag, "BAD", "Invalid base64 data")
            return
        pieces = raw.split(b"\x00")
        if len(pieces) != 3:
            self.tagged(
                cmd.tag, "NO", "Malformed PLAIN response", "AUTHENTICATIONFAILED"
            )
            return
        authz, authc, password = (p.decode("utf-8", "replace") for p in pieces)
        if authz and authz.lower() != authc.lower():
            self.tagged(
                cmd.tag,
                "NO",
                "Proxy authorization is not supported",
                "AUTHORIZATIONFAILED",
            )
            return
        await self._login(cmd.tag, authc, password)

    async def _login(self, tag: str, username: str, password: str) -> None:
        try:
            user = await self.sv.auth.authenticate(
                username, password, peer=self.conn.peer_ip, protocol="imap"
            )
        except TemporaryError:
            self.tagged(
                tag,
                "NO",
                "Authentication is unavailable, try again later",
                "UNAVAILABLE",
            )
            return
        if user is None:
            self._log(logging.INFO, "login failed for %r", username[:100])
            self.sv.count("auth_failures")
            await asyncio.sleep(0.2)
            self.tagged(tag, "NO", "Authentication failed", "AUTHENTICATIONFAILED")
            return
        address = str(user.address).lower()
        if not self.sv.user_login(address):
            self._log(logging.INFO, "too many connections for %s", address)
            self.tagged(tag, "NO", "Too many connections for this user", "LIMIT")
            return
        self.user = address
        await self.sv.store.ensure_user(address)
        self.state = AUTH
        self.sv.count("logins")
        self._log(logging.INFO, "logged in as %s", address)
        self.tagged(tag, "OK", "Logged in", "CAPABILITY " + self.capabilities())

    # -- authenticated ---------------------------------------------------------
    @property
    def owner(self) -> str:
        assert self.user is not None
        return self.user

    async def cmd_NAMESPACE(self, cmd: Command) -> None:
        self.send(R.untagged('NAMESPACE (("" "/")) NIL NIL'))
        self.tagged(cmd.tag, "OK", "NAMESPACE completed")

    async def cmd_ENABLE(self, cmd: Command) -> None:
        self.send(R.untagged("ENABLED"))
        self.tagged(cmd.tag, "OK", "ENABLE completed")

    def _deselect(self) -> None:
        if self.selected is not None:
            self.selected.close()
            self.selected = None
        if self.state == SELECTED:
            self.state = AUTH

    async def cmd_SELECT(self, cmd: c.Select) -> None:
        await self._select(cmd, readonly=False)

    async def cmd_EXAMINE(self, cmd: c.Examine) -> None:
        await self._select(cmd, readonly=True)

    async def _select(self, cmd: c.Select, readonly: bool) -> None:
        self._deselect()
        name = cmd.mailbox
        sel = SelectedMailbox(
            self.sv.store, self.owner, name, readonly, self.sv.recent, self
        )
        try:
            await sel.open()
        except BaseException:
            sel.close()
            raise
        self.selected = sel
        self.state = SELECTED
        for line in sel.flags_lines():
            self.send(line)
        self.send(R.untagged(f"{sel.exists} EXISTS"))
        self.send(R.untagged(f"{len(sel.recent)} RECENT"))
        unseen = sel.first_unseen()
        if unseen is not None:
            self.send(R.untagged(f"OK [UNSEEN {unseen}] First unseen"))
        self.send(R.untagged(f"OK [UIDVALIDITY {sel.uidvalidity}] UIDs valid"))
        self.send(R.untagged(f"OK [UIDNEXT {sel.uidnext}] Predicted next UID"))
        code = "READ-ONLY" if readonly else "READ-WRITE"
        self.tagged(cmd.tag, "OK", f"{cmd.name} completed", code)

    async def cmd_CREATE(self, cmd: c.Create) -> None:
        name: str = cmd.mailbox.rstrip("/")
        if not name:
            self.tagged(cmd.tag, "NO", "Invalid mailbox name", "CANNOT")
            return
        if name.upper() == "INBOX":
            self.tagged(cmd.tag, "NO", "INBOX always exists", "ALREADYEXISTS")
            return
        use = None
        if cmd.use:
            uses = cmd.use
            if len(uses) != 1 or uses[0] not in _SPECIAL_USE_ATTRS:
                self.tagged(
                    cmd.tag, "NO", "Unsupported special-use attribute", "USEATTR"
                )
                return
            use = uses[0]
        await self.sv.store.create_mailbox(self.owner, name, use)
        self.tagged(cmd.tag, "OK", "CREATE completed")

    async def cmd_DELETE(self, cmd: c.Delete) -> None:
        name = cmd.mailbox
        if name == "INBOX":
            self.tagged(cmd.tag, "NO", "INBOX cannot be deleted", "CANNOT")
            return
        boxes = await self.sv.store.list_mailboxes(self.owner)
        if any(b.name.startswith(name + "/") for b in boxes):
            # RFC 3501 6.3.4 lets a server refuse; say why and what to do
            self.tagged(
                cmd.tag,
                "NO",
                "Mailbox has child mailboxes; delete or move them first",
                "CANNOT",
            )
            return
        if self.selected is not None and self.selected.name == name:
            self._deselect()
        await self.sv.store.delete_mailbox(self.owner, name)
        self.tagged(cmd.tag, "OK", "DELETE completed")

    async def cmd_RENAME(self, cmd: c.Rename) -> None:
        old, new = cmd.old, cmd.new.rstrip("/")
        if new == "INBOX":
            self.tagged(cmd.tag, "NO", "Mailbox already exists", "ALREADYEXISTS")
            return
        await self.sv.store.rename_mailbox(self.owner, old, new)
        sel = self.selected
        if (
            sel is not None
            and old != "INBOX"
            and (sel.name == old or sel.name.startswith(old + "/"))
        ):
            sel.follow_rename(new + sel.name[len(old) :])
        await self.updates(cmd)
        self.tagged(cmd.tag, "OK", "RENAME completed")

    async def cmd_SUBSCRIBE(self, cmd: c.Subscribe) -> None:
        await self.sv.store.set_subscribed(self.owner, cmd.mailbox, True)
        self.tagged(cmd.tag, "OK", "SUBSCRIBE completed")

    async def cmd_UNSUBSCRIBE(self, cmd: c.Unsubscribe) -> None:
        await self.sv.store.set_subscribed(self.owner, cmd.mailbox, False)
        self.tagged(cmd.tag, "OK", "UNSUBSCRIBE completed")

    async def cmd_LIST(self, cmd: c.List) -> None:
        await self._list(cmd, lsub=False)

    async def cmd_LSUB(self, cmd: c.Lsub) -> None:
        await self._list(cmd, lsub=True)

    async def _list(self, cmd: c.List, lsub: bool) -> None:
        """LIST / LSUB (RFC 3501 6.3.8-9), LIST-EXTENDED (RFC 5258)."""
        a = cmd
        select = set(a.select)
        returns = set(a.returns)
        verb = "LSUB" if lsub else "LIST"
        if select - {"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"}:
            raise ParseError("unknown LIST selection option")
        if returns - {"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"}:
            raise ParseError("unknown LIST return option")
        if "RECURSIVEMATCH" in select and not select - {"RECURSIVEMATCH", "REMOTE"}:
            raise ParseError("RECURSIVEMATCH needs another selection option")
        ref: str = a.reference
        patterns = a.patterns
        if not a.extended and patterns == ("",):
            root = ref.split("/", 1)[0] + "/" if "/" in ref else ""
            self.send(
                R.untagged(f'{verb} (\\Noselect) "/" ' + R.astring(root).decode())
            )
            self.tagged(cmd.tag, "OK", f"{verb} completed")
            return
        boxes = {b.name: b for b in await self.sv.store.list_mailboxes(self.owner)}
        subs = set(await self.sv.store.list_subscriptions(self.owner))
        names = set(boxes)
        implied = _ancestors(names | subs if lsub else names) - names
        wanted = [_compile_pattern(ref + p) for p in patterns if p != ""]
        wanted_inbox = [
            _compile_pattern(_inbox_pattern(ref + p)) for p in patterns if p != ""
        ]

        def listed(name: str) -> bool:
            """Does ``name`` match one of the patterns (RFC 3501 6.3.8)?"""
            wire = "INBOX" if name == "INBOX" else mutf7.encode(name)
            test = wire if not wire.upper().startswith("INBOX") else _fold_inbox(wire)
            pats = wanted_inbox if name.split("/")[0] == "INBOX" else wanted
            return any(p.fullmatch(test) for p in pats)

        only_sub = lsub or "SUBSCRIBED" in select
        show_sub = "SUBSCRIBED" in select or "SUBSCRIBED" in returns
        with_children = _ancestors(names)
        with_sub_children = _ancestors(subs) if only_sub else set()
        candidates = sorted(
            names | implied | (subs if only_sub else set()),
            key=lambda n: (n != "INBOX", n),
        )
        hits: list[str] = []
        for i, name in enumerate(candidates):
            if i % LIST_YIELD_EVERY == LIST_YIELD_EVERY - 1:
                await asyncio.sleep(0)  # thousands of folders: let others run
            if listed(name):
                hits.append(name)
        # RFC 5258 3.5 (and its example 10): CHILDINFO tells of subscribed
        # descendants the client does not see because they do not match a
        # pattern themselves; one that matches is listed, and says so itself.
        childinfo: set[str] = set()
        if "RECURSIVEMATCH" in select and only_sub:
            shown = set(hits)
            childinfo = _ancestors(s for s in subs if s not in shown)
        lines: list[bytes] = []
        status_for: list[str] = []
        for i, name in enumerate(hits):
            if i % LIST_YIELD_EVERY == LIST_YIELD_EVERY - 1:
                await asyncio.sleep(0)
            exists = name in boxes
            attrs: list[str] = []
            extra = b""
            children = name in with_children
            if name in childinfo:
                extra = b' ("CHILDINFO" ("SUBSCRIBED"))'
            if only_sub and name not in subs:
                if (
                    lsub  # RFC 3501 6.3.9: "%" shows an unsubscribed parent
                    and name in with_sub_children
                    and any(p.endswith("%") for p in patterns)
                ):
                    attrs.append("\\Noselect")
                elif not extra:
                    continue
            info = boxes.get(name)
            if "SPECIAL-USE" in select and not (info and info.special_use):
                continue
            if not exists and not lsub:
                attrs.append("\\NonExistent" if a.extended else "\\Noselect")
            if not lsub:
                attrs.append("\\HasChildren" if children else "\\HasNoChildren")
            if show_sub and name in subs:
                attrs.append("\\Subscribed")
            if info is not None and info.special_use and not lsub:
                attrs.append(info.special_use)
            attrs = list(dict.fromkeys(attrs))
            lines.append(
                R.untagged(
                    f'{verb} ({" ".join(attrs)}) "/" '.encode()
                    + R.mailbox(name)
                    + extra
                )
            )
            if exists and "STATUS" in returns:
                status_for.append(name)
        for i, line in enumerate(lines):
            self.send(line)
            if i % 200 == 199:
                await self.conn.drain()
        for name in status_for:
            try:
                await self._status_line(name, a.status)
            except MailboxNotFound:
                pass
        await self.updates(cmd)
        self.tagged(cmd.tag, "OK", f"{verb} completed")

    async def _status_line(self, name: str, items: tuple[str, ...]) -> None:
        info: MailboxInfo = await self.sv.store.mailbox_info(self.owner, name)
        uids: list[int] | None = None
        size = 0
        if "RECENT" in items or "SIZE" in items:
            msgs = await self.sv.store.list_messages(self.owner, name)
            uids = [m.uid for m in msgs]
            size = sum(m.size for m in msgs)
        out = []
        for item in items:
            if item == "MESSAGES":
                out.append(f"MESSAGES {info.messages}")
            elif item == "RECENT":
                n = self.sv.recent.count(self.owner, name, info.uidvalidity, uids or [])
                if self.selected is not None and self.selected.name == name:
                    n = len(self.selected.recent)
                out.append(f"RECENT {n}")
            elif item == "UIDNEXT":
                out.append(f"UIDNEXT {info.uidnext}")
            elif item == "UIDVALIDITY":
                out.append(f"UIDVALIDITY {info.uidvalidity}")
            elif item == "UNSEEN":
                out.append(f"UNSEEN {info.unseen}")
            elif item == "SIZE":
                out.append(f"SIZE {size}")
        self.send(
            R.untagged(b"STATUS " + R.mailbox(name) + f" ({' '.join(out)})".encode())
        )

    async def cmd_STATUS(self, cmd: c.Status) -> None:
        await self._status_line(cmd.mailbox, cmd.items)
        await self.updates(cmd)
        self.tagged(cmd.tag, "OK", "STATUS completed")

    def _check_flags(
        self, flags: tuple[str, ...], allow_recent: bool = False
    ) -> frozenset[str]:
        out = set()
        for f in flags:
            if f == "\\Recent":
                if allow_recent:
                    continue
                raise ParseError("\\Recent cannot be set")
            if f.startswith("\\") and f not in SYSTEM_FLAGS:
                raise ParseError(f"unknown system flag {f}")
            out.add(f)
        return frozenset(out)

    async def cmd_APPEND(self, cmd: c.Append) -> None:
        flags = self._check_flags(cmd.flags)  # \Recent: BAD, as for STORE
        message = cmd.message
        if not message:
            self.tagged(cmd.tag, "NO", "Empty messages are not accepted")
            return
        name = cmd.mailbox
        info = await self.sv.store.mailbox_info(self.owner, name)
        stored = await self.sv.store.deliver(
            self.owner,
            message,
            mailbox=name,
            flags=flags,
            internal_date=cmd.date if cmd.date is not None else self.sv.clock(),
            origin=self,
        )
        self.sv.count("appends")
        await self.updates(cmd)
        self.tagged(
            cmd.tag,
            "OK",
            "APPEND completed",
            f"APPENDUID {info.uidvalidity} {stored.uid}",
        )

    async def cmd_IDLE(self, cmd: Command) -> None:
        """RFC 2177: stream updates until DONE."""
        self.send(b"+ idling\r\n")
        await self.updates(None, force=True)
        await self.conn.drain()
        read = asyncio.ensure_future(self.conn.readline(MAX_LINE, self.timeout))
        self._pending_idle_read = read
        try:
            while True:
                sel = self.selected
                waiters: set[asyncio.Future[Any]] = {read}
                change: asyncio.Future[Any] | None = None
                if sel is not None:
                    change = asyncio.ensure_future(sel.changed.wait())
                    waiters.add(change)
                try:
                    done, _ = await asyncio.wait(
                        waiters,
                        timeout=IDLE_KEEPALIVE,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    if change is not None and not change.done():
                        change.cancel()
                if read.done():
                    line = read.result()
                    break
                if sel is not None and sel.gone:
                    self._bye_gone()
                    return
                if not done:  # RFC 2177: keep NAT state alive; no timer reset
                    self.send(R.untagged("OK Still here"))
                await self.updates(None)
                await self.conn.drain()
        finally:
            self._pending_idle_read = None
            if not read.done():
                read.cancel()
        if line.rstrip(b"\r\n").upper() == b"DONE":
            await self.updates(None)
            self.tagged(cmd.tag, "OK", "IDLE terminated")
        else:
            self.bad_count += 1
            self.tagged(cmd.tag, "BAD", "Expected DONE")

    # -- selected ------------------------------------------------------------
    @property
    def sel(self) -> SelectedMailbox:
        assert self.selected is not None
        return self.selected

    async def cmd_CHECK(self, cmd: Command) -> None:
        await self.updates(cmd, force=True)
        self.tagged(cmd.tag, "OK", "CHECK completed")

    async def cmd_CLOSE(self, cmd: Command) -> None:
        sel = self.sel
        if not sel.readonly:
            # the store decides on the messages' current flags, not our view
            try:
                await self.sv.store.expunge_deleted(self.owner, sel.name, origin=self)
            except MailboxNotFound:
                pass  # removed meanwhile: nothing left to expunge; still close
        self._deselect()
        self.tagged(cmd.tag, "OK", "CLOSE completed")

    async def cmd_UNSELECT(self, cmd: Command) -> None:
        self._deselect()
        self.tagged(cmd.tag, "OK", "UNSELECT completed")

    async def cmd_EXPUNGE(self, cmd: c.Expunge) -> None:
        sel = self.sel
        if sel.readonly:
            self.tagged(cmd.tag, "NO", "Mailbox is read-only", "READ-ONLY")
            return
        wanted = None
        if cmd.seqset is not None:
            wanted = [u for _, u in sel.resolve(cmd.seqset, True)]
        # Which messages go is decided by the store on their current flags
        # (another session may have set or cleared \Deleted since our view).
        if wanted is None or wanted:
            removed = await self.sv.store.expunge_deleted(
                self.owner, sel.name, wanted, origin=self
            )
            for line in sel.remove(removed):
                self.send(line)
        await self.updates(cmd)
        self.tagged(cmd.tag, "OK", "EXPUNGE completed")

    async def cmd_SEARCH(self, cmd: c.Search) -> None:
        sel = self.sel
        charset = cmd.charset or "US-ASCII"
        if not search.charset_known(charset):
            self.tagged(
                cmd.tag, "NO", "Unsupported charset", "BADCHARSET (US-ASCII UTF-8)"
            )
            return
        await self.updates(cmd)
        key = cmd.key
        need = search.needs(key)
        found: list[int] = []
        largest_uid = sel.uids[-1] if sel.uids else 0
        batch: list[search.MessageView] = []
        batch_bytes = 0
        for seq, uid in enumerate(list(sel.uids), start=1):
            info = sel.infos.get(uid)
            if info is None:
                continue
            view = search.MessageView(
                seq,
                uid,
                info.flags,
                uid in sel.recent,
                info.size,
                info.internal_date,
                len(sel.uids),
                largest_uid,
            )
            if need == "full":
                # Whole messages: read a batch in one store call and parse and
                # match it in a worker thread, off the core loop.
                batch.append(view)
                batch_bytes += info.size  # 64 messages of 25 MB: 1.6 GB at once
                if len(batch) >= SEARCH_BATCH or batch_bytes >= READ_AHEAD_BYTES:
                    found += await self._search_batch(sel, key, charset, batch, cmd.uid)
                    batch, batch_bytes = [], 0
                continue
            try:
                if need == "header":
                    view.part = (await self._meta(sel, uid)).header_part()
            except MessageNotFound:
                continue
            if search.matches(key, view, charset):
                found.append(uid if cmd.uid else seq)
            if seq % 500 == 0:
                await asyncio.sleep(0)
        if batch:
            found += await self._search_batch(sel, key, charset, batch, cmd.uid)
        returns = cmd.returns
        if returns is not None:
            self.send(R.untagged(_esearch(cmd.tag, cmd.uid, returns, found)))
        else:
            self.send(R.untagged("SEARCH" + "".join(f" {n}" for n in found)))
        self.tagged(cmd.tag, "OK", "SEARCH completed")

    async def _search_batch(
        self,
        sel: SelectedMailbox,
        key: Any,
        charset: str,
        views: list[search.MessageView],
        by_uid: bool,
    ) -> list[int]:
        raws = await self.sv.store.read_messages(
            self.owner, sel.name, [v.uid for v in views]
        )

        def match() -> list[int]:
            hits = []
            for view in views:
                raw = raws.get(view.uid)
                if raw is None:
                    continue  # expunged meanwhile
                view.part = mime.parse(raw)
                if search.matches(key, view, charset):
                    hits.append(view.uid if by_uid else view.seq)
            return hits

        return await asyncio.to_thread(match)

    async def _read(self, sel: SelectedMailbox, uid: int) -> bytes:
        data: bytes = await self.sv.store.read_message(self.owner, sel.name, uid)
        return data

    async def _meta(self, sel: SelectedMailbox, uid: int) -> MessageMeta:
        """A message's cached metadata; on a miss the file is read and parsed
        in worker threads, never on the core loop."""
        key = (self.owner, sel.name, sel.uidvalidity, uid)
        meta = self.sv.cache.get(key)
        if meta is None:
            raw = await self._read(sel, uid)
            meta = await asyncio.to_thread(build_meta, raw)
            self.sv.cache.put(key, meta)
        return meta

    async def cmd_FETCH(self, cmd: c.Fetch) -> None:
        sel = self.sel
        items = list(cmd.items)
        if cmd.uid and not any(isinstance(i, fi.Uid) for i in items):
            items.insert(0, fi.Uid())
        msgs = sel.resolve(cmd.seqset, cmd.uid)
        sets_seen = not sel.readonly and any(i.sets_seen for i in items)
        need, needs_meta = fi.plan(items)
        needs_raw = need is fi.Need.FILE
        add_flags = False
        changed: set[int] = set()
        if sets_seen:
            seen = frozenset({"\\Seen"})
            changes: list[FlagChange] = [
                (uid, "+", seen)
                for _, uid in msgs
                if uid in sel.infos and "\\Seen" not in sel.infos[uid].flags
            ]
            if changes:
                # "+": added to the current flags, whatever others changed
                infos = await self.sv.store.set_flags(
                    self.owner, sel.name, changes, origin=self
                )
                changed = {
                    i.uid
                    for i in infos
                    if i.uid in sel.infos and i.flags != sel.infos[i.uid].flags
                }
                sel.update_infos(infos)
                add_flags = not any(isinstance(i, fi.Flags) for i in items)
        pending = 0
        live = [(s, u) for s, u in msgs if u in sel.infos and u not in sel.ghosts]
        for batch in self._batches(sel, live):
            raws = await self._read_ahead(sel, batch, needs_raw, needs_meta)
            jobs: list[tuple[fi.IndexView, bool]] = []
            cached = 0
            for seq, uid in batch:
                raw = raws.get(uid)
                if (needs_raw or (needs_meta and uid in raws)) and raw is None:
                    continue  # vanished meanwhile (RFC 3501 7.4.1: no EXPUNGE here)
                meta = None
                if needs_meta:
                    meta = self.sv.cache.get(self._key(sel, uid))
                    if meta is None and raw is None:  # evicted since read-ahead
                        try:
                            raw = await self._read(sel, uid)
                        except MessageNotFound:
                            continue
                    if meta is not None:
                        cached += len(meta.header)
                view = fi.view_of(
                    seq, uid, sel.infos[uid], sel.flags_of(uid), raw, meta
                )
                jobs.append((view, add_flags and uid in changed))
            if cached > INLINE_RENDER_BYTES or any(
                isinstance(v, fi.FileView) for v, _ in jobs
            ):
                # parsing and rendering is CPU work proportional to the
                # messages: a worker thread does it, off the core loop
                done = await asyncio.to_thread(fi.render_batch, items, jobs, needs_meta)
            else:  # flags and cached metadata only: cheap, but yield per batch
                done = fi.render_batch(items, jobs, needs_meta)
                await asyncio.sleep(0)
            for view, line, fresh in done:
                if fresh is not None:
                    self.sv.cache.put(self._key(sel, view.uid), fresh)
                if len(line) > WRITE_SLICE:
                    await self._send_large(line)
                    pending = 0
                    continue
                self.send(line)
                pending += len(line)
                if pending > FETCH_DRAIN_BYTES:
                    await self.conn.drain()
                    pending = 0
        await self.updates(cmd)
        self.tagged(cmd.tag, "OK", "FETCH completed")

    def _key(self, sel: SelectedMailbox, uid: int) -> CacheKey:
        return (self.owner, sel.name, sel.uidvalidity, uid)

    async def _send_large(self, data: bytes) -> None:
        """Write a large response in slices, waiting for each to drain: one
        50 MB write would be copied (and over TLS encrypted) in one go on the
        core loop."""
        for i in range(0, len(data), WRITE_SLICE):
            self.send(data[i : i + WRITE_SLICE])
            await self.conn.drain()

    @staticmethod
    def _batches(
        sel: SelectedMailbox, msgs: list[tuple[int, int]]
    ) -> list[list[tuple[int, int]]]:
        """Groups of at most READ_AHEAD messages and READ_AHEAD_BYTES octets."""
        out: list[list[tuple[int, int]]] = []
        cur: list[tuple[int, int]] = []
        size = 0
        for pair in msgs:
            n = sel.infos[pair[1]].size
            if cur and (len(cur) >= READ_AHEAD or size + n > READ_AHEAD_BYTES):
                out.append(cur)
                cur, size = [], 0
            cur.append(pair)
            size += n
        if cur:
            out.append(cur)
        return out

    async def _read_ahead(
        self,
        sel: SelectedMailbox,
        batch: list[tuple[int, int]],
        needs_raw: bool,
        needs_meta: bool,
    ) -> dict[int, bytes | None]:
        """Read the files a batch needs in one store call (one worker-thread
        hop); ``None`` for a message that has gone."""
        if needs_raw:
            want = [u for _, u in batch]
        elif needs_meta:
            want = [u for _, u in batch if not self.sv.cache.peek(self._key(sel, u))]
        else:
            return {}
        if not want:
            return {}
        got = await self.sv.store.read_messages(self.owner, sel.name, want)
        return {uid: got.get(uid) for uid in want}

    async def cmd_STORE(self, cmd: c.Store) -> None:
        sel = self.sel
        if sel.readonly:
            self.tagged(cmd.tag, "NO", "Mailbox is read-only", "READ-ONLY")
            return
        flags = self._check_flags(cmd.flags)  # \Recent: BAD (RFC 3501 2.3.2)
        msgs = sel.resolve(cmd.seqset, cmd.uid)
        mode = check_flag_mode(cmd.mode or "=")
        flagset = frozenset(flags)
        # The change itself goes to the store (FLAGS "=", +FLAGS "+", -FLAGS
        # "-"), applied there to the current flags: our view may be stale and
        # must not undo what another session stored meanwhile.
        changes: list[FlagChange] = [
            (uid, mode, flagset)
            for _, uid in msgs
            if uid in sel.infos and uid not in sel.ghosts
        ]
        surprise: set[int] = set()  # also changed by someone else meanwhile
        if changes:
            infos = await self.sv.store.set_flags(
                self.owner, sel.name, changes, origin=self
            )
            for i in infos:
                old = sel.infos.get(i.uid)
                if old is not None and i.flags != apply_flag_change(
                    old.flags, mode, flagset
                ):
                    surprise.add(i.uid)
            sel.update_infos(infos)
            for line in sel.keyword_updates(f for i in infos for f in i.flags):
                self.send(line)
        if not cmd.silent or surprise:
            for seq, uid in msgs:
                if uid not in sel.infos or uid in sel.ghosts:
                    continue
                if cmd.silent and uid not in surprise:
                    continue  # .SILENT: only flags the client cannot know
                uid_part = f"UID {uid} " if cmd.uid else ""
                self.send(
                    f"* {seq} FETCH ({uid_part}FLAGS ".encode()
                    + R.flag_list(sel.flags_of(uid))
                    + b")\r\n"
                )
        await self.updates(cmd)
        self.tagged(cmd.tag, "OK", "STORE completed")

    async def cmd_COPY(self, cmd: c.Copy) -> None:
        await self._copy(cmd, move=False)

    async def cmd_MOVE(self, cmd: c.Move) -> None:
        await self._copy(cmd, move=True)

    async def _copy(self, cmd: c.Copy, move: bool) -> None:
        sel = self.sel
        if move and sel.readonly:
            self.tagged(cmd.tag, "NO", "Mailbox is read-only", "READ-ONLY")
            return
        msgs = [
            (s, u) for s, u in sel.resolve(cmd.seqset, cmd.uid) if u not in sel.ghosts
        ]
        target = cmd.mailbox
        info = await self.sv.store.mailbox_info(self.owner, target)
        verb = "MOVE" if move else "COPY"
        if not msgs:
            await self.updates(cmd)
            self.tagged(cmd.tag, "OK", f"{verb} completed")
            return
        pairs = await self.sv.store.copy(
            self.owner, sel.name, [u for _, u in msgs], target, origin=self
        )
        code = ""
        if pairs:
            code = (
                f"COPYUID {info.uidvalidity} {_compress([p[0] for p in pairs])} "
                f"{_compress([p[1] for p in pairs])}"
            )
        if move:
            if code:
                self.send(R.untagged(f"OK [{code}] Moved"))
            removed = await self.sv.store.expunge(
                self.owner, sel.name, [p[0] for p in pairs], origin=self
            )
            for line in sel.remove(removed):
                self.send(line)
            await self.updates(cmd)
            self.tagged(cmd.tag, "OK", "MOVE completed")
            return
        await self.updates(cmd)
        self.tagged(cmd.tag, "OK", "COPY completed", code)


def _compress(nums: list[int]) -> str:
    """UID list -> sequence-set text in the order given (RFC 4315 uid-set)."""
    out: list[str] = []
    start = prev = None
    for n in nums:
        if start is None:
            start = prev = n
        elif prev is not None and n == prev + 1:
            prev = n
        else:
            out.append(str(start) if start == prev else f"{start}:{prev}")
            start = prev = n
    if start is not None:
        out.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(out)


def _esearch(tag: str, uid: bool, returns: tuple[str, ...], found: list[int]) -> str:
    """RFC 4731 ESEARCH response."""
    opts = set(returns) or {"ALL"}
    out = [f'ESEARCH (TAG "{tag}")'] + (["UID"] if uid else [])
    if found:
        if "MIN" in opts:
            out.append(f"MIN {min(found)}")
        if "MAX" in opts:
            out.append(f"MAX {max(found)}")
        if "ALL" in opts:
            out.append(f"ALL {_compress(sorted(found))}")
    if "COUNT" in opts:
        out.append(f"COUNT {len(found)}")
    return " ".join(out)


def _fold_inbox(wire: str) -> str:
    return "INBOX" + wire[5:] if wire[:5].upper() == "INBOX" else wire


def _inbox_pattern(pattern: str) -> str:
    """A pattern to test INBOX and its children with: INBOX is case-insensitive
    (RFC 3501 5.1), so ``in%`` or ``Inbox/*`` match it as Dovecot does."""
    m = re.search(r"[%*]", pattern)
    prefix = pattern if m is None else pattern[: m.start()]
    k = min(len(prefix), 5)
    if k and prefix[:k].upper() == "INBOX"[:k]:
        return pattern[:k].upper() + pattern[k:]
    return pattern


def _compile_pattern(pattern: str) -> wildcard.Wildcard:
    """LIST wildcards (RFC 3501 6.3.8): ``*`` anything, ``%`` no delimiter;
    matched in linear time (wildcard.py), never as a backtracking regex."""
    return wildcard.compile_pattern(_fold_inbox(pattern))


def _ancestors(names: Iterable[str]) -> set[str]:
    """Every proper parent of the names ("a/b/c" -> "a", "a/b"): which
    mailboxes have children, in one pass instead of a scan per mailbox."""
    out: set[str] = set()
    for name in names:
        cut = name.rfind("/")
        while cut > 0:
            parent = name[:cut]
            if parent in out:
                break  # and so are its own parents
            out.add(parent)
            cut = name.rfind("/", 0, cut)
    return out
