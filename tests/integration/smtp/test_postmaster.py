"""RFC 5321 4.5.1: ``RCPT TO:<Postmaster>`` (no domain, any case) and
``postmaster@<each local domain>`` are accepted, and the mail reaches a person."""

from __future__ import annotations

import shutil
import smtplib
import subprocess

import pytest

from tests.conftest import ALICE, BOB, RunningCore


def arrived(core: RunningCore, user: str) -> list[bytes]:
    md = core.maildir(user)
    return [
        p.read_bytes() for sub in ("new", "cur") for p in sorted((md / sub).glob("*"))
    ]


def test_postmaster_with_and_without_a_domain_is_accepted(core: RunningCore) -> None:
    """Reproduces issue 10: ``RCPT TO:<postmaster>`` and
    ``postmaster@example.test`` were refused."""
    core.run(core.api.add_domain("second.test"))
    with smtplib.SMTP(*core.endpoint("smtp"), timeout=10) as c:
        c.ehlo("client.test")
        c.mail("someone@outside.test")
        for rcpt in (
            "<postmaster>",
            "<PostMaster>",
            "<postmaster@example.test>",
            "<POSTMASTER@Example.Test>",
            "<postmaster@second.test>",
        ):
            code, text = c.docmd("RCPT", f"TO:{rcpt}")
            assert code == 250, (rcpt, text)
        code, _ = c.data(b"Subject: to postmaster\r\n\r\nhello\r\n")
        assert code == 250
    got = arrived(core, ALICE)  # the first user receives postmaster's mail
    assert len(got) == 1 and b"Subject: to postmaster" in got[0]
    assert arrived(core, BOB) == []


def test_postmaster_is_editable_and_mail_follows(core: RunningCore) -> None:
    core.run(core.api.set_alias("postmaster@example.test", (BOB,)))
    with smtplib.SMTP(*core.endpoint("smtp"), timeout=10) as c:
        assert (
            c.sendmail("x@outside.test", ["postmaster"], b"Subject: pm\r\n\r\n.\r\n")
            == {}
        )
    assert len(arrived(core, BOB)) == 1 and arrived(core, ALICE) == []


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
def test_swaks_to_bare_postmaster(core: RunningCore) -> None:
    host, port = core.endpoint("smtp")
    out = subprocess.run(
        [
            "swaks",
            "--server",
            host,
            "--port",
            str(port),
            "--to",
            "postmaster",
            "--from",
            "x@outside.test",
            "--helo",
            "client.test",
            "--silent",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(arrived(core, ALICE)) == 1
