"""The collector end to end against our own POP3 and IMAP modules: what
arrives in the local Maildirs, what is left or deleted on the "remote"
mailbox, what the account's status says."""

from __future__ import annotations

import dataclasses
import re

import pytest

from server.fetch.store import FetchAccount
from tests.conftest import ALICE, BOB, RunningCore
from tests.integration.fetch.conftest import (
    BOX,
    BOX_PW,
    account,
    count,
    maildir,
    put,
)
from tests.waiting import wait_until


def save(core: RunningCore, a: FetchAccount, password: str = BOX_PW) -> None:
    core.run(core.api.save_fetch_account(a, password))


def check(core: RunningCore, ident: str) -> tuple[int, str]:
    r = core.run(core.api.check_fetch_account(ident))
    return r.collected, r.error


def status(core: RunningCore, ident: str):  # type: ignore[no-untyped-def]
    views = {v.account.id: v for v in core.run(core.api.fetch_accounts())}
    return views[ident].status


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_a_mailbox_is_collected_once_and_emptied(
    fcore: RunningCore, protocol: str
) -> None:
    put(fcore, 5)
    a = account(fcore, protocol)
    save(fcore, a)
    assert check(fcore, a.id) == (5, "")
    got = maildir(fcore, ALICE)
    assert len(got) == 5
    subjects = sorted(re.search(rb"Subject: (note \d)", m).group(1) for m in got)  # type: ignore[union-attr]
    assert subjects == [f"note {i}".encode() for i in range(5)]
    for m in got:
        assert b"(Quicksilver collector) with " + protocol.upper().encode() in m
        assert b"X-Quicksilver-Collected: mail.example.test" in m
        assert b"Return-Path: <carol@outside.test>" in m
    assert maildir(fcore, BOX) == []  # deleted remotely once durable here
    assert check(fcore, a.id) == (0, "")
    put(fcore, 2, start=5)
    assert check(fcore, a.id) == (2, "")
    assert len(maildir(fcore, ALICE)) == 7
    st = status(fcore, a.id)
    assert st.total == 7 and st.last_count == 2 and st.last_error == ""


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_leave_on_server_then_delete_after_days(
    fcore: RunningCore, protocol: str
) -> None:
    put(fcore, 3)
    a = account(fcore, protocol, leave_on_server=True, delete_after_days=7)
    save(fcore, a)
    fetch = fcore.runtime.services.modules["fetch"]
    now = [1_000_000.0]
    fetch.clock = lambda: now[0]  # type: ignore[attr-defined]
    assert check(fcore, a.id) == (3, "")
    assert len(maildir(fcore, BOX)) == 3  # left there
    assert check(fcore, a.id) == (0, "")  # and not collected twice
    assert len(maildir(fcore, ALICE)) == 3
    now[0] += 6 * 86_400
    assert check(fcore, a.id) == (0, "")
    assert len(maildir(fcore, BOX)) == 3
    now[0] += 2 * 86_400  # 8 days after: deleted
    assert check(fcore, a.id) == (0, "")
    assert maildir(fcore, BOX) == []
    assert len(maildir(fcore, ALICE)) == 3


def test_a_domain_mailbox_is_spread_over_the_local_users(fcore: RunningCore) -> None:
    put(fcore, 1, to=ALICE)
    put(fcore, 1, to=f"Bob <{BOB}>", start=1)
    put(fcore, 1, to="nobody@example.test", start=2)  # no such user
    put(fcore, 1, to="someone@else.test", start=3, Delivered_To=BOB)
    put(fcore, 1, to=f"{ALICE}, {BOB}", start=4)
    a = account(fcore, "imap", destination="", default_user=BOB)
    save(fcore, a)
    assert check(fcore, a.id) == (5, "")
    alice = [re.search(rb"note \d", m).group(0) for m in maildir(fcore, ALICE)]  # type: ignore[union-attr]
    bob = [re.search(rb"note \d", m).group(0) for m in maildir(fcore, BOB)]  # type: ignore[union-attr]
    assert sorted(alice) == [b"note 0", b"note 4"]
    assert sorted(bob) == [b"note 1", b"note 2", b"note 3", b"note 4"]


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_a_message_over_the_limit_stays_on_the_server(
    fcore: RunningCore, protocol: str
) -> None:
    fcore.run(fcore.api.update_settings("fetch", {"max_message_size": 2048}))
    put(fcore, 1)
    put(fcore, 1, start=1, X_Padding=("y" * 500 + "\r\n ") * 6 + "y")
    a = account(fcore, protocol)
    save(fcore, a)
    assert check(fcore, a.id) == (1, "")
    assert len(maildir(fcore, ALICE)) == 1
    (left,) = maildir(fcore, BOX)
    assert b"note 1" in left
    assert check(fcore, a.id) == (0, "")  # remembered: not tried again
    assert len(maildir(fcore, BOX)) == 1
    # a larger limit takes it at the next poll
    fcore.run(fcore.api.update_settings("fetch", {"max_message_size": 0}))
    assert check(fcore, a.id) == (1, "")
    assert maildir(fcore, BOX) == [] and len(maildir(fcore, ALICE)) == 2


