"""SPF, DKIM and DMARC on the smtp module, through real SMTP, with the
module's resolver answering from a table (no DNS query leaves): the
Authentication-Results field of a genuine and of a forged sender, a forged
field of ours removed, a DMARC p=reject refused (and not when overridden),
off by default."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE, RunningCore, start_core
from tests.unit.antispam.dnsfake import TableResolver, txt

TABLE = {
    ("sender.test", "TXT"): txt("v=spf1 ip4:127.0.0.0/8 -all"),
    ("_dmarc.sender.test", "TXT"): txt("v=DMARC1; p=reject"),
    ("evil.test", "TXT"): txt("v=spf1 ip4:127.0.0.0/8 -all"),
    ("_dmarc.bank.test", "TXT"): txt("v=DMARC1; p=reject"),
    ("bank.test", "TXT"): txt("v=spf1 ip4:198.51.100.0/24 -all"),
}


@pytest.fixture
def acore(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp",))
    try:
        c.runtime.services.modules["smtp"].resolver = TableResolver(TABLE)  # type: ignore[attr-defined]
        c.run(
            c.api.update_settings(
                "smtp", {"check_authentication": True, "trusted_networks": ()}
            )
        )
        yield c
    finally:
        c.runtime.stop()


def send(
    core: RunningCore, sender: str, from_: str, extra: str = ""
) -> tuple[int, bytes]:
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port, local_hostname="client.example") as c:
        c.ehlo()
        c.mail(sender)
        c.rcpt(ALICE)
        head = f"{extra}From: <{from_}>\r\nTo: {ALICE}\r\nSubject: t\r\n"
        return c.data(f"{head}\r\nhi\r\n".encode())


def last(core: RunningCore) -> bytes:
    md = core.maildir(ALICE)
    files = sorted((md / "new").glob("*"), key=lambda p: p.stat().st_mtime_ns)
    return files[-1].read_bytes()


def test_genuine_and_forged_senders(acore: RunningCore) -> None:
    forged_ar = "Authentication-Results: mail.example.test; dmarc=pass\r\n"
    assert send(acore, "carol@sender.test", "carol@sender.test", forged_ar)[0] == 250
    got = last(acore)
    assert got.count(b"Authentication-Results:") == 1
    assert b"spf=pass smtp.mailfrom=carol@sender.test" in got
    assert b"dmarc=pass (p=reject) header.from=sender.test" in got
    # SPF passes for evil.test, but the From claims bank.test: refused
    code, text = send(acore, "x@evil.test", "ceo@bank.test")
    assert code == 550 and b"DMARC policy of bank.test" in text
    # unless bank.test is overridden: then delivered, with the verdict
    acore.run(acore.api.update_settings("smtp", {"dmarc_overrides": ("bank.test",)}))
    assert send(acore, "x@evil.test", "ceo@bank.test")[0] == 250
    assert b"dmarc=fail (p=reject) header.from=bank.test" in last(acore)


def test_off_by_default(tmp_path: Path) -> None:
    c = start_core(tmp_path / "plain", enabled=("smtp",))
    try:
        assert not c.runtime.services.settings.smtp.check_authentication
        assert send(c, "x@evil.test", "ceo@bank.test")[0] == 250
        assert b"Authentication-Results" not in last(c)
    finally:
        c.runtime.stop()
