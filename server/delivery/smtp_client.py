"""Outbound SMTP over aiosmtplib, shared by ``relay`` and ``mx``.

What it does
- ``SmtpSender.send(target, sender, recipients, message)`` runs one mail
  transaction (RFC 5321 3.3: MAIL, one RCPT per recipient, DATA) and returns a
  ``RouteResult`` per recipient: ok, or failed temporarily (4xx, connection
  lost, timeout) or permanently (5xx), with what the server said.
- Connection security per target: ``none``, ``starttls`` (required; RFC 3207),
  ``implicit`` (TLS from the first byte; RFC 8314 3.3) or ``opportunistic``
  (STARTTLS when offered, no certificate check: RFC 7435 / RFC 3207 4.1, what
  MX delivery does without DANE or MTA-STS).
- AUTH (RFC 4954) when the target carries a username; only over TLS unless the
  target is on loopback, so a password never crosses a network in clear.
- Connection reuse: after a finished transaction the connection is parked per
  (host, port, login) and the next message to that target starts with MAIL on it
  (RFC 5321 3.3 allows several transactions per session); an idle connection is
  closed after ``max_idle`` seconds. ``max_per_target`` caps parallel
  connections to one target.
- ``ConnectFailed`` is raised when no transaction could start (connect, greeting,
  EHLO, TLS or AUTH failed), so MX delivery can try the next host.

What it does not do: DNS (``mx``), retries or queue state (the queue manager),
DSN parameters (RFC 3461) or CHUNKING. Limits: per-command timeout ``timeout``
(RFC 5321 4.5.3.2 suggests 5 minutes for MAIL/RCPT and 10 for the end of DATA);
a message with 8-bit bytes is sent with BODY=8BITMIME when offered (RFC 6152),
otherwise as is; non-ASCII addresses need SMTPUTF8 (RFC 6531) or fail 5.6.7.
Passwords never reach a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiosmtplib

from server.delivery import dane
from server.delivery.base import RouteResult
from server.delivery.dane import Tlsa

SECURITY_CHOICES = ("none", "starttls", "implicit", "opportunistic")

_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}\b")


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to connect."""

    host: str  # the name we expect in the certificate and show in messages
    port: int
    security: str = "opportunistic"
    address: str = ""  # IP or name to connect to; "" = host
    username: str = ""
    password: str = field(default="", repr=False)
    verify_certificate: bool = True
    # mx only: "sts" (MTA-STS enforce: STARTTLS with a certificate valid for
    # ``host``) or "dane" (STARTTLS, the certificate checked against
    # ``tlsa``, whose base names are ``tlsa_names``); "" as ``security`` says
    tls_policy: str = ""
    tlsa: tuple[Tlsa, ...] = ()
    tlsa_names: tuple[str, ...] = ()
    ca_file: str = ""  # trust these authorities instead of the system's (tests)

    @property
    def key(self) -> tuple[str, int, str, str]:
        security = (
            f"{self.security}/{self.tls_policy}" if self.tls_policy else self.security
        )
        return (self.address or self.host, self.port, security, self.username)

    @property
    def label(self) -> str:
        a = self.address or self.host
        return self.host if a == self.host else f"{self.host} [{a}]"


