"""``quicksilver-server config list|get|set`` (issue 17, headless parity):
every setting from the shell, checked as the window checks it, applied by a
running core; the smart host's password only through standard input."""

from __future__ import annotations

import json
import smtplib

import pytest

from server.secrets import SecretStore, relay_key
from tests.conftest import ALICE, BOB, RunningCore
from tests.waiting import run_cli, wait_until


def cli(core: RunningCore, *args: str, stdin: str = "") -> int:
    return run_cli(["--data-dir", str(core.data_dir), "config", *args], stdin)


def test_list_get_and_set_with_the_windows_checks(
    core: RunningCore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(core, "list", "--json") == 0
    every = json.loads(capsys.readouterr().out)
    assert every["smtp.max_recipients"] == 100 and "relay.host" in every
    assert cli(core, "list", "relay") == 0
    lines = capsys.readouterr().out.splitlines()
    assert "relay.port = 587" in lines and all(x.startswith("relay.") for x in lines)

    settings = core.data_dir / "settings.toml"
    before = settings.read_bytes()
    for bad, said in (
        (("smtp.max_recipients", "lots"), "must be a whole number"),
        (("smtp.max_recipients", "0"), "must be 1..100000"),
        (("general.domain", "bad domain"), "not a valid host name"),
        (("smtp.greylisting", "maybe"), "must be true or false"),
        (("smtp.nope", "1"), "unknown setting"),
        (("nosuch.key", "1"), "not a setting"),
    ):
        assert cli(core, "set", *bad) == 2, bad
        assert said in capsys.readouterr().err, bad
    assert settings.read_bytes() == before  # nothing half-written

    assert cli(core, "set", "smtp.dnsbl_zones", "zen.example, bl.example") == 0
    assert cli(core, "set", "smtp.greylisting", "on") == 0
    capsys.readouterr()
    assert cli(core, "get", "smtp.dnsbl_zones", "--json") == 0
    assert json.loads(capsys.readouterr().out) == ["zen.example", "bl.example"]
    assert cli(core, "get", "smtp.greylisting") == 0
    assert capsys.readouterr().out.strip() == "true"


def test_a_running_server_applies_the_change(
    core: RunningCore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(core, "set", "smtp.max_recipients", "1") == 0
    wait_until(
        lambda: core.run(core.api.settings()).smtp.max_recipients == 1,
        "the running core sees the new limit",
    )
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port, local_hostname="client.example") as s:
        s.ehlo()
        s.mail("sender@example.org")
        assert s.rcpt(ALICE)[0] == 250
        code, _ = s.rcpt(BOB)
    assert code == 452  # too many recipients (RFC 5321 4.5.3.1.10)


def test_the_relay_password_goes_through_stdin_only(
    core: RunningCore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(core, "set", "relay.password", "--password-stdin", stdin="x\n") == 2
    assert "relay.host and relay.username first" in capsys.readouterr().err
    assert cli(core, "set", "relay.host", "smarthost.example.net") == 0
    assert cli(core, "set", "relay.username", "bob") == 0
    assert cli(core, "set", "relay.password", "on-the-command-line") == 2
    assert "never given on the command line" in capsys.readouterr().err
    assert cli(core, "set", "relay.password", "--password-stdin", stdin="s3cr3t\n") == 0
    out = capsys.readouterr().out
    assert "saved" in out and "s3cr3t" not in out
    key = relay_key("smarthost.example.net", "bob")
    assert SecretStore(core.data_dir).get(key) == "s3cr3t"
    assert "s3cr3t" not in (core.data_dir / "settings.toml").read_text()


def test_every_listing_speaks_json(
    core: RunningCore, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--data-dir", str(core.data_dir)]
    capsys.readouterr()
    assert run_cli([*base, "user", "list", "--json"]) == 0
    users = json.loads(capsys.readouterr().out)
    assert {u["address"] for u in users} == {ALICE, BOB}
    assert all("password" not in str(u) and "hash" not in u for u in users)
    assert run_cli([*base, "domain", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "example.test"
    assert run_cli([*base, "alias", "list", "--json"]) == 0
    aliases = json.loads(capsys.readouterr().out)
    assert any(a["address"] == "postmaster@example.test" for a in aliases)
    assert run_cli([*base, "module", "list", "--json"]) == 0
    modules = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert modules["smtp"]["enabled"] is True and "port" in modules["imap"]
    # the collector's accounts, distribution lists and DKIM keys too
    assert (
        run_cli(
            [*base, "fetch", "add", "office", "--server", "pop.provider.example",
             "--user", "me", "--to", ALICE, "--password-stdin"],
            stdin="remote-pw\n",
        )
        == 0
    )  # fmt: skip
    assert run_cli([*base, "list", "add", "club@example.test"]) == 0
    assert run_cli([*base, "list", "member", "add", "club@example.test", BOB]) == 0
    assert run_cli([*base, "dkim", "generate", "example.test"]) == 0
    capsys.readouterr()
    assert run_cli([*base, "fetch", "list", "--json"]) == 0
    (acct,) = json.loads(capsys.readouterr().out)
    assert (acct["id"], acct["server"], acct["destination"]) == (
        "office",
        "pop.provider.example",
        ALICE,
    )
    assert "remote-pw" not in json.dumps(acct)
    assert run_cli([*base, "list", "list", "--json"]) == 0
    (club,) = json.loads(capsys.readouterr().out)
    assert club["address"] == "club@example.test" and club["members"] == 1
    assert run_cli([*base, "dkim", "list", "--json"]) == 0
    keys = json.loads(capsys.readouterr().out)
    assert {k["algorithm"] for k in keys} == {"rsa", "ed25519"}
    assert all(k["record_name"].endswith("._domainkey.example.test") for k in keys)
    assert "PRIVATE" not in json.dumps(keys)


def test_access_rules_from_the_shell(
    core: RunningCore, capsys: pytest.CaptureFixture[str]
) -> None:
    """issue 17 headless parity: list, set (checked), test an address."""
    base = ["--data-dir", str(core.data_dir)]
    capsys.readouterr()
    assert run_cli([*base, "access", "list", "pop3", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["pop3"]["default"] is True and "deny all" in listed["pop3"]["rules"]
    assert run_cli([*base, "access", "test", "203.0.113.9", "--module", "pop3"]) == 1
    assert "refused by pop3" in capsys.readouterr().out
    assert run_cli([*base, "access", "set", "pop3", "bogus rule"]) == 2
    assert "allow NETWORK" in capsys.readouterr().err
    rules = ["allow 203.0.113.0/24 # the branch office", "deny all"]
    assert run_cli([*base, "access", "set", "pop3", *rules]) == 0
    assert run_cli([*base, "access", "test", "203.0.113.9", "--module", "pop3"]) == 0
    assert "allowed by pop3, rule 1" in capsys.readouterr().out
    assert run_cli([*base, "access", "test", "127.0.0.1", "--module", "pop3"]) == 1
    assert run_cli([*base, "access", "set", "pop3", "--default"]) == 0
    assert run_cli([*base, "access", "test", "127.0.0.1", "--module", "pop3"]) == 0
