"""The collector against a private Dovecot (POP3 and IMAP on loopback, no
TLS: the account says "none" and the window would warn): a single user, a
domain mailbox spread over the users, and a second poll that brings nothing
twice. Skipped with the reason when Dovecot cannot run here."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.fetch.store import FetchAccount
from tests.conftest import ALICE, BOB, RunningCore
from tests.integration.fetch.conftest import maildir
from tests.integration.imap.dovecot import Dovecot, dovecot_usable, start_dovecot

pytestmark = pytest.mark.skipif(
    dovecot_usable() is not None, reason=str(dovecot_usable())
)

LOGIN, PASSWORD = "office", "office-pw"


def _fill(home: Path) -> None:
    new = home / "users" / LOGIN / "Maildir" / "new"
    new.mkdir(parents=True, exist_ok=True)
    rcpts = [ALICE, BOB, "nobody@example.test", f"{ALICE}, {BOB}"]
    for i in range(12):
        to = rcpts[i % len(rcpts)]
        (new / f"{1700000000 + i}.M{i}P1.test").write_bytes(
            f"From: carol@outside.test\nTo: {to}\nSubject: dovecot {i}\n"
            f"Message-ID: <dc-{i}@outside.test>\n\nbody {i}\n".encode()
        )


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    # not pytest's tmp_path: its parents are 0700 and Dovecot's processes
    # run as the dovecot user, which must reach the passwd file and Maildir
    with tempfile.TemporaryDirectory(prefix="qs-fetch-dovecot-") as tmp:
        d = start_dovecot(Path(tmp), {LOGIN: PASSWORD}, prepare=_fill, pop3=True)
        if d is None:
            pytest.skip("dovecot (with imapd and pop3d) could not be started here")
        try:
            yield d
        finally:
            d.stop()


def remote_left(d: Dovecot) -> int:
    md = d.home / "users" / LOGIN / "Maildir"
    return sum(1 for sub in ("new", "cur") for _ in (md / sub).glob("*"))


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_dovecot_mailbox_is_collected_to_one_user(
    fcore: RunningCore, dovecot: Dovecot, protocol: str
) -> None:
    port = dovecot.pop3_port if protocol == "pop3" else dovecot.port
    a = FetchAccount(
        id=f"dc-{protocol}",
        server="127.0.0.1",
        username=LOGIN,
        protocol=protocol,
        port=port,
        security="none",
        destination=ALICE,
    )
    fcore.run(fcore.api.save_fetch_account(a, PASSWORD))
    report = fcore.run(fcore.api.test_fetch_account(a))
    assert report.ok and any("12 message" in line for line in report.lines)
    assert any("clear text" in line for line in report.lines)
    r = fcore.run(fcore.api.check_fetch_account(a.id))
    assert (r.collected, r.error) == (12, "")
    got = maildir(fcore, ALICE)
    assert sorted(
        int(m.split(b"Subject: dovecot ")[1].split(b"\n")[0]) for m in got
    ) == list(range(12))
    assert remote_left(dovecot) == 0
    assert fcore.run(fcore.api.check_fetch_account(a.id)).collected == 0


def test_dovecot_domain_mailbox_fan_out_left_on_server(
    fcore: RunningCore, dovecot: Dovecot
) -> None:
    a = FetchAccount(
        id="dc-fan",
        server="127.0.0.1",
        username=LOGIN,
        protocol="pop3",
        port=dovecot.pop3_port,
        security="none",
        default_user=BOB,
        leave_on_server=True,
    )
    fcore.run(fcore.api.save_fetch_account(a, PASSWORD))
    assert fcore.run(fcore.api.check_fetch_account(a.id)).collected == 12
    assert remote_left(dovecot) == 12
    assert fcore.run(fcore.api.check_fetch_account(a.id)).collected == 0
    # to alice: 0, 4, 8 and both: 3, 7, 11; to bob: 1, 5, 9; nobody: 2, 6, 10
    assert len(maildir(fcore, ALICE)) == 6
    assert len(maildir(fcore, BOB)) == 9
