"""Capture mode (issue 17): smtp and submission take mail for any address
(any AUTH, or none), every message lands once in the capture mailbox that
IMAP and POP3 serve, nothing reaches the relay's smart host (a local sink
here) until one message is released, and every greeting says so."""

from __future__ import annotations

import email
import imaplib
import json
import poplib
import shutil
import smtplib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.greeting import CAPTURE_NOTE
from tests.conftest import ALICE, ALICE_PW, RunningCore, start_core
from tests.integration.outbound.conftest import use_relay
from tests.integration.outbound.sink import Sink
from tests.waiting import wait_until

LOOPBACK = "127.0.0.1"


def capture_on(core: RunningCore, on: bool = True) -> None:
    core.run(core.api.update_settings("capture", {"enabled": on}))
    wait_until(
        lambda: all(
            m.state.value == "RUNNING"
            for m in core.run(core.api.modules())
            if m.enabled
        ),
        "modules running again",
    )


@pytest.fixture
def capturing(tmp_path: Path, sink: Sink) -> Iterator[RunningCore]:
    c = start_core(
        tmp_path / "data",
        enabled=("smtp", "submission", "pop3", "imap", "managesieve"),
    )
    try:
        use_relay(c, sink)
        capture_on(c)
        yield c
    finally:
        c.runtime.stop()


def php_style(host: str, port: int) -> None:
    """What PHPMailer-like code sends, byte for byte, over a plain socket."""
    import base64
    import socket

    with socket.create_connection((host, port), 10) as sock:
        f = sock.makefile("rb")

        def reply() -> bytes:
            lines = [f.readline()]
            while lines[-1][3:4] == b"-":
                lines.append(f.readline())
            return b"".join(lines)

        def say(line: str, expect: bytes) -> bytes:
            sock.sendall(line.encode() + b"\r\n")
            got = reply()
            assert got.startswith(expect), (line, got)
            return got

        assert CAPTURE_NOTE.encode() in reply()
        say("EHLO localhost", b"250")
        say("AUTH LOGIN", b"334")
        say(base64.b64encode(b"smtp_user").decode(), b"334")
        say(base64.b64encode(b"secret from .env").decode(), b"235")
        say("MAIL FROM:<wordpress@site.example>", b"250")
        say("RCPT TO:<webmaster@site.example>", b"250")
        say("DATA", b"354")
        say(
            "Date: Sun, 6 Dec 2026 10:00:00 +0000\r\nTo: webmaster@site.example\r\n"
            "From: WordPress <wordpress@site.example>\r\nSubject: Contact form\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
            "Name: Ada\r\nMessage: hello\r\n.",
            b"250",
        )
        say("QUIT", b"221")


def imap_login(core: RunningCore) -> imaplib.IMAP4:
    address = core.api.capture.address()
    password = core.run(core.api.capture.password())
    assert password, "the generated password is kept for the window and the shell"
    imap = imaplib.IMAP4(*core.endpoint("imap", "starttls"))
    assert CAPTURE_NOTE in imap.welcome.decode()
    imap.login(address, password)
    return imap


