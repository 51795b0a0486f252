"""What the client says about itself and its sender, as our trace fields show it.

The null reverse-path (RFC 5321 4.1.1.2, 4.4; RFC 5322 3.6.7) must come out as
``Return-Path: <>`` (submission: tests/integration/outbound/
test_submission_null_sender.py), and control characters in HELO/EHLO must
never reach the ``Received`` header (RFC 5322 2.2): they show as "?".
"""

from __future__ import annotations

import smtplib

import pytest

from server.protocols.smtp.session import helo_for_header, reverse_path
from tests.conftest import ALICE, RunningCore
from tests.integration.security.helpers import Line

MSG = b"Subject: null sender\r\n\r\nan auto-reply\r\n"


def _mail(core: RunningCore, user: str) -> list[bytes]:
    md = core.maildir(user)
    return [p.read_bytes() for sub in ("new", "cur") for p in (md / sub).glob("*")]


def _headers(msg: bytes) -> list[bytes]:
    return msg.split(b"\n\n", 1)[0].split(b"\n")


# -- the null reverse-path ---------------------------------------------------
def test_null_sender_is_stored_as_return_path_empty_brackets(
    core: RunningCore,
) -> None:
    """Reproduces ``MAIL FROM:<>`` stored as ``Return-Path: <<>>`` (aiosmtpd
    hands the null path over as the text "<>"); RFC 5321 4.4 wants ``<>``."""
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        assert c.sendmail("", [ALICE], MSG) == {}
    [msg] = _mail(core, ALICE)
    assert _headers(msg)[0] == b"Return-Path: <>"
    assert b"<<>>" not in msg


def test_null_sender_still_needs_mail_first_and_refuses_nested_mail(
    core: RunningCore,
) -> None:
    """The null path must still count as "MAIL given" for aiosmtpd's own state
    checks: RCPT after it is accepted, a second MAIL is a nested MAIL (503)."""
    c = Line.connect(core.endpoint("smtp"))
    try:
        assert c.line().startswith(b"220 ")
        c.send(b"EHLO client.test\r\n")
        c.smtp_reply()
        c.send(b"MAIL FROM:<>\r\n")
        assert c.smtp_reply()[0].startswith(b"250 ")
        c.send(b"MAIL FROM:<>\r\n")
        assert c.smtp_reply()[0].startswith(b"503 ")
        c.send(b"RCPT TO:<" + ALICE.encode() + b">\r\n")
        assert c.smtp_reply()[0].startswith(b"250 ")
    finally:
        c.close()


def test_reverse_path_helper() -> None:
    assert reverse_path("<>") == ""
    assert reverse_path(None) == ""
    assert reverse_path("a@b.test") == "a@b.test"


@pytest.mark.parametrize(
    "bad",
    [
        b"a\xffb@client.test",  # not UTF-8: aiosmtpd hands over a lone surrogate
        "a\u2028b@client.test".encode(),  # Unicode line separator
        "a\u0085b@client.test".encode(),  # C1 control NEL
        "a\u009fb@client.test".encode(),  # the last C1 control
        "a\u2029b@client.test".encode(),  # Unicode paragraph separator
        b"a\x7fb@client.test",  # DEL
        b"a\x01b@client.test",  # a C0 control
    ],
    ids=repr,
)
def test_undecodable_or_separator_characters_in_addresses_are_refused(
    core: RunningCore, bad: bytes
) -> None:
    """Reproduces an envelope address with a byte that is not UTF-8 (or a C1
    control / U+2028) being accepted: it came out as "?" in Return-Path, broke
    the log line and could not be written to the spool. MAIL gets 553, RCPT
    5xx, as for the C0 controls."""
    c = Line.connect(core.endpoint("smtp"))
    try:
        assert c.line().startswith(b"220 ")
        c.send(b"EHLO client.test\r\n")
        c.smtp_reply()
        c.send(b"MAIL FROM:<" + bad + b"> SMTPUTF8\r\n")
        mail = c.smtp_reply()[0]
        c.send(b"RSET\r\nMAIL FROM:<a@client.test> SMTPUTF8\r\n")
        c.smtp_reply()
        c.smtp_reply()
        c.send(b"RCPT TO:<" + bad.replace(b"client.test", b"example.test") + b">\r\n")
        rcpt = c.smtp_reply()[0]
    finally:
        c.close()
    assert mail.startswith(b"553 5.1.7"), mail
    assert rcpt.startswith(b"5"), rcpt


