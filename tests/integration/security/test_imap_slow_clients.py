"""IMAP slow clients: the timeout covers a whole line or literal, not each read.

A client sending a byte every now and then must not hold a connection (before
login: a connection slot) for ever; a large APPEND over a slow but steady link
must still get through; IDLE keeps its promise (silence up to ``imap.timeout``,
30 minutes by default, RFC 2177). Every test runs against a private server on
loopback with timeouts of a few seconds and is bounded well under 10 s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.protocols.imap import connection as connection_mod
from server.protocols.imap import session as session_mod
from tests.integration.imap.harness import Client, ImapTestServer, message

TIMEOUT = 2.0  # both the pre-auth timeout and imap.timeout in these tests
LIMIT = 5.0  # a trickle still going after this long was never cut off


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImapTestServer]:
    monkeypatch.setattr(session_mod, "PREAUTH_TIMEOUT", TIMEOUT)
    s = ImapTestServer(tmp_path).start()
    # settings validation wants >= 30 s; the session reads the value live
    s.set_imap(timeout=int(TIMEOUT))
    yield s
    s.stop()


def _trickle(c: Client, payload: bytes, gap: float) -> tuple[float, bytes]:
    """Send ``payload`` one byte per ``gap`` seconds until the server hangs up
    (or LIMIT passes); return the time taken and what the server sent."""
    start = time.monotonic()
    got = c.buf
    c.sock.settimeout(gap)
    for i in range(len(payload)):
        if time.monotonic() - start > LIMIT:
            break
        try:
            c.sock.sendall(payload[i : i + 1])
        except OSError:
            break
        try:
            chunk = c.sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        got += chunk
    return time.monotonic() - start, got


def _assert_cut_off(elapsed: float, got: bytes) -> None:
    assert elapsed < TIMEOUT + 1.5, f"still open after {elapsed:.1f}s: {got!r}"
    assert b"* BYE Autologout" in got, got
    assert b"Traceback" not in got and b"Internal error" not in got, got


def test_command_trickled_before_login_is_cut_off(server: ImapTestServer) -> None:
    server.set_imap(timeout=1800)  # only the pre-auth timeout applies
    c = Client(server.port)
    try:
        elapsed, got = _trickle(c, b"a1 CAPABILITY" + b"X" * 40 + b"\r\n", 0.5)
        _assert_cut_off(elapsed, got)
    finally:
        c.close()


def test_command_trickled_after_login_is_cut_off(server: ImapTestServer) -> None:
    c = Client(server.port)
    try:
        c.login()
        elapsed, got = _trickle(c, b"a1 SELECT " + b"X" * 40 + b"\r\n", 0.5)
        _assert_cut_off(elapsed, got)
    finally:
        c.close()


def test_large_append_over_a_slow_steady_link_succeeds(
    server: ImapTestServer,
) -> None:
    """~400 KB in 16 KiB chunks every 0.15 s: about 3.8 s in all, longer than
    the 2 s timeout, but every 64 KiB arrive well within it."""
    body = ("x" * 76 + "\r\n") * 5200
    msg = message("Slow append", body)
    assert len(msg) > 400_000
    c = Client(server.port)
    try:
        c.login()
        c.send(f"a1 APPEND INBOX {{{len(msg)}}}\r\n")
        assert c.readline().startswith(b"+"), c.buf
        start = time.monotonic()
        chunk = 16 * 1024
        for i in range(0, len(msg), chunk):
            c.send(msg[i : i + chunk])
            time.sleep(0.15)
        c.send(b"\r\n")
        reply = c.until("a1")
        assert time.monotonic() - start > TIMEOUT
        assert reply[-1].startswith(b"a1 OK"), reply
        r = c.command("a2", "STATUS INBOX (MESSAGES)")
        assert b"MESSAGES 1" in r[0], r
    finally:
        c.close()


def test_literal_trickled_a_byte_at_a_time_is_cut_off(server: ImapTestServer) -> None:
    c = Client(server.port)
    try:
        c.login()
        c.send("a1 APPEND INBOX {200}\r\n")
        assert c.readline().startswith(b"+")
        elapsed, got = _trickle(c, b"y" * 200, 0.3)
        _assert_cut_off(elapsed, got)
    finally:
        c.close()


def test_literal_trickled_before_login_is_cut_off(server: ImapTestServer) -> None:
    server.set_imap(timeout=1800)  # only the pre-auth timeout applies
    c = Client(server.port)
    try:
        c.send("a1 LOGIN {100}\r\n")
        assert c.readline().startswith(b"+")
        elapsed, got = _trickle(c, b"z" * 100, 0.3)
        _assert_cut_off(elapsed, got)
    finally:
        c.close()


def test_line_after_a_literal_has_its_own_deadline(server: ImapTestServer) -> None:
    """The rest of the command after a literal is a line like any other."""
    c = Client(server.port)
    try:
        c.login()
        c.send("a1 APPEND INBOX {5}\r\nhello")
        elapsed, got = _trickle(c, b" " + b"X" * 40 + b"\r\n", 0.5)
        _assert_cut_off(elapsed, got)
    finally:
        c.close()


def test_idle_silent_within_the_timeout_then_done(server: ImapTestServer) -> None:
    """IDLE waits on one line (DONE) under ``imap.timeout``; a client silent for
    most of it is kept, and the next command gets a fresh deadline."""
    c = Client(server.port)
    try:
        c.login()
        c.command("s", "SELECT INBOX")
        c.send("i1 IDLE\r\n")
        assert c.readline().startswith(b"+")
        time.sleep(TIMEOUT - 0.7)
        c.send("DONE\r\n")
        assert c.until("i1")[-1].startswith(b"i1 OK")
        time.sleep(TIMEOUT - 0.7)
        assert c.command("n", "NOOP")[-1].startswith(b"n OK")
    finally:
        c.close()


def test_idle_silent_past_the_timeout_is_logged_out(server: ImapTestServer) -> None:
    c = Client(server.port)
    try:
        c.login()
        c.command("s", "SELECT INBOX")
        c.send("i1 IDLE\r\n")
        assert c.readline().startswith(b"+")
        start = time.monotonic()
        c.sock.settimeout(LIMIT)
        got = c.buf
        try:
            while chunk := c.sock.recv(4096):
                got += chunk
        except (TimeoutError, OSError):
            pass
        elapsed = time.monotonic() - start
        assert TIMEOUT - 0.5 < elapsed < TIMEOUT + 1.5, (elapsed, got)
        assert b"* BYE Autologout" in got, got
    finally:
        c.close()


def test_idle_done_trickled_is_cut_off(server: ImapTestServer) -> None:
    c = Client(server.port)
    try:
        c.login()
        c.command("s", "SELECT INBOX")
        c.send("i1 IDLE\r\n")
        assert c.readline().startswith(b"+")
        elapsed, got = _trickle(c, b"DONE" + b" " * 40 + b"\r\n", 0.5)
        _assert_cut_off(elapsed, got)
    finally:
        c.close()


def test_idle_default_timeout_is_at_least_30_minutes() -> None:
    """RFC 2177 / RFC 3501 5.4: an idling client may be silent for 29 minutes;
    IDLE reads DONE under ``imap.timeout``, whose default must honour that."""
    from server.config.schema import ImapSettings

    assert ImapSettings().timeout >= 30 * 60
    assert connection_mod.IDLE_KEEPALIVE < 30 * 60
