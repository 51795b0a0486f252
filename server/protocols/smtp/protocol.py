"""The SMTP protocol on aiosmtpd: ``QuicksilverSMTP`` adds what aiosmtpd
lacks (the policy lives in session.py's ``SmtpHandler``): enhanced status
codes on every reply (RFC 2034), session tracking so ``stop()`` can close
live connections, one log line per command with the peer (AUTH masked), the
message read in bulk (data.py), and the common reverse/forward path parsed
without the email package.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, Session

from server import bytesutil
from server.antispam.dnsbl import Listing
from server.events import SessionClosed, SessionOpened
from server.modules.base import ListenerModule, Traffic
from server.protocols.smtp.data import DataState, receive
from server.protocols.smtp.replies import mask_auth, with_enhanced_code
from server.protocols.smtp.session import SmtpHandler

# Commands per connection before aiosmtpd answers "421 4.7.0 <verb> sent too
# many times" and closes. Every valid command resets the idle timer, so without
# a cap a client could hold a connection slot for ever with NOOPs. "*" covers
# MAIL/RCPT/DATA/RSET: 5000 is 50 messages of 100 recipients in one session.
COMMAND_CALL_LIMITS: dict[str, int] = {
    "NOOP": 100,
    "HELP": 20,
    "VRFY": 20,
    "EXPN": 20,
    "EHLO": 20,
    "HELO": 20,
    "STARTTLS": 5,
    "AUTH": 10,
    "*": 5000,
}

# The longest DATA line with its CRLF (RFC 5321 4.5.3.1.6: 1000 octets;
# aiosmtpd's ``line_length_limit``, one more, kept as it was).
DATA_LINE_LIMIT = 1001
# How much of the client's input the session's StreamReader hands over at a
# time; reading pauses when twice this waits unread. aiosmtpd sizes it by the
# DATA line limit (1001): every message over 2 KB paused and resumed the
# socket (two epoll_ctl calls) and was read through a LimitOverrunError.
# Command lines are still held to their own limits (aiosmtpd's
# ``command_size_limits``, checked after the line is read).
READ_LIMIT = 32 * 1024

# the common "<local@domain> params" reverse/forward path (RFC 5321 4.1.2
# with a dot-atom local part and a plain domain), answered without the email
# package's general parser (a tenth of the core loop's time per message);
# anything else goes to aiosmtpd's parser
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_PATH = re.compile(
    rf"<({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    rf"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)>(| [ -~]*)\Z"
)


class _Session(Session):
    """aiosmtpd 1.4 sets the deprecated ``Session.login_data`` itself after
    every successful AUTH, and the property warns each time: a
    DeprecationWarning in the log per login. The same attribute, quiet;
    nothing of ours reads it (``auth_data`` is what we use)."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class QuicksilverSMTP(SMTP):
    """aiosmtpd's SMTP with enhanced codes, tracking and per-line logging."""

    offer_auth = False
    implicit_tls = False
    # aiosmtpd makes its StreamReader with ``limit=line_length_limit`` and
    # uses the attribute for nothing else we run (its smtp_DATA is replaced
    # by ``_data``, which checks lines against DATA_LINE_LIMIT)
    line_length_limit = READ_LIMIT

    def __init__(
        self,
        *args: Any,
        tracker: ListenerModule | None = None,
        qlog: logging.Logger,
        **kwargs: Any,
    ) -> None:
        self.traffic = Traffic()  # the Sessions view's byte counts
        super().__init__(*args, **kwargs)
        self._tracker = tracker
        self._qlog = qlog
        self._greeted = False
        self._opened = False
        self._peer_text = "?"
        self._lookup: asyncio.Task[Listing | None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._opened:
            # again after STARTTLS, with the TLS transport: keep the record current
            if self._tracker is not None and self.transport is not None:
                self._tracker.session_opened(id(self), self._peer_text, self.transport)
            return
        self._opened = True
        p = transport.get_extra_info("peername")
        self._peer_text = f"{p[0]}:{p[1]}" if isinstance(p, tuple) else str(p)
        if self._tracker is not None and self.transport is not None:
            self._tracker.session_opened(
                id(self),
                self._peer_text,
                self.transport,
                describe=self._describe,
                traffic=self.traffic,
            )
            self._tracker.events.publish(
                SessionOpened(self._tracker.name, f"{id(self):x}", self._peer_text)
            )
        self._qlog.info("[%s] connected", self._peer_text)
        handler = self.event_handler
        if isinstance(handler, SmtpHandler) and self.session is not None:
            self._lookup = handler.lookup_at_connect(self.session)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lookup is not None and not self._lookup.done():
            self._lookup.cancel()
        if self._tracker is not None:
            self._tracker.session_closed(id(self))
            self._tracker.events.publish(
                SessionClosed(self._tracker.name, f"{id(self):x}", self._peer_text)
            )
        self._qlog.info("[%s] disconnected", self._peer_text)
        super().connection_lost(exc)

    def _describe(self) -> tuple[str, str]:
        """(logged-in user, what the client is at) for the Sessions view."""
        session, env = self.session, self.envelope
        user = ""
        if session is not None and session.authenticated:
            data = getattr(session, "auth_data", None)
            user = str(getattr(data, "address", "") or getattr(data, "login", ""))
        if env is None or env.mail_from is None:
            return user, "EHLO" if self._greeted else "connected"
        rcpts = len(env.rcpt_tos)
        return user, f"MAIL FROM:<{env.mail_from}>, {rcpts} recipient(s)"

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            # Some replies echo the client's words (aiosmtpd's VRFY does), and
            # those were decoded with surrogateescape: a byte that is not
            # UTF-8 (or not ASCII without SMTPUTF8) becomes "?", where the
            # encoding in aiosmtpd's push used to end the session.
            charset = "utf-8" if self.enable_SMTPUTF8 else "ascii"
            status = status.encode(charset, "replace").decode(charset)
            if not self._greeted:
                self._greeted = True  # the 220 greeting carries no enhanced code
            elif not self._in_ehlo:
                status = with_enhanced_code(status)
        if self._qlog.isEnabledFor(logging.DEBUG):
            text = (
                status if isinstance(status, str) else status.decode("utf-8", "replace")
            )
            self._qlog.debug("[%s] S: %s", self._peer_text, text[:300])
        self.traffic.sent += len(status) + 2  # the line and its CRLF
        await super().push(status)
        if isinstance(status, str) and status.startswith("421 ") and self.transport:
            self.transport.close()  # RFC 5321 3.8: 421 closes the channel

    _in_ehlo = False
    _in_data = False
    _data_progress = 0

    # aiosmtpd resets its idle timer only on complete commands, so a whole DATA
    # transfer had to fit into ``timeout``. Count progress instead: every
    # DATA_PROGRESS bytes received restart the timer, so a large message over
    # a slow link gets through while a client trickling a byte at a time is
    # still cut off (it would need DATA_PROGRESS / timeout bytes per second).
    DATA_PROGRESS = 64 * 1024

    def data_received(self, data: bytes) -> None:
        self.traffic.received += len(data)
        if self._in_data:
            self._data_progress += len(data)
            if self._data_progress >= self.DATA_PROGRESS:
                self._data_progress = 0
                self._reset_timeout()
        super().data_received(data)

    # aiosmtpd restarts its idle timer at every command: a cancelled handle
    # and a new one on the loop's heap each time, three or four per message
    # (about 3% of the loop's time per message under load). One timer per
    # session instead: a command only moves the deadline on, and the timer,
    # when it comes due early, waits again for what is left.
    _deadline = 0.0

    def _reset_timeout(self, duration: float | None = None) -> None:
        loop = self.loop
        deadline = loop.time() + (duration or self._timeout_duration)
        self._deadline = deadline
        handle = self._timeout_handle
        if handle is not None and not handle.cancelled() and handle.when() <= deadline:
            return  # it comes due first and waits on (``_timeout_due``)
        if handle is not None:
            handle.cancel()
        self._timeout_handle = loop.call_at(deadline, self._timeout_due)

    def _timeout_due(self) -> None:
        if self.loop.time() < self._deadline:
            self._timeout_handle = self.loop.call_at(self._deadline, self._timeout_due)
            return
        self._qlog.info("[%s] idle for too long: closed", self._peer_text)
        if self.transport is not None:
            self.transport.close()  # connection_lost() cleans up, as aiosmtpd's

    def _create_session(self) -> Session:
        return _Session(self.loop)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parser raises IndexError on a lone ``"`` (in
        ``email._header_value_parser``): the client got "451 internal error"
        and the log a traceback. Such an argument is no address: MAIL, RCPT
        and VRFY then answer with their syntax error."""
        simple = _SIMPLE_PATH.match(arg)
        if simple is not None:  # <dot-atom@domain>: nearly every client's
            local = simple.group(1).rpartition("@")[0]
            if self.local_part_limit and len(local) > self.local_part_limit:
                return None, None
            return simple.group(1), simple.group(2).lstrip(" ")
        try:
            return super()._getaddr(arg)
        except (IndexError, ValueError):
            return None, None

    async def smtp_DATA(self, arg: str) -> None:
        self._in_data, self._data_progress = True, 0
        try:
            await self._data(arg)
        finally:
            self._in_data = False

    async def _data(self, arg: str) -> None:
        """aiosmtpd's smtp_DATA (same checks, replies and hook) with the
        content read in bulk by data.py: per-line work on the core loop held
        it for 100 ms per 256 KiB of short lines."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            got = await receive(self._reader, self.data_size_limit, DATA_LINE_LIMIT)
        except asyncio.CancelledError:
            self._qlog.info("[%s] connection lost during DATA", self._peer_text)
            self._writer.close()
            raise
        if got is None:  # the client went away
            return
        if got.state is not DataState.NOMINAL:
            if got.state is DataState.TOO_LONG:
                await self.push("500 Line too long (see RFC5321 4.5.3.1.6)")
            else:
                await self.push("552 Error: Too much mail data")
            self.envelope = self._create_envelope()  # aiosmtpd's post-DATA state
            return
        content = await bytesutil.join(got.pieces())
        self.envelope.original_content = content
        self.envelope.content = content
        if self._decode_data:
            try:
                self.envelope.content = content.decode(
                    "utf-8" if self.enable_SMTPUTF8 else "ascii",
                    "surrogateescape" if self.enable_SMTPUTF8 else "strict",
                )
            except UnicodeDecodeError:
                await self.push("500 Error: strict ASCII mode")
                return
        status = await self._call_handler_hook("DATA")
        self.envelope = self._create_envelope()
        await self.push("250 OK" if status is MISSING else status)

    async def smtp_MAIL(self, arg: str) -> None:
        # REQUIRETLS (RFC 8689) is not offered in EHLO; a client that sends it
        # anyway hears why, not aiosmtpd's generic "parameters not recognized"
        params = arg.upper().split()[1:] if arg else []
        session = self.session
        if "REQUIRETLS" in params and session is not None and session.host_name:
            await self.push(
                "555 5.5.4 REQUIRETLS is not supported here (it is not offered); "
                "send without it"
            )
            return
        await super().smtp_MAIL(arg)

    async def smtp_EHLO(self, hostname: str) -> None:
        self._in_ehlo = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._in_ehlo = False

    async def smtp_HELO(self, hostname: str) -> None:
        self._in_ehlo = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._in_ehlo = False

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        # Per-command lines are session transcripts: DEBUG (the accepted
        # line at INFO sums each message up with its peer).
        if command in ("MAIL", "RCPT", "EHLO", "HELO") and self._qlog.isEnabledFor(
            logging.DEBUG
        ):
            arg = args[0] if args else ""
            self._qlog.debug(
                "[%s] %s %s", self._peer_text, command, mask_auth(str(arg))[:300]
            )
        return await super()._call_handler_hook(command, *args)


for _name in ("smtp_EHLO", "smtp_HELO", "smtp_DATA"):
    _orig = getattr(SMTP, _name)
    _new = getattr(QuicksilverSMTP, _name)
    for _attr in (
        "__smtp_syntax__",
        "__smtp_syntax_extended__",
        "__smtp_syntax_when__",
    ):
        if hasattr(_orig, _attr):
            setattr(_new, _attr, getattr(_orig, _attr))
