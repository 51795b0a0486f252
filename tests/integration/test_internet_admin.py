"""The administration of the internet-facing checks, from the shell
(`spam check|status`, `tls-report`) and through the facade the window uses
(`CoreApi.internet`): a scanner that answers and one that does not, the
greylisting counts, TLS-RPT counts, DKIM keys and DNS records with a check
against a table resolver."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from server.antispam.greylist import FILE_NAME as GREYLIST_FILE
from server.antispam.greylist import Greylist
from server.config.store import SettingsStore
from server.delivery.tlsrpt import FILE_NAME as TLSRPT_FILE
from server.delivery.tlsrpt import TlsReport
from server.errors import ValidationError
from tests.conftest import RunningCore, prepare_data_dir, start_core
from tests.unit.antispam.dnsfake import TableResolver, mx, txt
from tests.unit.antispam.fakescanner import running
from tests.waiting import run_cli


def cli(data: Path, *args: str) -> int:
    return run_cli(["--data-dir", str(data), *args])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_spam_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    prepare_data_dir(data)
    store = SettingsStore(data / "settings.toml")
    assert cli(data, "spam", "check") == 2  # none configured: a clear error
    assert "No spam filter is set" in capsys.readouterr().err
    with running("rspamd", lambda body: 1.0) as srv:
        store.patch({"smtp": {"spam_filter": "rspamd", "spam_filter_port": srv.port}})
        assert cli(data, "spam", "check") == 0
        assert f"rspamd at 127.0.0.1:{srv.port} answers" in capsys.readouterr().out
    store.patch({"smtp": {"spam_filter_port": free_port()}})
    assert cli(data, "spam", "check") == 1
    assert "does not answer: cannot connect" in capsys.readouterr().out
    g = Greylist(data / GREYLIST_FILE, clock=lambda: 1000.0)
    g.check("192.0.2.1", "a@x.test", "b@y.test")
    g.check("192.0.2.1", "c@x.test", "b@y.test")
    g.close()
    store.patch({"smtp": {"greylisting": True, "spam_junk_score": 6.5}})
    assert cli(data, "spam", "status") == 0
    out = capsys.readouterr().out
    assert "greylisting: on (2 waiting, 0 passed)" in out
    assert "Junk from 6.5, never refused" in out


def test_tls_report_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    prepare_data_dir(data)
    assert cli(data, "tls-report") == 0
    assert "no outbound TLS" in capsys.readouterr().out
    report = TlsReport(data / TLSRPT_FILE)
    report.record("gmail.test", "sts", "success")
    report.record("gmail.test", "sts", "success")
    report.record("broken.test", "tlsa", "validation-failure")
    report.close()
    assert cli(data, "tls-report", "--days", "1") == 0
    out = capsys.readouterr().out
    assert "gmail.test  sts  success  2" in out
    assert "broken.test  tlsa  validation-failure  1" in out


def test_the_facade(tmp_path: Path) -> None:
    core: RunningCore = start_core(tmp_path / "data")
    try:
        net = core.api.internet
        with pytest.raises(ValidationError, match="not one of your mail domains"):
            core.run(net.dkim_keys("other.test"))
        made = core.run(net.dkim_generate("example.test"))
        assert {v.key.algorithm for v in made} == {"rsa", "ed25519"}
        assert all(v.key.state == "active" for v in made)
        assert made[0].record.startswith("v=DKIM1;")
        rotated = core.run(net.dkim_rotate("example.test"))
        assert sorted(v.key.state for v in rotated).count("published") == 2
        records = core.run(net.dns_records("example.test"))
        names = {(r.name, r.type) for r in records.records}
        assert ("example.test", "MX") in names
        assert sum(1 for n, t in names if "._domainkey." in n) == 4
        table = {
            ("example.test", "MX"): mx("mail.example.test"),
            ("example.test", "TXT"): txt("v=spf1 mx ~all"),
        }
        core.runtime.services.make_resolver = lambda: TableResolver(table)
        found = {
            (f.record.name, f.record.type): f.status
            for f in core.run(net.dns_check("example.test"))
        }
        assert found[("example.test", "MX")] == "ok"
        assert found[("example.test", "TXT")] == "ok"
        assert found[("_dmarc.example.test", "TXT")] == "missing"
        counts = core.run(net.greylist_counts())
        assert (counts.enabled, counts.waiting, counts.passed) == (False, 0, 0)
        with pytest.raises(ValidationError, match="No spam filter"):
            core.run(net.spam_filter_check())
        with running("spamd", lambda body: 0.0) as srv:
            core.run(
                core.api.update_settings(
                    "smtp", {"spam_filter": "spamd", "spam_filter_port": srv.port}
                )
            )
            assert "spamd at" in core.run(net.spam_filter_check())
        assert core.run(net.tls_report()) == ()
        assert core.run(net.mta_sts_policies()) == ()
    finally:
        core.runtime.stop()
