"""Vacation: the RFC 3834 / RFC 5230 decision and the reply message."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from server.sieve import Envelope, MessageView, Vacation
from server.sieve.vacation import VacationPolicy, build_reply, seen_key

MSG = (
    b"From: Bob <bob@example.net>\r\n"
    b"To: team@example.com\r\n"
    b"Cc: Me <ME@Example.com>\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9?= tomorrow\r\n"
    b"Message-ID: <q1@example.net>\r\n"
    b"References: <r0@example.net>\r\n"
    b"\r\nAre you coming?\r\n"
)
ENV = Envelope("bob@example.net", "me@example.com")
ACTION = Vacation(reason="I am away.", handle="h", period=86400)


def decide(
    msg: bytes = MSG, env: Envelope = ENV, action: Vacation = ACTION, **kw: object
):  # type: ignore[no-untyped-def]
    return VacationPolicy(**kw).decide(action, MessageView(msg), env)  # type: ignore[arg-type]


def test_reply_when_addressed_to_the_user() -> None:
    d = decide()
    assert d.send and d.reply_from == "me@example.com"


@pytest.mark.parametrize(
    ("msg", "env", "reason"),
    [
        (MSG, Envelope("", "me@example.com"), "<>"),
        (MSG, Envelope("Me@Example.COM", "me@example.com"), "the user"),
        (
            MSG,
            Envelope("mailer-daemon@example.net", "me@example.com"),
            "system address",
        ),
        (MSG, Envelope("LISTSERV@example.net", "me@example.com"), "system address"),
        (MSG, Envelope("owner-list@example.net", "me@example.com"), "system address"),
        (MSG, Envelope("list-request@example.net", "me@example.com"), "system address"),
        (b"List-Id: <l.example.net>\r\n" + MSG, ENV, "mailing list"),
        (b"List-Unsubscribe: <mailto:x@y>\r\n" + MSG, ENV, "mailing list"),
        (b"Auto-Submitted: auto-replied\r\n" + MSG, ENV, "Auto-Submitted"),
        (b"Precedence: Bulk\r\n" + MSG, ENV, "Precedence"),
        (b"Precedence: junk\r\n" + MSG, ENV, "Precedence"),
        (
            MSG.replace(b"Cc: Me <ME@Example.com>\r\n", b""),
            ENV,
            "not a visible recipient",
        ),
    ],
)
def test_no_reply(msg: bytes, env: Envelope, reason: str) -> None:
    d = decide(msg, env)
    assert not d.send and reason in d.reason


def test_auto_submitted_no_is_answered() -> None:
    assert decide(b"Auto-Submitted: no\r\n" + MSG).send


def test_addresses_count_as_the_user() -> None:
    msg = MSG.replace(b"Cc: Me <ME@Example.com>\r\n", b"")
    action = Vacation("x", "h", 86400, addresses=("team@example.com",))
    d = decide(msg, action=action)
    assert d.send and d.reply_from == "team@example.com"
    d = decide(msg, Envelope("team@example.com", "me@example.com"), action)
    assert not d.send and ":addresses" in d.reason


def test_known_aliases_and_resent_fields() -> None:
    msg = MSG.replace(
        b"Cc: Me <ME@Example.com>\r\n", b"Resent-To: alias@example.com\r\n"
    )
    assert not decide(msg).send
    assert decide(msg, own_addresses=["alias@example.com"]).send


def test_original_recipient_counts() -> None:
    msg = MSG.replace(
        b"Cc: Me <ME@Example.com>\r\n", b"Bcc: postmaster@example.com\r\n"
    )
    assert decide(
        msg, Envelope("bob@example.net", "me@example.com", "postmaster@example.com")
    ).send


def test_replied_before() -> None:
    d = VacationPolicy().decide(ACTION, MessageView(MSG), ENV, replied_before=True)
    assert not d.send and "already" in d.reason


def test_seen_key_depends_on_sender_and_handle() -> None:
    assert seen_key(ACTION, "Bob@Example.net") == seen_key(ACTION, "bob@example.net")
    assert seen_key(ACTION, "bob@example.net") != seen_key(
        Vacation("x", "other", 1), "bob@example.net"
    )


def test_reply_message() -> None:
    d = decide()
    raw = build_reply(
        ACTION,
        d,
        MessageView(MSG),
        ENV,
        message_id="<r1@mail.example.com>",
        date=datetime(2024, 6, 3, 12, 0, tzinfo=UTC),
    )
    reply = email.message_from_bytes(raw, policy=email.policy.default)
    assert reply["To"] == "bob@example.net"
    assert reply["From"] == "me@example.com"
    assert str(reply["Subject"]) == "Auto: Café tomorrow"
    assert reply["In-Reply-To"] == "<q1@example.net>"
    assert reply["References"] == "<r0@example.net> <q1@example.net>"
    assert reply["Auto-Submitted"] == "auto-replied (vacation)"
    assert reply["Precedence"] == "bulk"
    assert reply.get_content().strip() == "I am away."
    assert b"\r\n\r\nI am away.\r\n" in raw


def test_reply_with_subject_from_and_mime() -> None:
    action = Vacation(
        reason="Content-Type: text/plain\r\n\r\nbeach",
        handle="h",
        period=86400,
        subject="Away",
        from_address="Me <me@example.com>",
        mime=True,
    )
    raw = build_reply(
        action,
        decide(),
        MessageView(MSG),
        ENV,
        message_id="<r@x>",
        date=datetime.now(UTC),
    )
    reply = email.message_from_bytes(raw, policy=email.policy.default)
    assert reply["Subject"] == "Away"
    assert reply["From"] == "Me <me@example.com>"
    assert reply.get_content_type() == "text/plain"
    assert reply.get_content().strip() == "beach"


def test_reply_without_subject() -> None:
    msg = MSG.replace(b"Subject: =?utf-8?q?Caf=C3=A9?= tomorrow\r\n", b"")
    raw = build_reply(
        ACTION,
        decide(msg),
        MessageView(msg),
        ENV,
        message_id="<r@x>",
        date=datetime.now(UTC),
    )
    assert b"Subject: Automated reply\r\n" in raw
