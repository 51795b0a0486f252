"""The ManageSieve session state machine (RFC 5804), independent of sockets.

Feed it whole commands (a line with its literals inline) with ``handle`` and
it returns the reply bytes plus what the connection should do next (close,
start TLS). ``module.py`` owns the socket; ``responses.py`` renders the bytes.

States (RFC 5804 2): NOT AUTHENTICATED -> AUTHENTICATED (-> back on
UNAUTHENTICATE) -> CLOSED. Covered:

- 2.1 AUTHENTICATE PLAIN (RFC 4616) and LOGIN, with or without an initial
  response; challenges are strings of base64, the client's answers strings
  too, ``"*"`` cancels (NO). Logins go through the core's ``Authenticator``,
  the same door as IMAP's: the ``plaintext_login`` policy
  (``server.policy.plaintext_login_allowed``, NO (ENCRYPT-NEEDED) where it
  refuses), failure counting, IP bans and account locks. A failed login waits
  ``login_delay`` before its NO; ``MAX_AUTH_FAILURES`` per connection, or a
  ban, end the connection with BYE.
- 2.2 STARTTLS (not authenticated, once); the connection then sends the
  capabilities again (``tls_started``).
- 2.3 LOGOUT, 2.4 CAPABILITY, 2.5 HAVESPACE, 2.6 PUTSCRIPT, 2.7 LISTSCRIPTS,
  2.8 SETACTIVE (the empty name deactivates), 2.9 GETSCRIPT, 2.10
  DELETESCRIPT, 2.11.1 RENAMESCRIPT, 2.12 CHECKSCRIPT, 2.13 NOOP (its string
  comes back as TAG), 2.14.1 UNAUTHENTICATE.
- PUTSCRIPT and CHECKSCRIPT compile the script first (``compile_script``, in a
  worker thread): an error is a NO whose text gives the line and column (2.6);
  a valid script with redirects beyond the engine's limit is stored with
  OK (WARNINGS). SETACTIVE compiles the script it activates (it may have been
  written by hand).

Store calls (``ScriptStore``: file I/O with fsync) run in worker threads; its
``ScriptStoreError`` carries the response code (NONEXISTENT, ALREADYEXISTS,
ACTIVE, QUOTA/MAXSCRIPTS, QUOTA/MAXSIZE). Anything unexpected is logged with
its traceback and answered NO (TRYLATER): a client never sees a path.

Limits: ``MAX_BAD_COMMANDS`` refused commands in a row and
``MAX_UNAUTHENTICATED_COMMANDS`` commands before a login (a client that never
logs in cannot hold a connection slot by chatting), then BYE.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable

from server.accounts.base import User
from server.errors import TemporaryError
from server.modules.base import Authenticator
from server.policy import plaintext_login_allowed
from server.protocols.managesieve import parser as p
from server.protocols.managesieve import responses as R
from server.protocols.session_io import PeerLogger, Reply
from server.sieve import SieveLimits, SieveSyntaxError, capabilities, compile_script
from server.sieve.compiler import CompiledScript, Node
from server.sieve.store import ScriptStore, ScriptStoreError, check_name

log = logging.getLogger("quicksilver.managesieve")

# Refused commands in a row before the connection is closed.
MAX_BAD_COMMANDS = 10
# Commands before a successful login (CAPABILITY, STARTTLS, NOOP and a few
# AUTHENTICATE tries need far fewer); then BYE.
MAX_UNAUTHENTICATED_COMMANDS = 30
# Failed logins per connection before it is closed (POP3's number).
MAX_AUTH_FAILURES = 3
# Seconds a failed login waits before its NO (IMAP's LOGIN_FAILURE_DELAY).
LOGIN_DELAY = 0.2
SASL_MECHANISMS = ("PLAIN", "LOGIN")
IMPLEMENTATION = "Quicksilver"
# RFC 5804 1.7: "VERSION" is "1.0" for this document.
VERSION = "1.0"


class State(enum.Enum):
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    AUTHENTICATED = "AUTHENTICATED"
    CLOSED = "CLOSED"


def redirect_warnings(script: CompiledScript, limit: int) -> list[str]:
    """RFC 5804 2.6's own example of a warning: more ``redirect`` commands
    than the engine will carry out (``SieveLimits.max_redirects``)."""
    lines: list[int] = []

    def walk(nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            if node.name == "redirect":
                lines.append(node.line)
            walk(node.block)
            for _test, block in node.branches:
                walk(block)
            if node.else_block is not None:
                walk(node.else_block)

    walk(script.commands)
    if len(lines) <= limit:
        return []
    return [
        f"line {lines[limit]}: the server carries out at most {limit} redirects "
        "per message; further redirects may be ignored"
    ]


def syntax_message(exc: SieveSyntaxError) -> str:
    """RFC 5804 2.6: a human-readable error with its place in the script."""
    return f"line {exc.line}, column {exc.col}: {exc.message}"


class ManageSieveSession:
    """One client's ManageSieve conversation.

    ``scripts`` is the core's shared ``ScriptStore``; ``auth`` the
    ``Authenticator`` (checks passwords off the loop, counts failures for
    bans). ``tls_available`` says whether STARTTLS can be offered.
    ``count`` receives counter names for the module's status.
    """

    def __init__(
        self,
        scripts: ScriptStore,
        auth: Authenticator,
        *,
        peer: str = "",
        peer_ip: str = "",
        tls_active: bool = False,
        tls_available: bool = False,
        plaintext_login: str = "loopback",
        login_delay: float = LOGIN_DELAY,
        limits: SieveLimits | None = None,
        count: Callable[[str], None] | None = None,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        ready: str = "Quicksilver ManageSieve ready.",
    ) -> None:
        self.ready = ready  # the greeting's text (capture mode says so)
        self.scripts = scripts
        self.auth = auth
        self.peer = peer or peer_ip or "?"
        self.peer_ip = peer_ip
        self.tls_active = tls_active
        self.tls_available = tls_available
        self.plaintext_login = plaintext_login
        self.login_delay = login_delay
        self.limits = limits or SieveLimits()
        self._count = count
        self.log = (
            logger if logger is not None else PeerLogger(log, {"peer": self.peer})
        )
        self.state = State.NOT_AUTHENTICATED
        self.user: str | None = None
        self.bad_commands = 0
        self.unauthenticated_commands = 0
        self.auth_failures = 0
        self._sasl: tuple[str, ...] | None = None

    # -- public API ---------------------------------------------------------
    def capabilities(self) -> list[tuple[str, str | None]]:
        """RFC 5804 1.7, in the order the RFC lists them."""
        caps: list[tuple[str, str | None]] = [("IMPLEMENTATION", IMPLEMENTATION)]
        # An empty SASL list tells the client to use STARTTLS first (1.7).
        caps.append(("SASL", " ".join(SASL_MECHANISMS) if self.login_allowed() else ""))
        caps.append(("SIEVE", " ".join(capabilities())))
        if (
            self.state is State.NOT_AUTHENTICATED
            and self.tls_available
            and not self.tls_active
        ):
            caps.append(("STARTTLS", None))
        caps.append(("MAXREDIRECTS", str(self.limits.max_redirects)))
        if self.state is State.AUTHENTICATED and self.user is not None:
            caps.append(("OWNER", self.user))  # 1.7: only when authenticated
        caps.append(("UNAUTHENTICATE", None))
        caps.append(("VERSION", VERSION))
        return caps

    def greeting(self) -> bytes:
        """RFC 5804 1.7: the capabilities, then OK."""
        return R.capability_lines(self.capabilities()) + R.ok(self.ready)

    @property
    def awaiting_sasl(self) -> bool:
        return self._sasl is not None

    def tls_started(self) -> bytes:
        """TLS is now active (RFC 5804 2.2): forget the SASL state and send the
        capabilities again, followed by OK."""
        self.tls_active = True
        self.tls_available = False
        self._sasl = None
        return R.capability_lines(self.capabilities()) + R.ok("TLS negotiation done.")

    def literal_refused(self, size: int, limit: int) -> Reply:
        """The connection read past a literal above ``limit`` without keeping
        it; the command is refused as a script too large (RFC 5804 1.3)."""
        self.log.info("literal of %d octets refused (limit %d)", size, limit)
        if size <= limit:  # refused for their number, not their size
            self._sasl = None
            return self._bad("Too many literals in one command.")
        if self._sasl is not None:
            self._sasl = None
            return self._bad("Authentication response too long")
        return self._bad(
            f"A script may be at most {self.scripts.max_script_bytes} bytes.",
            "QUOTA/MAXSIZE",
        )

    def close(self) -> None:
        self.state = State.CLOSED
        self._sasl = None

    async def handle(self, data: bytes) -> Reply:
        """Answer one whole command. Never raises except ``CancelledError``."""
        if self.state is State.CLOSED:
            return Reply(b"", close=True)
        try:
            if self._sasl is not None:
                return await self._sasl_step(data)
            try:
                cmd = p.parse_command(data)
            except p.ParseError as exc:
                return self._bad(exc.message)
            if self.state is State.NOT_AUTHENTICATED:
                self.unauthenticated_commands += 1
                if self.unauthenticated_commands > MAX_UNAUTHENTICATED_COMMANDS:
                    self.log.info("too many commands without a login, closing")
                    self.close()
                    return Reply(R.bye("Too many commands without a login."), True)
            return await self._dispatch(cmd)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception(
                "unexpected error while answering %s", p.mask_for_log(data)
            )
            return Reply(R.no("Internal server error, try again later.", "TRYLATER"))

    # -- helpers ------------------------------------------------------------
    def login_allowed(self) -> bool:
        return plaintext_login_allowed(
            self.plaintext_login, self.peer_ip, self.tls_active
        )

    def count(self, name: str) -> None:
        if self._count is not None:
            self._count(name)

    def _bad(self, message: str, code: str = "") -> Reply:
        self.bad_commands += 1
        if self.bad_commands >= MAX_BAD_COMMANDS:
            self.log.info("too many bad commands, closing")
            self.close()
            return Reply(R.bye("Too many invalid commands."), close=True)
        return Reply(R.no(message, code))

    def _ok(self, data: bytes) -> Reply:
        self.bad_commands = 0
        return Reply(data)

    # -- dispatch -----------------------------------------------------------
    async def _dispatch(self, cmd: p.Command) -> Reply:
        match cmd:
            case p.Capability():
                return self._ok(
                    R.capability_lines(self.capabilities())
                    + R.ok("Capability completed.")
                )
            case p.Noop(tag):
                if tag is not None:
                    return self._ok(R.ok("Done", "TAG", tag))
                return self._ok(R.ok("Done"))
            case p.Logout():
                self.close()
                return Reply(R.ok("Logout completed."), close=True)
        if self.state is State.NOT_AUTHENTICATED:
            match cmd:
                case p.StartTls():
                    return self._starttls()
                case p.Authenticate(mechanism, initial):
                    return await self._authenticate(mechanism, initial)
            return self._bad(f"{cmd.verb} needs a login first (AUTHENTICATE).")
        user = self.user
        assert user is not None
        try:
            match cmd:
                case p.StartTls():
                    return self._bad("STARTTLS is only allowed before a login.")
                case p.Authenticate():
                    return self._bad("Already authenticated.")
                case p.Unauthenticate():
                    self.log.info("%s: unauthenticated", user)
                    self.state = State.NOT_AUTHENTICATED
                    self.user = None
                    self.unauthenticated_commands = 0
                    return self._ok(R.ok("Unauthenticate completed."))
                case p.HaveSpace(name, size):
                    await asyncio.to_thread(self.scripts.check_space, user, name, size)
                    return self._ok(R.ok("Putscript would succeed."))
                case p.PutScript(name, script):
                    return await self._putscript(user, name, script)
                case p.CheckScript(script):
                    return await self._checkscript(script)
                case p.ListScripts():
                    infos = await asyncio.to_thread(self.scripts.list_scripts, user)
                    body = R.script_list((i.name, i.active) for i in infos)
                    return self._ok(body + R.ok("Listscripts completed."))
                case p.SetActive(name):
                    return await self._setactive(user, name)
                case p.GetScript(name):
                    text = await asyncio.to_thread(self.scripts.get, user, name)
                    body = R.script_body(text.encode("utf-8"))
                    return self._ok(body + R.ok("Getscript completed."))
                case p.DeleteScript(name):
                    await asyncio.to_thread(self.scripts.delete, user, name)
                    self.log.info("%s: deleted script %r", user, name)
                    return self._ok(R.ok("Deletescript completed."))
                case p.RenameScript(old, new):
                    await asyncio.to_thread(self.scripts.rename, user, old, new)
                    self.log.info("%s: renamed script %r to %r", user, old, new)
                    return self._ok(R.ok("Renamescript completed."))
        except ScriptStoreError as exc:
            return Reply(R.no(str(exc), exc.code))
        return self._bad("Unknown command")  # pragma: no cover - all matched

    # -- scripts ------------------------------------------------------------
    async def _compile(self, script: bytes, name: str) -> CompiledScript | Reply:
        """The compiled script, or the NO that refuses it (RFC 5804 2.6)."""
        try:
            text = script.decode("utf-8")
        except UnicodeDecodeError:
            return Reply(R.no("The script is not valid UTF-8."))
        try:
            return await asyncio.to_thread(compile_script, text, name)
        except SieveSyntaxError as exc:
            return Reply(R.no(syntax_message(exc)))

    def _compiled_ok(self, compiled: CompiledScript, text: str) -> Reply:
        warnings = redirect_warnings(compiled, self.limits.max_redirects)
        if warnings:
            return self._ok(R.ok("; ".join(warnings), "WARNINGS"))
        return self._ok(R.ok(text))

    async def _putscript(self, user: str, name: str, script: bytes) -> Reply:
        check_name(name)  # before compiling: a bad name needs no compiler
        compiled = await self._compile(script, name)
        if isinstance(compiled, Reply):
            self.count("scripts_refused")
            return compiled
        await asyncio.to_thread(self.scripts.put, user, name, script.decode("utf-8"))
        self.count("scripts_stored")
        self.log.info("%s: stored script %r (%d octets)", user, name, len(script))
        return self._compiled_ok(compiled, "Putscript completed.")

    async def _checkscript(self, script: bytes) -> Reply:
        compiled = await self._compile(script, "checkscript")
        if isinstance(compiled, Reply):
            return compiled
        return self._compiled_ok(compiled, "Script is valid.")

    async def _setactive(self, user: str, name: str) -> Reply:
        if name == "":
            await asyncio.to_thread(self.scripts.set_active, user, None)
            self.log.info("%s: no script active", user)
            return self._ok(R.ok("No script is active now."))
        text = await asyncio.to_thread(self.scripts.get, user, name)
        compiled = await self._compile(text.encode("utf-8"), name)
        if isinstance(compiled, Reply):
            return compiled
        await asyncio.to_thread(self.scripts.set_active, user, name)
        self.log.info("%s: activated script %r", user, name)
        return self._ok(R.ok("Setactive completed."))

    # -- NOT AUTHENTICATED --------------------------------------------------
    def _starttls(self) -> Reply:
        if self.tls_active:
            return self._bad("TLS is already active.")
        if not self.tls_available:
            return self._bad("TLS is not available.")
        return Reply(R.ok("Begin TLS negotiation now."), start_tls=True)

    async def _authenticate(self, mechanism: str, initial: str | None) -> Reply:
        if mechanism not in SASL_MECHANISMS:
            return self._bad("Unsupported authentication mechanism.")
        if not self.login_allowed():
            return self._bad(
                "Authentication is only allowed after STARTTLS.", "ENCRYPT-NEEDED"
            )
        data: bytes | None = None
        if initial is not None:
            try:
                data = p.decode_base64(initial)
            except p.ParseError as exc:
                return await self._auth_failed(exc.message)
        if mechanism == "PLAIN":
            if data is None:
                self._sasl = ("PLAIN",)
                return Reply(R.challenge(b""))
            return await self._plain(data)
        if data is None:
            self._sasl = ("LOGIN-USER",)
            return Reply(R.challenge(b"Username:"))
        self._sasl = ("LOGIN-PASS", data.decode("utf-8", "replace"))
        return Reply(R.challenge(b"Password:"))

    async def _sasl_step(self, data: bytes) -> Reply:
        step, self._sasl = self._sasl or ("",), None
        try:
            resp = p.parse_sasl_response(data)
        except p.ParseError as exc:
            return await self._auth_failed(exc.message)
        if isinstance(resp, p.SaslCancel):
            # RFC 5804 2.1: the server MUST reject the AUTHENTICATE with NO
            return Reply(R.no("Authentication cancelled."))
        if step[0] == "PLAIN":
            return await self._plain(resp)
        if step[0] == "LOGIN-USER":
            self._sasl = ("LOGIN-PASS", resp.decode("utf-8", "replace"))
            return Reply(R.challenge(b"Password:"))
        if step[0] == "LOGIN-PASS":
            try:
                password = resp.decode("utf-8")
            except UnicodeDecodeError:
                return await self._auth_failed("password is not UTF-8")
            return await self._login(step[1], password)
        return Reply(R.no("Authentication failed."))  # pragma: no cover

    async def _plain(self, data: bytes) -> Reply:
        try:
            authzid, authcid, password = p.parse_plain(data)
        except p.ParseError as exc:
            return await self._auth_failed(exc.message)
        if authzid and authzid.lower() != authcid.lower():
            # RFC 5804 1.3 AUTH-TOO-WEAK is about mechanisms; proxying is
            # simply not offered.
            return await self._auth_failed("acting as another user")
        return await self._login(authcid, password)

    async def _auth_failed(self, why: str, user: str = "") -> Reply:
        self.auth_failures += 1
        self.count("auth_failures")
        self.log.info("login failed%s: %s", f" for {user[:100]!r}" if user else "", why)
        if self.login_delay > 0:
            await asyncio.sleep(self.login_delay)
        close = self.auth_failures >= MAX_AUTH_FAILURES
        try:
            close = close or bool(self.auth.is_banned(self.peer_ip))
        except Exception:
            self.log.exception("ban check failed")
        if close:
            self.close()
            return Reply(R.bye("Too many failed logins."), close=True)
        return Reply(R.no("Authentication failed."))

    async def _login(self, username: str, password: str) -> Reply:
        try:
            user: User | None = await self.auth.authenticate(
                username, password, peer=self.peer_ip, protocol="managesieve"
            )
        except TemporaryError as exc:
            self.log.warning("authentication unavailable: %s", exc.public_message)
            return Reply(
                R.no("Authentication is unavailable, try again later.", "TRYLATER")
            )
        if user is None:
            return await self._auth_failed("invalid credentials", username)
        self.user = str(user.address).lower()
        self.state = State.AUTHENTICATED
        self.bad_commands = 0
        self.count("logins")
        self.log.info("logged in as %s", self.user)
        return Reply(R.ok("Logged in."))
