"""IMAP security properties, end to end over sockets against ``ImapModule``:
no password before TLS from a remote peer, STARTTLS injection, input limits,
the bad-command cap, bans, and passwords kept out of the log."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.protocols.imap import connection as connection_mod
from server.protocols.imap import module as module_mod
from server.protocols.imap import session as session_mod
from tests.integration.imap.harness import Client, ImapTestServer

REMOTE = "203.0.113.5"  # TEST-NET-3: not loopback


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ImapTestServer]:
    s = ImapTestServer(tmp_path).start()
    yield s
    s.stop()


@pytest.fixture
def remote_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every connection look as if it came from a remote address."""
    monkeypatch.setattr(module_mod, "peer_ip", lambda name: REMOTE)


def test_remote_peer_gets_logindisabled_and_refusals(
    server: ImapTestServer, remote_peer: None
) -> None:
    c = Client(server.port)
    try:
        assert b"LOGINDISABLED" in c.greeting and b"STARTTLS" in c.greeting
        caps = c.command("a", "CAPABILITY")[0]
        assert b"LOGINDISABLED" in caps and b"AUTH=PLAIN" not in caps
        r = c.command("b", "LOGIN alice@example.test alice-pw")
        assert r[-1].startswith(b"b NO [PRIVACYREQUIRED]"), r
        ir = base64.b64encode(b"\0alice@example.test\0alice-pw").decode()
        r = c.command("c", f"AUTHENTICATE PLAIN {ir}")
        assert r[-1].startswith(b"c NO [PRIVACYREQUIRED]"), r
        assert server.auth.attempts == 0  # the password was never checked
        c.send("d STARTTLS\r\n")
        assert c.readline().startswith(b"d OK")
        c.starttls()
        caps = c.command("e", "CAPABILITY")[0]
        assert b"STARTTLS" not in caps and b"LOGINDISABLED" not in caps
        c.login()
    finally:
        c.close()


def test_policy_never_applies_on_loopback(server: ImapTestServer) -> None:
    server.set_imap(plaintext_login="never")
    c = Client(server.port)
    try:
        r = c.command("a", "LOGIN alice@example.test alice-pw")
        assert r[-1].startswith(b"a NO [PRIVACYREQUIRED]"), r
    finally:
        c.close()


def test_plaintext_pipelined_after_starttls_is_discarded(
    server: ImapTestServer, remote_peer: None
) -> None:
    c = Client(server.port)
    try:
        c.send("a STARTTLS\r\nb LOGIN alice@example.test alice-pw\r\n")
        assert c.readline() == b"a OK Begin TLS negotiation now\r\n"
        c.starttls()
        r = c.command("c", "NOOP")
        assert r == [b"c OK NOOP completed\r\n"]  # no answer to "b"
        assert server.auth.attempts == 0
        r = c.command("d", "STARTTLS")
        assert r[-1].startswith(b"d BAD"), r  # no STARTTLS over TLS
    finally:
        c.close()


def test_command_line_length_limit(server: ImapTestServer) -> None:
    c = Client(server.port)
    try:
        c.send(b"a NOOP " + b"x" * (connection_mod.MAX_LINE + 10) + b"\r\n")
        assert c.readline() == b"* BAD Command line too long\r\n"
        assert c.readline().startswith(b"* BYE")
        with pytest.raises((EOFError, OSError)):
            c.readline()
    finally:
        c.close()


def test_literal_size_limits(server: ImapTestServer) -> None:
    c = Client(server.port)
    try:
        # before login: small literals only, and no "+" for a big one
        r = c.command("a", "LOGIN {99999}")
        assert r == [b"a BAD Literal not allowed\r\n"]
        c.login()
        # after login: above the message size limit, NO [TOOBIG], never read
        r = c.command("b", "APPEND INBOX {999999999}")
        assert r == [b"b NO [TOOBIG] Literal too large\r\n"]
        assert c.command("c", "NOOP")[-1] == b"c OK NOOP completed\r\n"
        # a LITERAL+ of that size: refused and the connection closed cleanly
        c.send(b"d APPEND INBOX {999999999+}\r\nabc")
        assert c.readline() == b"d BAD Literal too large\r\n"
        assert c.readline().startswith(b"* BYE")
        with pytest.raises((EOFError, OSError)):
            c.readline()
    finally:
        c.close()


def test_bad_command_cap(server: ImapTestServer) -> None:
    c = Client(server.port)
    try:
        for i in range(session_mod.MAX_BAD_COMMANDS - 1):
            assert c.command(f"t{i}", "FOO")[-1].startswith(f"t{i} BAD".encode())
        c.send(b"last FOO\r\n")
        assert c.readline().startswith(b"last BAD")
        assert c.readline() == b"* BYE Too many invalid commands\r\n"
        with pytest.raises((EOFError, OSError)):
            c.readline()
    finally:
        c.close()


def test_banned_ip_gets_bye(
    server: ImapTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.auth, "is_banned", lambda ip: True)
    c = Client(server.port)
    try:
        assert c.greeting.startswith(b"* BYE")
        with pytest.raises((EOFError, OSError)):
            c.readline()
    finally:
        c.close()


def test_passwords_never_logged(
    server: ImapTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="quicksilver")
    secret = "s3cr3t-Pw"
    c = Client(server.port)
    try:
        c.command("a", f'LOGIN alice@example.test "{secret}"')
        c.command(
            "b", f"LOGIN alice@example.test {{{len(secret)}+}}\r\n{secret}".encode()
        )
        ir = base64.b64encode(f"\0alice@example.test\0{secret}".encode()).decode()
        c.command("c", f"AUTHENTICATE PLAIN {ir}")
        c.send(b"d AUTHENTICATE PLAIN\r\n")
        assert c.readline().startswith(b"+")
        c.send(ir.encode() + b"\r\n")
        c.until("d")
        c.command("e", "LOGIN alice@example.test alice-pw")
        c.command("f", "LOGOUT")
    finally:
        c.close()
    text = caplog.text
    assert "C: a LOGIN" in text  # the commands were logged, masked
    for leak in (secret, ir, "alice-pw"):
        assert leak not in text
