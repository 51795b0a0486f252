"""RFC 3464 DSNs parse back with the email package and say the right things."""

from __future__ import annotations

import email
import email.policy

from server.queue.bounce import (
    DELAYED,
    FAILED,
    DsnRecipient,
    build_dsn,
    diagnostic_code,
    header_section,
    status_of,
)

ORIGINAL = (
    b"From: Alice <alice@example.test>\r\n"
    b"To: x@remote.test, y@remote.test\r\n"
    b"Subject: the plan\r\n"
    b"Message-ID: <plan-1@example.test>\r\n"
    b"\r\n"
    b"SECRET BODY TEXT\r\n"
)


def _parse(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_failed_dsn_structure() -> None:
    raw = build_dsn(
        reporting_mta="mail.example.test",
        sender="alice@example.test",
        job_id="job1",
        arrival=1_700_000_000,
        recipients=[
            DsnRecipient(
                "x@remote.test",
                FAILED,
                "5.1.1",
                "mx.remote.test said: 550 5.1.1 No such user",
            ),
            DsnRecipient(
                "y@remote.test",
                FAILED,
                "5.1.10",
                "The domain remote.test does not accept mail (null MX)",
            ),
        ],
        original=ORIGINAL,
    )
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    msg = _parse(raw)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["To"].addresses[0].addr_spec == "alice@example.test"
    assert msg["From"].addresses[0].addr_spec == "MAILER-DAEMON@mail.example.test"
    assert msg["Auto-Submitted"] == "auto-replied"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "message/delivery-status", "text/rfc822-headers"]
    status = list(msg.iter_parts())[1]
    blocks = status.get_payload()  # per-message block, then one per recipient
    assert len(blocks) == 3
    assert blocks[0]["Reporting-MTA"] == "dns; mail.example.test"
    assert blocks[1]["Final-Recipient"] == "rfc822; x@remote.test"
    assert blocks[1]["Action"] == "failed"
    assert blocks[1]["Status"] == "5.1.1"
    assert blocks[1]["Diagnostic-Code"] == "smtp; 550 5.1.1 No such user"
    assert blocks[2]["Status"] == "5.1.10"
    assert blocks[2]["Diagnostic-Code"].startswith("X-Quicksilver; ")
    headers = list(msg.iter_parts())[2].get_content()
    assert "Subject: the plan" in headers
    assert "Message-ID: <plan-1@example.test>" in headers
    assert b"SECRET BODY TEXT" not in raw  # headers only


def test_delayed_dsn() -> None:
    raw = build_dsn(
        reporting_mta="mail.example.test",
        sender="alice@example.test",
        job_id="job2",
        arrival=1_700_000_000,
        recipients=[
            DsnRecipient(
                "x@remote.test",
                DELAYED,
                "4.7.1",
                "451 4.7.1 greylisted",
                last_attempt=1_700_000_100,
                will_retry_until=1_700_400_000,
            ),
        ],
        original=ORIGINAL,
    )
    msg = _parse(raw)
    assert "Delayed" in msg["Subject"]
    block = list(msg.iter_parts())[1].get_payload()[1]
    assert block["Action"] == "delayed"
    assert block["Will-Retry-Until"]
    assert block["Last-Attempt-Date"]


def test_status_and_diagnostic_helpers() -> None:
    assert status_of("host said: 550 5.7.1 relaying denied", False) == "5.7.1"
    assert status_of("452 too many", True) == "4.0.0"
    assert status_of("connection refused", True) == "4.0.0"
    assert status_of("weird", False) == "5.0.0"
    assert (
        diagnostic_code("h said: 554 5.7.1 no\r\n thanks")
        == "smtp; 554 5.7.1 no thanks"
    )
    assert header_section(b"A: 1\nB: 2\n\nbody") == b"A: 1\r\nB: 2\r\n"


def test_header_section_ends_at_the_first_empty_line() -> None:
    """The bounce quotes only the header section (RFC 3462 text/rfc822-headers),
    which ends at the first empty line (RFC 5322 2.1), however lines end. The
    old code searched CRLF CRLF and LF LF only: an empty first line, or a LF
    line followed by a CRLF empty line, put body lines into the bounce.
    Failed on the old code."""
    assert header_section(b"\r\nX-Body: secret\r\n\r\nmore") == b"\r\n"
    assert header_section(b"A: 1\n\r\nX-Body: secret\r\n") == b"A: 1\r\n"
    assert header_section(b"A: 1\r\nB: 2") == b"A: 1\r\nB: 2\r\n"  # no body
