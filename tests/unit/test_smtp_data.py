"""SMTP DATA received in bulk (server/protocols/smtp/data.py) against a
line-at-a-time reference with aiosmtpd's rules, over any chunking."""

from __future__ import annotations

import asyncio

from hypothesis import example, given, settings
from hypothesis import strategies as st

from server.protocols.smtp.data import DataState, receive


def reference(
    stream: bytes, size_limit: int | None, line_limit: int
) -> tuple[DataState, bytes, bytes] | None:
    """aiosmtpd's smtp_DATA, a line (up to CRLF) at a time: (state, content,
    what follows the final line), or None if the final line never comes."""
    pos, size, state, out = 0, 0, DataState.NOMINAL, []
    while True:
        j = stream.find(b"\r\n", pos)
        if j < 0:
            return None
        line, pos = stream[pos : j + 2], j + 2
        if line == b".\r\n":
            return state, b"".join(out), stream[pos:]
        size += len(line)
        if state is not DataState.NOMINAL:
            continue
        if size_limit and size > size_limit:
            state, out = DataState.TOO_MUCH, []
        elif len(line) > line_limit:
            state, out = DataState.TOO_LONG, []
        else:
            out.append(line[1:] if line.startswith(b".") else line)


async def run(
    chunks: list[bytes], size_limit: int | None, line_limit: int, reader_limit: int
) -> tuple[DataState, bytes, bytes] | None:
    reader = asyncio.StreamReader(limit=reader_limit)

    async def feeder() -> None:
        for chunk in chunks:
            reader.feed_data(chunk)
            await asyncio.sleep(0)
        reader.feed_eof()

    task = asyncio.ensure_future(feeder())
    got = await receive(reader, size_limit, line_limit)
    await task
    if got is None:
        return None
    rest = await reader.read()
    return got.state, got.content() if got.state is DataState.NOMINAL else b"", rest


_PIECES = [b".", b"\r", b"\n", b"\r\n", b"x", b"xxxxxxx", b".\r\n", b"\r\n.\r\n", b".."]


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(st.sampled_from(_PIECES), max_size=40),
    st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=20),
    st.sampled_from([None, 15, 40]),
    st.sampled_from([6, 12, 1001]),
    st.sampled_from([4, 8, 1001]),
)
@example([b"a\r\n", b".\r\n", b"MAIL FROM:<x>\r\n"], [3], None, 1001, 1001)
@example([b".\r\n"], [1], None, 1001, 1001)
@example([b"\r\n", b".\r\n"], [1], None, 1001, 1001)
@example([b"x.\r\n", b".\r\n"], [2], None, 1001, 1001)
@example([b"x\n.\n", b"\r\n.\r\n"], [2], None, 1001, 1001)
def test_same_as_line_at_a_time(
    pieces: list[bytes],
    sizes: list[int],
    size_limit: int | None,
    line_limit: int,
    reader_limit: int,
) -> None:
    stream = b"".join(pieces) + b"\r\n.\r\nQUIT\r\n"
    chunks, pos, i = [], 0, 0
    while pos < len(stream):
        n = sizes[i % len(sizes)]
        chunks.append(stream[pos : pos + n])
        pos, i = pos + n, i + 1
    want = reference(stream, size_limit, line_limit)
    got = asyncio.run(run(chunks, size_limit, line_limit, reader_limit))
    assert want is not None and got is not None
    assert got[2] == want[2]  # nothing read past the final line
    if want[0] is DataState.NOMINAL:
        assert got[:2] == want[:2]
    else:  # the same refusal, or the other one when both apply
        assert got[0] is not DataState.NOMINAL


def test_only_crlf_dot_crlf_ends_the_message() -> None:
    """SMTP smuggling (2023): LF.LF, CR.CR, LF.CRLF and CRLF.LF end nothing
    (the last is a line starting with a dot, which loses it)."""
    body = b"a\n.\nb\r.\rc\n.\r\nd\r\n.\ne\r\n"
    got = asyncio.run(run([body + b".\r\nNOOP\r\n"], None, 1001, 1001))
    assert got == (DataState.NOMINAL, body.replace(b"\n.\ne", b"\n\ne"), b"NOOP\r\n")


def test_eof_before_the_end_is_none() -> None:
    assert asyncio.run(run([b"abc\r\n.\r"], None, 1001, 1001)) is None


def test_tiny_lines_are_read_in_bulk() -> None:
    """The 24 MB message of empty MIME parts is millions of short lines:
    they must come in a few large pieces, not one coroutine step a line."""
    stream = b"--b\r\n\r\n" * 100_000 + b"--b--\r\n.\r\n"

    async def go() -> int:
        reader = asyncio.StreamReader(limit=1001)
        steps = 0
        for i in range(0, len(stream), 256 * 1024):
            reader.feed_data(stream[i : i + 256 * 1024])
        reader.feed_eof()
        task = asyncio.ensure_future(receive(reader, None, 1001))
        while not task.done():
            steps += 1
            await asyncio.sleep(0)
        got = task.result()
        assert got is not None and got.content() == stream[:-3]
        return steps

    assert asyncio.run(go()) < 50


def test_lines_ending_in_a_dot_are_gathered() -> None:
    """Lines ending in "." come one piece each (``readuntil`` stops at every
    ".CRLF"): they are gathered into large pieces, in order, so a 50 MB
    message is not 600,000 objects for the loop to walk."""
    from server.protocols.smtp.data import GATHER_BYTES

    dotted = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b".\r\n"
    plain = b"plain line without a final dot\r\n" * 20_000  # one big piece
    body = dotted * 20_000 + plain + b".." + dotted * 9_000 + plain + dotted * 3
    stream = body + b".\r\n"

    async def go() -> list[bytes]:
        reader = asyncio.StreamReader(limit=64 * 1024)
        for i in range(0, len(stream), 64 * 1024):
            reader.feed_data(stream[i : i + 64 * 1024])
        reader.feed_eof()
        got = await receive(reader, None, 1001)
        assert got is not None and got.state is DataState.NOMINAL
        return got.pieces()

    pieces = asyncio.run(go())
    assert b"".join(pieces) == body.replace(b"\r\n..", b"\r\n.")
    assert len(pieces) <= len(body) // GATHER_BYTES + 8, len(pieces)
