"""The shared line/literal reader (server/protocols/linereader.py) under IMAP
and POP3: lines and limits, deadlines per unit of input, flow control both
ways, and what survives the end of the connection. Driven through the
``asyncio.Protocol`` callbacks with a recording transport; the STARTTLS paths
run over real sockets in tests/integration/security and tests/protocol/pop3."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.protocols import linereader as lr
from server.protocols.linereader import ConnectionClosed, LineReader, LineTooLong


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.paused = 0
        self.resumed = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out += data

    def pause_reading(self) -> None:
        self.paused += 1

    def resume_reading(self) -> None:
        self.resumed += 1

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def reader(high_water: int = lr.READ_HIGH_WATER) -> tuple[LineReader, FakeTransport]:
    r = LineReader(high_water=high_water)
    t = FakeTransport()
    r.connection_made(t)
    return r, t


async def test_lines_split_and_partial_kept() -> None:
    r, _ = reader()
    r.data_received(b"USER a\r\nPA")
    assert await r.readline(100, 1) == b"USER a\r\n"
    r.data_received(b"SS b\r\nSTAT\nNO")
    assert await r.readline(100, 1) == b"PASS b\r\n"
    assert await r.readline(100, 1) == b"STAT\n"  # bare LF: a line too
    assert r.buffered_lines() == []
    r.data_received(b"OP\r\n")
    assert r.buffered_lines() == [b"NOOP\r\n"]
    assert await r.readline(100, 1) == b"NOOP\r\n"


async def test_line_over_the_limit_after_the_good_ones() -> None:
    r, _ = reader()
    r.data_received(b"NOOP\r\n" + b"x" * 11)
    assert await r.readline(10, 1) == b"NOOP\r\n"
    with pytest.raises(LineTooLong):  # known too long before its end arrives
        await r.readline(10, 1)
    r, _ = reader()
    r.data_received(b"x" * 20 + b"\r\nNOOP\r\n")
    with pytest.raises(LineTooLong):
        await r.readline(10, 1)


@given(st.binary(max_size=300), st.integers(1, 50))
def test_any_chunking_reassembles_the_lines(data: bytes, size: int) -> None:
    async def run() -> list[bytes]:
        r, _ = reader()
        for i in range(0, len(data), size):
            r.data_received(data[i : i + size])
        r.eof_received()
        got = []
        while True:
            try:
                got.append(await r.readline(10_000, 1))
            except ConnectionClosed:
                return got

    got = asyncio.run(run())
    assert b"".join(got) == data[: data.rfind(b"\n") + 1]
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in got)


async def test_a_line_trickling_in_meets_one_deadline() -> None:
    """A byte every 50 ms never finishes a line: the 0.3 s deadline holds
    (a timer reset per read would let it hold the connection for ever)."""
    r, _ = reader()

    async def trickle() -> None:
        for _ in range(40):
            await asyncio.sleep(0.05)
            r.data_received(b"x")

    feeder = asyncio.create_task(trickle())
    t0 = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError):
        await r.readline(1000, 0.3)
    assert asyncio.get_running_loop().time() - t0 < 1.0
    feeder.cancel()


async def test_a_literal_making_progress_outlives_its_first_deadline() -> None:
    r, _ = reader()
    chunk = b"y" * lr.LITERAL_PROGRESS

    async def feed() -> None:
        for _ in range(4):
            await asyncio.sleep(0.12)
            r.data_received(chunk)

    feeder = asyncio.create_task(feed())
    data = await r.readexactly(4 * len(chunk), 0.2)  # 0.48 s in all
    assert data == chunk * 4
    await feeder


async def test_a_trickling_literal_is_cut_off() -> None:
    r, _ = reader()

    async def feed() -> None:
        for _ in range(40):
            await asyncio.sleep(0.05)
            r.data_received(b"z" * 100)

    feeder = asyncio.create_task(feed())
    with pytest.raises(TimeoutError):
        await r.readexactly(10_000, 0.3)
    feeder.cancel()
    r2, _ = reader()
    r2.data_received(b"z" * 10)
    with pytest.raises(TimeoutError):
        await r2.discard(10_000, 0.1)


async def test_discard_skips_exactly_n() -> None:
    r, _ = reader()
    r.data_received(b"abcdef\r\nNEXT\r\n")
    await r.discard(8, 1)
    assert await r.readline(100, 1) == b"NEXT\r\n"


async def test_reading_pauses_above_the_mark_and_resumes_below_half() -> None:
    r, t = reader(high_water=100)
    r.data_received(b"L\r\n" * 40)  # 120 octets buffered
    assert t.paused == 1 and t.resumed == 0
    r.data_received(b"L\r\n")
    assert t.paused == 1  # once
    for _ in range(24):  # down to 51 octets: still above half
        await r.readline(10, 1)
    assert t.resumed == 0
    await r.readline(10, 1)
    assert t.resumed == 1


async def test_a_literal_larger_than_the_mark_resumes_reading() -> None:
    r, t = reader(high_water=100)
    r.data_received(b"q" * 150)
    assert t.paused == 1

    async def later() -> None:
        await asyncio.sleep(0.01)
        assert t.resumed == 1  # the reader asked for more
        r.data_received(b"q" * 150)

    feeder = asyncio.create_task(later())
    assert await r.readexactly(300, 1) == b"q" * 300
    await feeder


async def test_eof_leaves_buffered_lines_readable_then_closes() -> None:
    r, _ = reader()
    r.data_received(b"a NOOP\r\nb LOG")
    r.eof_received()
    assert await r.readline(100, 1) == b"a NOOP\r\n"
    with pytest.raises(ConnectionClosed):
        await r.readline(100, 1)


async def test_drain_waits_for_the_peer_and_fails_once_it_is_gone() -> None:
    r, t = reader()
    r.write(b"hello")
    assert t.out == b"hello"
    await r.drain()  # not paused: returns at once
    r.pause_writing()
    waiter = asyncio.create_task(r.drain())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    r.resume_writing()
    await asyncio.wait_for(waiter, 1)
    r.pause_writing()
    waiter = asyncio.create_task(r.drain())
    await asyncio.sleep(0.01)
    r.connection_lost(None)
    with pytest.raises(ConnectionClosed):
        await waiter
    r.write(b"late")  # nowhere to go: dropped, no error
    assert t.out == b"hello"
    with pytest.raises(ConnectionClosed):
        await r.drain()


async def test_clear_buffer_forgets_unread_input() -> None:
    r, _ = reader()
    r.data_received(b"a STARTTLS\r\nb LOGIN x y\r\n")
    assert await r.readline(100, 1) == b"a STARTTLS\r\n"
    r.clear_buffer()  # what start_tls does first
    assert r.buffered_lines() == []
    r.data_received(b"c NOOP\r\n")
    assert await r.readline(100, 1) == b"c NOOP\r\n"


async def test_a_large_literal_is_copied_off_the_loop_and_nothing_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A literal of bytesutil.OFF_LOOP_COPY octets or more is copied out in a
    worker thread; input that arrives meanwhile follows it, in order."""
    from server import bytesutil

    r, _ = reader(high_water=64 * 1024 * 1024)
    n = bytesutil.OFF_LOOP_COPY + 12345
    literal = bytes(range(256)) * (n // 256) + b"x" * (n % 256)
    r.data_received(literal[:100] + literal[100:] + b" tail-1\r\n")
    real_to_thread = asyncio.to_thread
    calls: list[int] = []

    async def to_thread(func: Any, *args: Any) -> Any:
        calls.append(len(args[0]))
        r.data_received(b"NEXT command\r\n")  # arrives while the copy runs
        return await real_to_thread(func, *args)

    monkeypatch.setattr(lr.asyncio, "to_thread", to_thread)
    got = await r.readexactly(n, 5)
    assert got == literal and calls == [n + len(b" tail-1\r\n")]
    assert await r.readline(100, 1) == b" tail-1\r\n"
    assert await r.readline(100, 1) == b"NEXT command\r\n"
    small = b"y" * 1000
    r.data_received(small)
    assert await r.readexactly(1000, 1) == small and calls == [calls[0]]
