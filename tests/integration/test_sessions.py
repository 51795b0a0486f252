"""Who is connected now (issue 17): every protocol's sessions with user and
current command, "disconnect" and "disconnect and ban"."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket

import pytest

from tests.conftest import ALICE, ALICE_PW, BOB, BOB_PW, RunningCore
from tests.waiting import wait_until


def test_sessions_show_who_and_what_and_can_be_closed(core3: RunningCore) -> None:
    imap = imaplib.IMAP4(*core3.endpoint("imap", "starttls"))
    imap.login(ALICE, ALICE_PW)
    imap.select("INBOX")
    pop = poplib.POP3(*core3.endpoint("pop3", "starttls"))
    pop.user(BOB)
    pop.pass_(BOB_PW)
    pop.stat()
    smtp = smtplib.SMTP(*core3.endpoint("smtp"), local_hostname="client.example")
    smtp.ehlo()
    smtp.mail("someone@example.org")
    smtp.rcpt(ALICE)

    def listing() -> dict[str, object]:
        return {s.module: s for s in core3.run(core3.api.sessions())}

    wait_until(lambda: len(listing()) == 3, "three sessions listed")
    now = listing()
    assert (now["imap"].user, now["imap"].doing) == (ALICE, "SELECT (INBOX)")  # type: ignore[attr-defined]
    assert (now["pop3"].user, now["pop3"].doing) == (BOB, "STAT")  # type: ignore[attr-defined]
    assert now["smtp"].doing == "MAIL FROM:<someone@example.org>, 1 recipient(s)"  # type: ignore[attr-defined]
    assert now["smtp"].peer.startswith("127.0.0.1:")  # type: ignore[attr-defined]
    # the bytes each way: exactly what the clients wrote, and at least the
    # greeting and the answers back
    pop_in = len(f"USER {BOB}\r\nPASS {BOB_PW}\r\nSTAT\r\n")
    assert now["pop3"].received == pop_in  # type: ignore[attr-defined]
    smtp_in = len(
        "ehlo client.example\r\nmail FROM:<someone@example.org>\r\n"
        f"rcpt TO:<{ALICE}>\r\n"
    )
    assert now["smtp"].received == smtp_in  # type: ignore[attr-defined]
    assert now["smtp"].sent > 100  # type: ignore[attr-defined]
    assert now["imap"].sent > now["imap"].received > 30  # type: ignore[attr-defined]

    said = core3.run(core3.api.disconnect("imap", now["imap"].key))  # type: ignore[attr-defined]
    assert said.startswith("Disconnected 127.0.0.1:")
    with pytest.raises((imaplib.IMAP4.abort, OSError, EOFError)):
        imap.noop()
        imap.noop()
    wait_until(lambda: "imap" not in listing(), "the IMAP session gone")
    imap.shutdown()

    said = core3.run(core3.api.disconnect("pop3", now["pop3"].key, True))  # type: ignore[attr-defined]
    assert "banned 127.0.0.1" in said
    assert [b.ip for b in core3.run(core3.api.bans())] == ["127.0.0.1"]
    with pytest.raises((poplib.error_proto, OSError, EOFError)):
        pop.stat()
    pop.close()
    # banned: a new connection is refused at once
    with socket.create_connection(core3.endpoint("pop3", "starttls"), 5) as raw:
        assert raw.recv(200).startswith(b"-ERR")
    assert core3.run(core3.api.unban("127.0.0.1"))
    smtp.close()
