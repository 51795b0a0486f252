"""Sieve at local delivery, end to end: swaks delivers over SMTP to the real
core, the user's script acts, and the outcome is read back with curl over
IMAP, from the Maildir, or from an SMTP sink behind ``relay`` (vacation
replies, redirects)."""

from __future__ import annotations

import shutil
import smtplib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.queue.spool import Job, Recipient, Spool
from server.sieve.store import ScriptStore
from tests.conftest import ALICE, ALICE_PW, RunningCore, start_core
from tests.integration.outbound.conftest import use_relay
from tests.integration.outbound.sink import Sink

needs_swaks = pytest.mark.skipif(not shutil.which("swaks"), reason="swaks missing")
needs_curl = pytest.mark.skipif(not shutil.which("curl"), reason="curl missing")

SENDER = "carol@outside.test"


@pytest.fixture
def sieve_core(tmp_path: Path, sink: Sink) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp", "imap"))
    try:
        use_relay(c, sink)
        yield c
    finally:
        c.runtime.stop()


def activate(core: RunningCore, text: str, user: str = ALICE) -> None:
    store = ScriptStore(core.data_dir / "sieve")
    store.put(user, "rules", text)
    store.set_active(user, "rules")


def swaks(
    core: RunningCore, *extra: str, sender: str = SENDER, to: str = ALICE
) -> subprocess.CompletedProcess[str]:
    host, port = core.endpoint("smtp")
    return subprocess.run(
        [
            "swaks",
            "--server",
            host,
            "--port",
            str(port),
            "--from",
            sender,
            "--to",
            to,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def folder(core: RunningCore, name: str = "", user: str = ALICE) -> list[bytes]:
    md = core.maildir(user) / (f".{name}" if name else "")
    return [p.read_bytes() for sub in ("new", "cur") for p in (md / sub).glob("*")]


def settle(core: RunningCore) -> None:
    assert core.run(core.runtime.services.queue.wait_idle(10))


@needs_swaks
@needs_curl
def test_fileinto_create_then_curl_finds_it(sieve_core: RunningCore) -> None:
    activate(
        sieve_core,
        'require ["fileinto", "mailbox"];\n'
        'if header :contains "subject" "[club]" { fileinto :create "Lists"; }\n',
    )
    out = swaks(sieve_core, "--header", "Subject: [club] meeting", "--body", "agenda")
    assert out.returncode == 0, out.stdout + out.stderr
    assert folder(sieve_core) == []
    host, port = sieve_core.endpoint("imap")
    got = subprocess.run(
        [
            "curl",
            "-s",
            "--max-time",
            "15",
            "-u",
            f"{ALICE}:{ALICE_PW}",
            f"imap://{host}:{port}/Lists;UID=1",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Subject: [club] meeting" in got and "agenda" in got


@needs_swaks
def test_vacation_once_never_to_lists_or_null(
    sieve_core: RunningCore, sink: Sink
) -> None:
    activate(
        sieve_core,
        'require "vacation";\n'
        'vacation :days 7 :subject "Out of office" "Back on Monday.";\n',
    )
    for extra in ((), ()):
        assert swaks(sieve_core, "--header", "Subject: hi", *extra).returncode == 0
    assert swaks(sieve_core, "--header", "List-Id: <club.outside.test>").returncode == 0
    assert swaks(sieve_core, sender="<>").returncode == 0  # a bounce
    settle(sieve_core)
    assert sink.wait_messages(1)
    time.sleep(0.3)
    settle(sieve_core)
    assert len(sink.messages) == 1
    reply = sink.messages[0]
    assert reply.mail_from == "" and reply.rcpts == [SENDER]
    assert b"Subject: Out of office" in reply.data
    assert b"Auto-Submitted: auto-replied" in reply.data
    kept = folder(sieve_core)
    assert len(kept) == 4  # vacation keeps every message
    # the bounce (Maildir keeps LF line ends)
    assert sum(m.startswith(b"Return-Path: <>\n") for m in kept) == 1


@needs_swaks
def test_redirect_marks_and_a_looped_message_stays(
    sieve_core: RunningCore, sink: Sink
) -> None:
    activate(sieve_core, 'redirect "dave@remote.test";\n')
    assert swaks(sieve_core, "--header", "Subject: pass it on").returncode == 0
    assert sink.wait_messages(1)
    sent = sink.messages[0]
    assert sent.mail_from == SENDER and sent.rcpts == ["dave@remote.test"]
    assert sent.data.startswith(b"Delivered-To: alice@example.test\r\n")
    assert folder(sieve_core) == []
    looped = swaks(
        sieve_core,
        "--header",
        "Subject: came back",
        "--add-header",
        "Delivered-To: dave@remote.test",
    )
    assert looped.returncode == 0
    settle(sieve_core)
    time.sleep(0.3)
    assert len(sink.messages) == 1
    (kept,) = folder(sieve_core)
    assert b"Subject: came back" in kept


@needs_swaks
def test_reject_at_smtp_time(sieve_core: RunningCore, sink: Sink) -> None:
    activate(sieve_core, 'require "reject";\nreject "I do not accept attachments.";\n')
    out = swaks(sieve_core, "--header", "Subject: files")
    assert out.returncode != 0
    assert "550 5.7.1 I do not accept attachments." in out.stdout
    settle(sieve_core)
    assert folder(sieve_core) == [] and sink.messages == []


@needs_swaks
def test_runtime_error_keeps_in_inbox(sieve_core: RunningCore) -> None:
    activate(
        sieve_core,
        'require ["fileinto", "regex", "variables"];\n'
        'set "p" "(broken";\nfileinto "Elsewhere";\n'
        'if header :regex "subject" "${p}" { discard; }\n',
    )
    assert swaks(sieve_core, "--header", "Subject: still here").returncode == 0
    (kept,) = folder(sieve_core)
    assert b"Subject: still here" in kept


def test_replay_after_a_crash_sends_nothing_twice(tmp_path: Path, sink: Sink) -> None:
    """kill -9 between delivery and the job's removal: the spool still holds
    the job, so the next start delivers it again. One copy in the folder, one
    vacation reply and one redirect reach the sink."""
    data = tmp_path / "data"
    core = start_core(data)
    try:
        use_relay(core, sink)
        activate(
            core,
            'require ["vacation", "fileinto", "mailbox", "copy"];\n'
            'vacation :days 7 "Away.";\nredirect :copy "dave@remote.test";\n'
            'fileinto :create "Kept";\n',
        )
    finally:
        core.runtime.stop()
    message = (
        f"From: <{SENDER}>\r\nTo: <{ALICE}>\r\nSubject: once\r\n"
        "Message-ID: <once@outside.test>\r\n\r\nbody\r\n"
    ).encode()
    job = Job(
        "0006123456789abcdef01",
        SENDER,
        time.time(),
        len(message),
        (Recipient(ALICE, local=True),),
    )
    spool = Spool(data / "spool", data / "corrupt")
    for _attempt in range(2):
        spool.write_new(job, message)  # as the crash left it
        core = start_core(data)
        try:
            assert sink.wait_messages(2)
            settle(core)
            time.sleep(0.3)
            settle(core)
        finally:
            core.runtime.stop()
        assert not spool.env_path(job.job_id).exists()
    assert len(folder(core, "Kept")) == 1
    assert sorted(m.rcpts[0] for m in sink.messages) == [SENDER, "dave@remote.test"]


def test_small_messages_on_the_loop_and_big_ones_in_a_thread_file_alike(
    sieve_core: RunningCore,
) -> None:
    """A cheap script (fast.cheap) runs on the core loop for a message up to
    deliver.INLINE_MESSAGE_BYTES once it is compiled, and in a worker thread
    otherwise; both file the same way, and a new version of the script is
    seen at the next delivery."""
    from server.sieve.deliver import INLINE_MESSAGE_BYTES

    host, port = sieve_core.endpoint("smtp")
    activate(
        sieve_core,
        'require ["fileinto", "mailbox"];\n'
        'if address :domain :is "from" "outside.test" { fileinto :create "Out"; }\n',
    )
    sieve = sieve_core.runtime.services.sieve
    assert sieve is not None
    assert sieve.finder.load_cached(ALICE) is None  # not compiled yet

    def send(subject: str, size: int) -> None:
        body = "x" * 70 + "\r\n"
        text = body * (size // len(body) + 1)
        with smtplib.SMTP(host, port) as c:
            msg = f"From: {SENDER}\r\nSubject: {subject}\r\n\r\n{text}"
            c.sendmail(SENDER, [ALICE], msg.encode())

    send("first", 1000)  # compiles in a thread
    loaded = sieve.finder.load_cached(ALICE)
    assert loaded is not None and [ls.cheap for ls in loaded] == [True]
    send("small", 1000)
    send("big", INLINE_MESSAGE_BYTES + 10_000)
    subjects = sorted(
        m.split(b"Subject: ")[1].split(b"\n")[0].rstrip(b"\r")
        for m in folder(sieve_core, "Out")
    )
    assert subjects == [b"big", b"first", b"small"]
    assert folder(sieve_core) == []
    activate(
        sieve_core,
        'require ["fileinto"];\nif size :over 10 { fileinto "INBOX"; }\n',
    )
    send("after the change", 1000)
    assert len(folder(sieve_core)) == 1
