"""Legacy client passwords (issue 16): APOP and CRAM-MD5 for a user who has
a separate, generated legacy password, off until the module's legacy_auth
is on; never with the normal password, never for a user without one.
Real clients: mpop --auth=apop, fetchmail -p APOP, imaplib's CRAM-MD5,
smtplib (which picks CRAM-MD5 by itself when offered)."""

from __future__ import annotations

import hashlib
import imaplib
import os
import poplib
import re
import shutil
import smtplib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE, ALICE_PW, BOB, BOB_PW, RunningCore, start_core
from tests.waiting import wait_until


def modules_running(core: RunningCore) -> bool:
    return all(
        m.state.value == "RUNNING" for m in core.run(core.api.modules()) if m.enabled
    )


@pytest.fixture
def legacy_core(tmp_path: Path) -> Iterator[tuple[RunningCore, str]]:
    core = start_core(tmp_path / "data", enabled=("pop3", "imap", "submission"))
    try:
        secret = core.run(core.api.set_legacy_password(ALICE, True))
        assert re.fullmatch(r"[A-Za-z0-9]{20}", secret)
        for module in ("pop3", "imap", "submission"):
            core.run(core.api.update_settings(module, {"legacy_auth": True}))
        wait_until(
            lambda: (
                core.run(core.api.settings()).submission.legacy_auth
                and modules_running(core)
            ),
            "legacy_auth on",
        )
        core.run(
            core.runtime.services.store.deliver(ALICE, b"Subject: one\r\n\r\nx\r\n")
        )
        yield core, secret
    finally:
        core.runtime.stop()


def test_apop_with_the_legacy_password_only(
    legacy_core: tuple[RunningCore, str],
) -> None:
    core, secret = legacy_core
    host, port = core.endpoint("pop3", "starttls")
    pop = poplib.POP3(host, port)
    stamp = re.search(rb"<[^>]+@[^>]+>", pop.getwelcome())
    assert stamp is not None  # RFC 1939 7: the timestamp in the greeting
    assert pop.apop(ALICE, secret).startswith(b"+OK")
    assert pop.stat()[0] == 1
    pop.quit()
    for user, password in ((ALICE, ALICE_PW), (BOB, BOB_PW), (BOB, secret)):
        pop = poplib.POP3(host, port)
        with pytest.raises(poplib.error_proto, match="AUTH"):
            pop.apop(user, password)
        pop.quit()
    # the secret is stored encrypted, never in the clear
    data = core.data_dir
    assert secret.encode() not in (data / "legacy-secrets.json").read_bytes()
    digest = hashlib.md5(stamp.group(0) + secret.encode()).hexdigest()
    assert digest.encode() not in (data / "logs/quicksilver.log").read_bytes()


def test_real_pop3_clients_log_in_with_apop(
    legacy_core: tuple[RunningCore, str], tmp_path: Path
) -> None:
    core, secret = legacy_core
    host, port = core.endpoint("pop3", "starttls")
    if shutil.which("mpop"):
        for user, password, ok in ((ALICE, secret, True), (BOB, BOB_PW, False)):
            rc = tmp_path / f"mpoprc-{user}"
            box = tmp_path / f"box-{user}"
            for sub in ("cur", "new", "tmp"):
                (box / sub).mkdir(parents=True, exist_ok=True)
            rc.write_text(
                f"account a\nhost {host}\nport {port}\ntls off\nauth apop\n"
                f"user {user}\npassword {password}\nkeep on\n"
                f"delivery maildir {box}\nuidls_file {tmp_path / user}.uidls\n"
            )
            os.chmod(rc, 0o600)
            out = subprocess.run(
                ["mpop", "-C", str(rc), "-a", "-d"],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            transcript = out.stdout + out.stderr
            assert "--> APOP " in transcript, transcript[-1500:]
            assert (out.returncode == 0) is ok, transcript[-1500:]
            assert len(list((box / "new").iterdir())) == (1 if ok else 0)
    if shutil.which("fetchmail"):
        mda = tmp_path / "mda.sh"
        got = tmp_path / "fetched"
        got.mkdir()
        mda.write_text(f'#!/bin/sh\ncat > "{got}/$$.eml"\n')
        mda.chmod(0o700)
        rc = tmp_path / "fetchmailrc"
        rc.write_text(
            f"poll {host} service {port} protocol APOP\n"
            f"  user '{ALICE}' password '{secret}' keep sslproto ''\n"
            f"  mda '{mda}'\n"
        )
        os.chmod(rc, 0o600)
        out = subprocess.run(
            ["fetchmail", "-f", str(rc), "-v", "--nosslcertck", "-a"],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "HOME": str(tmp_path), "FETCHMAILHOME": str(tmp_path)},
        )  # fmt: skip
        assert out.returncode == 0, (out.stdout + out.stderr)[-1500:]
        assert "APOP" in out.stdout + out.stderr
        assert len(list(got.iterdir())) == 1


