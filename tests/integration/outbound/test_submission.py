"""The submission module with real clients: swaks and msmtp on 587 and 465."""

from __future__ import annotations

import logging
import os
import shutil
import smtplib
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ALICE, ALICE_PW, BOB, RunningCore
from tests.integration.outbound.sink import Sink

needs_swaks = pytest.mark.skipif(not shutil.which("swaks"), reason="swaks missing")
needs_msmtp = pytest.mark.skipif(not shutil.which("msmtp"), reason="msmtp missing")


def swaks(core: RunningCore, *extra: str, implicit: bool = False) -> tuple[int, str]:
    host, port = core.endpoint("submission", "implicit" if implicit else "starttls")
    cmd = [
        "swaks",
        "--server",
        host,
        "--port",
        str(port),
        "--ehlo",
        "client.test",
        "--from",
        ALICE,
        "--to",
        "far@remote.test",
        "--header",
        "Subject: via swaks",
        "--body",
        "hello from swaks",
        "--tls-on-connect" if implicit else "--tls",
        *extra,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout + out.stderr


def msmtp(core: RunningCore, tmp_path: Path, *, implicit: bool, password: str) -> str:
    host, port = core.endpoint("submission", "implicit" if implicit else "starttls")
    conf = tmp_path / f"msmtprc-{port}"
    conf.write_text(
        "defaults\n"
        "tls on\n"
        "tls_certcheck off\n"
        f"tls_starttls {'off' if implicit else 'on'}\n"
        "account sub\n"
        f"host {host}\nport {port}\n"
        f"from {ALICE}\nauth plain\nuser {ALICE}\npassword {password}\n"
        "domain client.test\n"
    )
    os.chmod(conf, 0o600)
    msg = f"From: {ALICE}\nTo: far@remote.test\nSubject: via msmtp {port}\n\nhi\n"
    out = subprocess.run(
        ["msmtp", "-C", str(conf), "-a", "sub", "far@remote.test"],
        input=msg,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 or password != ALICE_PW, out.stderr
    return out.stderr


@needs_swaks
@pytest.mark.parametrize("implicit", [False, True], ids=["587-starttls", "465-tls"])
def test_swaks_submits_and_relay_delivers(
    relay_core: RunningCore, sink: Sink, implicit: bool
) -> None:
    rc, out = swaks(
        relay_core,
        "--auth",
        "PLAIN",
        "--auth-user",
        ALICE,
        "--auth-password",
        ALICE_PW,
        implicit=implicit,
    )
    assert rc == 0, out
    assert "235 2.7.0" in out
    assert sink.wait_messages(1)
    m = sink.messages[0]
    assert m.rcpts == ["far@remote.test"] and m.mail_from == ALICE
    assert b"with ESMTPSA" in m.data and b"hello from swaks" in m.data
    assert ALICE_PW not in "".join(
        p.read_text() for p in (relay_core.data_dir / "logs").glob("*")
    )


@needs_swaks
def test_swaks_auth_login_on_465(relay_core: RunningCore, sink: Sink) -> None:
    rc, out = swaks(
        relay_core,
        "--auth",
        "LOGIN",
        "--auth-user",
        ALICE,
        "--auth-password",
        ALICE_PW,
        implicit=True,
    )
    assert rc == 0, out
    assert sink.wait_messages(1)


@needs_swaks
def test_swaks_bad_password_is_535(relay_core: RunningCore, sink: Sink) -> None:
    rc, out = swaks(
        relay_core,
        "--auth",
        "PLAIN",
        "--auth-user",
        ALICE,
        "--auth-password",
        "wrong-password",
    )
    assert rc != 0
    assert "535 5.7.8" in out
    assert sink.messages == []
    logs = "".join(p.read_text() for p in (relay_core.data_dir / "logs").glob("*"))
    assert "wrong-password" not in logs
    assert "AUTH PLAIN failed" in logs


@needs_swaks
def test_swaks_without_auth_is_530(relay_core: RunningCore, sink: Sink) -> None:
    rc, out = swaks(relay_core)
    assert rc != 0
    assert "530 5.7.0" in out
    assert sink.messages == []


@needs_msmtp
@pytest.mark.parametrize("implicit", [False, True], ids=["587-starttls", "465-tls"])
def test_msmtp_submits(
    relay_core: RunningCore, sink: Sink, tmp_path: Path, implicit: bool
) -> None:
    msmtp(relay_core, tmp_path, implicit=implicit, password=ALICE_PW)
    assert sink.wait_messages(1)
    assert sink.messages[0].rcpts == ["far@remote.test"]


@needs_msmtp
def test_msmtp_bad_password(relay_core: RunningCore, tmp_path: Path) -> None:
    err = msmtp(relay_core, tmp_path, implicit=False, password="nope-nope")
    assert "535" in err or "authentication failed" in err.lower()


def _tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_sender_must_be_own_address_or_alias(relay_core: RunningCore) -> None:
    relay_core.run(relay_core.api.set_alias("sales@example.test", (ALICE,)))
    host, port = relay_core.endpoint("submission", "implicit")
    with smtplib.SMTP_SSL(host, port, context=_tls()) as c:
        c.login(ALICE, ALICE_PW)
        code, text = c.mail(BOB)
        assert (code, text[:5]) == (553, b"5.7.1")
        code, _ = c.mail("someone@remote.test")
        assert code == 553
        code, _ = c.mail("sales@example.test")  # an alias that delivers to alice
        assert code == 250
        c.rset()
        code, _ = c.mail(ALICE.upper())
        assert code == 250


def test_sender_policy_any(relay_core: RunningCore) -> None:
    relay_core.run(
        relay_core.api.update_settings("submission", {"sender_policy": "any"})
    )
    host, port = relay_core.endpoint("submission", "implicit")
    with smtplib.SMTP_SSL(host, port, context=_tls()) as c:
        c.login(ALICE, ALICE_PW)
        assert c.mail(BOB)[0] == 250


def test_auth_only_after_tls_when_plaintext_never(relay_core: RunningCore) -> None:
    relay_core.run(
        relay_core.api.update_settings("submission", {"plaintext_login": "never"})
    )
    host, port = relay_core.endpoint("submission", "starttls")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        assert not c.has_extn("auth")
        code, text = c.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdy0x")
        assert (code, text[:6]) == (538, b"5.7.11")
        c.starttls(context=_tls())
        c.ehlo("client.test")
        assert "PLAIN" in c.esmtp_features["auth"]
        assert "LOGIN" in c.esmtp_features["auth"]
        c.login(ALICE, ALICE_PW)


def test_loopback_may_auth_before_tls_by_default(relay_core: RunningCore) -> None:
    host, port = relay_core.endpoint("submission", "starttls")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        assert c.has_extn("auth")
        c.login(ALICE, ALICE_PW)


def test_disabled_user_cannot_authenticate(relay_core: RunningCore) -> None:
    from server.api import UserChange

    relay_core.run(relay_core.api.update_user(UserChange(ALICE, enabled=False)))
    host, port = relay_core.endpoint("submission", "implicit")
    with (
        smtplib.SMTP_SSL(host, port, context=_tls()) as c,
        pytest.raises(smtplib.SMTPAuthenticationError) as exc,
    ):
        c.login(ALICE, ALICE_PW)
    assert exc.value.smtp_code == 535


def test_local_recipient_via_submission(relay_core: RunningCore) -> None:
    host, port = relay_core.endpoint("submission", "implicit")
    with smtplib.SMTP_SSL(host, port, context=_tls()) as c:
        c.login(ALICE, ALICE_PW)
        assert c.sendmail(ALICE, [BOB], b"Subject: hi bob\r\n\r\nhello\r\n") == {}
    md = relay_core.maildir(BOB)
    files = list((md / "new").glob("*"))
    assert len(files) == 1 and b"with ESMTPSA" in files[0].read_bytes()


def test_a_login_logs_no_deprecation_warning(
    relay_core: RunningCore, caplog: pytest.LogCaptureFixture
) -> None:
    """aiosmtpd 1.4 sets its deprecated Session.login_data after every AUTH,
    and its property logs "Session.login_data is deprecated" (logger
    mail.log) each time: a warning in the log per login (issue 17). Our
    session class keeps the attribute quiet."""
    host, port = relay_core.endpoint("submission", "implicit")
    with (
        caplog.at_level(logging.DEBUG, logger="mail.log"),
        smtplib.SMTP_SSL(host, port, context=_tls()) as c,
    ):
        c.login(ALICE, ALICE_PW)
        c.noop()
    assert "login_data" not in caplog.text
    assert "AUTH" in caplog.text or "auth" in caplog.text  # the session was logged