# -- HELO / EHLO names ---------------------------------------------------------
def _send_with_helo(core: RunningCore, verb: bytes, helo: bytes) -> list[bytes]:
    """Greet with ``helo``; return the greeting reply and MAIL's reply."""
    c = Line.connect(core.endpoint("smtp"))
    try:
        assert c.line().startswith(b"220 ")
        c.send(verb + b" " + helo + b"\r\n")
        greet = c.smtp_reply()[-1]
        c.send(b"MAIL FROM:<a@client.test>\r\n")
        mail = c.smtp_reply()[0]
        if mail.startswith(b"250"):
            c.send(b"RCPT TO:<" + ALICE.encode() + b">\r\nDATA\r\n")
            c.smtp_reply()
            c.smtp_reply()
            c.send(b"Subject: t\r\n\r\nhi\r\n.\r\n")
            assert c.smtp_reply()[0].startswith(b"250")
        return [greet, mail]
    finally:
        c.close()


CONTROL_HELOS = [
    b"evil\x00.test",
    b"evil\x0b.test",
    b"evil\x1b[31m.test",
    b"evil\x7f.test",
    b"evil\x08.test",
    "evil\u2028X-Injected: 1".encode(),
    "evil\u0085.test".encode(),
]


@pytest.mark.parametrize("verb", [b"EHLO", b"HELO"])
@pytest.mark.parametrize("helo", CONTROL_HELOS, ids=repr)
def test_helo_control_characters_never_reach_received(
    core: RunningCore, verb: bytes, helo: bytes
) -> None:
    """Reproduces NUL, VT and other control bytes in HELO/EHLO copied raw into
    ``Received:``. As Postfix, the session goes on and the name is shown with
    "?" in their place; no header line carries a control character."""
    greet, mail = _send_with_helo(core, verb, helo)
    assert greet.startswith(b"250 "), greet
    assert mail.startswith(b"250"), mail
    [msg] = _mail(core, ALICE)
    head = msg.split(b"\n\n", 1)[0].decode("utf-8")
    assert head.startswith("Return-Path: <a@client.test>\nReceived: from evil?")
    for line in head.split("\n"):
        assert all(c == "\t" or c.isprintable() for c in line), repr(line)
        assert not line.startswith("X-Injected")


def test_sane_helo_goes_into_received(core: RunningCore) -> None:
    greet, mail = _send_with_helo(core, b"EHLO", b"client.example.test")
    assert greet.startswith(b"250 ") and mail.startswith(b"250")
    greet, mail = _send_with_helo(core, b"HELO", b"[192.0.2.7]")
    assert greet.startswith(b"250 ") and mail.startswith(b"250")
    received = [
        h for m in _mail(core, ALICE) for h in _headers(m) if h.startswith(b"Received")
    ]
    assert sorted(received) == [
        b"Received: from [192.0.2.7] ([127.0.0.1])",
        b"Received: from client.example.test ([127.0.0.1])",
    ]


def test_helo_cannot_rewrite_the_received_clauses(core: RunningCore) -> None:
    """A printable but hostile name (";" would end the from-clause and let the
    client write our date; spaces and comments would add clauses) shows as
    "?" in those places; the rest of the header stays ours."""
    greet, _ = _send_with_helo(core, b"EHLO", b"x.test; Thu, 1 Jan 1970 (fake)")
    assert greet.startswith(b"250")
    [msg] = _mail(core, ALICE)
    received = msg.split(b"\n\tby ", 1)[0].split(b"\n")[-1]
    assert received == b"Received: from x.test??Thu,?1?Jan?1970??fake? ([127.0.0.1])"
    assert msg.count(b";") == 1  # only our own "id ...; date"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("mail.example.test", "mail.example.test"),
        ("[192.0.2.1]", "[192.0.2.1]"),
        ("[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]"),
        ("b\u00fccher.example", "b\u00fccher.example"),  # RFC 6531 U-label
        ("a\x00b", "a?b"),
        ("a\u202eb", "a?b"),  # a bidi override is not printable either
        ("a\udcffb", "a?b"),  # an undecodable byte (surrogateescape)
        ("", "unknown"),
        ("x" * 300, "x" * 255),
    ],
)
def test_helo_for_header(name: str, shown: str) -> None:
    assert helo_for_header(name) == shown
