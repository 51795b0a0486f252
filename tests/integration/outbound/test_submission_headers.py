"""Submission adds a missing Date and Message-ID (RFC 6409 8.2, 8.3) and leaves
present ones alone; port 25 never adds them."""

from __future__ import annotations

import email
import email.policy
import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.protocols.smtp.session import header_names, missing_headers
from tests.conftest import ALICE, ALICE_PW, BOB, RunningCore, start_core


@pytest.fixture
def sub_core(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp", "submission"))
    try:
        yield c
    finally:
        c.runtime.stop()


def _bob_messages(core: RunningCore) -> list[email.message.EmailMessage]:
    new = core.maildir(BOB) / "new"
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(new.iterdir())
    ]


def _submit(core: RunningCore, data: bytes) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(*core.endpoint("submission", "starttls")) as s:
        s.starttls(context=ctx)
        s.login(ALICE, ALICE_PW)
        s.sendmail(ALICE, [BOB], data)


def test_submission_adds_date_and_message_id(sub_core: RunningCore) -> None:
    _submit(sub_core, b"From: alice@example.test\r\nSubject: bare\r\n\r\nhi\r\n")
    (msg,) = _bob_messages(sub_core)
    assert msg["Date"] and msg["Message-ID"].endswith("@mail.example.test>")


def test_submission_keeps_present_headers(sub_core: RunningCore) -> None:
    _submit(
        sub_core,
        b"From: alice@example.test\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
        b"Message-ID: <mine@example.test>\r\nSubject: full\r\n\r\nhi\r\n",
    )
    (msg,) = _bob_messages(sub_core)
    assert msg.get_all("Message-ID") == ["<mine@example.test>"]
    assert msg.get_all("Date") == ["Mon, 07 Feb 1994 21:52:25 -0800"]


def test_port_25_does_not_add_headers(sub_core: RunningCore) -> None:
    with smtplib.SMTP(*sub_core.endpoint("smtp")) as s:
        s.sendmail("x@outside.test", [BOB], b"Subject: raw\r\n\r\nhi\r\n")
    (msg,) = _bob_messages(sub_core)
    assert msg["Message-ID"] is None and msg["Date"] is None


def test_header_names_reads_only_the_header_section() -> None:
    raw = b"Subject: x\r\nX-Long: a\r\n b: c\r\n\r\nDate: in the body\r\n"
    assert header_names(raw) == {b"subject", b"x-long"}
    added = missing_headers(raw, "h.test", "abc")
    assert added.startswith(b"Date: ") and b"Message-ID: <abc." in added


def test_header_names_stop_at_an_empty_first_line() -> None:
    """A message that starts with an empty line has no header fields (RFC 5322
    2.1), so Date and Message-ID are added. The old code looked for the first
    CRLF CRLF only and took the body's "Date:" for a header field. Failed on
    the old code."""
    raw = b"\r\nDate: in the body\r\nMessage-ID: <x@y>\r\n\r\nmore\r\n"
    assert header_names(raw) == set()
    added = missing_headers(raw, "h.test", "abc")
    assert added.startswith(b"Date: ") and b"Message-ID: <abc." in added


def test_header_names_of_a_message_with_lf_line_ends() -> None:
    """Bare LF line ends (RFC 5321 2.3.8 forbids them, clients send them): each
    field is seen, so no second Message-ID is added. Failed on the old code."""
    raw = b"Subject: x\nMessage-ID: <a@b>\nDate: now\n\nbody\n"
    assert header_names(raw) == {b"subject", b"message-id", b"date"}
    assert missing_headers(raw, "h.test", "abc") == b""
