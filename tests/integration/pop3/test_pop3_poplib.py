"""Python's ``poplib`` against the running module: plain, STLS, POP3_SSL."""

from __future__ import annotations

import asyncio
import poplib
import ssl

import pytest

from tests.integration.pop3.pop3_live import PASSWORD, SAMPLES, USER, Pop3Server


def _client_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _download(pop: poplib.POP3, delete: bool) -> tuple[list[bytes], list[bytes]]:
    pop.user(USER)
    pop.pass_(PASSWORD)
    count, _size = pop.stat()
    _, uidls, _ = pop.uidl()
    got = []
    for n in range(1, count + 1):
        _resp, lines, _octets = pop.retr(n)
        got.append(b"".join(line + b"\r\n" for line in lines))
        if delete:
            pop.dele(n)
    pop.quit()
    return got, uidls


async def test_plain_login_download_and_delete(pop3_server: Pop3Server) -> None:
    for m in SAMPLES:
        await pop3_server.deliver(m)

    def client() -> tuple[list[bytes], list[bytes], dict[str, list[str]], list[bytes]]:
        pop = poplib.POP3("127.0.0.1", pop3_server.plain_port, timeout=10)
        caps = pop.capa()
        pop.user(USER)
        pop.pass_(PASSWORD)
        _, listing, _ = pop.list()
        sizes = [int(x.split()[1]) for x in listing]
        _, top, _ = pop.top(2, 1)
        pop.quit()
        pop = poplib.POP3("127.0.0.1", pop3_server.plain_port, timeout=10)
        got, uidls = _download(pop, delete=True)
        return got, uidls, caps, [str(s).encode() for s in sizes] + top

    got, uidls, caps, extra = await asyncio.to_thread(client)
    assert got == SAMPLES  # byte-identical, dot-unstuffed by poplib
    assert [int(x) for x in extra[:3]] == [len(m) for m in SAMPLES]
    assert extra[-1] == b".leading dot"
    assert "STLS" in caps and "UIDL" in caps and caps["SASL"] == ["PLAIN", "LOGIN"]
    assert caps["IMPLEMENTATION"] == ["Quicksilver"]
    assert len(uidls) == 3
    assert await pop3_server.inbox() == []
    assert pop3_server.module.status(True).messages_today == 3


async def test_stls_then_login(pop3_server: Pop3Server) -> None:
    await pop3_server.deliver(SAMPLES[0])

    def client() -> tuple[list[bytes], dict[str, list[str]]]:
        pop = poplib.POP3("127.0.0.1", pop3_server.plain_port, timeout=10)
        pop.stls(_client_ctx())
        caps = pop.capa()
        got, _ = _download(pop, delete=False)
        return got, caps

    got, caps = await asyncio.to_thread(client)
    assert got == [SAMPLES[0]]
    assert "STLS" not in caps
    # kept: --keep semantics; RETR marked it \Seen for IMAP
    infos = await pop3_server.store.list_messages(USER, "INBOX")
    assert len(infos) == 1 and "\\Seen" in infos[0].flags


async def test_pop3_ssl_implicit_tls(pop3_server: Pop3Server) -> None:
    for m in SAMPLES:
        await pop3_server.deliver(m)

    def client() -> tuple[list[bytes], list[bytes]]:
        pop = poplib.POP3_SSL("127.0.0.1", pop3_server.tls_port, context=_client_ctx())
        return _download(pop, delete=False)

    got, uidls = await asyncio.to_thread(client)
    assert got == SAMPLES
    _, uidls2 = await asyncio.to_thread(client)
    assert uidls2 == uidls  # stable across sessions


async def test_second_session_in_use_and_wrong_password(
    pop3_server: Pop3Server,
) -> None:
    def client() -> tuple[str, str]:
        first = poplib.POP3("127.0.0.1", pop3_server.plain_port, timeout=10)
        first.user(USER)
        first.pass_(PASSWORD)
        second = poplib.POP3("127.0.0.1", pop3_server.plain_port, timeout=10)
        second.user("bob")
        with pytest.raises(poplib.error_proto) as in_use:
            second.pass_(PASSWORD)
        second.user(USER)
        with pytest.raises(poplib.error_proto) as wrong:
            second.pass_("nope")
        first.quit()
        second.quit()
        return in_use.value.args[0].decode(), wrong.value.args[0].decode()

    in_use, wrong = await asyncio.to_thread(client)
    assert in_use.startswith("-ERR [IN-USE]")
    assert wrong.startswith("-ERR [AUTH]")


async def test_read_ahead_serves_every_message_once_and_right(
    pop3_server: Pop3Server,
) -> None:
    """RETR reads the next small messages in the same store call: 150 messages
    of mixed sizes (one larger than the read-ahead budget) come back byte for
    byte in a few store calls, a DELEd message is skipped, and TOP after RETR
    of the same message still gives its head."""
    from server.protocols.pop3 import session as pop3_session

    sent = []
    for i in range(150):
        size = 300_000 if i == 70 else 200 + 37 * i
        body = f"line {i:03d}\r\n" * (size // 10)
        msg = f"Subject: m{i}\r\n\r\n{body}".encode()
        sent.append(msg)
        await pop3_server.deliver(msg)
    store = pop3_server.store
    calls = {"one": 0, "many": 0}
    read_one, read_many = store.read_message, store.read_messages

    async def one(*args: object, **kw: object) -> bytes:
        calls["one"] += 1
        return await read_one(*args, **kw)  # type: ignore[arg-type]

    async def many(*args: object, **kw: object) -> dict[int, bytes]:
        calls["many"] += 1
        return await read_many(*args, **kw)  # type: ignore[arg-type]

    store.read_message = one  # type: ignore[method-assign]
    store.read_messages = many  # type: ignore[method-assign]

    def client() -> tuple[list[bytes], list[bytes]]:
        pop = poplib.POP3("127.0.0.1", pop3_server.plain_port, timeout=30)
        pop.user(USER)
        pop.pass_(PASSWORD)
        pop.dele(5)
        got = []
        for n in range(1, 151):
            if n == 5:
                continue
            _resp, lines, _octets = pop.retr(n)
            got.append(b"".join(line + b"\r\n" for line in lines))
        _resp, top, _ = pop.top(10, 0)
        pop.rset()
        pop.quit()
        return got, top

    got, top = await asyncio.to_thread(client)
    assert got == [m for i, m in enumerate(sent) if i != 4]
    assert top[0] == b"Subject: m9"
    assert calls["one"] + calls["many"] < 30  # not one store call per message
    assert pop3_session.READ_AHEAD_BYTES < 300_000  # the big one went alone
