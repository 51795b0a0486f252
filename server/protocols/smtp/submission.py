"""The ``submission`` module (MercuryS with AUTH): our users send mail here.

What it does
- Two listeners: ``port`` (587) with STARTTLS (RFC 6409, RFC 3207) and
  ``tls_port`` (465) with TLS from the first byte (RFC 8314 3.3), both with the
  certificate from ``ctx.tls.server_context()``.
- AUTH PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login), RFC 4954, offered
  only once the connection is encrypted (587 after STARTTLS; 465 always), or
  before TLS when ``plaintext_login`` allows it (default ``loopback``: a client
  on this computer). AUTH is required before MAIL (530 5.7.0, RFC 4954 6); bad
  credentials or a disabled user get 535 5.7.8; AUTH before TLS where it is not
  allowed gets 538 5.7.11.
- The password check goes through ``ctx.auth.authenticate`` (Argon2id in a
  worker thread, failures counted towards bans), from the ``auth_PLAIN`` /
  ``auth_LOGIN`` coroutine hooks: aiosmtpd's own ``authenticator`` is synchronous
  and would run the hash on the core loop.
- An authenticated user may relay to any domain; the envelope sender must be
  one of the user's addresses (``sender_policy = "enforce"``, 553 5.7.1) unless
  the setting is ``any``. The null sender ``MAIL FROM:<>`` is accepted from an
  authenticated user, as Postfix does (auto-replies and notifications use it,
  RFC 3834 3.3, RFC 5321 4.5.5); it is stored as ``Return-Path: <>``. The
  Received header says ``ESMTPSA`` (RFC 3848).

- A message without Date or Message-ID gets them (RFC 6409 8.2/8.3).

What it does not do: deliver (the queue does), or rewrite other headers. AUTH
payloads and passwords are never logged; every session line carries the peer.
Settings: ``[submission]`` bind, port, tls_port, sender_policy, max_recipients,
timeout, plaintext_login; ``general.hostname``/``max_message_size``.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import re
import secrets
import time
from base64 import b64decode
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult

from server.accounts.base import User
from server.accounts.legacy import cram_md5_check
from server.config.schema import Settings, SubmissionSettings, validate_section
from server.errors import MailError
from server.greeting import greeting_text
from server.modules.base import (
    Authenticator,
    Listener,
    ListenerModule,
    ModuleContext,
    Refusal,
)
from server.policy import peer_ip, plaintext_login_allowed
from server.protocols.smtp.protocol import COMMAND_CALL_LIMITS, QuicksilverSMTP
from server.protocols.smtp.refusal import refusal_line
from server.protocols.smtp.session import SmtpHandler, SmtpPolicy

log = logging.getLogger("quicksilver.submission")
logging.getLogger("mail.log").setLevel(logging.WARNING)

INVALID = "535 5.7.8 Authentication credentials invalid"
TEMPFAIL = "454 4.7.0 Temporary authentication failure"
NEED_TLS = "538 5.7.11 Encryption required for requested authentication mechanism"


@dataclass(frozen=True)
class CaptureLogin:
    """Who a client said it was in capture mode (nothing is checked)."""

    address: str


class SubmissionSMTP(QuicksilverSMTP):
    """QuicksilverSMTP with asynchronous AUTH through the core authenticator."""

    def __init__(
        self,
        *args: Any,
        authenticator: Authenticator,
        plaintext_login: str,
        implicit: bool,
        capture: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, auth_require_tls=False, **kwargs)
        self._capture = capture  # any credentials will do (server/capture.py)
        self._core_auth = authenticator
        self._plaintext = plaintext_login
        self.implicit_tls = implicit

    @property
    def offer_auth(self) -> bool:  # type: ignore[override]
        # getattr: aiosmtpd's __init__ inspects every member before ours is done
        tls = getattr(self, "implicit_tls", False) or (
            getattr(self, "_tls_protocol", None) is not None
        )
        if getattr(self, "_capture", False):
            return True
        ip = getattr(self, "_peer_text", "").rsplit(":", 1)[0]
        return plaintext_login_allowed(getattr(self, "_plaintext", "never"), ip, tls)

    async def smtp_AUTH(self, arg: str) -> None:
        s = self.session
        refuse = s is not None and s.extended_smtp and not s.authenticated
        if refuse and not self.offer_auth:
            self._qlog.info("[%s] AUTH refused before TLS", self._peer_text)
            await self.push(NEED_TLS)
            return
        await super().smtp_AUTH(arg)

    async def _check(self, mechanism: str, login: bytes, password: bytes) -> AuthResult:
        username = login.decode("utf-8", "replace")
        return await self._outcome(
            mechanism,
            username,
            lambda peer: self._core_auth.authenticate(
                username,
                password.decode("utf-8", "replace"),
                peer=peer,
                protocol="submission",
            ),
        )

    async def _outcome(
        self,
        mechanism: str,
        username: str,
        check: Callable[[str], Awaitable[User | None]],
    ) -> AuthResult:
        """Run a login check (a password, or a CRAM-MD5 digest) for the
        client's address and say how it went; in capture mode any login
        passes unchecked."""
        if self._capture:
            self._qlog.info(
                "[%s] AUTH %s taken as %r (capture mode)",
                self._peer_text,
                mechanism,
                username[:64],
            )
            return AuthResult(success=True, auth_data=CaptureLogin(username[:256]))
        try:
            user = await check(
                peer_ip(self.session.peer) if self.session else self._peer_text
            )
        except MailError:
            return AuthResult(success=False, handled=False, message=TEMPFAIL)
        if user is None:
            self._qlog.info(
                "[%s] AUTH %s failed for %r", self._peer_text, mechanism, username[:64]
            )
            return AuthResult(success=False, handled=False, message=INVALID)
        self._qlog.info("[%s] AUTH %s ok: %s", self._peer_text, mechanism, user.address)
        return AuthResult(success=True, auth_data=user)

    async def _decode_arg(self, arg: str) -> bytes | None:
        try:
            return b64decode(arg.encode(), validate=True)
        except (binascii.Error, ValueError):
            await self.push("501 5.5.2 Can't decode base64")
            return None

    # RFC 4954 4: the initial response may come with the command or after 334.
    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        if len(args) == 1:
            blob = await self.challenge_auth("")
            if not isinstance(blob, bytes):
                return AuthResult(success=False)  # aborted; reply already sent
        else:
            decoded = await self._decode_arg(args[1])
            if decoded is None:
                return AuthResult(success=False, handled=True)
            blob = decoded
        parts = blob.split(b"\x00")
        if len(parts) != 3:  # RFC 4616 2: [authzid] NUL authcid NUL passwd
            await self.push("501 5.5.2 Can't split auth value")
            return AuthResult(success=False, handled=True)
        authzid, login, password = parts
        if authzid and authzid != login:
            return AuthResult(success=False, handled=False, message=INVALID)
        return await self._check("PLAIN", login, password)

    async def auth_CRAM__MD5(self, _: Any, args: list[str]) -> AuthResult:
        """RFC 2195 against the user's legacy password (offered only with
        ``submission.legacy_auth`` and some user having one)."""
        if len(args) != 1:
            await self.push("501 5.5.4 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        host = getattr(self, "hostname", "") or "localhost"
        challenge = f"<{secrets.token_hex(8)}.{time.time_ns()}@{host}>"
        got = await self.challenge_auth(challenge)
        if not isinstance(got, bytes):
            return AuthResult(success=False)
        name, _sp, digest = got.decode("utf-8", "replace").rpartition(" ")
        if not name or not re.fullmatch(r"[0-9a-f]{32}", digest):
            return AuthResult(success=False, handled=False, message=INVALID)
        verify = cram_md5_check(challenge, digest)
        return await self._outcome(
            "CRAM-MD5",
            name,
            lambda peer: self._core_auth.authenticate_digest(
                name, verify, peer=peer, protocol="submission"
            ),
        )

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        if len(args) == 1:
            got = await self.challenge_auth(self.AuthLoginUsernameChallenge)
            if not isinstance(got, bytes):
                return AuthResult(success=False)
            login = got
        else:
            decoded = await self._decode_arg(args[1])
            if decoded is None:
                return AuthResult(success=False, handled=True)
            login = decoded
        pw = await self.challenge_auth(self.AuthLoginPasswordChallenge)
        if not isinstance(pw, bytes):
            return AuthResult(success=False)
        return await self._check("LOGIN", login, pw)


for _attr in ("__smtp_syntax__", "__smtp_syntax_extended__", "__smtp_syntax_when__"):
    if hasattr(SMTP.smtp_AUTH, _attr):
        setattr(SubmissionSMTP.smtp_AUTH, _attr, getattr(SMTP.smtp_AUTH, _attr))


class SubmissionModule(ListenerModule):
    name = "submission"
    title = "Submission"

    def __init__(self, ctx: ModuleContext) -> None:
        super().__init__(ctx.events, log)
        self.ctx = ctx  # the base class reads it for connection control
        self._ctx = ctx

    def configure(self, settings: Settings) -> None:
        validate_section("submission", settings.submission)

    def refusal(self, refused: Refusal) -> bytes:
        return refusal_line(refused)

    def listeners(self) -> list[Listener]:
        settings = self._ctx.settings()
        cfg: SubmissionSettings = settings.submission
        general = settings.general
        hostname = general.hostname or "localhost"
        capture = settings.capture.enabled and self._ctx.capture is not None
        policy = SmtpPolicy(
            hostname=hostname,
            module=self.name,
            max_recipients=cfg.max_recipients,
            require_auth=True,
            relay_when_authenticated=True,
            sender_policy=cfg.sender_policy,
            add_missing_headers=True,
            capture=capture,
        )
        handler = SmtpHandler(
            policy,
            self._ctx.accounts,
            self._ctx.capture
            if capture and self._ctx.capture is not None
            else self._ctx.delivery,
            self._ctx.events,
            log,
            on_message=self.count_message,
            lists=self._ctx.lists,
        )
        tls = self._ctx.tls.server_context()
        loop = asyncio.get_running_loop()

        def factory(implicit: bool) -> SubmissionSMTP:
            return SubmissionSMTP(
                handler,
                hostname=hostname,
                ident=greeting_text(
                    "Quicksilver ESMTP", cfg.banner, cfg.show_version, capture
                ),
                data_size_limit=general.max_message_size,
                enable_SMTPUTF8=True,
                decode_data=False,
                tls_context=None if implicit else tls,
                require_starttls=False,
                timeout=cfg.timeout,
                loop=loop,
                tracker=self,
                qlog=log,
                authenticator=self._ctx.auth,
                plaintext_login=cfg.plaintext_login,
                implicit=implicit,
                capture=capture,
                auth_exclude_mechanism=[]
                if cfg.legacy_auth and self._ctx.auth.legacy_available()
                else ["CRAM-MD5"],
                command_call_limit=dict(COMMAND_CALL_LIMITS),
            )

        out = [
            Listener(
                cfg.bind,
                cfg.port,
                "starttls" if tls else "none",
                lambda: factory(False),
            )
        ]
        if tls is not None:
            out.append(
                Listener(cfg.bind, cfg.tls_port, "implicit", lambda: factory(True), tls)
            )
        else:
            log.warning(
                "no usable certificate: port %d (implicit TLS) stays closed and "
                "AUTH is offered only where plaintext_login allows",
                cfg.tls_port,
            )
        return out
