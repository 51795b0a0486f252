"""The POP3 session state machine, independent of sockets.

Feed it lines with ``handle_line`` and it returns the reply bytes plus what the
connection should do next (close, start TLS). ``module.py`` owns the socket;
``replies.py`` builds what is sent (stuffing, TOP, large answers in pieces).

States (RFC 1939 section 3): AUTHORIZATION -> TRANSACTION -> UPDATE. Covered:

- RFC 1939: USER, PASS, STAT, LIST, RETR, DELE, NOOP, RSET, QUIT, TOP, UIDL.
  Multi-line replies are byte-stuffed and end with ".CRLF" (section 3); sizes are
  octets as sent with CRLF line ends (section 5, LIST); message numbers are fixed
  for the session; deletions are only marks until QUIT takes the session to
  UPDATE (section 6), which calls ``MailStore.expunge``. A dropped connection
  never reaches UPDATE. The maildrop is locked exclusively per user among POP3
  sessions (section 8); the lock is released in ``close()``.
- RFC 2449: CAPA, response codes [IN-USE], [SYS/TEMP], [SYS/PERM]; RFC 3206:
  [AUTH] and AUTH-RESP-CODE.
- RFC 2595: STLS (in AUTHORIZATION, once, when TLS is available).
- RFC 5034: AUTH PLAIN (RFC 4616) and AUTH LOGIN, with or without an initial
  response, "+ " continuations, "*" cancels.

- RFC 6856: UTF8 (names and passwords are UTF-8 anyway; the command says
  so) and LANG, with English the one language.
- APOP (RFC 1939 7) and AUTH CRAM-MD5 (RFC 2195), with ``legacy``: only
  against a user's separate legacy password (server/accounts/legacy.py),
  never the normal one (kept only as an Argon2id hash). Then the greeting
  carries the APOP timestamp ``<pid.clock@host>`` and CAPA lists CRAM-MD5.
  Neither sends a password, so both are offered where plain-text logins
  are not.

Not covered: SASL security layers.

Limits: ``MAX_BAD_COMMANDS`` protocol errors and ``MAX_AUTH_FAILURES`` failed
logins per connection, then the connection closes; each failed login waits
``login_delay`` seconds (asyncio sleep: the loop keeps serving others).

UIDL (RFC 1939 section 7) is the store's ``key`` (the Maildir unique name):
stable across sessions, restarts and flag changes. A key that is not 1..70
characters in 0x21..0x7E is replaced by a stable hash of it.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from server import bytesutil
from server.accounts.base import User
from server.accounts.legacy import apop_check, cram_md5_check
from server.errors import MailError, TemporaryError
from server.modules.base import Authenticator
from server.policy import plaintext_login_allowed
from server.protocols.pop3 import parser as p
from server.protocols.pop3.replies import (
    err,
    multiline,
    multiline_reply,
    ok,
    top_of,
    wire_form,
)
from server.protocols.session_io import PeerLogger, Reply
from server.storage.base import (
    MailboxChange,
    MailStore,
    MessageInfo,
    MessageNotFound,
)

log = logging.getLogger("quicksilver.pop3")

INBOX = "INBOX"
# Protocol errors tolerated per connection before it is closed.
MAX_BAD_COMMANDS = 10
# Failed logins per connection before it is closed.
MAX_AUTH_FAILURES = 3
# Seconds to wait before answering a failed login (slows password guessing).
LOGIN_DELAY = 1.0
MAX_LOGIN_RECORDS = 10_000  # users whose last login LOGIN-DELAY remembers
# RFC 1939 section 7: a unique-id is 1 to 70 characters in 0x21..0x7E.
MAX_UIDL_LENGTH = 70
SEEN = "\\Seen"
# RETR and TOP read the next messages too, in the same worker-thread hop: at
# most this many, up to this many bytes in all (held per session until used)
READ_AHEAD_MESSAGES = 64
READ_AHEAD_BYTES = 256 * 1024

_UIDL_OK = re.compile(r"[\x21-\x7e]{1,70}")
SASL_MECHANISMS = ("PLAIN", "LOGIN")


class State(enum.Enum):
    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"
    CLOSED = "CLOSED"


class MaildropLocks:
    """Exclusive maildrop locks among this module's POP3 sessions (RFC 1939 s. 8).

    IMAP sessions do not take these locks: they may use the mailbox meanwhile.
    """

    def __init__(self) -> None:
        self._holders: dict[str, object] = {}

    def acquire(self, owner: str, holder: object) -> bool:
        current = self._holders.get(owner)
        if current is not None and current is not holder:
            return False
        self._holders[owner] = holder
        return True

    def release(self, owner: str, holder: object) -> None:
        if self._holders.get(owner) is holder:
            del self._holders[owner]

    def held(self, owner: str) -> bool:
        return owner in self._holders


def uidl_for(key: str) -> str:
    """The RFC 1939 unique-id for a store key: the key itself when legal."""
    if _UIDL_OK.fullmatch(key):
        return key
    return "H" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]


@dataclass
class _Msg:
    info: MessageInfo
    uidl: str
    deleted: bool = False


class _NoSuchMessage(Exception):
    pass


class Pop3Session:
    """One client's POP3 conversation.

    ``store`` is the ``MailStore``; ``auth`` the ``Authenticator`` (checks
    passwords off the loop, counts failures for bans); ``locks`` the
    module-wide ``MaildropLocks``.
    ``tls_available`` says whether STLS can be offered on this connection.
    """

    def __init__(
        self,
        store: MailStore,
        auth: Authenticator,
        locks: MaildropLocks,
        *,
        peer: str = "",
        peer_ip: str = "",
        tls_active: bool = False,
        tls_available: bool = False,
        plaintext_login: str = "loopback",
        hostname: str = "",
        banner: str = "Quicksilver POP3 server ready",
        login_delay: float = LOGIN_DELAY,
        on_message: Callable[[], None] | None = None,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        legacy: bool = False,
        login_interval: int = 0,
        last_logins: dict[str, float] | None = None,
    ) -> None:
        # RFC 2449 LOGIN-DELAY: seconds between a user's logins, and the
        # module's record of each user's last one
        self.login_interval = login_interval
        self.last_logins = last_logins if last_logins is not None else {}
        # APOP and CRAM-MD5 against legacy passwords (the module's
        # ``legacy_auth`` and some user has one)
        self.legacy = legacy
        host = hostname or "localhost"
        self.apop_stamp = (
            f"<{os.getpid()}.{time.time_ns()}.{secrets.token_hex(4)}@{host}>"
            if legacy
            else ""
        )
        self.store = store
        self.auth = auth
        self.locks = locks
        self.peer = peer or peer_ip or "?"
        self.peer_ip = peer_ip
        self.tls_active = tls_active
        self.tls_available = tls_available
        self.plaintext_login = plaintext_login
        self.hostname = hostname
        self.login_delay = login_delay
        self.on_message = on_message
        self.log = (
            logger if logger is not None else PeerLogger(log, {"peer": self.peer})
        )
        self.state = State.AUTHORIZATION
        self.owner: str | None = None
        self.banner = banner
        self.doing = ""  # the last command, for the window's Sessions view
        self.bad_commands = 0
        self.auth_failures = 0
        self._pending_user: str | None = None
        self._sasl: tuple[str, ...] | None = None
        self._cram_challenge = ""
        self._msgs: list[_Msg] = []
        self._ahead: dict[int, bytes] = {}  # uid -> message read ahead
        self._unwatch: Callable[[], None] | None = None
        self._flags_stale = False

    # -- public API ---------------------------------------------------------
    def greeting(self) -> bytes:
        name = f" {self.hostname}" if self.hostname else ""
        stamp = f" {self.apop_stamp}" if self.apop_stamp else ""
        return ok(f"{self.banner}{name}{stamp}")

    @property
    def awaiting_sasl(self) -> bool:
        return self._sasl is not None

    def tls_started(self) -> None:
        """TLS is now active (after STLS); forget anything from before it."""
        self.tls_active = True
        self.tls_available = False
        self._pending_user = None
        self._sasl = None

    def close(self) -> None:
        """End the session without UPDATE: release the lock, stop watching."""
        if self._unwatch is not None:
            try:
                self._unwatch()
            except Exception:
                self.log.exception("unwatching the mailbox failed")
            self._unwatch = None
        if self.owner is not None:
            self.locks.release(self.owner, self)
        self.state = State.CLOSED

    async def handle_line(self, line: bytes) -> Reply:
        """Answer one client line. Never raises except ``CancelledError``."""
        if self.state in (State.CLOSED, State.UPDATE):
            return Reply(b"", close=True)
        try:
            if self._sasl is not None:
                return await self._sasl_step(line)
            try:
                cmd = p.parse_command(line)
            except p.ParseError as exc:
                self._pending_user = None
                return self._bad(exc.message)
            return await self._dispatch(cmd)
        except asyncio.CancelledError:
            raise
        except MailError as exc:
            self.log.warning("store error: %s %s", exc.public_message, exc.detail)
            code = "SYS/TEMP" if exc.temporary else "SYS/PERM"
            return Reply(err(f"[{code}] {exc.public_message}"))
        except Exception:
            self.log.exception(
                "unexpected error while answering %s", p.mask_for_log(line)
            )
            return Reply(
                err("[SYS/TEMP] Internal server error, please try again later")
            )

    # -- helpers ------------------------------------------------------------
    def login_allowed(self) -> bool:
        return self.state is State.AUTHORIZATION and plaintext_login_allowed(
            self.plaintext_login, self.peer_ip, self.tls_active
        )

    def _bad(self, message: str) -> Reply:
        self.bad_commands += 1
        if self.bad_commands >= MAX_BAD_COMMANDS:
            self.log.info("too many bad commands, closing")
            return Reply(
                err(f"{message}; too many bad commands, closing connection"),
                close=True,
            )
        return Reply(err(message))

    def _get(self, n: int) -> _Msg:
        if not 1 <= n <= len(self._msgs):
            raise _NoSuchMessage(f"No such message {n}")
        m = self._msgs[n - 1]
        if m.deleted:
            raise _NoSuchMessage(f"Message {n} already deleted")
        return m

    def _live(self) -> Iterable[tuple[int, _Msg]]:
        return ((i, m) for i, m in enumerate(self._msgs, 1) if not m.deleted)

    def _totals(self) -> tuple[int, int]:
        count = size = 0
        for _, m in self._live():
            count += 1
            size += m.info.size
        return count, size

    # -- dispatch -----------------------------------------------------------
    async def _dispatch(self, cmd: p.Command) -> Reply:
        self.doing = cmd.verb
        allowed = _STATES.get(type(cmd), ())
        if self.state not in allowed:
            self._pending_user = None
            return self._bad(f"{cmd.verb} is not valid in this state")
        if not isinstance(cmd, p.Pass | p.User):
            self._pending_user = None
        try:
            match cmd:
                case p.Capa():
                    return self._capa()
                case p.Quit():
                    return await self._quit()
                case p.Stls():
                    return self._stls()
                case p.User(name):
                    return self._user(name)
                case p.Apop(name, digest):
                    return await self._apop(name, digest)
                case p.Utf8():
                    return Reply(ok("UTF8 enabled"))
                case p.Lang(tag):
                    return self._lang(tag)
                case p.Pass(password):
                    return await self._pass(password)
                case p.Auth(mechanism, initial):
                    return await self._auth(mechanism, initial)
                case p.Noop():
                    return Reply(ok())
                case p.Stat():
                    count, size = self._totals()
                    return Reply(ok(f"{count} {size}"))
                case p.List(msg):
                    return self._list(msg)
                case p.Uidl(msg):
                    return self._uidl(msg)
                case p.Retr(msg):
                    return await self._retr(msg)
                case p.Top(msg, lines):
                    return await self._top(msg, lines)
                case p.Dele(msg):
                    m = self._get(msg)
                    m.deleted = True
                    return Reply(ok(f"Message {msg} deleted"))
                case p.Rset():
                    for m in self._msgs:
                        m.deleted = False
                    count, size = self._totals()
                    return Reply(ok(f"Maildrop has {count} messages ({size} octets)"))
        except _NoSuchMessage as exc:
            return Reply(err(str(exc)))
        return self._bad("Unknown command")  # pragma: no cover - all matched

    # -- AUTHORIZATION ------------------------------------------------------
    def _capa(self) -> Reply:
        caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        # RFC 2449 6.7: we never delete mail by ourselves
        caps.append("EXPIRE NEVER")
        if self.login_interval:
            caps.append(f"LOGIN-DELAY {self.login_interval}")
        # RFC 6856: names may be UTF-8 (with USER where USER is offered)
        caps += ["UTF8 USER" if self.login_allowed() else "UTF8", "LANG"]
        legacy = ("CRAM-MD5",) if self.legacy else ()
        if self.login_allowed():
            caps.append("USER")
            caps.append("SASL " + " ".join(SASL_MECHANISMS + legacy))
        elif legacy and self.state is State.AUTHORIZATION:
            caps.append("SASL CRAM-MD5")
        if (
            self.state is State.AUTHORIZATION
            and self.tls_available
            and not self.tls_active
        ):
            caps.append("STLS")
        caps.append("IMPLEMENTATION Quicksilver")
        body = "".join(f"{c}\r\n" for c in caps).encode()
        return Reply(multiline("Capability list follows", body))

    def _stls(self) -> Reply:
        if self.tls_active:
            return self._bad("Already using TLS")
        if not self.tls_available:
            return Reply(err("TLS is not available"))
        self._pending_user = None
        return Reply(ok("Begin TLS negotiation"), start_tls=True)

    def _refuse_plaintext(self) -> Reply:
        return Reply(
            err("Plaintext login is not allowed on this connection; use STLS first")
        )

    def _user(self, name: str) -> Reply:
        if not self.login_allowed():
            return self._refuse_plaintext()
        self._pending_user = name
        return Reply(ok("Send your password"))

    async def _pass(self, password: str) -> Reply:
        if not self.login_allowed():
            return self._refuse_plaintext()
        name, self._pending_user = self._pending_user, None
        if name is None:
            return self._bad("Send USER first")
        return await self._login(name, password)

    def _lang(self, tag: str | None) -> Reply:
        if tag is None:
            return Reply(multiline("Language listing follows", b"en English\r\n"))
        if (
            tag == "*"
            or tag.lower() in ("en", "i-default")
            or tag.lower().startswith("en-")
        ):
            return Reply(ok("en Language is English"))
        return Reply(err("Only English (en) is available"))

    async def _apop(self, name: str, digest: str) -> Reply:
        if not self.legacy:
            return self._bad("APOP is not offered here")
        return await self._digest_login(name, apop_check(self.apop_stamp, digest))

    async def _digest_login(self, name: str, verify: Callable[[str], bool]) -> Reply:
        try:
            user = await self.auth.authenticate_digest(
                name, verify, peer=self.peer_ip, protocol="pop3"
            )
        except TemporaryError as exc:
            return Reply(err(f"[SYS/TEMP] {exc.public_message}"))
        if user is None:
            return await self._auth_failed("invalid legacy credentials", name)
        return await self._logged_in(user)

    async def _cram(self, response: bytes) -> Reply:
        name, _, digest = response.decode("utf-8", "replace").rpartition(" ")
        if not name or not re.fullmatch(r"[0-9a-f]{32}", digest):
            return await self._auth_failed("malformed CRAM-MD5 response")
        check = cram_md5_check(self._cram_challenge, digest)
        return await self._digest_login(name, check)

    async def _auth(self, mechanism: str | None, initial: str | None) -> Reply:
        if mechanism == "CRAM-MD5" and self.legacy:
            if initial is not None:  # RFC 2195: the server speaks first
                return self._bad("CRAM-MD5 takes no initial response")
            host = self.hostname or "localhost"
            self._cram_challenge = f"<{secrets.token_hex(8)}.{time.time_ns()}@{host}>"
            self._sasl = ("CRAM-MD5",)
            return Reply(
                b"+ " + base64.b64encode(self._cram_challenge.encode()) + b"\r\n"
            )
        if not self.login_allowed():
            return self._refuse_plaintext()
        if mechanism is None:
            legacy = ("CRAM-MD5",) if self.legacy else ()
            body = "".join(f"{m}\r\n" for m in SASL_MECHANISMS + legacy).encode()
            return Reply(multiline("Supported mechanisms follow", body))
        if mechanism not in SASL_MECHANISMS:
            return self._bad("Unsupported authentication mechanism")
        data: bytes | None = None
        if initial is not None:
            try:
                data = p.decode_sasl(initial)
            except p.ParseError as exc:
                return await self._auth_failed(exc.message)
        if mechanism == "PLAIN":
            if data is None:
                self._sasl = ("PLAIN",)
                return Reply(b"+ \r\n")
            return await self._plain(data)
        if data is None:
            self._sasl = ("LOGIN-USER",)
            return Reply(b"+ " + base64.b64encode(b"Username:") + b"\r\n")
        self._sasl = ("LOGIN-PASS", data.decode("utf-8", "replace"))
        return Reply(b"+ " + base64.b64encode(b"Password:") + b"\r\n")

    async def _sasl_step(self, line: bytes) -> Reply:
        step, self._sasl = self._sasl or ("",), None
        try:
            resp = p.parse_sasl_response(line)
        except p.ParseError as exc:
            return await self._auth_failed(exc.message)
        if isinstance(resp, p.SaslCancel):
            return Reply(err("Authentication cancelled"))
        if step[0] == "PLAIN":
            return await self._plain(resp)
        if step[0] == "CRAM-MD5":
            return await self._cram(resp)
        if step[0] == "LOGIN-USER":
            self._sasl = ("LOGIN-PASS", resp.decode("utf-8", "replace"))
            return Reply(b"+ " + base64.b64encode(b"Password:") + b"\r\n")
        if step[0] == "LOGIN-PASS":
            try:
                password = resp.decode("utf-8")
            except UnicodeDecodeError:
                return await self._auth_failed("Password is not UTF-8")
            return await self._login(step[1], password)
        return Reply(err("Authentication failed"))  # pragma: no cover

    async def _plain(self, data: bytes) -> Reply:
        try:
            authzid, authcid, password = p.parse_plain(data)
        except p.ParseError as exc:
            return await self._auth_failed(exc.message)
        if authzid and authzid != authcid:
            return await self._auth_failed("Acting as another user is not supported")
        return await self._login(authcid, password)

    async def _auth_failed(self, why: str, user: str = "") -> Reply:
        self.auth_failures += 1
        self.log.info("login failed%s: %s", f" for {user!r}" if user else "", why)
        if self.login_delay > 0:
            await asyncio.sleep(self.login_delay)
        close = self.auth_failures >= MAX_AUTH_FAILURES
        try:
            close = close or bool(self.auth.is_banned(self.peer_ip))
        except Exception:
            self.log.exception("ban check failed")
        text = "[AUTH] Authentication failed"
        if close:
            text += "; closing connection"
        return Reply(err(text), close=close)

    async def _login(self, username: str, password: str) -> Reply:
        try:
            user: User | None = await self.auth.authenticate(
                username, password, peer=self.peer_ip, protocol="pop3"
            )
        except TemporaryError as exc:
            self.log.warning("authentication unavailable: %s", exc.public_message)
            return Reply(err(f"[SYS/TEMP] {exc.public_message}"))
        if user is None:
            return await self._auth_failed("invalid credentials", username)
        return await self._logged_in(user)

    async def _logged_in(self, user: User) -> Reply:
        owner = str(user.address).lower()
        now = time.monotonic()
        last = self.last_logins.get(owner)
        if self.login_interval and last is not None:
            wait = self.login_interval - (now - last)
            if wait > 0:
                self.log.info("%s: logged in %.0f s ago, too soon", owner, now - last)
                return Reply(
                    err(
                        f"[LOGIN-DELAY] Log in at most every {self.login_interval} "
                        f"seconds; try again in {int(wait) + 1}"
                    ),
                    close=True,
                )
        if not self.locks.acquire(owner, self):
            self.log.info("%s: maildrop in use by another POP3 session", owner)
            return Reply(err("[IN-USE] Maildrop is already in use by another session"))
        try:
            await self._open_maildrop(owner)
        except BaseException:
            self.locks.release(owner, self)
            self.owner = None
            raise
        self.state = State.TRANSACTION
        if self.login_interval:
            if len(self.last_logins) >= MAX_LOGIN_RECORDS:
                self.last_logins.pop(next(iter(self.last_logins)))
            self.last_logins[owner] = now
        count, size = self._totals()
        self.log.info("login %s: %d messages (%d octets)", owner, count, size)
        return Reply(ok(f"Logged in, {count} messages ({size} octets)"))

    async def _open_maildrop(self, owner: str) -> None:
        await self.store.ensure_user(owner)
        infos: list[MessageInfo] = await self.store.list_messages(owner, INBOX)
        self.owner = owner
        self._msgs = [_Msg(i, uidl_for(i.key)) for i in infos]
        try:
            self._unwatch = self.store.watch(owner, INBOX, self._on_change)
        except Exception:
            self.log.exception("watching the mailbox failed")

    def _on_change(self, change: MailboxChange) -> None:
        if change.origin is not self and change.kind in ("flags", "expunged"):
            self._flags_stale = True

    # -- TRANSACTION --------------------------------------------------------
    def _list(self, msg: int | None) -> Reply:
        if msg is not None:
            m = self._get(msg)
            return Reply(ok(f"{msg} {m.info.size}"))
        count, size = self._totals()
        body = "".join(f"{i} {m.info.size}\r\n" for i, m in self._live()).encode()
        return Reply(multiline(f"{count} messages ({size} octets)", body))

    def _uidl(self, msg: int | None) -> Reply:
        if msg is not None:
            return Reply(ok(f"{msg} {self._get(msg).uidl}"))
        body = "".join(f"{i} {m.uidl}\r\n" for i, m in self._live()).encode()
        return Reply(multiline("Unique-ID listing follows", body))

    async def _read(self, n: int, m: _Msg) -> bytes | None:
        """The message in CRLF form, None when it is gone. Clients RETR one
        message after the other: the store is asked for this one and the
        small ones after it in one worker-thread hop (``READ_AHEAD_*``), and
        the next RETRs are served from that batch."""
        assert self.owner is not None
        ahead = self._ahead.pop(m.info.uid, None)
        if ahead is not None:
            return await wire_form(ahead, m.info.size)
        self._ahead.clear()
        uids = [m.info.uid]
        budget = READ_AHEAD_BYTES - m.info.size
        for nxt in self._msgs[n : n + READ_AHEAD_MESSAGES]:  # n is 1-based
            if nxt.info.size > budget:
                break
            if not nxt.deleted:
                uids.append(nxt.info.uid)
                budget -= nxt.info.size
        if len(uids) == 1:
            try:
                data: bytes = await self.store.read_message(
                    self.owner, INBOX, m.info.uid
                )
            except MessageNotFound:
                return None
            return await wire_form(data, m.info.size)
        found = await self.store.read_messages(self.owner, INBOX, uids)
        first = found.pop(m.info.uid, None)
        self._ahead = found
        return None if first is None else await wire_form(first, m.info.size)

    async def _retr(self, n: int) -> Reply:
        m = self._get(n)
        data = await self._read(n, m)
        if data is None:
            return Reply(err(f"Message {n} was removed by another session"))
        await self._mark_seen(m)
        if self.on_message is not None:
            self.on_message()
        return await multiline_reply(f"{len(data)} octets", data)

    async def _top(self, n: int, lines: int) -> Reply:
        m = self._get(n)
        data = await self._read(n, m)
        if data is None:
            return Reply(err(f"Message {n} was removed by another session"))
        if len(data) < bytesutil.OFF_LOOP_COPY:
            top = top_of(data, lines)
        else:
            top = await asyncio.to_thread(top_of, data, lines)
        return await multiline_reply("Top of message follows", top)

    async def _mark_seen(self, m: _Msg) -> None:
        """RETR sets \\Seen so IMAP shows the message read (TOP does not)."""
        assert self.owner is not None
        if self._flags_stale:
            await self._refresh_flags()
        if SEEN in m.info.flags:
            return
        try:  # "+": added to the current flags, keeping others' changes
            infos: list[MessageInfo] = await self.store.set_flags(
                self.owner, INBOX, [(m.info.uid, "+", frozenset({SEEN}))], origin=self
            )
        except MailError as exc:
            self.log.warning("could not set \\Seen: %s", exc.public_message)
            return
        for info in infos:
            if info.uid == m.info.uid:
                m.info = replace(m.info, flags=info.flags)

    async def _refresh_flags(self) -> None:
        assert self.owner is not None
        self._flags_stale = False
        infos: list[MessageInfo] = await self.store.list_messages(self.owner, INBOX)
        current = {i.uid: i for i in infos}
        for m in self._msgs:
            info = current.get(m.info.uid)
            if info is not None:
                m.info = replace(m.info, flags=info.flags)

    # -- UPDATE -------------------------------------------------------------
    async def _quit(self) -> Reply:
        if self.state is State.AUTHORIZATION:
            self.close()
            return Reply(ok("Quicksilver POP3 server signing off"), close=True)
        self.state = State.UPDATE
        assert self.owner is not None
        uids = [m.info.uid for m in self._msgs if m.deleted]
        try:
            if uids:
                removed = await self.store.expunge(self.owner, INBOX, uids, origin=self)
                self.log.info("%s: %d messages deleted", self.owner, len(removed))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, MailError):
                self.log.warning("expunge failed: %s", exc.public_message)
            else:
                self.log.exception("expunge failed")
            self.close()
            return Reply(
                err("[SYS/TEMP] Some deleted messages not removed"), close=True
            )
        left = sum(1 for m in self._msgs if not m.deleted)
        self.close()
        return Reply(
            ok(f"Quicksilver POP3 server signing off ({left} messages left)"),
            close=True,
        )


_AUTH = (State.AUTHORIZATION,)
_TRANS = (State.TRANSACTION,)
_BOTH = (State.AUTHORIZATION, State.TRANSACTION)
_STATES: dict[type[p.Command], tuple[State, ...]] = {
    p.Capa: _BOTH,
    p.Quit: _BOTH,
    p.Stls: _AUTH,
    p.User: _AUTH,
    p.Pass: _AUTH,
    p.Auth: _AUTH,
    p.Apop: _AUTH,
    p.Utf8: _AUTH,
    p.Lang: _BOTH,
    p.Noop: _TRANS,
    p.Stat: _TRANS,
    p.List: _TRANS,
    p.Uidl: _TRANS,
    p.Retr: _TRANS,
    p.Top: _TRANS,
    p.Dele: _TRANS,
    p.Rset: _TRANS,
}
