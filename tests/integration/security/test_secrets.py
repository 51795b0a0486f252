"""Secrets: passwords sent through POP3, submission and the API, right or
wrong, plain or base64, never reach settings.toml, the log file, the window's
log buffer or the accounts database (which holds Argon2id hashes only)."""

from __future__ import annotations

import base64
import logging
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.api import UserChange
from tests.conftest import ALICE, ALICE_PW, RunningCore, start_core
from tests.integration.security.helpers import Line

WRONG = "Wr0ng-Secret-7781"
NEW_PW = "N3w-Secret-Pw-4410"


@pytest.fixture
def sec_core(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp", "submission", "pop3"))
    c.run(c.api.update_settings("security", {"max_failures": 100}))
    c.runtime.services.modules["pop3"].login_delay = 0  # type: ignore[attr-defined]
    root = logging.getLogger("quicksilver")
    old = root.level
    root.setLevel(logging.DEBUG)  # command echo at DEBUG must be masked too
    try:
        yield c
    finally:
        root.setLevel(old)
        c.runtime.stop()


def _forms(pw: str, user: str = ALICE) -> list[bytes]:
    """The password and every base64 form a client may send it in."""
    raw = pw.encode()
    out = [raw, base64.b64encode(raw)]
    for authz in ("", user):
        out.append(base64.b64encode(f"{authz}\0{user}\0{pw}".encode()))
    return out


def _pop3(core: RunningCore, lines: list[bytes]) -> None:
    c = Line.connect(core.endpoint("pop3", "starttls"))
    try:
        c.line()
        for ln in lines:
            c.send(ln + b"\r\n")
            c.line()
    finally:
        c.close()


def _exercise_pop3(core: RunningCore) -> None:
    for pw in (ALICE_PW, WRONG):
        _pop3(core, [b"USER " + ALICE.encode(), b"PASS " + pw.encode(), b"QUIT"])
        plain = base64.b64encode(f"\0{ALICE}\0{pw}".encode())
        _pop3(core, [b"AUTH PLAIN " + plain, b"QUIT"])
        _pop3(core, [b"AUTH PLAIN", plain, b"QUIT"])
        _pop3(
            core,
            [
                b"AUTH LOGIN",
                base64.b64encode(ALICE.encode()),
                base64.b64encode(pw.encode()),
                b"QUIT",
            ],
        )


def _exercise_submission(core: RunningCore) -> None:
    statuses = {m.name: m.state.value for m in core.run(core.api.modules())}
    if statuses.get("submission") != "RUNNING":
        return
    for pw in (ALICE_PW, WRONG):
        for mech in ("PLAIN", "LOGIN"):
            with smtplib.SMTP(*core.endpoint("submission", "starttls"), timeout=5) as s:
                s.ehlo("client.test")
                s.user, s.password = ALICE, pw
                try:
                    s.auth(
                        mech,
                        getattr(s, f"auth_{mech.lower()}"),
                        initial_response_ok=(mech == "PLAIN"),
                    )
                except smtplib.SMTPAuthenticationError:
                    pass
        blob = base64.b64encode(f"\0{ALICE}\0{pw}".encode()).decode()
        with smtplib.SMTP(*core.endpoint("submission", "starttls"), timeout=5) as s:
            s.ehlo("client.test")
            s.docmd("AUTH", "PLAIN")
            s.docmd(blob)


def _haystacks(core: RunningCore) -> dict[str, bytes]:
    d = core.data_dir
    found = {
        "settings.toml": (d / "settings.toml").read_bytes(),
        "log buffer": "\n".join(
            r.message for r in core.run(core.api.recent_logs(limit=100000))
        ).encode(),
    }
    for p in sorted((d / "logs").iterdir()):
        found[f"logs/{p.name}"] = p.read_bytes()
    for p in sorted(d.glob("accounts.sqlite3*")):
        found[p.name] = p.read_bytes()
    return found


def test_passwords_never_reach_settings_logs_log_buffer_or_accounts_db(
    sec_core: RunningCore,
) -> None:
    _exercise_pop3(sec_core)
    _exercise_submission(sec_core)
    assert sec_core.run(sec_core.api.check_login(ALICE, WRONG)) is False
    assert sec_core.run(sec_core.api.check_login(ALICE, ALICE_PW)) is True
    sec_core.run(sec_core.api.update_user(UserChange(ALICE, password=NEW_PW)))
    assert sec_core.run(sec_core.api.check_login(ALICE, NEW_PW)) is True
    for h in logging.getLogger("quicksilver").handlers:
        h.flush()
    hay = _haystacks(sec_core)
    log_text = hay["logs/quicksilver.log"]
    assert b"login failed" in log_text and b"login ok" in log_text  # logs were written
    assert b"C: PASS ***" in log_text  # the DEBUG command echo ran, masked
    assert b"submission" not in log_text or b"AUTH PLAIN failed" in log_text
    for secret in (ALICE_PW, WRONG, NEW_PW):
        for form in _forms(secret):
            for where, data in hay.items():
                assert form not in data, f"{secret!r} ({form!r}) found in {where}"


def test_settings_toml_holds_no_password_fields(sec_core: RunningCore) -> None:
    text = (sec_core.data_dir / "settings.toml").read_text()
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        key = line.split("=", 1)[0].strip().lower()
        assert "password" not in key and "secret" not in key, line
