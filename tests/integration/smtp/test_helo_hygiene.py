"""Mercury's compliance options on the smtp module: a HELO that claims to be
us is refused (on by default, not for trusted networks), an invalid HELO
name when asked, and a client that keeps naming unknown recipients is
closed after ``max_rcpt_failures``."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE, RunningCore, start_core


@pytest.fixture
def hcore(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp",))
    try:
        c.run(c.api.update_settings("smtp", {"trusted_networks": ()}))
        yield c
    finally:
        c.runtime.stop()


def helo(core: RunningCore, name: str, extended: bool = True) -> tuple[int, bytes]:
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        code, text = c.ehlo(name) if extended else c.helo(name)
        mail = c.docmd("MAIL", "FROM:<x@outside.test>")[0]
        assert mail == (250 if code == 250 else 503)  # no MAIL without HELO
        return code, text


def test_a_helo_claiming_to_be_us_is_refused(hcore: RunningCore) -> None:
    for name in (
        "mail.example.test",
        "MAIL.example.test.",
        "example.test",
        "[127.0.0.1]",
    ):
        code, text = helo(hcore, name)
        assert code == 550 and b"you are not me" in text, name
    assert helo(hcore, "mail.example.test", extended=False)[0] == 550
    assert helo(hcore, "client.example")[0] == 250
    assert helo(hcore, "[192.0.2.7]")[0] == 250
    # from a trusted network (this computer by default) nothing is judged
    hcore.run(hcore.api.update_settings("smtp", {"trusted_networks": ("127.0.0.0/8",)}))
    assert helo(hcore, "mail.example.test")[0] == 250


def test_an_invalid_helo_name_when_asked(hcore: RunningCore) -> None:
    assert helo(hcore, "not a name!")[0] == 250  # off by default
    hcore.run(hcore.api.update_settings("smtp", {"reject_invalid_helo": True}))
    for bad in ("not_a name", "bad..dots", "[999.1.1.1]", "-lead.example"):
        assert helo(hcore, bad)[0] == 501, bad
    for good in ("client.example", "localhost", "mx_1.example", "[IPv6:2001:db8::1]"):
        assert helo(hcore, good)[0] == 250, good


def test_too_many_refused_recipients_close_the_connection(hcore: RunningCore) -> None:
    hcore.run(hcore.api.update_settings("smtp", {"max_rcpt_failures": 3}))
    host, port = hcore.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.example")
        c.mail("x@outside.test")
        assert c.rcpt("nobody1@example.test")[0] == 550
        assert c.rcpt(ALICE)[0] == 250  # a good one does not count
        assert c.rcpt("nobody2@example.test")[0] == 550
        assert c.rcpt("nobody3@example.test")[0] == 421
        with pytest.raises(smtplib.SMTPServerDisconnected):
            c.rcpt(ALICE)
