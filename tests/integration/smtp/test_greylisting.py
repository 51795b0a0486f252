"""Greylisting through real SMTP: the first try of a triplet gets 451 4.7.1,
a retry after the delay (the clock moved) passes and the triplet is then
remembered; exempt networks and authenticated sessions are never asked to
wait; off by default."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.antispam import greylist as gl
from tests.conftest import ALICE, BOB, RunningCore, start_core


@pytest.fixture
def gcore(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp",))
    try:
        c.run(
            c.api.update_settings("smtp", {"greylisting": True, "trusted_networks": ()})
        )
        yield c
    finally:
        c.runtime.stop()


def rcpt(core: RunningCore, sender: str, to: str) -> tuple[int, bytes]:
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.example")
        c.mail(sender)
        return c.rcpt(to)


def test_first_try_waits_and_a_retry_after_the_delay_passes(gcore: RunningCore) -> None:
    smtp = gcore.runtime.services.modules["smtp"]
    now = [1_000_000.0]
    assert smtp.greylist is not None  # type: ignore[attr-defined]
    smtp.greylist.clock = lambda: now[0]  # type: ignore[attr-defined]
    code, text = rcpt(gcore, "carol@outside.test", ALICE)
    assert code == 451 and text.startswith(b"4.7.1 Greylisted")
    now[0] += 60
    assert rcpt(gcore, "carol@outside.test", ALICE)[0] == 451  # too soon
    now[0] += gl.DELAY
    assert rcpt(gcore, "carol@outside.test", ALICE)[0] == 250
    now[0] += 30 * 86400  # remembered (auto-whitelisted) for a month
    assert rcpt(gcore, "carol@outside.test", ALICE)[0] == 250
    # another recipient or sender is a new triplet
    assert rcpt(gcore, "carol@outside.test", BOB)[0] == 451
    assert rcpt(gcore, "dave@outside.test", ALICE)[0] == 451
    # a retry after the window starts over
    now[0] += gl.WINDOW + 1
    assert rcpt(gcore, "dave@outside.test", ALICE)[0] == 451
    # and a whole message, once it may pass, is delivered
    now[0] += gl.DELAY
    host, port = gcore.endpoint("smtp")
    # (named: smtplib's default name here is our own address literal)
    with smtplib.SMTP(host, port, local_hostname="client.example") as c:
        c.sendmail("dave@outside.test", [ALICE], b"Subject: at last\r\n\r\nhi\r\n")


def test_exempt_networks_and_the_default(gcore: RunningCore, tmp_path: Path) -> None:
    gcore.run(gcore.api.update_settings("smtp", {"trusted_networks": ("127.0.0.0/8",)}))
    assert rcpt(gcore, "erin@outside.test", ALICE)[0] == 250
    gcore.run(gcore.api.update_settings("smtp", {"greylisting": False}))
    assert gcore.runtime.services.modules["smtp"].greylist is None  # type: ignore[attr-defined]
    other = start_core(tmp_path / "fresh", enabled=("smtp",))
    try:
        assert not other.runtime.services.settings.smtp.greylisting
        assert rcpt(other, "erin@outside.test", ALICE)[0] == 250
    finally:
        other.runtime.stop()


def test_a_bad_exempt_network_is_refused(gcore: RunningCore) -> None:
    from server.errors import ValidationError

    with pytest.raises(ValidationError, match="not a network"):
        gcore.run(gcore.api.update_settings("smtp", {"trusted_networks": ("nope",)}))


def test_block_lists_are_checked_and_loopback_is_never_looked_up(
    gcore: RunningCore,
) -> None:
    from server.errors import ValidationError

    with pytest.raises(ValidationError, match="dnsbl_zones"):
        gcore.run(gcore.api.update_settings("smtp", {"dnsbl_zones": ("nodot",)}))
    gcore.run(
        gcore.api.update_settings(
            "smtp", {"dnsbl_zones": ("bl.example",), "greylisting": False}
        )
    )

    class NoDns:
        async def resolve(self, name: str, rdtype: str) -> None:
            raise AssertionError(f"asked {name}")

    gcore.runtime.services.modules["smtp"].resolver = NoDns()  # type: ignore[attr-defined]
    assert rcpt(gcore, "carol@outside.test", ALICE)[0] == 250
