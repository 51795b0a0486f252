"""getmail (getmail6) collecting over IMAP and IMAPS from the running core."""

from __future__ import annotations

import shutil
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE, ALICE_PW, RunningCore, start_core

GETMAIL = shutil.which("getmail") or str(Path(sys.executable).parent / "getmail")


@pytest.fixture
def mail_core(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp", "imap"))
    try:
        yield c
    finally:
        c.runtime.stop()


def _send(core: RunningCore, subject: str) -> None:
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as s:
        s.sendmail(
            "sender@outside.test",
            [ALICE],
            (
                f"From: sender@outside.test\r\nSubject: {subject}\r\n\r\n"
                f"body of {subject}\r\n"
            ).encode(),
        )


def _getmail(tmp: Path, retriever: str, port: int, extra: str, delete: bool) -> Path:
    dest = tmp / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    conf = tmp / "getmailrc"
    conf.write_text(
        f"""[retriever]
type = {retriever}
server = 127.0.0.1
port = {port}
username = {ALICE}
password = {ALICE_PW}
mailboxes = ("INBOX",)
{extra}
[destination]
type = MDA_external
path = /bin/sh
arguments = ("-c", "cat > {dest}/new/$$.$(date +%s%N)")
allow_root_commands = true
unixfrom = false

[options]
read_all = false
delete = {str(delete).lower()}
verbose = 1
"""
    )
    out = subprocess.run(
        [GETMAIL, "--getmaildir", str(tmp), "--rcfile", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return dest


@pytest.mark.skipif(not Path(GETMAIL).exists(), reason="getmail6 is not installed")
def test_getmail_over_imap_collects_once_and_deletes(
    mail_core: RunningCore, tmp_path: Path
) -> None:
    _send(mail_core, "first")
    _send(mail_core, "second")
    _host, port = mail_core.endpoint("imap", "starttls")
    dest = _getmail(tmp_path, "SimpleIMAPRetriever", port, "", delete=False)
    got = sorted(p.read_bytes() for p in (dest / "new").iterdir())
    assert len(got) == 2 and any(b"body of first" in g for g in got)
    # read_all = false: a second run fetches nothing new (seen messages skipped)
    _getmail(tmp_path, "SimpleIMAPRetriever", port, "", delete=False)
    assert len(list((dest / "new").iterdir())) == 2
    # with delete, the server's INBOX is emptied
    _send(mail_core, "third")
    _getmail(tmp_path, "SimpleIMAPRetriever", port, "", delete=True)
    assert len(list((dest / "new").iterdir())) == 3
    left = mail_core.run(mail_core.runtime.services.store.list_messages(ALICE, "INBOX"))
    assert left == []


@pytest.mark.skipif(not Path(GETMAIL).exists(), reason="getmail6 is not installed")
def test_getmail_over_imaps_with_certificate_check(
    mail_core: RunningCore, tmp_path: Path
) -> None:
    _send(mail_core, "over tls")
    _host, port = mail_core.endpoint("imap", "implicit")
    cert = mail_core.data_dir / "tls" / "cert.pem"
    dest = _getmail(
        tmp_path, "SimpleIMAPSSLRetriever", port, f"ca_certs = {cert}\n", delete=False
    )
    [msg] = list((dest / "new").iterdir())
    assert b"body of over tls" in msg.read_bytes()
