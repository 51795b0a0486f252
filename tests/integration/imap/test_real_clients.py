"""Real clients against ImapModule: imaplib, curl (imap://, imaps://, STARTTLS),
mbsync (two-way sync with flags and folders), plus IDLE woken by delivery."""

from __future__ import annotations

import imaplib
import logging
import re
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.imap.harness import Client, ImapTestServer, message

ALICE = "alice@example.test"


def _tls_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_imaplib_session(imap_server: ImapTestServer) -> None:
    imap_server.deliver(ALICE, message("hello imaplib"))
    with imaplib.IMAP4("127.0.0.1", imap_server.port) as m:
        m.starttls(_tls_ctx())
        m.login(ALICE, "alice-pw")
        typ, data = m.list()
        assert typ == "OK" and any(b"INBOX" in x for x in data)
        typ, data = m.select("INBOX")
        assert typ == "OK" and data == [b"1"]
        typ, data = m.fetch("1", "(RFC822)")
        assert typ == "OK" and b"hello imaplib" in data[0][1]
        typ, data = m.search(None, "SUBJECT", '"hello"')
        assert data == [b"1"]
        m.append(
            "Drafts",
            r"(\Draft)",
            imaplib.Time2Internaldate(time.time()),
            message("draft"),
        )
        typ, data = m.status("Drafts", "(MESSAGES)")
        assert b"MESSAGES 1" in data[0]
        m.create("Projects/2024")
        m.copy("1", "Projects/2024")
        typ, data = m.uid("SEARCH", "ALL")
        assert data == [b"1"]
        m.store("1", "+FLAGS", r"(\Deleted)")
        typ, data = m.expunge()
        assert data == [b"1"]
        m.close()


