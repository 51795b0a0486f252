"""Limits: line lengths, command caps, recipients, message size, idle timeouts,
slow (byte-at-a-time) clients and a connection flood. Every test runs in a few
seconds: short timeouts come from modules built directly with small values."""

from __future__ import annotations

import asyncio
import contextlib
import os
import smtplib
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from server.config.schema import Pop3Settings, Settings, SmtpSettings
from server.delivery.base import Accepted
from server.events import EventBus
from server.modules.base import ModuleContext
from server.protocols.pop3.module import Pop3Module
from server.protocols.smtp.module import SmtpModule
from server.storage.memory import MemoryStore
from tests.conftest import ALICE, RunningCore, start_core
from tests.integration.security.helpers import Line
from tests.waiting import wait_until


@pytest.fixture
def lim_core(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp", "pop3"))
    try:
        yield c
    finally:
        c.runtime.stop()


def _smtp(core: RunningCore) -> Line:
    c = Line.connect(core.endpoint("smtp"))
    assert c.line().startswith(b"220 ")
    c.send(b"EHLO client.test\r\n")
    c.smtp_reply()
    return c


# -- SMTP ---------------------------------------------------------------------------
def test_smtp_command_line_over_1000_octets_is_refused_and_session_survives(
    lim_core: RunningCore,
) -> None:
    c = _smtp(lim_core)
    try:
        c.send(b"NOOP " + b"a" * 1100 + b"\r\n")
        assert c.smtp_reply()[0].startswith(b"500 5.5.2 Command line too long")
        c.send(b"MAIL FROM:<" + b"x" * 2000 + b"@client.test>\r\n")
        assert c.smtp_reply()[0].startswith(b"500 ")
        c.send(b"NOOP\r\n")
        assert c.smtp_reply()[0].startswith(b"250 ")
    finally:
        c.close()


def test_smtp_text_line_over_1000_octets_refuses_the_message(
    lim_core: RunningCore,
) -> None:
    c = _smtp(lim_core)
    try:
        c.send(
            b"MAIL FROM:<a@client.test>\r\nRCPT TO:<"
            + ALICE.encode()
            + b">\r\nDATA\r\n"
        )
        assert c.smtp_reply()[0].startswith(b"250")
        assert c.smtp_reply()[0].startswith(b"250")
        assert c.smtp_reply()[0].startswith(b"354")
        c.send(b"Subject: long\r\n\r\n" + b"x" * 1200 + b"\r\n.\r\n")
        reply = c.smtp_reply()[0]
        assert reply.startswith(b"500 5.5.2 Line too long"), reply
    finally:
        c.close()
    assert not any((lim_core.maildir(ALICE) / "new").iterdir())


def test_smtp_unknown_commands_are_capped_then_the_connection_closes(
    lim_core: RunningCore,
) -> None:
    c = _smtp(lim_core)
    try:
        replies = []
        for _ in range(5):
            c.send(b"XYZZY\r\n")
            replies.append(c.smtp_reply()[0])
        assert replies[0].startswith(b"500 ")
        assert replies[-1].startswith(b"502 5.5.1 Too many unrecognized commands")
        assert c.line() == b""
    finally:
        c.close()


def test_smtp_noop_flood_is_capped_so_a_client_cannot_hold_a_slot_for_ever(
    lim_core: RunningCore,
) -> None:
    from server.protocols.smtp.module import COMMAND_CALL_LIMITS

    c = _smtp(lim_core)
    try:
        n = COMMAND_CALL_LIMITS["NOOP"]
        c.send(b"NOOP\r\n" * (n + 1))
        replies = [c.smtp_reply()[0] for _ in range(n + 1)]
        assert all(r.startswith(b"250 ") for r in replies[:n])
        assert replies[n].startswith(b"421 4.7.0 NOOP sent too many times"), replies[n]
        assert c.line() == b""
    finally:
        c.close()


def test_smtp_recipients_are_capped_at_100_per_message(lim_core: RunningCore) -> None:
    host, port = lim_core.endpoint("smtp")
    with smtplib.SMTP(host, port, timeout=5) as s:
        s.ehlo("client.test")
        s.mail("a@client.test")
        for _ in range(100):
            assert s.rcpt(ALICE)[0] == 250
        code, text = s.rcpt(ALICE)
        assert (code, text[:5]) == (452, b"4.5.3")


def test_smtp_message_over_the_size_limit_is_refused_with_552(
    lim_core: RunningCore,
) -> None:
    lim_core.run(lim_core.api.update_settings("general", {"max_message_size": 2048}))
    host, port = lim_core.endpoint("smtp")
    with smtplib.SMTP(host, port, timeout=5) as s:
        s.ehlo("client.test")
        assert "2048" in s.esmtp_features.get("size", "")
        body = "Subject: big\r\n\r\n" + ("y" * 70 + "\r\n") * 60
        # declared with SIZE=: refused at MAIL (RFC 1870)
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            s.sendmail("a@client.test", [ALICE], body)
        assert refused.value.smtp_code == 552
        # not declared: refused after the data, which is thrown away
        s.rset()
        assert s.docmd("MAIL", "FROM:<a@client.test>")[0] == 250
        assert s.rcpt(ALICE)[0] == 250
        code, text = s.data(body)
        assert code == 552, text
    assert not any((lim_core.maildir(ALICE) / "new").iterdir())


# -- POP3 ---------------------------------------------------------------------------
def _pop3(core: RunningCore) -> Line:
    c = Line.connect(core.endpoint("pop3", "starttls"))
    assert c.line().startswith(b"+OK")
    return c


def test_pop3_command_line_over_255_octets_is_refused(lim_core: RunningCore) -> None:
    c = _pop3(lim_core)
    try:
        c.send(b"USER " + b"a" * 300 + b"\r\n")
        assert c.line().startswith(b"-ERR")
        c.send(b"CAPA\r\n")
        assert c.line().startswith(b"+OK")
    finally:
        c.close()


def test_pop3_absurdly_long_line_closes_the_connection(lim_core: RunningCore) -> None:
    c = _pop3(lim_core)
    try:
        c.send(b"A" * 20000)
        assert c.line().startswith(b"-ERR Line too long")
        assert c.line() == b""
    finally:
        c.close()


def test_pop3_bad_commands_are_capped_then_the_connection_closes(
    lim_core: RunningCore,
) -> None:
    c = _pop3(lim_core)
    try:
        c.send(b"XYZZY\r\n" * 10)
        replies = [c.line() for _ in range(10)]
        assert all(r.startswith(b"-ERR") for r in replies)
        assert c.line() == b""
    finally:
        c.close()


# -- idle and slow clients (modules built with a 1-second timeout) -----------------
class _Accounts:
    def is_local_domain(self, d: str) -> bool:
        return d == "example.test"

    def resolve(self, a: str) -> list[str] | None:
        return [a] if a == ALICE else None

    def get_user(self, a: str) -> None:
        return None

    def canonical_recipient(self, a: str) -> str:
        return a


class _Delivery:
    async def accept(self, env: Any, message: bytes) -> Accepted:
        return Accepted("job1", local_delivered=tuple(env.recipients))


class _Auth:
    async def authenticate(self, *a: Any, **k: Any) -> None:
        return None

    def is_banned(self, ip: str) -> bool:
        return False


class _Tls:
    def server_context(self) -> None:
        return None


def _ctx(settings: Settings) -> ModuleContext:
    return ModuleContext(
        events=EventBus(),
        settings=lambda: settings,
        accounts=_Accounts(),
        store=MemoryStore(),
        delivery=_Delivery(),
        tls=_Tls(),
        auth=_Auth(),
    )


@dataclass
class Short:
    module: Any
    port: int


@pytest.fixture
async def short_smtp() -> AsyncIterator[Short]:
    # smtp.timeout is >= 30 s in settings validation; the module itself takes 1
    m = SmtpModule(
        _ctx(Settings(smtp=SmtpSettings(bind="127.0.0.1", port=0, timeout=1)))
    )
    await m.start()
    try:
        yield Short(m, m.endpoints()[0].port)
    finally:
        await m.stop()


@pytest.fixture
async def short_pop3() -> AsyncIterator[Short]:
    s = Settings(pop3=Pop3Settings(bind="127.0.0.1", port=0, tls_port=0))
    m = Pop3Module(_ctx(s), login_delay=0, idle_timeout=1)
    await m.start()
    try:
        yield Short(m, m.endpoints()[0].port)
    finally:
        await m.stop()


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> float:
    start = time.monotonic()
    while True:
        data = await asyncio.wait_for(reader.read(4096), seconds)
        if not data:
            return time.monotonic() - start


async def _trickle(
    writer: asyncio.StreamWriter,
    reader: asyncio.StreamReader,
    payload: bytes,
    gap: float,
    limit: float,
) -> float:
    """Send one byte per ``gap`` seconds; return when the server hangs up."""
    start = time.monotonic()
    for b in payload:
        if reader.at_eof() or time.monotonic() - start > limit:
            break
        try:
            writer.write(bytes([b]))
            await writer.drain()
        except ConnectionError:
            break
        with contextlib.suppress(TimeoutError):
            if not await asyncio.wait_for(reader.read(4096), gap):
                break
    return time.monotonic() - start


async def test_smtp_idle_session_is_closed_after_the_timeout(short_smtp: Short) -> None:
    r, w = await asyncio.open_connection("127.0.0.1", short_smtp.port)
    try:
        assert (await r.readline()).startswith(b"220")
        assert await _closed_within(r, 4) < 3
    finally:
        w.close()


async def test_smtp_session_that_keeps_sending_commands_stays_open(
    short_smtp: Short,
) -> None:
    """The idle timer (1 s here) restarts with every command: a client that
    sends one every 0.4 s for 3 s is still served, then cut off once idle."""
    r, w = await asyncio.open_connection("127.0.0.1", short_smtp.port)
    try:
        assert (await r.readline()).startswith(b"220")
        start = time.monotonic()
        while time.monotonic() - start < 3:
            w.write(b"NOOP\r\n")
            assert (await asyncio.wait_for(r.readline(), 2)).startswith(b"250")
            await asyncio.sleep(0.4)
        assert await _closed_within(r, 4) < 2
    finally:
        w.close()


async def test_smtp_slow_client_sending_a_byte_at_a_time_is_closed(
    short_smtp: Short,
) -> None:
    r, w = await asyncio.open_connection("127.0.0.1", short_smtp.port)
    try:
        assert (await r.readline()).startswith(b"220")
        took = await _trickle(w, r, b"NOOP" + b"x" * 100, gap=0.2, limit=5)
        assert took < 4, "a byte-at-a-time client must not hold the session"
        assert short_smtp.module.status(True).sessions == 0
    finally:
        w.close()


async def test_smtp_slow_data_transfer_is_closed_by_the_timeout(
    short_smtp: Short,
) -> None:
    r, w = await asyncio.open_connection("127.0.0.1", short_smtp.port)
    try:
        await r.readline()
        w.write(
            b"HELO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<"
            + ALICE.encode()
            + b">\r\nDATA\r\n"
        )
        for _ in range(4):
            await r.readline()
        took = await _trickle(w, r, b"Subject: slow\r\n" * 20, gap=0.2, limit=5)
        assert took < 4
    finally:
        w.close()


async def test_pop3_idle_session_is_closed_after_the_timeout(short_pop3: Short) -> None:
    r, w = await asyncio.open_connection("127.0.0.1", short_pop3.port)
    try:
        assert (await r.readline()).startswith(b"+OK")
        assert await _closed_within(r, 4) < 3
    finally:
        w.close()


async def test_pop3_slow_client_sending_a_byte_at_a_time_is_closed(
    short_pop3: Short,
) -> None:
    r, w = await asyncio.open_connection("127.0.0.1", short_pop3.port)
    try:
        assert (await r.readline()).startswith(b"+OK")
        took = await _trickle(w, r, b"CAPA" + b"x" * 100, gap=0.2, limit=5)
        assert took < 4, "a byte-at-a-time client must not hold the session"
    finally:
        w.close()


# -- a connection flood ---------------------------------------------------------------
def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_connection_flood_is_refused_cleanly_and_leaks_nothing(
    lim_core: RunningCore,
) -> None:
    addr = lim_core.endpoint("smtp")
    before = _fds()
    socks: list[socket.socket] = []
    greetings: list[bytes] = []
    started = time.monotonic()
    try:
        for _ in range(300):
            s = socket.create_connection(addr, timeout=5)
            socks.append(s)
        for s in socks:
            greetings.append(s.makefile("rb").readline())
        # while 127.0.0.1 is at its per-IP limit, another address is served
        other = socket.create_connection(
            addr, timeout=5, source_address=("127.0.0.2", 0)
        )
        with other:
            assert other.makefile("rb").readline().startswith(b"220 ")
    finally:
        for s in socks:
            s.close()
    assert time.monotonic() - started < 10
    served = [g for g in greetings if g.startswith(b"220 ")]
    refused = [g for g in greetings if g.startswith(b"421 4.7.0 Too many connections")]
    assert len(served) == 20 and len(refused) == 280, set(greetings)
    # the server notices every close and is responsive again
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        st = {m.name: m for m in lim_core.run(lim_core.api.modules())}["smtp"]
        if st.sessions == 0:
            break
        time.sleep(0.05)
    assert st.sessions == 0
    with smtplib.SMTP(*addr, timeout=5) as c:
        assert c.noop()[0] == 250
    # every socket of the flood is closed in the server too (no leak)
    wait_until(lambda: _fds() <= before + 3, f"descriptors back to {before} + 3")
    assert st.state.value == "RUNNING"


async def test_smtp_large_message_over_a_slow_link_outlives_the_idle_timeout(
    short_smtp: Short,
) -> None:
    """Steady progress in DATA keeps the session alive past ``timeout`` (1 s
    here): 480 KB sent over about 3 s is accepted."""
    r, w = await asyncio.open_connection("127.0.0.1", short_smtp.port)
    try:
        await r.readline()
        w.write(
            b"HELO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<"
            + ALICE.encode()
            + b">\r\nDATA\r\n"
        )
        for _ in range(4):
            await r.readline()
        chunk = (b"x" * 78 + b"\r\n") * 200  # 16 KB
        for _ in range(30):
            w.write(chunk)
            await w.drain()
            await asyncio.sleep(0.1)
        w.write(b".\r\n")
        reply = await asyncio.wait_for(r.readline(), 10)
        assert reply.startswith(b"250 "), reply
    finally:
        w.close()
