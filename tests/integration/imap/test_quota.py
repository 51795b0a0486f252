"""QUOTA (RFC 9208) with the per-user quota ``user add --quota-mb`` sets:
GETQUOTAROOT and GETQUOTA with STORAGE in 1024-octet units, SETQUOTA
refused, [OVERQUOTA] on APPEND and COPY (not MOVE), and SMTP 452 4.2.2 at
RCPT once the mailbox is full, 552 5.2.2 at DATA for a message that can
never fit."""

from __future__ import annotations

import imaplib
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE, ALICE_PW, BOB, BOB_PW, RunningCore, start_core

KB = 1024


@pytest.fixture
def qcore(tmp_path: Path) -> Iterator[RunningCore]:
    core = start_core(tmp_path / "data", enabled=("smtp", "imap"))
    try:
        core.runtime.services.accounts.update_user(ALICE, quota_bytes=10 * KB)
        yield core
    finally:
        core.runtime.stop()


def login(core: RunningCore, user: str = ALICE, pw: str = ALICE_PW) -> imaplib.IMAP4:
    imap = imaplib.IMAP4(*core.endpoint("imap", "starttls"))
    imap.login(user, pw)
    return imap


def test_getquotaroot_getquota_and_setquota(qcore: RunningCore) -> None:
    qcore.run(qcore.runtime.services.store.deliver(ALICE, b"x" * 1500))
    imap = login(qcore)
    assert "QUOTA" in imap.capabilities and "QUOTA=RES-STORAGE" in imap.capabilities
    typ, data = imap.getquotaroot("INBOX")
    assert typ == "OK"
    assert data[0] == [b'"INBOX" ""'] or data[0] == [b'INBOX ""']
    assert data[1] == [b'"" (STORAGE 2 10)']  # 1500 octets: 2 units used
    typ, data = imap.getquota('""')
    assert typ == "OK" and data == [b'"" (STORAGE 2 10)']
    typ, data = imap.getquota("other")
    assert typ == "NO"
    typ, data = imap._simple_command("SETQUOTA", '""', "(STORAGE 99)")
    assert typ == "NO"
    typ, _ = imap.getquotaroot("Nonexistent")
    assert typ == "NO"
    imap.logout()
    # bob has no quota: a QUOTAROOT with no root
    bob = login(qcore, BOB, BOB_PW)
    typ, data = bob.getquotaroot("INBOX")
    assert (typ == "OK" and data[0] == [b'"INBOX"']) or data[0] == [b"INBOX"]
    bob.logout()


def test_overquota_on_append_and_copy_not_move(qcore: RunningCore) -> None:
    imap = login(qcore)
    typ, _ = imap.append("INBOX", None, None, b"Subject: a\r\n\r\n" + b"y" * 6000)
    assert typ == "OK"
    typ, data = imap.append("INBOX", None, None, b"Subject: b\r\n\r\n" + b"z" * 6000)
    assert typ == "NO" and b"[OVERQUOTA]" in data[0]
    imap.select("INBOX")
    typ, data = imap.copy("1", "Trash")
    assert typ == "NO" and b"[OVERQUOTA]" in data[0]
    typ, data = imap._simple_command("MOVE", "1", "Trash")
    assert typ == "OK"
    assert qcore.run(qcore.runtime.services.store.usage(ALICE)) < 10 * KB
    imap.logout()


def test_smtp_refuses_mail_for_a_full_mailbox(qcore: RunningCore) -> None:
    host, port = qcore.endpoint("smtp")
    with smtplib.SMTP(host, port, local_hostname="c.example") as s:
        # can never fit: permanent, at DATA
        s.ehlo()
        s.mail("x@outside.example")
        s.rcpt(ALICE)
        code, text = s.data(b"Subject: big\r\n\r\n" + (b"b" * 70 + b"\r\n") * 300)
        assert (code, text[:5]) == (552, b"5.2.2"), text
        s.rset()
        s.sendmail(
            "x@outside.example", [ALICE], b"Subject: fits\r\n\r\n" + b"f\r\n" * 3000
        )
        # the administrator lowers the quota below what is used: full now,
        # refused at RCPT, for a while (452 4.2.2)
        qcore.runtime.services.accounts.update_user(ALICE, quota_bytes=8 * KB)
        s.mail("x@outside.example")
        code, text = s.rcpt(ALICE)
        assert (code, text[:5]) == (452, b"4.2.2"), text
        code, _ = s.rcpt(BOB)
        assert code == 250  # others still get mail


def test_overquota_counts_a_large_append_in_its_wire_size(qcore: RunningCore) -> None:
    """A literal over a mebibyte is measured off the loop, as the quota
    counts it: with CRLF line ends. 1.2 MB of bare-LF lines is 1.3 MB with
    CRLFs: over a 1,250 KiB quota; as long a text without line ends fits."""
    qcore.runtime.services.accounts.update_user(ALICE, quota_bytes=1250 * KB)
    imap = login(qcore)
    lines = b"Subject: big\n\n" + b"0123456789a\n" * 100_000  # 1.2 MB, 100k LFs
    imap.literal = lines  # as it is: imaplib's append() would add the CRs
    typ, data = imap._simple_command("APPEND", "INBOX")
    assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
    flat = b"Subject: big\r\n\r\n" + b"0123456789a" * 109_000  # 1.2 MB
    typ, _ = imap.append("INBOX", None, None, flat)
    assert typ == "OK"
    imap.logout()
