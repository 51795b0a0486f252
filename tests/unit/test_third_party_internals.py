"""Tripwires for the aiosmtpd internals that ``server/protocols/smtp/`` reaches into.

``QuicksilverSMTP`` and ``SubmissionSMTP`` subclass aiosmtpd's ``SMTP`` and use
parts of it that are not its documented API: the STARTTLS state
(``_tls_protocol``), the idle timer (``_reset_timeout``), the one place every
handler hook goes through (``_call_handler_hook``), the post-DATA envelope
(``_create_envelope``), the stream pair and the decode flag that the bulk DATA
reader replaces aiosmtpd's per-line loop with (``_reader``, ``_writer``,
``_decode_data``), the HELP text attributes copied onto overridden verbs
(``__smtp_syntax__`` and its two siblings) and the calling convention of
``auth_*`` mechanisms. ``pyproject.toml`` pins aiosmtpd to the minor version
these were read from; when the pin moves, a failure here names the internal
that changed, before a transcript test fails somewhere puzzling. Fix the
subclass (or this table, if the change is harmless), never just the pin.
"""

from __future__ import annotations

import asyncio
import inspect
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosmtpd
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.protocol.pop3.pop3_helpers import client_tls_context, make_tls_context

PIN = "the aiosmtpd pin in pyproject.toml"

# name -> (parameters as (name, kind, default), coroutine?, who relies on it)
_P = inspect.Parameter
_EMPTY = inspect.Parameter.empty
POS = _P.POSITIONAL_OR_KEYWORD
VAR = _P.VAR_POSITIONAL
METHODS: dict[str, tuple[list[tuple[str, Any, Any]], bool, str]] = {
    "_call_handler_hook": (
        [("self", POS, _EMPTY), ("command", POS, _EMPTY), ("args", VAR, _EMPTY)],
        True,
        "session.py QuicksilverSMTP._call_handler_hook (override, logs MAIL/RCPT)"
        " and QuicksilverSMTP._data (the DATA hook)",
    ),
    "_create_session": (
        [("self", POS, _EMPTY)],
        False,
        "session.py QuicksilverSMTP._create_session (a Session whose"
        " login_data does not warn)",
    ),
    "_getaddr": (
        [("self", POS, _EMPTY), ("arg", POS, _EMPTY)],
        False,
        "session.py QuicksilverSMTP._getaddr (override: a lone quote raised"
        " IndexError)",
    ),
    "_reset_timeout": (
        [("self", POS, _EMPTY), ("duration", POS, None)],
        False,
        "protocol.py QuicksilverSMTP._reset_timeout (override: one timer per"
        " session, kept in _timeout_handle) and data_received (restarted by"
        " DATA progress)",
    ),
    "_create_envelope": (
        [("self", POS, _EMPTY)],
        False,
        "session.py QuicksilverSMTP._data (fresh envelope after DATA)",
    ),
    "_syntax_available": (
        [("self", POS, _EMPTY), ("method", POS, _EMPTY)],
        False,
        "HELP, which reads the __smtp_syntax__ attributes session.py and"
        " submission.py copy onto overridden verbs",
    ),
    "check_helo_needed": (
        [("self", POS, _EMPTY), ("helo", POS, "HELO")],
        True,
        "session.py QuicksilverSMTP._data",
    ),
    "check_auth_needed": (
        [("self", POS, _EMPTY), ("caller_method", POS, _EMPTY)],
        True,
        "session.py QuicksilverSMTP._data",
    ),
    "challenge_auth": (
        [
            ("self", POS, _EMPTY),
            ("challenge", POS, _EMPTY),
            ("encode_to_b64", POS, True),
            ("log_client_response", POS, False),
        ],
        True,
        "submission.py SubmissionSMTP.auth_PLAIN/auth_LOGIN",
    ),
    "push": (
        [("self", POS, _EMPTY), ("status", POS, _EMPTY)],
        True,
        "session.py QuicksilverSMTP.push (override, enhanced status codes)",
    ),
    # aiosmtpd calls a mechanism as ``method(server, args)`` on a bound method,
    # so an ``auth_*`` defined on the SMTP subclass takes (self, server, args)
    "auth_PLAIN": (
        [("self", POS, _EMPTY), ("_", POS, _EMPTY), ("args", POS, _EMPTY)],
        True,
        "submission.py SubmissionSMTP.auth_PLAIN (same calling convention)",
    ),
    "auth_LOGIN": (
        [("self", POS, _EMPTY), ("_", POS, _EMPTY), ("args", POS, _EMPTY)],
        True,
        "submission.py SubmissionSMTP.auth_LOGIN (same calling convention)",
    ),
}

