"""`quicksilver-server dns`: the records a domain needs (with its DKIM keys)
and, with --check, record by record what a resolver answering from a table
says (no DNS query leaves), including forward-confirmed reverse DNS."""

from __future__ import annotations

from pathlib import Path

import pytest

from server import cli_dns
from tests.conftest import prepare_data_dir
from tests.unit.antispam.dnsfake import Rec, TableResolver, a, mx, ptr, txt
from tests.waiting import run_cli


def cli(data: Path, *args: str) -> int:
    return run_cli(["--data-dir", str(data), *args])


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    prepare_data_dir(d, ("smtp",))
    assert cli(d, "domain", "add", "example.test") == 0
    assert cli(d, "dkim", "generate", "example.test") == 0
    return d


def test_the_records_to_publish(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli(data, "dns", "example.test") == 0
    out = capsys.readouterr().out
    assert "example.test.  MX  10 mail.example.test." in out
    assert 'example.test.  TXT  "v=spf1 mx ~all"' in out
    assert out.count("._domainkey.example.test.  TXT") == 2
    assert '_dmarc.example.test.  TXT  "v=DMARC1; p=none' in out
    assert "_imaps._tcp.example.test.  SRV  0 1 " in out
    assert "autoconfig.example.test.  CNAME  mail.example.test." in out
    assert cli(data, "dns", "other.test") == 2


def test_the_check_says_what_is_missing_or_different(
    data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    capsys.readouterr()
    cli(data, "dns", "example.test")
    printed = capsys.readouterr().out
    dkim = {
        line.split(".  TXT  ")[0]: line.split('TXT  "')[1].split('"')[0]
        for line in printed.splitlines()
        if "._domainkey." in line
    }
    table = {
        ("example.test", "MX"): mx("mail.example.test"),
        ("example.test", "TXT"): txt("v=spf1 mx -all"),
        ("mail.example.test", "A"): a("192.0.2.25"),
        ("25.2.0.192.in-addr.arpa", "PTR"): ptr("dsl-host.isp.test"),
        ("_imaps._tcp.example.test", "SRV"): [
            Rec(address="0 1 993 mail.example.test.")
        ],
    }
    first = next(iter(dkim))
    table[(first, "TXT")] = txt(dkim[first])
    monkeypatch.setattr(cli_dns, "make_resolver", lambda: TableResolver(table))
    assert cli(data, "dns", "example.test", "--check") == 1
    out = capsys.readouterr().out
    lines = {ln.split(" ", 1)[1].split(":")[0].strip(): ln for ln in out.splitlines()}
    assert lines["example.test MX"].startswith("ok")
    assert lines["example.test TXT"].startswith("ok")
    assert lines["mail.example.test A"].startswith("different")
    assert "has PTR dsl-host.isp.test" in lines["mail.example.test A"]
    assert lines[f"{first} TXT"].startswith("ok")
    second = next(n for n in dkim if n != first)
    assert lines[f"{second} TXT"].startswith("missing")
    assert lines["_dmarc.example.test TXT"].startswith("missing")
    assert lines["_imaps._tcp.example.test SRV"].startswith("ok")
    assert lines["autoconfig.example.test CNAME"].startswith("missing")


def test_mta_sts_records_when_published(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.config.store import SettingsStore
    from server.protocols.web import mtasts

    store = SettingsStore(data / "settings.toml")
    store.patch({"web": {"mta_sts_mode": "testing"}})
    capsys.readouterr()
    assert cli(data, "dns", "example.test") == 0
    out = capsys.readouterr().out
    policy = mtasts.policy_text(store.load())
    assert "mode: testing\r\nmx: mail.example.test\r\n" in policy
    assert (
        f'_mta-sts.example.test.  TXT  "v=STSv1; id={mtasts.policy_id(policy)}"' in out
    )
    assert "mta-sts.example.test.  CNAME  mail.example.test." in out
    assert '_smtp._tls.example.test.  TXT  "v=TLSRPTv1; rua=mailto:postmaster@' in out
    assert "_autodiscover._tcp.example.test.  SRV  0 1 443 mail.example.test." in out
    assert "web module is off" in out  # a note: nothing serves it yet
    store.patch({"web": {"mta_sts_mode": ""}})
    assert cli(data, "dns", "example.test") == 0
    assert "_mta-sts" not in capsys.readouterr().out
