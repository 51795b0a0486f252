"""SMTP input hygiene: smuggling (only CRLF.CRLF ends DATA), and the trace
headers we write (Received, Return-Path) cannot be split or forged by odd HELO
or sender strings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE, BOB, RunningCore, start_core
from tests.integration.security.helpers import Line


@pytest.fixture
def in_core(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp",))
    try:
        yield c
    finally:
        c.runtime.stop()


def _mail(core: RunningCore, user: str) -> list[bytes]:
    """The user's new mail (local mail is in the Maildir before the 250)."""
    return [p.read_bytes() for p in sorted((core.maildir(user) / "new").iterdir())]


def _session(core: RunningCore, helo: bytes = b"client.test") -> Line:
    c = Line.connect(core.endpoint("smtp"))
    assert c.line().startswith(b"220 ")
    c.send(b"EHLO " + helo + b"\r\n")
    assert c.smtp_reply()[-1].startswith(b"250 ")
    return c


SMUGGLE_ENDINGS = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r"]


@pytest.mark.parametrize("ending", SMUGGLE_ENDINGS, ids=repr)
def test_smtp_smuggling_bare_lf_or_cr_dot_does_not_end_data(
    in_core: RunningCore, ending: bytes
) -> None:
    c = _session(in_core)
    try:
        c.send(
            b"MAIL FROM:<a@client.test>\r\nRCPT TO:<"
            + ALICE.encode()
            + b">\r\nDATA\r\n"
        )
        assert c.smtp_reply()[0].startswith(b"250")
        assert c.smtp_reply()[0].startswith(b"250")
        assert c.smtp_reply()[0].startswith(b"354")
        smuggled = (
            b"MAIL FROM:<ceo@example.test>\r\nRCPT TO:<" + BOB.encode() + b">\r\n"
            b"DATA\r\nFrom: ceo@example.test\r\nSubject: smuggled\r\n\r\npay now\r\n"
        )
        c.send(b"Subject: outer\r\n\r\nhello" + ending + smuggled + b".\r\n")
        replies = [c.smtp_reply()[0]]
        c.send(b"QUIT\r\n")
        replies += [r[0] for r in iter(c.smtp_reply, [b""]) if r[0]][:5]
    finally:
        c.close()
    # one 250 for the outer message, then 221: nothing answered the smuggled lines
    assert replies[0].startswith(b"250 2.0.0"), replies
    assert replies[1].startswith(b"221"), replies
    assert _mail(in_core, BOB) == []
    [outer] = _mail(in_core, ALICE)
    assert b"Subject: outer" in outer and b"smuggled" in outer  # kept inside the body


def test_smtp_only_crlf_dot_crlf_ends_data(in_core: RunningCore) -> None:
    c = _session(in_core)
    try:
        c.send(
            b"MAIL FROM:<a@client.test>\r\nRCPT TO:<"
            + ALICE.encode()
            + b">\r\nDATA\r\n"
        )
        for _ in range(3):
            c.smtp_reply()
        c.send(b"Subject: x\r\n\r\n..leading dot\r\n.\r\n")
        assert c.smtp_reply()[0].startswith(b"250 2.0.0")
    finally:
        c.close()
    [msg] = _mail(in_core, ALICE)
    assert b"\n.leading dot" in msg and b"..leading" not in msg  # dot-unstuffed


def _headers(msg: bytes) -> list[bytes]:
    head = msg.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return head.split(b"\n")


def test_received_header_cannot_be_split_by_a_bare_cr_in_helo(
    in_core: RunningCore,
) -> None:
    c = _session(in_core, helo=b"evil.test\rX-Injected: 1")
    try:
        c.send(
            b"MAIL FROM:<a@client.test>\r\nRCPT TO:<"
            + ALICE.encode()
            + b">\r\nDATA\r\n"
        )
        for _ in range(3):
            c.smtp_reply()
        c.send(b"Subject: t\r\n\r\nhi\r\n.\r\n")
        assert c.smtp_reply()[0].startswith(b"250")
    finally:
        c.close()
    [msg] = _mail(in_core, ALICE)
    for line in _headers(msg):
        assert b"\r" not in line
        assert not line.startswith(b"X-Injected"), line
    received = [h for h in _headers(msg) if h.startswith(b"Received:")]
    assert len(received) == 1 and b"[127.0.0.1]" in received[0]


@pytest.mark.parametrize(
    "sender",
    [
        '"a b"@client.test',
        '"a\\"b"@client.test',
        "a(b)@client.test",
        "a@[127.0.0.1]",
        "",
    ],
)
def test_odd_senders_stay_inside_the_return_path_header(
    in_core: RunningCore, sender: str
) -> None:
    c = _session(in_core)
    try:
        c.send(f"MAIL FROM:<{sender}>\r\n".encode())
        if not c.smtp_reply()[0].startswith(b"250"):
            return  # refused is fine too
        c.send(b"RCPT TO:<" + ALICE.encode() + b">\r\nDATA\r\n")
        c.smtp_reply()
        c.smtp_reply()
        c.send(b"Subject: t\r\n\r\nhi\r\n.\r\n")
        assert c.smtp_reply()[0].startswith(b"250")
    finally:
        c.close()
    [msg] = _mail(in_core, ALICE)
    heads = _headers(msg)
    assert heads[0].startswith(b"Return-Path: <") and heads[0].endswith(b">")
    assert heads[1].startswith(b"Received: ")


@pytest.mark.parametrize(
    "bad",
    [
        b"a\rX-Evil: 1@client.test",
        b"a\x00b@client.test",
        b"a\x1bb@client.test",
        b"a\x7fb@client.test",
    ],
)
def test_control_characters_in_envelope_addresses_are_refused(
    in_core: RunningCore, bad: bytes
) -> None:
    """A NUL or control character would end up in Return-Path (RFC 5322 forbids
    them in headers; parsers disagree about them: a smuggling vector)."""
    c = _session(in_core)
    try:
        c.send(b"MAIL FROM:<" + bad + b">\r\n")
        mail = c.smtp_reply()[0]
        c.send(b"RSET\r\nMAIL FROM:<a@client.test>\r\n")
        c.smtp_reply()
        c.smtp_reply()
        c.send(b"RCPT TO:<" + bad + b">\r\n")
        rcpt = c.smtp_reply()[0]
    finally:
        c.close()
    assert mail[:1] in (b"5",), mail
    assert rcpt[:1] in (b"5",), rcpt