# verbs session.py and submission.py override and give aiosmtpd's HELP text
OVERRIDDEN_VERBS = ("smtp_EHLO", "smtp_HELO", "smtp_DATA", "smtp_AUTH")
SYNTAX_ATTRS = ("__smtp_syntax__", "__smtp_syntax_extended__", "__smtp_syntax_when__")


def _shape(func: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    return [
        (p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()
    ]


def _render(shape: list[tuple[str, Any, Any]]) -> str:
    return str(inspect.Signature([_P(n, k, default=d) for n, k, d in shape]))


def test_aiosmtpd_version_is_the_pinned_minor() -> None:
    """The internals below were read from 1.4; another minor needs a new look."""
    assert aiosmtpd.__version__.startswith("1.4."), (
        f"aiosmtpd {aiosmtpd.__version__} is installed, but the SMTP modules were"
        f" checked against 1.4.x: read server/protocols/smtp/ against the new"
        f" aiosmtpd, then move {PIN} and this test"
    )


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_keeps_its_signature(name: str) -> None:
    expected, is_coroutine, user = METHODS[name]
    func = getattr(SMTP, name, None)
    assert func is not None, (
        f"aiosmtpd.smtp.SMTP.{name} is gone (aiosmtpd {aiosmtpd.__version__});"
        f" {user} relies on it: see {PIN}"
    )
    assert callable(func), f"aiosmtpd.smtp.SMTP.{name} is no longer callable"
    assert _shape(func) == expected, (
        f"aiosmtpd.smtp.SMTP.{name} changed its signature to"
        f" {inspect.signature(func)} (aiosmtpd {aiosmtpd.__version__});"
        f" {user} calls it as {_render(expected)}: see {PIN}"
    )
    assert inspect.iscoroutinefunction(func) == is_coroutine, (
        f"aiosmtpd.smtp.SMTP.{name} is {'no longer' if is_coroutine else 'now'}"
        f" a coroutine function; {user} {'awaits' if is_coroutine else 'calls'} it"
    )


@pytest.mark.parametrize("verb", OVERRIDDEN_VERBS)
def test_verbs_carry_the_help_attributes(verb: str) -> None:
    method = getattr(SMTP, verb)
    for attr in SYNTAX_ATTRS:
        assert hasattr(method, attr), (
            f"aiosmtpd.smtp.SMTP.{verb} has no {attr} any more; session.py and"
            f" submission.py copy it onto their override so HELP keeps listing"
            f" the verb: see {PIN}"
        )
    assert isinstance(method.__smtp_syntax__, str) and method.__smtp_syntax__


def test_auth_login_challenges_are_class_attributes() -> None:
    for attr in ("AuthLoginUsernameChallenge", "AuthLoginPasswordChallenge"):
        assert isinstance(getattr(SMTP, attr, None), str), (
            f"aiosmtpd.smtp.SMTP.{attr} is gone or not a str; submission.py"
            f" SubmissionSMTP.auth_LOGIN sends it: see {PIN}"
        )


def test_mail_log_is_aiosmtpd_logger() -> None:
    """module.py and submission.py quieten aiosmtpd by this logger's name."""
    import aiosmtpd.smtp

    assert aiosmtpd.smtp.log.name == "mail.log", (
        f"aiosmtpd logs on {aiosmtpd.smtp.log.name!r} now, not 'mail.log';"
        f" module.py and submission.py set 'mail.log' to WARNING: see {PIN}"
    )


class _Handler:
    """Records each hook aiosmtpd calls with the arguments it passes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self.calls.append(("EHLO", 5))
        return responses


class _Probe(SMTP):
    """Records what goes through ``_call_handler_hook``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.routed: list[str] = []

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        self.routed.append(command)
        return await super()._call_handler_hook(command, *args)


async def test_instance_state_after_init() -> None:
    loop = asyncio.get_running_loop()
    for decode in (False, True):
        proto = SMTP(_Handler(), hostname="probe.test", decode_data=decode, loop=loop)
        assert getattr(proto, "_decode_data", "missing") is decode, (
            "aiosmtpd.smtp.SMTP no longer keeps decode_data as _decode_data;"
            f" session.py QuicksilverSMTP._data reads it: see {PIN}"
        )
        assert getattr(proto, "_tls_protocol", "missing") is None, (
            "aiosmtpd.smtp.SMTP no longer starts with _tls_protocol = None;"
            " session.py and submission.py read it to know STARTTLS ran:"
            f" see {PIN}"
        )


async def test_idle_timer_state_and_its_cancel() -> None:
    """protocol.py's ``_reset_timeout`` keeps its one timer where aiosmtpd
    keeps its own, ``_timeout_handle``, for aiosmtpd's ``connection_lost`` to
    cancel, and reads the idle time from ``_timeout_duration``."""
    loop = asyncio.get_running_loop()
    proto = SMTP(_Handler(), hostname="probe.test", timeout=42, loop=loop)
    assert getattr(proto, "_timeout_handle", "missing") is None, PIN
    assert getattr(proto, "_timeout_duration", "missing") == 42, PIN
    lost = inspect.getsource(SMTP.connection_lost)
    assert "self._timeout_handle.cancel()" in lost, (
        "aiosmtpd's connection_lost no longer cancels _timeout_handle:"
        f" protocol.py's idle timer would outlive its session: see {PIN}"
    )


def test_syntax_attributes_decide_help() -> None:
    """HELP lists an overridden verb only with the copied attributes: the
    reason session.py and submission.py copy them."""

    class Bare(SMTP):
        async def smtp_DATA(self, arg: str) -> None:
            return None

    class Copied(SMTP):
        async def smtp_DATA(self, arg: str) -> None:
            return None

    for attr in SYNTAX_ATTRS:
        setattr(Copied.smtp_DATA, attr, getattr(SMTP.smtp_DATA, attr))

    loop = asyncio.new_event_loop()
    try:
        bare = Bare(_Handler(), hostname="probe.test", loop=loop)
        copied = Copied(_Handler(), hostname="probe.test", loop=loop)
        assert not bare._syntax_available(bare.smtp_DATA)
        assert copied._syntax_available(copied.smtp_DATA), (
            "aiosmtpd's HELP no longer decides by __smtp_syntax__: the copies in"
            f" session.py and submission.py are dead code now: see {PIN}"
        )
    finally:
        loop.close()


async def _line(reader: asyncio.StreamReader) -> bytes:
    """One reply, multi-line replies whole (RFC 5321 4.2.1)."""
    out = b""
    while True:
        line = await asyncio.wait_for(reader.readline(), 10)
        assert line, f"server closed the connection after {out!r}"
        out += line
        if line[3:4] == b" ":
            return out


async def test_live_session_uses_the_internals(tmp_path: Path) -> None:
    """A real STARTTLS session on 127.0.0.1: the stream pair exists once a
    client is connected, every hook goes through ``_call_handler_hook`` with
    the 5-argument ``handle_EHLO``, and ``_tls_protocol`` turns non-None
    exactly when STARTTLS has run."""
    loop = asyncio.get_running_loop()
    made: list[_Probe] = []
    handler = _Handler()
    tls = make_tls_context(tmp_path)

    def factory() -> _Probe:
        proto = _Probe(handler, hostname="probe.test", tls_context=tls, loop=loop)
        made.append(proto)
        return proto

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        assert (await _line(reader)).startswith(b"220 ")
        (proto,) = made
        assert isinstance(getattr(proto, "_reader", None), asyncio.StreamReader), (
            "aiosmtpd.smtp.SMTP has no StreamReader in _reader once connected;"
            f" session.py QuicksilverSMTP._data reads DATA from it: see {PIN}"
        )
        assert isinstance(getattr(proto, "_writer", None), asyncio.StreamWriter), (
            "aiosmtpd.smtp.SMTP has no StreamWriter in _writer once connected;"
            f" session.py QuicksilverSMTP._data closes it: see {PIN}"
        )
        assert proto._tls_protocol is None

        writer.write(b"EHLO client.test\r\n")
        assert b"STARTTLS" in await _line(reader)
        assert proto.routed == ["EHLO"], (
            "aiosmtpd no longer routes the EHLO hook through _call_handler_hook;"
            f" session.py's override would miss commands: see {PIN}"
        )
        assert handler.calls == [("EHLO", 5)]

        writer.write(b"STARTTLS\r\n")
        assert (await _line(reader)).startswith(b"220 ")
        await writer.start_tls(client_tls_context())
        writer.write(b"EHLO client.test\r\n")
        reply = await _line(reader)
        assert reply.startswith(b"250-probe.test") and b"STARTTLS" not in reply
        assert proto._tls_protocol is not None, (
            "aiosmtpd.smtp.SMTP._tls_protocol stays None after STARTTLS;"
            " session.py (Received 'with ESMTPS') and submission.py (AUTH only"
            f" over TLS) read it to know the link is encrypted: see {PIN}"
        )
        assert proto.routed == ["EHLO", "EHLO"]
        writer.write(b"QUIT\r\n")
        assert (await _line(reader)).startswith(b"221 ")
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass
        server.close()
        for proto in made:
            if proto.transport is not None:
                proto.transport.close()
        await server.wait_closed()
