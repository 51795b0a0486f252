"""The smtp module with real clients (smtplib, swaks) on 127.0.0.1:0."""

from __future__ import annotations

import re
import shutil
import smtplib
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ALICE, BOB, RunningCore

MSG = (
    b"From: Sender <sender@outside.test>\r\n"
    b"To: Alice <alice@example.test>\r\n"
    b"Subject: hello\r\n"
    b"Message-ID: <m1@outside.test>\r\n"
    b"\r\n"
    b"First line\r\n"
    b".leading dot line\r\n"
    b"Last line\r\n"
)


def maildir_files(core: RunningCore, user: str) -> list[Path]:
    md = core.maildir(user)
    return sorted(p for sub in ("new", "cur") for p in (md / sub).glob("*"))


def test_message_arrives_in_maildir_with_trace_headers(core: RunningCore) -> None:
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        code, _ = c.ehlo("client.test")
        assert code == 250
        refused = c.sendmail("sender@outside.test", [ALICE], MSG)
        assert refused == {}
    files = maildir_files(core, ALICE)
    assert len(files) == 1
    data = files[0].read_bytes()
    assert data.startswith(b"Return-Path: <sender@outside.test>\n")
    assert b"\nReceived: from client.test ([127.0.0.1])\n\tby mail.example.test" in data
    # The body arrives byte for byte (Maildir keeps LF line ends; dot unstuffed).
    assert data.endswith(MSG.replace(b"\r\n", b"\n"))
    assert not list((core.maildir(ALICE) / "tmp").iterdir())


def test_ehlo_advertises_extensions(core: RunningCore) -> None:
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        for ext in (
            "pipelining",
            "8bitmime",
            "smtputf8",
            "enhancedstatuscodes",
            "size",
        ):
            assert c.has_extn(ext), ext
        assert int(c.esmtp_features["size"]) == 25 * 1024 * 1024
        assert not c.has_extn("auth")


def test_unknown_local_user_is_550_511(core: RunningCore) -> None:
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        c.mail("sender@outside.test")
        code, text = c.rcpt("nobody@example.test")
        assert code == 550
        assert text.startswith(b"5.1.1")


def test_relaying_to_another_domain_is_550_571(core: RunningCore) -> None:
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        c.mail("alice@example.test")  # a local sender is no pass
        code, text = c.rcpt("victim@elsewhere.test")
        assert (code, text[:5]) == (550, b"5.7.1")


def test_size_limit_is_552_534_at_mail_and_at_data(core: RunningCore) -> None:
    core.run(core.api.update_settings("general", {"max_message_size": 2048}))
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        code, text = c.mail("sender@outside.test", ["SIZE=999999"])
        assert (code, text[:5]) == (552, b"5.3.4")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        c.mail("sender@outside.test")
        c.rcpt(ALICE)
        code, text = c.data(MSG + (b"x" * 70 + b"\r\n") * 60)
        assert (code, text[:5]) == (552, b"5.3.4")
    assert maildir_files(core, ALICE) == []


def test_pipelined_commands_in_one_write(core: RunningCore) -> None:
    host, port = core.endpoint("smtp")
    with socket.create_connection((host, port), timeout=10) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"220 ")
        s.sendall(b"EHLO client.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        s.sendall(
            b"MAIL FROM:<sender@outside.test>\r\nRCPT TO:<alice@example.test>\r\n"
            b"RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
        )
        replies = [f.readline() for _ in range(5)]
        assert [r[:9] for r in replies] == [
            b"250 2.1.0",
            b"250 2.1.5",
            b"550 5.1.1",
            b"250 2.1.5",
            b"354 End d",
        ]
        s.sendall(MSG + b".\r\nQUIT\r\n")
        assert f.readline().startswith(b"250 2.0.0 Ok: queued as ")
        assert f.readline().startswith(b"221 2.0.0")
    assert len(maildir_files(core, ALICE)) == 1
    assert len(maildir_files(core, BOB)) == 1


