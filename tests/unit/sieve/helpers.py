"""Shared helpers for the Sieve unit tests: a few messages and a runner."""

from __future__ import annotations

from datetime import UTC, datetime

from server.sieve import (
    Envelope,
    MessageView,
    SieveContext,
    SieveResult,
    compile_script,
    run_scripts,
)

PLAIN = (
    b"Return-Path: <alice@example.org>\r\n"
    b"Received: from a.example by b.example; Mon, 03 Jun 2024 09:15:00 +0000\r\n"
    b"Date: Mon, 03 Jun 2024 11:14:59 +0200\r\n"
    b"From: Alice Example <alice@example.org>\r\n"
    b"To: Me <me@example.com>\r\n"
    b"Cc: bob+lists@example.net, carol@example.net\r\n"
    b"Subject: Meeting tomorrow\r\n"
    b"Message-ID: <m1@example.org>\r\n"
    b"X-Spam-Score: 7\r\n"
    b"X-Custom: one\r\n"
    b"X-Custom: two\r\n"
    b"\r\n"
    b"Hello,\r\nthe project schedule is attached.\r\n"
)
ENV = Envelope("alice@example.org", "me@example.com")
NOW = datetime(2024, 6, 3, 12, 0, 0, tzinfo=UTC)


def run(
    script: str,
    msg: bytes = PLAIN,
    env: Envelope = ENV,
    ctx: SieveContext | None = None,
) -> SieveResult:
    compiled = compile_script(script)
    return run_scripts([compiled], MessageView(msg), env, ctx or SieveContext(now=NOW))


def folders(result: SieveResult) -> list[str]:
    """The mailboxes a result stores into ("INBOX" for a keep), in order."""
    from server.sieve import FileInto, Keep

    out: list[str] = []
    for a in result.actions:
        if isinstance(a, Keep):
            out.append("INBOX")
        elif isinstance(a, FileInto):
            out.append(a.mailbox)
    return out
