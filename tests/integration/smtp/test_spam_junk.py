"""Spam to Junk through real SMTP (swaks) and IMAP (curl): a message that a
scanner (the spamd and rspamd protocols, served on loopback) scores high, a
DNSBL "tag" listing and a DMARC quarantine policy land in the user's Junk
folder with X-Spam-* fields; a low score lands in INBOX; a score over the
reject line is refused; a DNS allow list skips greylisting; a sender's own
X-Spam-Flag is removed; the user's Sieve rules still decide (keep means Junk,
fileinto wins); a scanner that is down delays nothing."""

from __future__ import annotations

import shutil
import smtplib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.sieve.store import ScriptStore
from tests.conftest import ALICE, ALICE_PW, RunningCore, start_core
from tests.unit.antispam.dnsfake import TableResolver, a, txt
from tests.unit.antispam.fakescanner import running

needs_swaks = pytest.mark.skipif(not shutil.which("swaks"), reason="swaks missing")
needs_curl = pytest.mark.skipif(not shutil.which("curl"), reason="curl missing")

SPAMMY = b"cheap pills"


def spammy(body: bytes) -> float:
    if b"very cheap pills" in body:
        return 25.0
    return 9.0 if SPAMMY in body else 0.5


@pytest.fixture
def core(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp", "imap"))
    try:
        c.run(c.api.update_settings("smtp", {"trusted_networks": ()}))
        yield c
    finally:
        c.runtime.stop()


def folder(core: RunningCore, name: str = "") -> list[bytes]:
    md = core.maildir(ALICE) / (f".{name}" if name else "")
    return [p.read_bytes() for sub in ("new", "cur") for p in (md / sub).glob("*")]


def swaks(
    core: RunningCore, body: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    host, port = core.endpoint("smtp")
    server = ["--server", host, "--port", str(port), "--helo", "client.example"]
    return subprocess.run(
        [
            "swaks",
            *server,
            "--from",
            "carol@outside.test",
            "--to",
            ALICE,
            "--body",
            body,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def imap_junk(core: RunningCore) -> str:
    host, port = core.endpoint("imap")
    return subprocess.run(
        [
            "curl",
            "-s",
            "--max-time",
            "15",
            "-u",
            f"{ALICE}:{ALICE_PW}",
            "--",
            f"imap://{host}:{port}/Junk;UID=1",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@needs_swaks
@needs_curl
@pytest.mark.parametrize("kind", ["spamd", "rspamd"])
def test_scored_spam_goes_to_junk_and_ham_to_inbox(
    core: RunningCore, kind: str
) -> None:
    with running(kind, spammy) as scanner:
        core.run(
            core.api.update_settings(
                "smtp",
                {
                    "spam_filter": kind,
                    "spam_filter_port": scanner.port,
                    "spam_reject_score": 20.0,
                },
            )
        )
        out = swaks(core, "buy cheap pills", "--header", "X-Spam-Flag: NO")
        assert out.returncode == 0, out.stdout + out.stderr
        assert swaks(core, "lunch at noon?").returncode == 0
        refused = swaks(core, "very cheap pills")
        assert refused.returncode != 0
        assert "550 5.7.1 Message refused as spam (score 25.0)" in refused.stdout
        # the scanner saw the message with our Received field on top
        assert scanner.requests[0].count(b"by mail.example.test (Quicksilver)") == 1
    [junk] = folder(core, "Junk")
    head = junk.split(b"\n\n")[0]
    assert b"X-Spam-Flag: YES" in head and b"X-Spam-Flag: NO" not in head
    assert b"X-Spam-Score: 9.0" in head
    assert b"reasons=spam score 9.0" in head.replace(b"\n\t", b" ")
    [inbox] = folder(core)
    assert b"lunch at noon?" in inbox
    assert b"X-Spam-Status: No, score=0.5" in inbox and b"X-Spam-Flag" not in inbox
    assert "buy cheap pills" in imap_junk(core)


@needs_swaks
def test_a_scanner_that_is_down_changes_nothing(core: RunningCore) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    core.run(
        core.api.update_settings(
            "smtp", {"spam_filter": "spamd", "spam_filter_port": port}
        )
    )
    assert swaks(core, "buy cheap pills").returncode == 0
    [inbox] = folder(core)
    assert b"X-Spam" not in inbox


@needs_swaks
def test_sieve_keep_means_junk_and_fileinto_wins(core: RunningCore) -> None:
    store = ScriptStore(core.data_dir / "sieve")
    store.put(
        ALICE,
        "rules",
        'require "fileinto";\n'
        'if header :contains "subject" "invoice" { fileinto "Invoices"; stop; }\n'
        'if header :contains "subject" "keepme" { keep; }\n',
    )
    store.set_active(ALICE, "rules")
    core.run(core.runtime.services.store.ensure_user(ALICE))
    core.run(core.runtime.services.store.create_mailbox(ALICE, "Invoices"))
    with running("spamd", spammy) as scanner:
        core.run(
            core.api.update_settings(
                "smtp", {"spam_filter": "spamd", "spam_filter_port": scanner.port}
            )
        )
        for subject in ("keepme", "other", "invoice"):
            sent = swaks(core, "cheap pills", "--header", f"Subject: {subject}")
            assert sent.returncode == 0
    junk = folder(core, "Junk")
    assert len(junk) == 2 and all(b"X-Spam-Flag: YES" in m for m in junk)
    [invoice] = folder(core, "Invoices")
    assert b"Subject: invoice" in invoice
    assert folder(core) == []


@needs_swaks
def test_junk_filing_can_be_turned_off(core: RunningCore) -> None:
    with running("spamd", spammy) as scanner:
        core.run(
            core.api.update_settings(
                "smtp",
                {
                    "spam_filter": "spamd",
                    "spam_filter_port": scanner.port,
                    "junk_spam": False,
                },
            )
        )
        assert swaks(core, "cheap pills").returncode == 0
    [inbox] = folder(core)
    assert b"X-Spam-Flag: YES" in inbox
    assert folder(core, "Junk") == []


@needs_swaks
def test_a_renamed_junk_folder_is_found_by_its_special_use(core: RunningCore) -> None:
    core.run(core.runtime.services.store.ensure_user(ALICE))
    core.run(core.runtime.services.store.rename_mailbox(ALICE, "Junk", "Spam"))
    with running("spamd", spammy) as scanner:
        core.run(
            core.api.update_settings(
                "smtp", {"spam_filter": "spamd", "spam_filter_port": scanner.port}
            )
        )
        assert swaks(core, "cheap pills").returncode == 0
    assert len(folder(core, "Spam")) == 1
    assert folder(core, "Junk") == []


def send(core: RunningCore, from_: str, body: str = "hi") -> tuple[int, bytes]:
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port, local_hostname="client.example") as c:
        c.ehlo()
        c.mail(f"x@{from_.split('@')[1]}")
        code, text = c.rcpt(ALICE)
        if code != 250:
            return code, text
        return c.data(f"From: <{from_}>\r\nSubject: t\r\n\r\n{body}\r\n".encode())


def test_dmarc_quarantine_and_a_dnsbl_tag_mean_junk(core: RunningCore) -> None:
    table = {
        ("evil.test", "TXT"): txt("v=spf1 ip4:127.0.0.0/8 -all"),
        ("_dmarc.shop.test", "TXT"): txt("v=DMARC1; p=quarantine"),
        ("_dmarc.bank.test", "TXT"): txt("v=DMARC1; p=reject"),
        ("1.0.0.127.bl.test", "A"): a("127.0.0.2"),
        ("1.0.0.127.bl.test", "TXT"): txt("spam source"),
    }
    smtp = core.runtime.services.modules["smtp"]
    smtp.resolver = TableResolver(table)  # type: ignore[attr-defined]
    core.run(core.api.update_settings("smtp", {"check_authentication": True}))
    assert send(core, "shop@shop.test")[0] == 250
    [junk] = folder(core, "Junk")
    assert b"reasons=DMARC quarantine policy of shop.test" in junk
    # p=reject while dmarc_reject is off: Junk too, not refused
    core.run(core.api.update_settings("smtp", {"dmarc_reject": False}))
    assert send(core, "ceo@bank.test")[0] == 250
    assert len(folder(core, "Junk")) == 2
    # overridden: INBOX
    core.run(core.api.update_settings("smtp", {"dmarc_overrides": ("bank.test",)}))
    assert send(core, "ceo@bank.test")[0] == 250
    assert len(folder(core)) == 1


def test_a_dnsbl_tag_means_junk_and_an_allow_list_skips_greylisting(
    core: RunningCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.antispam import dnsbl

    # loopback is never looked up: pretend the client is a public address
    monkeypatch.setattr(dnsbl, "query_name", lambda ip, zone: f"7.2.0.192.{zone}")
    table = {
        ("7.2.0.192.bl.test", "A"): a("127.0.0.2"),
        ("7.2.0.192.bl.test", "TXT"): txt("spam source"),
        ("7.2.0.192.wl.test", "A"): a("127.0.10.3"),
    }
    smtp = core.runtime.services.modules["smtp"]
    smtp.resolver = TableResolver(table)  # type: ignore[attr-defined]
    core.run(
        core.api.update_settings(
            "smtp", {"dnsbl_zones": ("bl.test=tag",), "greylisting": True}
        )
    )
    smtp.greylist.clock = lambda: 1_000_000.0  # type: ignore[attr-defined]
    assert send(core, "carol@outside.test")[0] == 451  # greylisted first
    core.run(
        core.api.update_settings(
            "smtp", {"dnsbl_zones": ("bl.test=tag", "wl.test=allow")}
        )
    )
    assert send(core, "dave@outside.test")[0] == 250  # allow list: no wait
    assert folder(core, "Junk") == []  # and the block list was not asked
    core.run(
        core.api.update_settings(
            "smtp", {"dnsbl_zones": ("bl.test=tag",), "greylisting": False}
        )
    )
    assert send(core, "erin@outside.test")[0] == 250
    [junk] = folder(core, "Junk")
    assert b"X-Quicksilver-DNSBL: bl.test (spam source)" in junk
    assert b"reasons=listed at bl.test" in junk


def test_a_forged_mark_from_the_internet_is_removed(core: RunningCore) -> None:
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port, local_hostname="client.example") as c:
        c.sendmail(
            "x@outside.test",
            [ALICE],
            b"X-Spam-Flag: YES\r\nX-Spam-Status: Yes\r\nSubject: t\r\n\r\nhi\r\n",
        )
    [inbox] = folder(core)
    assert b"X-Spam" not in inbox
    assert folder(core, "Junk") == []


def test_block_lists_are_asked_as_the_client_connects(
    core: RunningCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from server.antispam import dnsbl

    monkeypatch.setattr(dnsbl, "query_name", lambda ip, zone: f"7.2.0.192.{zone}")
    resolver = TableResolver(
        {
            ("7.2.0.192.bl.test", "A"): a("127.0.0.2"),
            ("7.2.0.192.bl.test", "TXT"): txt("spam source"),
        }
    )
    core.runtime.services.modules["smtp"].resolver = resolver  # type: ignore[attr-defined]
    core.run(core.api.update_settings("smtp", {"dnsbl_zones": ("bl.test",)}))
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port, local_hostname="client.example") as c:
        deadline = time.monotonic() + 5
        while "7.2.0.192.bl.test A" not in resolver.asked:
            assert time.monotonic() < deadline, resolver.asked
            time.sleep(0.01)
        c.ehlo()
        assert c.mail("x@outside.test")[0] == 250  # asked before MAIL and RCPT
        code, text = c.rcpt(ALICE)
    assert code == 550 and b"blocked using bl.test: spam source" in text