def test_every_reply_carries_an_enhanced_code(core: RunningCore) -> None:
    host, port = core.endpoint("smtp")
    commands = [
        b"HELO x",
        b"EHLO client.test",
        b"NOOP",
        b"RCPT TO:<alice@example.test>",
        b"DATA",
        b"MAIL FROM:<bad",
        b"MAIL FROM:<a@b.test> FOO=BAR",
        b"BOGUS",
        b"MAIL FROM:<a@b.test>",
        b"MAIL FROM:<a@b.test>",
        b"VRFY alice",
        b"RSET",
        b"EXPN x",
        b"HELP",
        b"QUIT",
    ]
    with socket.create_connection((host, port), timeout=10) as s:
        f = s.makefile("rb")
        f.readline()
        for cmd in commands:
            s.sendall(cmd + b"\r\n")
            while True:
                line = f.readline()
                assert line, cmd
                if cmd.startswith((b"EHLO", b"HELO")):
                    if line[3:4] == b" ":
                        break
                    continue
                if line[0:1] in b"245":
                    assert re.match(rb"^\d{3}[ -][245]\.\d+\.\d+ ", line), (cmd, line)
                if line[3:4] == b" ":
                    break


def test_vrfy_with_bytes_that_are_not_utf8_gets_a_reply(core: RunningCore) -> None:
    """Found by the SMTP fuzz test: aiosmtpd's VRFY echoes its argument, which
    was decoded with surrogateescape, and encoding that reply raised
    UnicodeEncodeError: no answer, an error in the log. Now the byte is "?"
    and the session goes on."""
    host, port = core.endpoint("smtp")
    with socket.create_connection((host, port), timeout=10) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"220 ")
        s.sendall(b"EHLO client.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        s.sendall(b"VRFY @al\xefce\r\n")  # not an address: echoed
        reply = f.readline()
        assert reply.startswith(b"502 5.5.1 Could not VRFY @al?ce"), reply
        assert b"\xef" not in reply
        s.sendall(b"NOOP\r\n")
        assert f.readline().startswith(b"250 ")
        f.close()


def test_a_lone_quote_in_an_address_is_a_syntax_error(core: RunningCore) -> None:
    """aiosmtpd's address parser raised IndexError on ``"``: MAIL, RCPT and
    VRFY answered "451 internal error" with a traceback in the log. Now
    they answer with their syntax errors, and the session goes on."""
    host, port = core.endpoint("smtp")
    with socket.create_connection((host, port), timeout=10) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"220 ")
        s.sendall(b"EHLO client.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        replies = []
        for cmd in (b'VRFY "', b'MAIL FROM:"', b"MAIL FROM:<a@b.test>", b'RCPT TO:"'):
            s.sendall(cmd + b"\r\n")
            replies.append(f.readline())
        f.close()
    assert [r[:3] for r in replies] == [b"502", b"553", b"250", b"553"], replies
    assert not any(b"nternal" in r for r in replies), replies


def test_smtputf8_and_8bit_message(core: RunningCore) -> None:
    host, port = core.endpoint("smtp")
    body = (
        "Subject: caf\u00e9\r\nFrom: j\u00f6rg@outside.test\r\n\r\nGr\u00fc\u00dfe\r\n"
    )
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        c.sendmail(
            "j\u00f6rg@outside.test",
            [ALICE],
            body.encode("utf-8"),
            mail_options=["SMTPUTF8", "BODY=8BITMIME"],
        )
    data = maildir_files(core, ALICE)[0].read_bytes()
    assert "Return-Path: <j\u00f6rg@outside.test>".encode() in data
    assert "Gr\u00fc\u00dfe".encode() in data
    assert b"with UTF8SMTP id" in data


def test_alias_and_catch_all(core: RunningCore) -> None:
    core.run(core.api.set_alias("team@example.test", (ALICE, BOB)))
    core.run(core.api.set_alias("*@example.test", (BOB,)))
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.sendmail("s@outside.test", ["team@example.test"], MSG)
        c.sendmail("s@outside.test", ["anything@example.test"], MSG)
        # an alias and its member both named: one copy for that member
        c.sendmail("s@outside.test", ["team@example.test", ALICE], MSG)
    assert len(maildir_files(core, ALICE)) == 2
    assert len(maildir_files(core, BOB)) == 3


def test_too_many_recipients_is_452(core: RunningCore) -> None:
    core.run(core.api.update_settings("smtp", {"max_recipients": 2}))
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("x.test")
        c.mail("s@outside.test")
        assert c.rcpt(ALICE)[0] == 250
        assert c.rcpt(BOB)[0] == 250
        code, text = c.rcpt(ALICE)
        assert (code, text[:5]) == (452, b"4.5.3")


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
def test_swaks_delivers(core: RunningCore) -> None:
    host, port = core.endpoint("smtp")
    out = subprocess.run(
        [
            "swaks",
            "--server",
            host,
            "--port",
            str(port),
            "--from",
            "swaks@outside.test",
            "--to",
            ALICE,
            "--header",
            "Subject: from swaks",
            "--body",
            "swaks body",
            "--pipeline",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "250 2.0.0 Ok: queued as" in out.stdout
    data = maildir_files(core, ALICE)[0].read_bytes()
    assert b"Subject: from swaks" in data and b"swaks body" in data


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
def test_swaks_starttls(core: RunningCore) -> None:
    host, port = core.endpoint("smtp")
    out = subprocess.run(
        [
            "swaks",
            "--server",
            host,
            "--port",
            str(port),
            "--from",
            "s@outside.test",
            "--to",
            BOB,
            "--tls",
            "--body",
            "over tls",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    data = maildir_files(core, BOB)[0].read_bytes()
    assert b"with ESMTPS id" in data


def test_swaks_unknown_user_fails(core: RunningCore) -> None:
    if shutil.which("swaks") is None:
        pytest.skip("swaks is not installed")
    host, port = core.endpoint("smtp")
    out = subprocess.run(
        [
            "swaks",
            "--server",
            host,
            "--port",
            str(port),
            "--from",
            "s@outside.test",
            "--to",
            "ghost@example.test",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0
    assert "550 5.1.1" in out.stdout


def test_requiretls_is_not_offered_and_refused_plainly(core: RunningCore) -> None:
    """RFC 8689: not in EHLO, so a client must not use it; one that does
    hears why (555 5.5.4), and the session goes on."""
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port, local_hostname="client.example") as c:
        assert not c.has_extn("requiretls")
        c.ehlo()
        assert not c.has_extn("requiretls")
        code, text = c.docmd("MAIL FROM:<a@outside.test> REQUIRETLS")
        assert code == 555 and text.startswith(b"5.5.4 REQUIRETLS is not supported")
        code, text = c.docmd("MAIL FROM:<a@outside.test> NOSUCH=1")
        assert (code, text[:6]) == (555, b"5.5.4 ")
        assert c.docmd("MAIL FROM:<a@outside.test>")[0] == 250


def test_a_message_is_read_without_pausing_the_socket(
    core: RunningCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's reader holds up to twice READ_LIMIT before it pauses the
    socket: at aiosmtpd's 1001 octets every message over 2 KB paused and
    resumed it (two epoll_ctl calls and a reader exception per message). It
    still arrives whole, dots unstuffed, long lines intact."""
    from asyncio import selector_events

    pauses: list[object] = []
    pause = selector_events._SelectorTransport.pause_reading

    def counting(self: selector_events._SelectorTransport) -> None:
        pauses.append(self)
        pause(self)

    monkeypatch.setattr(selector_events._SelectorTransport, "pause_reading", counting)
    head = b"From: <sender@outside.test>\r\nSubject: pieces\r\n\r\n"
    lines = [
        (b"." if i % 7 == 0 else b"") + bytes([65 + i % 26]) * 990 for i in range(24)
    ]
    body = b"\r\n".join(lines) + b"\r\n"
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        for _ in range(3):
            assert c.sendmail("sender@outside.test", [ALICE], head + body) == {}
    assert pauses == []
    files = maildir_files(core, ALICE)
    assert len(files) == 3
    for delivered in files:  # Maildir keeps LF line ends
        assert delivered.read_bytes().endswith((head + body).replace(b"\r\n", b"\n"))


def test_command_lines_over_their_limit_are_refused_and_the_session_goes_on(
    core: RunningCore,
) -> None:
    host, port = core.endpoint("smtp")
    with socket.create_connection((host, port), timeout=10) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"220 ")
        # within the reader's limit, over the command's; then far over both
        for size in (5_000, 200_000):
            s.sendall(b"NOOP " + b"x" * size + b"\r\n")
            assert f.readline().startswith(b"500 "), size
        s.sendall(b"NOOP\r\n")
        assert f.readline().startswith(b"250 ")
