"""POP3 over real sockets: pipelining, STLS, timeouts, drops, stop (``Pop3Module``)."""

from __future__ import annotations

import asyncio
import base64
import os
import select
import socket

import pytest

from server.config.schema import Pop3Settings, Settings
from server.errors import ValidationError
from server.events import SessionClosed, SessionOpened
from server.modules.base import ModuleStartError, ModuleState
from tests.protocol.pop3.pop3_helpers import BOB, Client, client_tls_context, msg


async def _wait_for(cond, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_status_endpoints_and_greeting(start_wire) -> None:
    w = await start_wire()
    st = w.module.status(True)
    assert st.state is ModuleState.RUNNING and st.name == "pop3" and st.title == "POP3"
    assert {e.security for e in st.endpoints} == {"starttls", "implicit"}
    c = await Client.connect(w.port())
    assert (await c.line()).startswith(b"+OK Quicksilver POP3 server ready")
    await _wait_for(lambda: w.module.status(True).sessions == 1)
    await c.send(b"QUIT\r\n")
    assert (await c.line()).startswith(b"+OK")
    assert await c.eof() == b""
    await _wait_for(lambda: w.module.status(True).sessions == 0)
    kinds = [type(e) for e in w.events]
    assert SessionOpened in kinds and SessionClosed in kinds


async def test_pipelined_commands_in_one_write(start_wire, store) -> None:
    w = await start_wire()
    await store.deliver(BOB, msg("one"))
    await store.deliver(BOB, msg("two"))
    c = await Client.connect(w.port())
    await c.line()
    await c.send(
        b"CAPA\r\nUSER bob\r\nPASS secret\r\nSTAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\n"
        b"UIDL 2\r\nTOP 2 0\r\nNOOP\r\nQUIT\r\n"
    )
    capa = await c.multiline()
    assert b"PIPELINING\r\n" in capa
    assert (await c.line()).startswith(b"+OK")
    assert (await c.line()).startswith(b"+OK Logged in, 2 messages")
    assert (await c.line()) == f"+OK 2 {2 * len(msg('one'))}\r\n".encode()
    assert len(await c.multiline()) == 4
    retr = await c.multiline()
    assert b"".join(retr[1:-1]) == msg("one")
    assert (await c.line()).startswith(b"+OK Message 1 deleted")
    assert (await c.line()).startswith(b"+OK 2 ")
    await c.multiline()
    assert (await c.line()) == b"+OK\r\n"
    assert (await c.line()).startswith(b"+OK Quicksilver POP3 server signing off (1")
    assert await c.eof() == b""
    assert len(await store.list_messages(BOB, "INBOX")) == 1
    assert ("messages", 1) in w.module.status(True).counters
    assert w.module.status(True).messages_today == 1


async def test_commands_split_across_writes(start_wire) -> None:
    w = await start_wire()
    c = await Client.connect(w.port())
    await c.line()
    for chunk in (b"US", b"ER b", b"ob\r", b"\nPASS sec", b"ret\r\nST", b"AT\r\n"):
        await c.send(chunk)
        await asyncio.sleep(0.01)
    assert (await c.line()).startswith(b"+OK")
    assert (await c.line()).startswith(b"+OK Logged in")
    assert (await c.line()) == b"+OK 0 0\r\n"
    c.close()


async def test_bare_lf_line_ends_accepted(start_wire) -> None:
    w = await start_wire()
    c = await Client.connect(w.port())
    await c.line()
    await c.send(b"USER bob\nPASS secret\nSTAT\n")
    await c.line()
    await c.line()
    assert (await c.line()) == b"+OK 0 0\r\n"
    c.close()


async def test_stls_discards_plaintext_injection(start_wire) -> None:
    w = await start_wire()
    c = await Client.connect(w.port())
    await c.line()
    # Everything after STLS in the same write was sent in the clear: a
    # man in the middle could have added it. It must be ignored.
    await c.send(b"STLS\r\nUSER bob\r\nPASS secret\r\n")
    assert (await c.line()) == b"+OK Begin TLS negotiation\r\n"
    await c.writer.start_tls(client_tls_context())
    await c.send(b"PASS secret\r\n")
    assert (await c.line()) == b"-ERR Send USER first\r\n"
    await c.send(b"CAPA\r\n")
    capa = await c.multiline()
    assert b"STLS\r\n" not in capa and b"USER\r\n" in capa
    await c.send(b"STLS\r\nUSER bob\r\nPASS secret\r\nQUIT\r\n")
    assert (await c.line()) == b"-ERR Already using TLS\r\n"
    assert (await c.line()).startswith(b"+OK")
    assert (await c.line()).startswith(b"+OK Logged in")
    assert (await c.line()).startswith(b"+OK")
    c.close()


async def test_stls_allows_login_from_non_loopback_policy(start_wire) -> None:
    # plaintext_login="never": USER refused in the clear, allowed after STLS.
    from dataclasses import replace

    w = await start_wire()
    w.module.settings = replace(w.module.settings, plaintext_login="never")
    c = await Client.connect(w.port())
    await c.line()
    await c.send(b"USER bob\r\n")
    assert (await c.line()).startswith(b"-ERR Plaintext login is not allowed")
    await c.send(b"STLS\r\n")
    await c.line()
    await c.writer.start_tls(client_tls_context())
    await c.send(b"USER bob\r\nPASS secret\r\n")
    await c.line()
    assert (await c.line()).startswith(b"+OK Logged in")
    c.close()


async def test_implicit_tls_port(start_wire) -> None:
    w = await start_wire()
    c = await Client.connect(w.port("implicit"), client_tls_context())
    assert (await c.line()).startswith(b"+OK Quicksilver")
    await c.send(b"CAPA\r\n")
    capa = await c.multiline()
    assert b"STLS\r\n" not in capa and b"SASL PLAIN LOGIN\r\n" in capa
    plain = base64.b64encode(b"\0bob\0secret")
    await c.send(b"AUTH PLAIN " + plain + b"\r\nQUIT\r\n")
    assert (await c.line()).startswith(b"+OK Logged in")
    assert (await c.line()).startswith(b"+OK")
    c.close()


async def test_failed_tls_handshake_closes_cleanly(start_wire) -> None:
    w = await start_wire()
    c = await Client.connect(w.port())
    await c.line()
    await c.send(b"STLS\r\n")
    await c.line()
    await c.send(b"this is not a TLS client hello\r\n" * 4)
    assert await c.eof() == b""
    await _wait_for(lambda: w.module.status(True).sessions == 0)


async def test_no_certificate_no_stls_no_tls_port(start_wire) -> None:
    w = await start_wire(tls=False)
    assert [e.security for e in w.module.endpoints()] == ["none"]
    c = await Client.connect(w.port("none"))
    await c.line()
    await c.send(b"CAPA\r\nSTLS\r\n")
    assert b"STLS\r\n" not in await c.multiline()
    assert (await c.line()) == b"-ERR TLS is not available\r\n"
    c.close()


async def test_idle_timeout_closes_without_update(start_wire, store) -> None:
    w = await start_wire(idle_timeout=0.3)
    await store.deliver(BOB, msg("keep"))
    c = await Client.connect(w.port())
    await c.line()
    await c.send(b"USER bob\r\nPASS secret\r\nDELE 1\r\n")
    for _ in range(3):
        assert (await c.line()).startswith(b"+OK")
    assert (await c.line()) == b"-ERR [SYS/TEMP] Idle timeout, closing connection\r\n"
    assert await c.eof() == b""
    assert len(await store.list_messages(BOB, "INBOX")) == 1
    await _wait_for(lambda: not w.module.locks.held(BOB))


async def test_dropped_connection_after_dele_deletes_nothing(start_wire, store) -> None:
    w = await start_wire()
    await store.deliver(BOB, msg("keep"))
    c = await Client.connect(w.port())
    await c.line()
    await c.send(b"USER bob\r\nPASS secret\r\nDELE 1\r\n")
    for _ in range(3):
        await c.line()
    c.writer.transport.abort()
    await _wait_for(lambda: not w.module.locks.held(BOB))
    assert len(await store.list_messages(BOB, "INBOX")) == 1
    # the lock is gone: a new session logs in
    c2 = await Client.connect(w.port())
    await c2.line()
    await c2.send(b"USER bob\r\nPASS secret\r\n")
    await c2.line()
    assert (await c2.line()).startswith(b"+OK Logged in, 1 messages")
    c2.close()


async def test_quit_sent_then_connection_closed_still_updates(
    start_wire, store
) -> None:
    w = await start_wire()
    await store.deliver(BOB, msg("gone"))
    sock = socket.create_connection(("127.0.0.1", w.port()))
    sock.sendall(b"USER bob\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n")
    sock.close()
    await _wait_for(lambda: any(isinstance(e, SessionClosed) for e in w.events))
    assert await store.list_messages(BOB, "INBOX") == []


async def test_two_connections_same_user_in_use(start_wire) -> None:
    w = await start_wire()
    c1, c2 = await Client.connect(w.port()), await Client.connect(w.port())
    await c1.line()
    await c2.line()
    await c1.send(b"USER bob\r\nPASS secret\r\n")
    await c1.line()
    assert (await c1.line()).startswith(b"+OK")
    await c2.send(b"USER bob@example.org\r\nPASS secret\r\n")
    await c2.line()
    assert (await c2.line()).startswith(b"-ERR [IN-USE]")
    await c1.send(b"QUIT\r\n")
    await c1.line()
    await c2.send(b"USER bob\r\nPASS secret\r\n")
    await c2.line()
    assert (await c2.line()).startswith(b"+OK Logged in")
    c2.close()


async def test_absurd_line_closes(start_wire) -> None:
    w = await start_wire()
    c = await Client.connect(w.port())
    await c.line()
    await c.send(b"NOOP\r\n" + b"A" * 20000)
    assert (await c.line()).startswith(b"-ERR NOOP is not valid")
    assert (await c.line()) == b"-ERR Line too long, closing connection\r\n"
    assert await c.eof() == b""


async def test_long_command_line_refused_but_connection_kept(start_wire) -> None:
    w = await start_wire()
    c = await Client.connect(w.port())
    await c.line()
    await c.send(b"USER " + b"x" * 1000 + b"\r\nQUIT\r\n")
    assert (await c.line()) == b"-ERR Command line too long\r\n"
    assert (await c.line()).startswith(b"+OK")


async def test_bad_command_cap_closes(start_wire) -> None:
    w = await start_wire()
    c = await Client.connect(w.port())
    await c.line()
    await c.send(b"BOGUS\r\n" * 12)
    replies = (await c.eof()).split(b"\r\n")
    assert len([r for r in replies if r.startswith(b"-ERR")]) == 10
    assert b"closing connection" in replies[9]


async def test_banned_address_refused_at_connect(start_wire, auth) -> None:
    auth.banned.add("127.0.0.1")
    w = await start_wire()
    c = await Client.connect(w.port())
    assert (await c.line()).startswith(b"-ERR [SYS/TEMP] Too many failed logins")
    assert await c.eof() == b""
    await _wait_for(lambda: w.module.status(True).sessions == 0)


async def test_stop_closes_sessions_without_update(start_wire, store) -> None:
    w = await start_wire()
    await store.deliver(BOB, msg("keep"))
    c = await Client.connect(w.port())
    await c.line()
    await c.send(b"USER bob\r\nPASS secret\r\nDELE 1\r\n")
    for _ in range(3):
        await c.line()
    await w.module.stop()
    assert w.module.status(True).state is ModuleState.STOPPED
    assert w.module.status(True).sessions == 0
    rest = await c.eof()
    assert rest in (b"", b"-ERR [SYS/TEMP] Server shutting down\r\n")
    assert len(await store.list_messages(BOB, "INBOX")) == 1
    assert not w.module.locks.held(BOB)


async def test_stop_closes_the_socket_of_a_tls_session_that_already_quit(
    start_wire,
) -> None:
    """After QUIT on TLS the server sends close_notify and waits (asyncio: up
    to 30 s) for the client's. A client that never answers must not keep the
    server's socket open past the module's stop."""
    w = await start_wire()
    port = w.port("implicit")

    def quit_and_stay() -> socket.socket:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        tls = client_tls_context().wrap_socket(raw)
        tls.recv(4096)  # greeting
        tls.sendall(b"QUIT\r\n")
        assert tls.recv(4096).startswith(b"+OK")
        assert tls.recv(4096) == b""  # the server's close_notify
        # the same TCP socket, without TLS: no answer goes back (closing
        # the TLS socket without unwrap() sends nothing)
        plain = socket.socket(fileno=os.dup(tls.fileno()))
        tls.close()
        return plain

    plain = await asyncio.to_thread(quit_and_stay)
    try:
        await _wait_for(lambda: w.module.status(True).sessions == 0)
        await w.module.stop()

        def tcp_end() -> bytes:
            plain.settimeout(5)
            return plain.recv(1, socket.MSG_PEEK)

        assert await asyncio.to_thread(tcp_end) == b""  # FIN, not a timeout
    finally:
        plain.close()


async def test_stop_closes_a_connection_accepted_just_before_it(start_wire) -> None:
    """asyncio accepts a connection in one callback and makes its transport
    in a task that runs a turn later; a server closed in between (Python
    3.11) fails that task and leaves the accepted socket open and unowned.
    A client that connects as the module stops must see its connection end."""
    w = await start_wire()
    port = w.port()
    listening = next(
        lst.server.sockets[0]
        for lst in w.module._listeners
        if lst.server is not None and lst.server.sockets[0].getsockname()[1] == port
    )
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        # the connection waits in the backlog: the next select reports it
        assert select.select([listening.fileno()], [], [], 5)[0]
        await asyncio.sleep(0)  # this turn's select queues the accept
        await asyncio.sleep(0)  # the accept ran; its transport's task has not
        await w.module.stop()

        def tcp_end() -> bytes:
            client.settimeout(5)
            data = b""
            try:
                while chunk := client.recv(4096):  # a greeting may come first
                    data += chunk
            except ConnectionResetError:  # aborted: ended too
                pass
            return data

        got = await asyncio.to_thread(tcp_end)  # the end, not a timeout
        assert got == b"" or got.startswith(b"+OK")
    finally:
        client.close()


async def test_port_in_use_fails_with_advice(start_wire) -> None:
    w = await start_wire()
    busy = w.port()
    from server.protocols.pop3.module import Pop3Module

    ctx = w.module.ctx
    other = Pop3Module(
        type(ctx)(
            events=ctx.events,
            settings=lambda: Settings(
                pop3=Pop3Settings(bind="127.0.0.1", port=busy, tls_port=0)
            ),
            accounts=None,
            store=ctx.store,
            delivery=None,
            tls=ctx.tls,
            auth=ctx.auth,
        )
    )
    with pytest.raises(ModuleStartError, match="already in use"):
        await other.start()
    assert other.status(True).state is ModuleState.FAILED


def test_configure_validates_only(start_wire) -> None:
    from server.protocols.pop3.module import Pop3Module

    m = Pop3Module.__new__(Pop3Module)
    m.configure(Settings(pop3=Pop3Settings()))
    with pytest.raises(ValidationError):
        m.configure(Settings(pop3=Pop3Settings(port=70000)))
    with pytest.raises(ValidationError):
        m.configure(Settings(pop3=Pop3Settings(port=1100, tls_port=1100)))
    with pytest.raises(ValidationError):
        m.configure(Settings(pop3=Pop3Settings(plaintext_login="sometimes")))
