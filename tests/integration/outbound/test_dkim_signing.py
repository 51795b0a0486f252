"""DKIM end to end: keys made with `quicksilver-server dkim`, a message
submitted by alice leaves through the relay (the local sink plays the smart
host) with an Ed25519 and an RSA signature that verify against the records
`dkim records` prints; mail from a domain without keys leaves unsigned."""

from __future__ import annotations

import re

import dkim
import pytest

from tests.conftest import RunningCore
from tests.integration.outbound.sink import Sink
from tests.integration.outbound.test_relay import MSG, settle, submit
from tests.waiting import run_cli


def records(
    core: RunningCore, capsys: pytest.CaptureFixture[str]
) -> dict[bytes, bytes]:
    capsys.readouterr()
    assert (
        run_cli(["--data-dir", str(core.data_dir), "dkim", "records", "example.test"])
        == 0
    )
    out = capsys.readouterr().out
    found = re.findall(r'^(\S+) TXT "([^"]+)"', out, re.MULTILINE)
    assert len(found) == 2, out
    return {name.encode(): value.encode() for name, value in found}


def test_mail_leaves_signed_and_verifies(
    relay_core: RunningCore, sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run_cli(
            ["--data-dir", str(relay_core.data_dir), "dkim", "generate", "example.test"]
        )
        == 0
    )
    dns = records(relay_core, capsys)
    submit(relay_core, ["far@remote.test"])
    settle(relay_core)
    assert sink.wait_messages(1)
    data = sink.messages[0].data
    assert data.count(b"DKIM-Signature:") == 2
    assert b"a=ed25519-sha256" in data and b"a=rsa-sha256" in data
    assert b"d=example.test" in data
    for i in range(2):
        assert dkim.DKIM(data).verify(
            idx=i, dnsfunc=lambda name, timeout=5: dns.get(name, b"")
        )
    assert b".a line with a leading dot" in data  # the dot survived signing


def test_a_domain_without_keys_sends_unsigned(
    relay_core: RunningCore, sink: Sink
) -> None:
    submit(relay_core, ["far@remote.test"])
    settle(relay_core)
    assert sink.wait_messages(1)
    assert b"DKIM-Signature" not in sink.messages[0].data
    assert MSG.split(b"\r\n\r\n")[1] in sink.messages[0].data
