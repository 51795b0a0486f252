"""Account changes made by ``quicksilver-server user ...`` while a server runs.

README: "Management commands work while a server runs: account changes apply at
once". Each test runs the real core, changes an account with the CLI as a
separate process on the same data folder, then logs in over IMAP, POP3 and
submission (AUTH) with the full address and the bare name, waiting on the
outcome with a deadline of ``APPLY_WITHIN`` seconds (no fixed sleep).
"""

from __future__ import annotations

import imaplib
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE, RunningCore, start_core

ROOT = Path(__file__).resolve().parents[2]
MODULES = ("smtp", "submission", "pop3", "imap")
APPLY_WITHIN = 2.0  # seconds: the "within a second or two"
CAROL = "carol@example.test"
CAROL_PW = "Carol-Kettle-pw-9"
CAROL_PW2 = "Carol-Window-pw-8"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=MODULES)
    # many failed logins on purpose: no ban or lock may get in the way
    c.run(
        c.api.update_settings(
            "security", {"max_failures": 10_000, "user_max_failures": 10_000}
        )
    )
    c.runtime.services.modules["pop3"].login_delay = 0  # type: ignore[attr-defined]
    try:
        yield c
    finally:
        c.runtime.stop()


def cli(core: RunningCore, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "server", "--data-dir", str(core.data_dir), *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def imap_login(core: RunningCore, user: str, pw: str) -> bool:
    with imaplib.IMAP4(*core.endpoint("imap", "starttls"), timeout=5) as c:
        try:
            c.login(user, pw)
        except imaplib.IMAP4.error:
            return False
        c.logout()
        return True


def pop3_login(core: RunningCore, user: str, pw: str) -> bool:
    with socket.create_connection(core.endpoint("pop3", "starttls"), timeout=5) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"+OK")
        s.sendall(f"USER {user}\r\n".encode())
        f.readline()
        s.sendall(f"PASS {pw}\r\n".encode())
        ok = f.readline().startswith(b"+OK")
        s.sendall(b"QUIT\r\n")
        f.readline()
        f.close()
        return ok


def submission_login(core: RunningCore, user: str, pw: str) -> bool:
    with smtplib.SMTP(*core.endpoint("submission", "starttls"), timeout=5) as c:
        c.ehlo("client.test")
        try:
            c.login(user, pw)
        except smtplib.SMTPAuthenticationError:
            return False
        return True


LOGINS: dict[str, Callable[[RunningCore, str, str], bool]] = {
    "imap": imap_login,
    "pop3": pop3_login,
    "submission": submission_login,
}


def within(check: Callable[[], bool], expect: bool) -> float:
    """Seconds until ``check()`` gives ``expect``; fails after ``APPLY_WITHIN``."""
    start = time.monotonic()
    while True:
        if check() is expect:
            return time.monotonic() - start
        if time.monotonic() - start > APPLY_WITHIN:
            raise AssertionError(f"still not {expect} after {APPLY_WITHIN} s")
        time.sleep(0.05)


def expect_logins(core: RunningCore, names: tuple[str, ...], pw: str, ok: bool) -> None:
    for proto, login in LOGINS.items():
        for name in names:
            try:
                within(lambda: login(core, name, pw), ok)  # noqa: B023
            except AssertionError as exc:
                raise AssertionError(f"{proto} login as {name!r}: {exc}") from None


def test_cli_add_disable_enable_passwd_delete_hold_for_every_protocol(
    live: RunningCore,
) -> None:
    """Reproduces the issue: a user added by the CLI could not log in with the
    full address, and a disabled one still could 21 s later."""
    names = (CAROL, "carol")
    cli(live, "user", "add", CAROL, "--password-stdin", stdin=CAROL_PW + "\n")
    expect_logins(live, names, CAROL_PW, True)

    cli(live, "user", "disable", CAROL)
    expect_logins(live, names, CAROL_PW, False)

    cli(live, "user", "enable", CAROL)
    expect_logins(live, names, CAROL_PW, True)

    cli(live, "user", "passwd", CAROL, "--password-stdin", stdin=CAROL_PW2 + "\n")
    expect_logins(live, names, CAROL_PW, False)
    expect_logins(live, names, CAROL_PW2, True)

    cli(live, "user", "delete", CAROL)
    expect_logins(live, names, CAROL_PW2, False)


def test_cli_alias_and_deleted_user_hold_for_smtp_at_once(live: RunningCore) -> None:
    """RCPT sees an alias the CLI set and a user the CLI deleted."""

    def rcpt(address: str) -> bool:
        with smtplib.SMTP(*live.endpoint("smtp"), timeout=5) as c:
            c.ehlo("client.test")
            c.mail("someone@outside.test")
            code, _ = c.rcpt(address)
            return code == 250

    assert not rcpt("team@example.test")
    cli(live, "alias", "set", "team@example.test", ALICE)
    within(lambda: rcpt("team@example.test"), True)
    cli(live, "user", "add", CAROL, "--password-stdin", stdin=CAROL_PW + "\n")
    within(lambda: rcpt(CAROL), True)
    cli(live, "user", "delete", CAROL)
    within(lambda: rcpt(CAROL), False)


def test_open_imap_session_of_a_disabled_user_goes_on_like_dovecots(
    live: RunningCore,
) -> None:
    """Dovecot keeps the sessions of a user disabled in its passdb until they end
    (``doveadm kick`` ends them); so do we. New logins are refused at once."""
    cli(live, "user", "add", CAROL, "--password-stdin", stdin=CAROL_PW + "\n")
    within(lambda: imap_login(live, CAROL, CAROL_PW), True)
    with imaplib.IMAP4(*live.endpoint("imap", "starttls"), timeout=5) as c:
        c.login(CAROL, CAROL_PW)
        cli(live, "user", "disable", CAROL)
        within(lambda: imap_login(live, CAROL, CAROL_PW), False)
        typ, _ = c.select("INBOX")
        assert typ == "OK"
        c.logout()