def test_imaplib_implicit_tls(imap_server: ImapTestServer) -> None:
    with imaplib.IMAP4_SSL(
        "127.0.0.1", imap_server.tls_port, ssl_context=_tls_ctx()
    ) as m:
        m.login("alice", "alice-pw")
        assert m.select("INBOX")[0] == "OK"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl(imap_server: ImapTestServer) -> None:
    imap_server.deliver(ALICE, message("via curl", body="curl body\r\n"))
    user = ["-u", f"{ALICE}:alice-pw", "-s", "--max-time", "15"]
    out = subprocess.run(
        ["curl", *user, f"imap://127.0.0.1:{imap_server.port}/"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert '"/" INBOX' in out and "\\Sent" in out
    out = subprocess.run(
        ["curl", *user, f"imap://127.0.0.1:{imap_server.port}/INBOX;UID=1"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert "Subject: via curl" in out and "curl body" in out
    out = subprocess.run(
        [
            "curl",
            *user,
            "-k",
            f"imaps://127.0.0.1:{imap_server.tls_port}/INBOX?SUBJECT%20curl",
        ],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert "SEARCH 1" in out
    out = subprocess.run(
        [
            "curl",
            *user,
            "-k",
            "--ssl-reqd",
            f"imap://127.0.0.1:{imap_server.port}/INBOX",
            "-X",
            "EXAMINE INBOX",
        ],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert "1 EXISTS" in out


def _mbsync(tmp: Path, port: int, local: Path) -> subprocess.CompletedProcess[str]:
    rc = tmp / "mbsyncrc"
    rc.write_text(
        f"""IMAPAccount test
Host 127.0.0.1
Port {port}
User {ALICE}
Pass alice-pw
SSLType STARTTLS
CertificateFile {tmp / "cert.pem"}
AuthMechs PLAIN

IMAPStore remote
Account test

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Remove Both
Expunge Both
SyncState *
"""
    )
    return subprocess.run(
        ["mbsync", "-c", str(rc), "-a"], capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(shutil.which("mbsync") is None, reason="mbsync not installed")
def test_mbsync_two_way(imap_server: ImapTestServer, tmp_path: Path) -> None:
    imap_server.deliver(ALICE, message("m1"), flags=("\\Flagged",))
    imap_server.deliver(ALICE, message("m2"))
    imap_server.deliver(ALICE, message("sent1"), mailbox="Sent", flags=("\\Seen",))
    local = tmp_path / "local"
    local.mkdir()
    r = _mbsync(tmp_path, imap_server.port, local)
    assert r.returncode == 0, r.stderr
    inbox = list((local / "INBOX" / "cur").iterdir()) + list(
        (local / "INBOX" / "new").iterdir()
    )
    assert len(inbox) == 2
    assert any(p.name.endswith("F") for p in inbox)
    sent = list((local / "Sent" / "cur").iterdir())
    assert len(sent) == 1 and sent[0].name.endswith("S")
    # local changes: mark m2 seen, add a folder with a message
    m2 = next(p for p in inbox if not p.name.endswith("F"))
    target = local / "INBOX" / "cur" / (m2.name.split(":2,")[0] + ":2,S")
    m2.rename(target)
    (local / "Notes" / "cur").mkdir(parents=True)
    (local / "Notes" / "new").mkdir()
    (local / "Notes" / "tmp").mkdir()
    (local / "Notes" / "new" / "1.local.x").write_bytes(message("note"))
    r = _mbsync(tmp_path, imap_server.port, local)
    assert r.returncode == 0, r.stderr

    async def check() -> tuple[list[object], list[object]]:
        inbox = await imap_server.store.list_messages(ALICE, "INBOX")
        notes = await imap_server.store.list_messages(ALICE, "Notes")
        return inbox, notes

    inbox_infos, notes = imap_server.run(check())
    assert len(notes) == 1
    assert sum(1 for i in inbox_infos if "\\Seen" in i.flags) == 1  # type: ignore[attr-defined]
    # remote change flows back
    imap_server.deliver(ALICE, message("m3"))
    r = _mbsync(tmp_path, imap_server.port, local)
    assert r.returncode == 0, r.stderr
    assert (
        len(
            list((local / "INBOX" / "new").iterdir())
            + list((local / "INBOX" / "cur").iterdir())
        )
        == 3
    )


def test_idle_woken_by_delivery(imap_server: ImapTestServer) -> None:
    c = Client(imap_server.port)
    try:
        c.login()
        c.command("s", "SELECT INBOX")
        c.send("i IDLE\r\n")
        assert c.readline() == b"+ idling\r\n"
        c.sock.settimeout(1.0)
        start = time.monotonic()
        imap_server.deliver(ALICE, message("wake up"))
        assert c.readline() == b"* 1 EXISTS\r\n"
        assert time.monotonic() - start < 1.0
    finally:
        c.close()


def test_concurrent_imaplib_sessions(imap_server: ImapTestServer) -> None:
    imap_server.deliver(ALICE, message("shared"))
    with (
        imaplib.IMAP4("127.0.0.1", imap_server.port) as a,
        imaplib.IMAP4("127.0.0.1", imap_server.port) as b,
    ):
        a.login(ALICE, "alice-pw")
        b.login(ALICE, "alice-pw")
        a.select("INBOX")
        b.select("INBOX")
        b.store("1", "+FLAGS", r"(\Answered)")
        b.append("INBOX", None, None, message("from b"))
        a.noop()
        assert (
            a.untagged_responses.get("EXISTS") == [b"1", b"2"]
            or a.untagged_responses.get("EXISTS")[-1] == b"2"
        )
        _typ, data = a.fetch("1", "(FLAGS)")
        assert b"\\Answered" in data[0]


def test_maildir_store_end_to_end(maildir_server: ImapTestServer) -> None:
    maildir_server.deliver(ALICE, message("on disk"))
    with imaplib.IMAP4("127.0.0.1", maildir_server.port) as m:
        m.login(ALICE, "alice-pw")
        m.select("INBOX")
        _, data = m.fetch("1", "(ENVELOPE BODY[])")
        assert b"on disk" in data[0][1]
        m.store("1", "+FLAGS", r"(\Flagged)")
        _typ, data = m.fetch("1", "(FLAGS)")
        assert b"\\Flagged" in data[0] and b"\\Seen" in data[0]


@pytest.mark.skipif(
    shutil.which("mutt") is None or shutil.which("script") is None,
    reason="mutt or script not installed",
)
def test_mutt_save_to_trash(imap_server: ImapTestServer, tmp_path: Path) -> None:
    """mutt (STARTTLS, AUTHENTICATE PLAIN) saves a message to Trash, expunges."""

    imap_server.deliver(ALICE, message("mutt test one"))
    imap_server.deliver(ALICE, message("mutt test two"))
    rc = _muttrc(tmp_path, imap_server.port, 'set header_cache=""\nset delete=yes')
    keys = (
        "<tag-pattern>~s two<enter><tag-prefix><save-message>=Trash<enter>"
        "<sync-mailbox><change-folder>=Trash<enter><quit>"
    )
    _mutt(rc, keys)

    async def check() -> tuple[int, int]:
        inbox = await imap_server.store.list_messages(ALICE, "INBOX")
        trash = await imap_server.store.list_messages(ALICE, "Trash")
        return len(inbox), len(trash)

    assert imap_server.run(check()) == (1, 1)


def _muttrc(tmp_path: Path, port: int, extra: str) -> Path:
    """A muttrc for ALICE over STARTTLS (the test server's certificate), plus
    ``extra`` lines."""
    (tmp_path / "certs").write_text((tmp_path / "cert.pem").read_text())
    rc = tmp_path / "muttrc"
    rc.write_text(
        f"""set imap_user="{ALICE}"
set imap_pass="alice-pw"
set folder="imap://127.0.0.1:{port}/"
set spoolfile="+INBOX"
set ssl_starttls=yes
set ssl_force_tls=yes
set certificate_file={tmp_path}/certs
set ssl_verify_host=no
set record=""
set confirmappend=no
set quit=yes
set move=no
set wait_key=no
{extra}
"""
    )
    return rc


def _mutt(rc: Path, keys: str) -> None:
    import os

    cmd = f"mutt -n -F {rc} -e 'push \"{keys}\"'"
    subprocess.run(
        ["script", "-qec", cmd, "/dev/null"],
        capture_output=True,
        timeout=30,
        env=dict(os.environ, TERM="xterm"),
        stdin=subprocess.DEVNULL,
        check=True,
    )


@pytest.mark.skipif(
    shutil.which("mutt") is None or shutil.which("script") is None,
    reason="mutt or script not installed",
)
def test_mutt_header_cache_resyncs_with_qresync(
    maildir_server: ImapTestServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """mutt with a header cache and $imap_qresync (issue 16): the second
    time it opens INBOX it asks only for what changed since its cached
    mod-sequence, and what another client flagged and expunged meanwhile is what it
    sees: copying its flagged messages copies exactly those."""
    # mutt 2.2 turns QRESYNC on, selects with CONDSTORE and resyncs with
    # UID FETCH (FLAGS) (CHANGEDSINCE m VANISHED)
    for n in range(1, 5):
        maildir_server.deliver(ALICE, message(f"hc{n}"))
    (tmp_path / "hcache").mkdir()
    rc = _muttrc(
        tmp_path,
        maildir_server.port,
        f'set header_cache="{tmp_path}/hcache/"\n'
        "set imap_condstore=yes\nset imap_qresync=yes",
    )
    _mutt(rc, "<quit>")  # fills the header cache
    assert any((tmp_path / "hcache").iterdir())
    with imaplib.IMAP4("127.0.0.1", maildir_server.port) as m:
        m.login(ALICE, "alice-pw")
        m.select("INBOX")
        m.uid("STORE", "2,4", "+FLAGS", r"(\Flagged)")
        m.uid("STORE", "1", "+FLAGS", r"(\Deleted)")
        m.expunge()
    caplog.set_level(logging.DEBUG, logger="quicksilver.imap")
    _mutt(rc, "<tag-pattern>~F<enter><tag-prefix><copy-message>=Trash<enter><quit>")
    sent = [r.getMessage() for r in caplog.records if "C: " in r.getMessage()]
    # mutt resyncs with UID FETCH ... (CHANGEDSINCE m VANISHED), not a full list
    assert any(
        re.search(r"UID FETCH \S+ \(FLAGS\) \(CHANGEDSINCE \d+ VANISHED\)", c)
        for c in sent
    ), sent

    async def trash() -> list[bytes]:
        infos = await maildir_server.store.list_messages(ALICE, "Trash")
        return [
            await maildir_server.store.read_message(ALICE, "Trash", i.uid)
            for i in infos
        ]

    subjects = sorted(
        re.search(rb"Subject: (\S+)", raw).group(1)  # type: ignore[union-attr]
        for raw in maildir_server.run(trash())
    )
    assert subjects == [b"hc2", b"hc4"]


def test_full_text_search_across_batches(maildir_server: ImapTestServer) -> None:
    """SEARCH BODY reads and parses in worker-thread batches: results must be
    the same as one pass, in order, across batch boundaries, for UID and seq."""
    for i in range(150):
        body = "needle here\r\n" if i % 7 == 0 else "nothing\r\n"
        maildir_server.deliver(ALICE, message(f"m{i}", body=body))
    want = [i + 1 for i in range(150) if i % 7 == 0]
    with imaplib.IMAP4("127.0.0.1", maildir_server.port) as m:
        m.login(ALICE, "alice-pw")
        m.select("INBOX")
        typ, data = m.search(None, "BODY", "needle")
        assert typ == "OK" and [int(x) for x in data[0].split()] == want
        m.store("8", "+FLAGS", r"(\Deleted)")
        m.expunge()
        typ, data = m.uid("SEARCH", "TEXT", "needle")
        assert [int(x) for x in data[0].split()] == [u for u in want if u != 8]


def test_messages_read_over_imap_count_for_today(imap_server: ImapTestServer) -> None:
    """The window's "messages today" counts what clients download (issue 17:
    it stayed 0 for IMAP). Headers, flags and later chunks do not count."""
    for i in range(3):
        imap_server.run(
            imap_server.store.deliver(
                ALICE, f"Subject: n{i}\r\n\r\n{'body ' * 50}\r\n".encode()
            )
        )
    assert imap_server.module is not None
    m = imaplib.IMAP4("127.0.0.1", imap_server.port)
    m.login(ALICE, "alice-pw")
    m.select("INBOX")
    m.fetch("1:3", "(FLAGS BODY.PEEK[HEADER] ENVELOPE)")
    m.fetch("1", "(BODY.PEEK[]<10.20>)")  # a later chunk of one
    assert imap_server.module.status(True).messages_today == 0
    m.fetch("1:2", "(BODY.PEEK[]<0.100>)")  # Thunderbird's first chunk
    m.fetch("3", "(RFC822)")
    m.logout()
    assert imap_server.module.status(True).messages_today == 3
