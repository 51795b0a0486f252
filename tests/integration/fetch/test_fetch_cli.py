"""``quicksilver-server fetch ...`` against the running core: add an account
with the password on stdin, list it, ask the running collector to check it
now, and remove it."""

from __future__ import annotations

import pytest

from tests.conftest import ALICE, RunningCore
from tests.integration.fetch.conftest import BOX_PW, account, maildir, put
from tests.waiting import run_cli


def cli(core: RunningCore, *args: str, stdin: str = "") -> int:
    return run_cli(["--data-dir", str(core.data_dir), "fetch", *args], stdin)


def test_the_shell_adds_checks_lists_and_removes_an_account(
    fcore: RunningCore, capsys: pytest.CaptureFixture[str]
) -> None:
    a = account(fcore, "pop3")
    put(fcore, 3)
    add = [
        "add", "shell-box", "--server", a.server, "--user", a.username,
        "--protocol", "pop3", "--port", str(a.port), "--tls", "implicit",
        "--accept-fingerprint", a.fingerprint.replace(":", "").lower(),
        "--to", ALICE, "--password-stdin",
    ]  # fmt: skip
    assert cli(fcore, *add, stdin=BOX_PW + "\n") == 0
    assert cli(fcore, *add, stdin=BOX_PW + "\n") == 2  # exists
    capsys.readouterr()
    # the running core's collector takes the request only with the module on
    assert cli(fcore, "check", "shell-box") == 1
    assert "No running server" in capsys.readouterr().out
    fcore.run(fcore.api.set_module_enabled("fetch", True))
    assert cli(fcore, "check", "shell-box") == 0
    out = capsys.readouterr().out
    assert "shell-box:" in out  # the first poll (at start) or this one
    assert len(maildir(fcore, ALICE)) == 3
    assert cli(fcore, "list") == 0
    listed = capsys.readouterr().out
    assert "shell-box  pop3://box@example.test@127.0.0.1" in listed
    assert "ok" in listed and BOX_PW not in listed
    assert cli(fcore, "set", "shell-box", "--interval", "5") == 2  # too short
    assert "10 to 86400" in capsys.readouterr().err
    assert cli(fcore, "remove", "shell-box") == 0
    assert fcore.run(fcore.api.fetch_accounts()) == ()