def test_a_wrong_password_backs_off_and_shows_the_error(fcore: RunningCore) -> None:
    put(fcore, 1)
    a = account(fcore, "pop3")
    save(fcore, a, password="wrong-one")
    n, error = check(fcore, a.id)
    assert n == 0 and "refused" in error
    assert "wrong-one" not in error
    st = status(fcore, a.id)
    assert st.failures == 1 and st.last_error == error
    check(fcore, a.id)
    assert status(fcore, a.id).failures == 2
    fetch = fcore.runtime.services.modules["fetch"]
    assert fetch._delay(a, 2) == a.interval * 4  # type: ignore[attr-defined]
    save(fcore, a)  # the right password
    assert check(fcore, a.id) == (1, "")
    assert status(fcore, a.id).failures == 0


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_a_certificate_is_refused_unless_its_fingerprint_was_accepted(
    fcore: RunningCore, protocol: str
) -> None:
    put(fcore, 1)
    good = account(fcore, protocol)
    for a in (
        dataclasses.replace(good, fingerprint=""),  # the usual check: self-signed
        dataclasses.replace(good, fingerprint="AB" * 32),  # another certificate
    ):
        save(fcore, a)
        n, error = check(fcore, a.id)
        assert n == 0 and "certificate" in error, error
        report = fcore.run(fcore.api.test_fetch_account(a, BOX_PW))
        assert not report.ok and report.fingerprint == good.fingerprint
    assert maildir(fcore, ALICE) == [] and len(maildir(fcore, BOX)) == 1
    save(fcore, good)
    report = fcore.run(fcore.api.test_fetch_account(good))
    assert report.ok and any("Logged in" in line for line in report.lines)
    assert check(fcore, good.id) == (1, "")


def test_starttls_accounts_work_and_say_what_the_server_said(
    fcore: RunningCore,
) -> None:
    put(fcore, 2)
    for protocol in ("pop3", "imap"):
        _, port = fcore.endpoint(protocol, "starttls")
        a = account(fcore, protocol, security="starttls", port=port, id=f"s-{protocol}")
        report = fcore.run(fcore.api.test_fetch_account(a, BOX_PW))
        assert report.ok, report.lines
        assert "TLS started" in report.lines
        if protocol == "imap":
            assert any("IDLE" in line for line in report.lines)
    save(fcore, a)
    assert check(fcore, a.id) == (2, "")


def test_idle_brings_new_mail_at_once(fcore: RunningCore) -> None:
    a = account(fcore, "imap", interval=3600)
    save(fcore, a)
    fcore.run(fcore.api.set_module_enabled("fetch", True))
    wait_until(lambda: status(fcore, a.id).last_poll > 0, "the first poll")
    put(fcore, 1)
    wait_until(lambda: len(maildir(fcore, ALICE)) == 1, "the pushed message", 15)
    wait_until(lambda: count(fcore, BOX) == 0, "deleted on the server")


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_the_session_log_has_the_transcript_but_no_password(
    fcore: RunningCore, protocol: str
) -> None:
    import base64

    fcore.run(fcore.api.update_settings("fetch", {"session_log": True}))
    put(fcore, 1)
    a = account(fcore, protocol)
    save(fcore, a)
    assert check(fcore, a.id) == (1, "")
    text = (fcore.data_dir / "logs" / "fetch.log").read_text()
    assert ("C: UIDL" if protocol == "pop3" else "C: Q3 UID SEARCH ALL") in text
    assert "S: +OK" in text or "S: * OK" in text
    token = base64.b64encode(f"\0{BOX}\0{BOX_PW}".encode()).decode()
    assert BOX_PW not in text and token not in text
    assert "body of note" not in text  # no message content
