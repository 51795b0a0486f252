"""Unit tests for the session's pure helpers: byte-stuffing, TOP, UIDL, locks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server import bytesutil, mailtext
from server.protocols.pop3.replies import multiline, multiline_parts, to_crlf, top_of
from server.protocols.pop3.session import MAX_UIDL_LENGTH, MaildropLocks, uidl_for


def unstuff(reply: bytes) -> bytes:
    """What a client recovers from a multi-line reply (RFC 1939 section 3)."""
    assert reply.endswith(b"\r\n.\r\n")
    body = reply.split(b"\r\n", 1)[1][:-3]
    lines = body.split(b"\r\n")
    return b"\r\n".join(ln[1:] if ln.startswith(b".") else ln for ln in lines)


def test_multiline_stuffing_and_end() -> None:
    assert multiline("x", b"") == b"+OK x\r\n.\r\n"
    assert multiline("x", b"a\r\n") == b"+OK x\r\na\r\n.\r\n"
    assert multiline("x", b".a\r\n.\r\nb") == b"+OK x\r\n..a\r\n..\r\nb\r\n.\r\n"


@given(st.lists(st.sampled_from([b"", b".", b"..", b"a", b".a", b"a."]), max_size=8))
def test_multiline_roundtrip(lines: list[bytes]) -> None:
    body = b"".join(ln + b"\r\n" for ln in lines)
    reply = multiline("ok", body)
    assert unstuff(reply) == body
    # no line of the body can end the reply early
    inner = reply.split(b"\r\n")[1:-2]
    assert b"." not in inner


@given(
    st.lists(
        st.sampled_from([b"", b".", b"..", b"a", b".a", b"a.", b".bc" * 5, b"x" * 23]),
        max_size=30,
    ),
    st.booleans(),
)
def test_multiline_in_pieces_is_multiline(lines: list[bytes], open_end: bool) -> None:
    """The pieces a large answer is sent in say what ``multiline`` says,
    whatever falls at a cut: a dot at a line's start, a CRLF, a long line
    cut in its middle (pieces of 8 octets here, not 1 MiB)."""
    body = b"".join(ln + b"\r\n" for ln in lines)
    if open_end:
        body += b".tail"
    saved = mailtext.SLICE
    mailtext.SLICE = 8
    try:
        parts = multiline_parts("ok", body)
    finally:
        mailtext.SLICE = saved
    assert b"".join(parts) == multiline("ok", body)
    assert len(parts) >= 2 + len(body) // 16


@pytest.mark.parametrize("lines", [0, 1, 2, 3, 5, 100])
def test_top_of_a_large_body_walks_line_by_line(
    lines: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = b"A: 1\r\n\r\n.l1\r\n\r\nl3 long line\r\nl4"
    small = top_of(m, lines)
    monkeypatch.setattr(bytesutil, "OFF_LOOP_COPY", 0)  # every body is large
    assert top_of(m, lines) == small


def test_top_of() -> None:
    m = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3"
    assert top_of(m, 0) == b"A: 1\r\nB: 2\r\n\r\n"
    assert top_of(m, 2) == b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n"
    assert top_of(m, 100) == m
    assert top_of(b"\r\nbody\r\n", 0) == b"\r\n"
    assert top_of(b"A: 1\r\n", 3) == b"A: 1\r\n"


def test_to_crlf() -> None:
    assert to_crlf(b"a\r\nb\r\n") == b"a\r\nb\r\n"
    assert to_crlf(b"a\nb\r\nc\n") == b"a\r\nb\r\nc\r\n"


def test_uidl_keeps_legal_keys_and_hashes_others() -> None:
    key = "1700000000.M20P30Q4.host"
    assert uidl_for(key) == key
    for bad in ("", "has space", "x" * 71, "tab\there", "ümlaut", "a\x7fb"):
        u = uidl_for(bad)
        assert 1 <= len(u) <= MAX_UIDL_LENGTH
        assert all(0x21 <= ord(c) <= 0x7E for c in u)
        assert u == uidl_for(bad)  # stable
    assert uidl_for("x" * 71) != uidl_for("x" * 72)


@given(st.text(max_size=200))
def test_uidl_always_legal(key: str) -> None:
    u = uidl_for(key)
    assert 1 <= len(u) <= 70 and all(0x21 <= ord(c) <= 0x7E for c in u)


def test_locks() -> None:
    locks = MaildropLocks()
    a, b = object(), object()
    assert locks.acquire("bob@x", a)
    assert locks.acquire("bob@x", a)
    assert not locks.acquire("bob@x", b)
    assert locks.acquire("alice@x", b)
    locks.release("bob@x", b)  # not the holder: no effect
    assert locks.held("bob@x")
    locks.release("bob@x", a)
    assert not locks.held("bob@x")
    assert locks.acquire("bob@x", b)