def test_any_address_is_captured_once_and_nothing_reaches_the_smart_host(
    capturing: RunningCore, sink: Sink
) -> None:
    core = capturing
    host, port = core.endpoint("smtp")
    if shutil.which("swaks"):
        out = subprocess.run(
            ["swaks", "--server", host, "--port", str(port),
             "--to", "anyone@anywhere.example", "--from", "app@dev.example",
             "--helo", "dev.example", "--header", "Subject: from swaks"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        assert CAPTURE_NOTE in out.stdout  # the greeting says so
    else:
        with smtplib.SMTP(host, port, local_hostname="dev.example") as s:
            s.sendmail(
                "app@dev.example",
                ["anyone@anywhere.example"],
                b"Subject: from swaks\r\n\r\nhi\r\n",
            )
    # a web application's SMTP client: submission, AUTH with made-up
    # credentials, a local user and two remote addresses in one message
    sub_host, sub_port = core.endpoint("submission", "starttls")
    with smtplib.SMTP(local_hostname="app.local") as s:
        assert CAPTURE_NOTE in s.connect(sub_host, sub_port)[1].decode()
        s.login("whoever", "not-a-password")
        refused = s.sendmail(
            "shop@not-ours.example",
            [ALICE, "buyer@anywhere.example", "bcc@elsewhere.example"],
            b"From: Shop <shop@not-ours.example>\r\nTo: buyer@anywhere.example\r\n"
            b"Subject: Your order\r\n\r\nThanks!\r\n",
        )
        assert refused == {}
    # a PHP mail library's own SMTP client (no sendmail): EHLO, AUTH LOGIN
    # with whatever the application's config says, one line at a time
    php_style(sub_host, sub_port)
    # and one without AUTH at all
    with smtplib.SMTP(sub_host, sub_port, local_hostname="app.local") as s:
        s.sendmail(
            "cron@dev.example", ["ops@anywhere.example"], b"Subject: cron\r\n\r\nx\r\n"
        )

    rows = core.run(core.api.capture.messages())
    assert [r.subject for r in rows] == [
        "cron",
        "Contact form",
        "Your order",
        "from swaks",
    ]
    assert rows[1].recipients == ("webmaster@site.example",)
    assert rows[2].recipients == (
        ALICE,
        "buyer@anywhere.example",
        "bcc@elsewhere.example",
    )
    assert rows[2].sender == "shop@not-ours.example"
    box = core.maildir(ALICE)
    assert not [p for d in ("new", "cur") for p in (box / d).iterdir()], (
        "alice got nothing delivered"
    )
    time.sleep(1.0)
    assert core.run(core.api.queue_jobs()) == ()
    assert sink.messages == [], "nothing leaves in capture mode"

    imap = imap_login(core)
    typ, data = imap.select("INBOX")
    assert typ == "OK" and data[0] == b"4"
    typ, fetched = imap.fetch("2", "(BODY.PEEK[])")
    msg = email.message_from_bytes(fetched[0][1])  # type: ignore[index]
    assert msg.get_all("X-Original-To") == [
        ALICE,
        "buyer@anywhere.example",
        "bcc@elsewhere.example",
    ]
    assert msg["Return-Path"] == "<shop@not-ours.example>"
    imap.logout()

    pop = poplib.POP3(*core.endpoint("pop3", "starttls"))
    assert CAPTURE_NOTE in pop.getwelcome().decode()
    pop.user(core.api.capture.address())
    pop.pass_(core.run(core.api.capture.password()))
    assert pop.stat()[0] == 4
    pop.quit()

    import socket

    with socket.create_connection(core.endpoint("managesieve"), 10) as sieve:
        sieve.settimeout(10)
        hello = b""
        while b"\r\nOK" not in hello and not hello.startswith(b"OK"):
            hello += sieve.recv(4096)
    assert CAPTURE_NOTE.encode() in hello  # every protocol's greeting


def test_release_sends_one_message_through_the_relay_and_off_delivers_again(
    capturing: RunningCore, sink: Sink
) -> None:
    core = capturing
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port, local_hostname="dev.example") as s:
        s.sendmail(
            "app@dev.example",
            ["someone@anywhere.example"],
            b"Subject: release me\r\n\r\nbody text\r\n",
        )
    (row,) = core.run(core.api.capture.messages())
    with pytest.raises(Exception, match="not a mail address"):
        core.run(core.api.capture.release(row.uid, "no address"))
    reply = core.run(core.api.capture.release(row.uid, "dev@real.example"))
    assert reply
    wait_until(lambda: len(sink.messages) == 1, "the released copy at the sink")
    got = sink.messages[0]
    assert got.rcpts == ["dev@real.example"] and got.mail_from == "app@dev.example"
    assert b"body text" in got.data and b"X-Original-To" not in got.data
    assert len(core.run(core.api.capture.messages())) == 1, "it stays captured"

    # off: a remote message goes out through the relay again, a fresh
    # address is refused on port 25 again
    capture_on(core, False)
    host, port = core.endpoint("smtp")  # port 0 here: a new one after restart
    with smtplib.SMTP(host, port, local_hostname="dev.example") as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            s.sendmail("a@dev.example", ["x@anywhere.example"], b"Subject: x\r\n\r\n")
        welcome = s.docmd("NOOP")
    assert welcome[0] == 250
    sub_host, sub_port = core.endpoint("submission", "starttls")
    with smtplib.SMTP(sub_host, sub_port, local_hostname="c.example") as s:
        s.login(ALICE, ALICE_PW)
        s.sendmail(ALICE, ["friend@remote.example"], b"Subject: real\r\n\r\nreal\r\n")
    wait_until(lambda: len(sink.messages) == 2, "delivered through the relay again")
    assert core.run(core.api.capture.delete_all()) == 1
    assert core.run(core.api.capture.messages()) == ()


def test_mail_queued_for_remote_waits_while_capture_is_on(
    tmp_path: Path, sink: Sink
) -> None:
    core = start_core(tmp_path / "data", enabled=("smtp", "submission"))
    try:
        capture_on(core)
        use_relay(core, sink)  # the relay starts while capture mode is on
        # mail the core makes itself still goes through the queue: held
        from server.delivery.base import Envelope

        core.run(
            core.runtime.services.queue.submit(
                Envelope("", ("out@remote.example",)), b"Subject: n\r\n\r\nx\r\n",
                job_id="capture-held-1",
            )
        )  # fmt: skip
        time.sleep(1.0)
        assert sink.messages == []
        (job,) = core.run(core.api.queue_jobs())
        capture_on(core, False)
        wait_until(lambda: len(sink.messages) == 1, "sent once capture is off")
        assert job.job_id == "capture-held-1"
    finally:
        core.runtime.stop()


def test_the_shell_lists_captured_mail_as_json(capturing: RunningCore) -> None:
    from tests.waiting import run_cli

    core = capturing
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port, local_hostname="dev.example") as s:
        s.sendmail(
            "a@dev.example", ["b@anywhere.example"], b"Subject: json\r\n\r\nx\r\n"
        )
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert (
            run_cli(["--data-dir", str(core.data_dir), "capture", "list", "--json"])
            == 0
        )
    (row,) = json.loads(out.getvalue())
    assert row["subject"] == "json" and row["recipients"] == ["b@anywhere.example"]
    assert row["sender"] == "a@dev.example" and row["attachments"] == []
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert (
            run_cli(
                ["--data-dir", str(core.data_dir), "capture", "show", str(row["uid"])]
            )
            == 0
        )
    assert "Subject: json" in out.getvalue()