class ConnectFailed(Exception):
    """No transaction could start on this target. ``tls_failure``: the
    RFC 8460 4.3 result type when TLS under a policy is what failed."""

    def __init__(
        self, message: str, *, temporary: bool = True, tls_failure: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.temporary = temporary
        self.tls_failure = tls_failure


def reply_text(code: int, message: str) -> str:
    """An SMTP reply as one line: ``550 5.1.1 No such user``."""
    text = " ".join(message.split())
    return f"{code} {text}".strip()


def is_temporary(code: int) -> bool:
    """RFC 5321 4.2.1: 4yz transient, 5yz permanent; anything else odd -> retry."""
    return not 500 <= code <= 599


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _has_8bit(message: bytes) -> bool:
    return not message.isascii()


def _is_ascii(s: str) -> bool:
    return s.isascii()


def client_tls_context(target: SmtpTarget) -> ssl.SSLContext:
    """Verify certificates unless the target says not to; opportunistic TLS
    never verifies (RFC 7435: some encryption beats none)."""
    ctx = ssl.create_default_context()
    if not target.verify_certificate or target.security == "opportunistic":
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _verify_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def _tls_failure(exc: BaseException) -> str:
    """The RFC 8460 4.3.1 result type of a failed TLS handshake."""
    found = _verify_error(exc)
    if found is None:
        return "validation-failure"
    text = (found.verify_message or "").lower()
    if "hostname mismatch" in text or "ip address mismatch" in text:
        return "certificate-host-mismatch"
    if "expired" in text:
        return "certificate-expired"
    return "certificate-not-trusted"


def _tls_reason(exc: BaseException) -> str:
    found = _verify_error(exc)
    if found is not None:
        return f"the certificate {found.verify_message or 'does not validate'}"
    return str(exc) or type(exc).__name__


@dataclass
class _Conn:
    client: aiosmtplib.SMTP
    target: SmtpTarget
    since: float
    transactions: int = 0


class SmtpSender:
    """Delivers messages over SMTP with parked, reusable connections."""

    def __init__(
        self,
        helo: str,
        log: logging.Logger,
        *,
        timeout: float = 300.0,
        max_idle: float = 30.0,
        max_per_target: int = 4,
    ) -> None:
        self.helo = helo or "localhost"
        self.log = log
        self.timeout = timeout
        self.max_idle = max_idle
        self.max_per_target = max_per_target
        self._idle: dict[tuple[str, int, str, str], list[_Conn]] = {}
        self._slots: dict[tuple[str, int, str, str], asyncio.Semaphore] = {}
        self._closed = False
        self.connections_opened = 0

    # -- connections ------------------------------------------------------------
    async def _connect(self, target: SmtpTarget) -> _Conn:
        if target.tls_policy:
            return await self._connect_under_policy(target)
        addr = target.address or target.host
        implicit = target.security == "implicit"
        start_tls: bool | None
        if target.security == "starttls":
            start_tls = True
        elif target.security == "opportunistic":
            start_tls = None  # upgrade when the server offers STARTTLS
        else:
            start_tls = False
        tls_ctx = client_tls_context(target)
        client = aiosmtplib.SMTP(
            hostname=addr,
            port=target.port,
            local_hostname=self.helo,
            timeout=self.timeout,
            use_tls=implicit,
            start_tls=start_tls,
            tls_context=tls_ctx,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPConnectResponseError as exc:
            raise ConnectFailed(
                f"{target.label} greeted with {reply_text(exc.code, exc.message)}",
                temporary=is_temporary(exc.code),
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            raise ConnectFailed(
                f"{target.label} refused the session: "
                f"{reply_text(exc.code, exc.message)}",
                temporary=True,
            ) from exc
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            client.close()
            raise ConnectFailed(
                f"Cannot talk to {target.label} on port {target.port}: {exc}"
            ) from exc
        self.connections_opened += 1
        tls = client.get_transport_info("sslcontext") is not None
        self.log.info(
            "[%s:%d] connected%s", addr, target.port, " with TLS" if tls else ""
        )
        if target.username:
            if not tls and not _is_loopback(addr):
                client.close()
                raise ConnectFailed(
                    f"{target.label} offers no TLS; the password is not sent in clear"
                )
            try:
                await client.login(target.username, target.password)
            except aiosmtplib.SMTPAuthenticationError as exc:
                client.close()
                # A bad smart host login is a setting to fix, not a reason to
                # bounce mail: keep it queued (Postfix does the same).
                raise ConnectFailed(
                    f"{target.label} refused the login for {target.username}: "
                    f"{reply_text(exc.code, exc.message)}"
                ) from exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                client.close()
                raise ConnectFailed(f"AUTH with {target.label} failed: {exc}") from exc
            self.log.info("[%s:%d] AUTH ok as %s", addr, target.port, target.username)
        return _Conn(client, target, time.monotonic())

    async def _connect_under_policy(self, target: SmtpTarget) -> _Conn:
        """STARTTLS that must succeed and authenticate the server: by its
        certificate's name and chain (MTA-STS) or by TLSA records (DANE)."""
        addr = target.address or target.host
        policy = "MTA-STS" if target.tls_policy == "sts" else "DANE"
        client = aiosmtplib.SMTP(
            hostname=addr,
            port=target.port,
            local_hostname=self.helo,
            timeout=self.timeout,
            use_tls=False,
            start_tls=False,
        )
        try:
            await client.connect()
            await client.ehlo()
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            raise ConnectFailed(
                f"{target.label} refused the session: "
                f"{reply_text(exc.code, exc.message)}",
                temporary=is_temporary(exc.code),
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise ConnectFailed(
                f"Cannot talk to {target.label} on port {target.port}: {exc}"
            ) from exc
        if not client.supports_extension("starttls"):
            client.close()
            raise ConnectFailed(
                f"{target.label} offers no STARTTLS, which the {policy} policy of "
                "the domain requires",
                tls_failure="starttls-not-supported",
            )
        ctx = ssl.create_default_context(cafile=target.ca_file or None)
        if target.tls_policy == "dane":
            ctx.check_hostname = False  # the TLSA records decide (dane.check)
            ctx.verify_mode = ssl.CERT_NONE
        try:
            await client.starttls(server_hostname=target.host, tls_context=ctx)
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            client.close()
            kind = _tls_failure(exc)
            raise ConnectFailed(
                f"TLS with {target.label} failed under its domain's {policy} "
                f"policy: {_tls_reason(exc)}",
                tls_failure=kind,
            ) from exc
        if target.tls_policy == "dane":
            chain = dane.peer_chain(client.get_transport_info("ssl_object"))
            why = dane.check(target.tlsa, chain, target.tlsa_names)
            if why:
                client.close()
                raise ConnectFailed(
                    f"{target.label} failed its DANE check: {why}",
                    tls_failure="validation-failure",
                )
        try:
            await client.ehlo()
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise ConnectFailed(f"EHLO with {target.label} failed: {exc}") from exc
        self.connections_opened += 1
        self.log.info(
            "[%s:%d] connected with TLS (%s verified)", addr, target.port, policy
        )
        return _Conn(client, target, time.monotonic())

    def _take_idle(self, target: SmtpTarget) -> _Conn | None:
        pool = self._idle.get(target.key, [])
        now = time.monotonic()
        while pool:
            conn = pool.pop()
            if conn.client.is_connected and now - conn.since < self.max_idle:
                return conn
            conn.client.close()
        return None

    def _park(self, conn: _Conn) -> None:
        if self._closed or not conn.client.is_connected:
            conn.client.close()
            return
        conn.since = time.monotonic()
        self._idle.setdefault(conn.target.key, []).append(conn)

    async def close(self) -> None:
        """Say QUIT on every parked connection."""
        self._closed = True
        conns = [c for pool in self._idle.values() for c in pool]
        self._idle.clear()
        for c in conns:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.client.quit(), 2)
            c.client.close()

    def reopen(self) -> None:
        self._closed = False

    # -- a transaction -------------------------------------------------------------
    async def send(
        self,
        target: SmtpTarget,
        sender: str,
        recipients: Sequence[str],
        message: bytes,
    ) -> list[RouteResult]:
        """One transaction; raises ``ConnectFailed`` if none could start."""
        slots = self._slots.setdefault(
            target.key, asyncio.Semaphore(self.max_per_target)
        )
        async with slots:
            conn = self._take_idle(target)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(target)
            try:
                try:
                    results = await self._transaction(conn, sender, recipients, message)
                except _StaleConnection:
                    if not reused:
                        raise ConnectFailed(
                            f"{target.label} closed the connection before MAIL"
                        ) from None
                    conn.client.close()
                    conn = await self._connect(target)
                    results = await self._transaction(conn, sender, recipients, message)
            except _StaleConnection:
                conn.client.close()
                raise ConnectFailed(
                    f"{target.label} closed the connection before MAIL"
                ) from None
            except BaseException:
                conn.client.close()
                raise
            self._park(conn)
            return results

    async def _transaction(
        self, conn: _Conn, sender: str, recipients: Sequence[str], message: bytes
    ) -> list[RouteResult]:
        client = conn.client
        label = f"{conn.target.label}"
        peer = f"{conn.target.address or conn.target.host}:{conn.target.port}"
        options: list[str] = []
        utf8 = not (_is_ascii(sender) and all(_is_ascii(r) for r in recipients))
        if utf8:
            if not client.supports_extension("smtputf8"):
                text = (
                    f"{label} does not support SMTPUTF8, needed for non-ASCII "
                    "addresses (5.6.7)"
                )
                return [RouteResult(r, False, False, text) for r in recipients]
            options.append("SMTPUTF8")
        if _has_8bit(message) and client.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        if client.supports_extension("size"):
            options.append(f"SIZE={len(message)}")
        encoding = "utf-8" if utf8 else "ascii"

        def failed_all(code: int, msg: str, rcpts: Sequence[str]) -> list[RouteResult]:
            text = f"{label} said: {reply_text(code, msg)}"
            return [RouteResult(r, False, is_temporary(code), text) for r in rcpts]

        def lost(exc: BaseException, rcpts: Sequence[str]) -> list[RouteResult]:
            text = f"Connection to {label} lost: {exc}"
            return [RouteResult(r, False, True, text) for r in rcpts]

        try:
            await client.mail(sender, options=options, encoding=encoding)
        except aiosmtplib.SMTPServerDisconnected as exc:
            raise _StaleConnection() from exc
        except aiosmtplib.SMTPResponseException as exc:
            self.log.info(
                "[%s] MAIL refused: %s", peer, reply_text(exc.code, exc.message)
            )
            with contextlib.suppress(aiosmtplib.SMTPException):
                await client.rset()
            return failed_all(exc.code, exc.message, recipients)
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            return lost(exc, recipients)
        results: dict[str, RouteResult] = {}
        accepted: list[str] = []
        for r in recipients:
            try:
                await client.rcpt(r, encoding=encoding)
                accepted.append(r)
            except aiosmtplib.SMTPResponseException as exc:
                text = f"{label} said: {reply_text(exc.code, exc.message)}"
                results[r] = RouteResult(r, False, is_temporary(exc.code), text)
                self.log.info("[%s] RCPT %s refused: %s", peer, r, text)
            except (aiosmtplib.SMTPException, OSError) as exc:
                client.close()
                for x in lost(exc, [y for y in recipients if y not in results]):
                    results[x.recipient] = x
                return [results[r] for r in recipients]
        if not accepted:
            with contextlib.suppress(aiosmtplib.SMTPException):
                await client.rset()
            return [results[r] for r in recipients]
        try:
            resp = await client.data(message)
        except aiosmtplib.SMTPResponseException as exc:
            for x in failed_all(exc.code, exc.message, accepted):
                results[x.recipient] = x
            self.log.info(
                "[%s] DATA refused: %s", peer, reply_text(exc.code, exc.message)
            )
            with contextlib.suppress(aiosmtplib.SMTPException):
                await client.rset()
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            for x in lost(exc, accepted):
                results[x.recipient] = x
            self.log.info("[%s] connection lost during DATA: %s", peer, exc)
        else:
            conn.transactions += 1
            text = f"{label} said: {reply_text(resp.code, resp.message)}"
            for r in accepted:
                results[r] = RouteResult(r, True, False, text)
            self.log.info(
                "[%s] delivered from <%s> to %s: %s",
                peer,
                sender,
                ", ".join(accepted),
                reply_text(resp.code, resp.message)[:200],
            )
        return [results[r] for r in recipients]


class _StaleConnection(Exception):
    """A parked connection was closed by the server before MAIL."""


@dataclass(frozen=True)
class ProbeResult:
    """What a smart host answered to a test connection, in plain words."""

    ok: bool
    banner: str = ""
    ehlo: str = ""
    tls: str = ""
    auth: str = ""
    summary: str = ""


async def probe(target: SmtpTarget, helo: str, timeout: float = 20.0) -> ProbeResult:
    """Connect, EHLO, TLS, AUTH and QUIT, and say what happened at each step."""
    addr = target.address or target.host
    client = aiosmtplib.SMTP(
        hostname=addr,
        port=target.port,
        local_hostname=helo or "localhost",
        timeout=timeout,
        use_tls=target.security == "implicit",
        start_tls=False,
        tls_context=client_tls_context(target),
    )
    banner = ehlo = tls = auth = ""
    try:
        greeting = await client.connect()
        banner = reply_text(greeting.code, greeting.message)
        if target.security == "implicit":
            tls = "TLS from the first byte (port for implicit TLS)."
        resp = await client.ehlo()
        ehlo = "; ".join(
            ln for ln in resp.message.splitlines()[1:] if ln.strip()
        ) or reply_text(resp.code, resp.message)
        if target.security in ("starttls", "opportunistic"):
            if client.supports_extension("starttls"):
                await client.starttls()
                await client.ehlo()
                tls = "STARTTLS worked."
            elif target.security == "starttls":
                return ProbeResult(
                    False,
                    banner,
                    ehlo,
                    "The server does not offer STARTTLS.",
                    "",
                    f"{target.host} does not offer STARTTLS; choose another "
                    "security mode or port.",
                )
        elif target.security == "none":
            tls = "No encryption (security: none)."
        if target.username:
            secure = client.get_transport_info("sslcontext") is not None
            if not secure and not _is_loopback(addr):
                auth = "Not tried: the password is never sent without TLS."
            elif not client.supports_extension("auth"):
                auth = "The server does not offer AUTH."
            else:
                try:
                    r = await client.login(target.username, target.password)
                    auth = f"Login accepted: {reply_text(r.code, r.message)}"
                except aiosmtplib.SMTPAuthenticationError as exc:
                    auth = f"Login refused: {reply_text(exc.code, exc.message)}"
                    return ProbeResult(
                        False,
                        banner,
                        ehlo,
                        tls,
                        auth,
                        f"{target.host} refused the user name or password.",
                    )
        else:
            auth = "No user name set: no login tried."
        with contextlib.suppress(aiosmtplib.SMTPException):
            await client.quit()
        return ProbeResult(
            True,
            banner,
            ehlo,
            tls,
            auth,
            f"{target.host} answered and accepts a session.",
        )
    except aiosmtplib.SMTPResponseException as exc:
        return ProbeResult(
            False,
            banner,
            ehlo,
            tls,
            auth,
            f"{target.host} answered {reply_text(exc.code, exc.message)}",
        )
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
        return ProbeResult(
            False,
            banner,
            ehlo,
            tls,
            auth,
            f"Could not talk to {target.host} on port {target.port}: {exc}",
        )
    finally:
        client.close()