def test_cram_md5_on_imap_pop3_and_submission(
    legacy_core: tuple[RunningCore, str],
) -> None:
    core, secret = legacy_core
    imap = imaplib.IMAP4(*core.endpoint("imap", "starttls"))
    assert "AUTH=CRAM-MD5" in imap.capabilities
    typ, _ = imap.login_cram_md5(ALICE, secret)
    assert typ == "OK"
    imap.logout()
    imap = imaplib.IMAP4(*core.endpoint("imap", "starttls"))
    with pytest.raises(imaplib.IMAP4.error):
        imap.login_cram_md5(ALICE, ALICE_PW)  # the normal password: never
    imap.logout()

    pop = poplib.POP3(*core.endpoint("pop3", "starttls"))
    assert "CRAM-MD5" in pop.capa()["SASL"]
    pop.close()

    host, port = core.endpoint("submission", "starttls")
    with smtplib.SMTP(host, port, local_hostname="c.example") as s:
        s.ehlo()
        assert "CRAM-MD5" in s.esmtp_features["auth"]
        s.login(ALICE, secret)  # smtplib picks CRAM-MD5 itself
        assert s.sendmail(ALICE, [BOB], b"Subject: cram\r\n\r\nx\r\n") == {}
    # bob has no legacy password: smtplib tries CRAM-MD5 first, gets 535,
    # goes on with PLAIN, and that first try costs him nothing
    for _ in range(12):  # more than security.max_failures
        with smtplib.SMTP(host, port, local_hostname="c.example") as s:
            s.login(BOB, BOB_PW)
    assert core.run(core.api.bans()) == ()


def test_off_by_default_and_taken_away(tmp_path: Path) -> None:
    core = start_core(tmp_path / "data", enabled=("pop3", "imap", "submission"))
    try:
        secret = core.run(core.api.set_legacy_password(ALICE, True))
        pop = poplib.POP3(*core.endpoint("pop3", "starttls"))
        assert b"<" not in pop.getwelcome()  # pop3.legacy_auth is off
        with pytest.raises(poplib.error_proto):
            pop.apop(ALICE, secret)
        pop.close()
        imap = imaplib.IMAP4(*core.endpoint("imap", "starttls"))
        assert "AUTH=CRAM-MD5" not in imap.capabilities
        imap.logout()
        users = {u.address: u for u in core.run(core.api.list_users())}
        assert users[ALICE].legacy_password and not users[BOB].legacy_password
        core.run(core.api.update_settings("pop3", {"legacy_auth": True}))
        wait_until(lambda: modules_running(core), "pop3 again")
        core.run(core.api.set_legacy_password(ALICE, False))
        pop = poplib.POP3(*core.endpoint("pop3", "starttls"))
        assert b"<" not in pop.getwelcome()  # nobody has one now
        pop.close()
    finally:
        core.runtime.stop()
