"""Loop control for redirect (RFC 5228 section 4.2)."""

from __future__ import annotations

from server.sieve import MessageView
from server.sieve.loops import MAX_HOPS, loop_mark, redirect_would_loop

MSG = b"From: a@b.c\r\nTo: me@example.com\r\nSubject: s\r\n\r\nbody\r\n"


def test_a_marked_message_loops() -> None:
    marked = loop_mark("Fwd@Example.com") + MSG
    assert marked.startswith(b"Delivered-To: Fwd@Example.com\r\n")
    view = MessageView(marked)
    assert redirect_would_loop(view, "fwd@example.com")
    assert not redirect_would_loop(view, "other@example.com")
    assert not redirect_would_loop(MessageView(MSG), "fwd@example.com")


def test_too_many_hops_loop() -> None:
    hops = b"".join(
        b"Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        for _ in range(MAX_HOPS)
    )
    assert not redirect_would_loop(MessageView(hops + MSG), "x@y.z")
    assert redirect_would_loop(
        MessageView(b"Delivered-To: a@q.r\r\n" + hops + MSG), "x@y.z"
    )
