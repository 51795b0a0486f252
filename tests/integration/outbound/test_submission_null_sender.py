"""Submission and the null reverse-path (RFC 5321 4.1.1.2, 4.4; RFC 6409 6.1)."""

from __future__ import annotations

import smtplib
import ssl

from tests.conftest import ALICE, ALICE_PW, BOB, RunningCore
from tests.integration.outbound.sink import Sink

MSG = b"Subject: null sender\r\n\r\nan auto-reply\r\n"


def _mail(core: RunningCore, user: str) -> list[bytes]:
    md = core.maildir(user)
    return [p.read_bytes() for sub in ("new", "cur") for p in (md / sub).glob("*")]


def _headers(msg: bytes) -> list[bytes]:
    return msg.split(b"\n\n", 1)[0].split(b"\n")


def _tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_submission_accepts_null_sender_from_authenticated_user(
    relay_core: RunningCore, sink: Sink
) -> None:
    """Reproduces submission refusing ``MAIL FROM:<>`` from a logged-in user
    with "Sender address <<>> is not yours". As Postfix, an authenticated
    client may send with the null path (auto-replies, RFC 3834 3.3); the
    message is stored and relayed with ``<>``, and the Received header still
    says the session was authenticated (ESMTPSA)."""
    sink.tempfail_first = 1  # keep the remote copy in the queue to look at it
    host, port = relay_core.endpoint("submission", "implicit")
    with smtplib.SMTP_SSL(host, port, context=_tls()) as c:
        c.login(ALICE, ALICE_PW)
        code, text = c.mail("")
        assert code == 250, text
        assert b"<<>>" not in text
        assert c.rcpt(BOB)[0] == 250
        assert c.rcpt("far@remote.test")[0] == 250
        code, _ = c.data(MSG)
        assert code == 250
    # local and remote recipients: the message goes through the spool
    assert relay_core.run(relay_core.runtime.services.queue.wait_idle(10))
    [msg] = _mail(relay_core, BOB)
    heads = _headers(msg)
    assert heads[0] == b"Return-Path: <>"
    assert b"with ESMTPSA" in heads[1] + heads[2]
    (job,) = relay_core.run(relay_core.api.queue_jobs())
    assert job.sender == ""


def test_submission_still_refuses_someone_elses_sender(relay_core: RunningCore) -> None:
    """The null path is the one exception: another user's address is still
    refused, and the reply names it without doubled brackets."""
    host, port = relay_core.endpoint("submission", "implicit")
    with smtplib.SMTP_SSL(host, port, context=_tls()) as c:
        c.login(ALICE, ALICE_PW)
        code, text = c.mail(BOB)
    assert code == 553
    assert text == f"5.7.1 Sender address <{BOB}> is not yours".encode()
