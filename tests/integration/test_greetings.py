"""Greeting text per module (issue 17): the usual greeting, the version on
request, a banner of the administrator's own; a banner that would break the
protocol line is refused."""

from __future__ import annotations

import imaplib
import poplib
import smtplib

import pytest

from server.errors import ValidationError
from server.greeting import version
from tests.conftest import RunningCore
from tests.waiting import wait_until


def greetings(core: RunningCore) -> tuple[str, str, str]:
    """The three greetings, as each client reads them."""
    smtp = smtplib.SMTP(local_hostname="c.example")
    code, text = smtp.connect(*core.endpoint("smtp"))
    smtp.quit()
    pop = poplib.POP3(*core.endpoint("pop3", "starttls"))
    welcome = pop.getwelcome().decode()
    pop.quit()
    imap = imaplib.IMAP4(*core.endpoint("imap", "starttls"))
    hello = imap.welcome.decode()
    imap.logout()
    return f"{code} {text.decode()}", welcome, hello


def settle(core: RunningCore, module: str, **values: object) -> None:
    core.run(core.api.update_settings(module, values))
    wait_until(
        lambda: all(
            getattr(core.run(core.api.settings()).section(module), k) == v
            for k, v in values.items()
        ),
        f"{module} settings applied",
    )
    wait_until(
        lambda: all(
            m.state.value == "RUNNING"
            for m in core.run(core.api.modules())
            if m.enabled
        ),
        "modules running again",
    )


def test_usual_version_and_own_banner(core3: RunningCore) -> None:
    smtp, pop, imap = greetings(core3)
    assert smtp.startswith("220 ") and smtp.endswith("Quicksilver ESMTP")
    assert pop.startswith("+OK Quicksilver POP3 server ready")
    assert "Quicksilver IMAP4rev1 ready" in imap
    assert version() not in smtp + pop + imap  # no version unless asked

    for module in ("smtp", "pop3", "imap"):
        settle(core3, module, show_version=True)
    smtp, pop, imap = greetings(core3)
    assert f"Quicksilver {version()} ESMTP" in smtp
    assert pop.startswith(f"+OK Quicksilver {version()} POP3 server ready")
    assert f"Quicksilver {version()} IMAP4rev1 ready" in imap

    settle(core3, "smtp", banner="ESMTP Mail for the Example office")
    settle(core3, "pop3", banner="Office mail")
    settle(core3, "imap", banner="Office mail (IMAP)")
    smtp, pop, imap = greetings(core3)
    assert smtp.endswith(" ESMTP Mail for the Example office")
    assert pop.startswith("+OK Office mail")
    assert imap.endswith(" Office mail (IMAP)")
    assert "Quicksilver" not in smtp + pop + imap


def test_a_banner_that_would_break_the_line_is_refused(core3: RunningCore) -> None:
    for bad in ("two\r\nlines", "x" * 201, "caf\u00e9"):
        with pytest.raises(ValidationError, match=r"smtp\.banner"):
            core3.run(core3.api.update_settings("smtp", {"banner": bad}))
