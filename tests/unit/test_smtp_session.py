"""The trace header the SMTP handler writes, built from stub sessions (pure)."""

from __future__ import annotations

import email.utils
import logging
import time
from types import SimpleNamespace
from typing import Any

import pytest

from server.events import EventBus
from server.protocols.smtp.session import SmtpHandler, SmtpPolicy, address_literal


def _handler(trusted_networks: tuple[str, ...] = ()) -> SmtpHandler:
    return SmtpHandler(
        SmtpPolicy(hostname="mx.example.test"),
        accounts=None,
        delivery=None,  # type: ignore[arg-type]
        events=EventBus(),
        log=logging.getLogger("test.smtp"),
        trusted_networks=trusted_networks,
    )


def _received(peer: tuple[Any, ...], helo: str | None) -> bytes:
    handler = _handler()
    server: Any = SimpleNamespace(_tls_protocol=None, implicit_tls=False)
    session: Any = SimpleNamespace(
        peer=peer, host_name=helo, extended_smtp=True, authenticated=False
    )
    envelope: Any = SimpleNamespace(smtp_utf8=False, rcpt_tos=["a@example.test"])
    return handler.received_header(server, session, envelope, "abc123")


@pytest.mark.parametrize(
    ("ip", "literal"),
    [
        ("192.0.2.7", "[192.0.2.7]"),
        ("::1", "[IPv6:::1]"),
        ("2001:db8::5", "[IPv6:2001:db8::5]"),
        ("fe80::1%eth0", "[IPv6:fe80::1]"),
        ("", "[unknown]"),
    ],
)
def test_address_literal(ip: str, literal: str) -> None:
    assert address_literal(ip) == literal


def test_received_names_an_ipv6_peer_as_an_address_literal() -> None:
    """Reproduces ``Received: from x ([::1])``: RFC 5321 4.1.3 writes an IPv6
    address literal as ``[IPv6:::1]`` (as Postfix does)."""
    text = _received(("::1", 2525, 0, 0), "client.test")
    assert text.startswith(b"Received: from client.test ([IPv6:::1])\r\n\tby ")


def test_received_shows_an_odd_helo_cleaned() -> None:
    text = _received(("192.0.2.7", 2525), "evil\x00\x0b;(x)")
    assert text.startswith(b"Received: from evil????x? ([192.0.2.7])\r\n")
    assert text.count(b";") == 1 and text.endswith(b"\r\n")


def test_received_date_is_the_current_rfc5322_date() -> None:
    """Made once per second, it still names the second it is used in."""
    before = int(time.time())
    line = _received(("192.0.2.7", 25), "client.example").decode()
    after = int(time.time())
    stamp = line.rsplit(";", 1)[1].strip()
    parsed = email.utils.parsedate_to_datetime(stamp).timestamp()
    assert before <= parsed <= after


def test_trusted_network_answer_per_peer() -> None:
    handler = _handler(("192.0.2.0/24",))

    def session(ip: str) -> Any:
        return SimpleNamespace(peer=(ip, 25))

    for _ in range(2):  # the second time from what was kept
        assert handler._trusted(session("192.0.2.9"))
        assert not handler._trusted(session("198.51.100.1"))
        assert not handler._trusted(session("not an address"))
