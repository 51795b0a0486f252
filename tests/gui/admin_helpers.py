"""Helpers for the admin page tests: a bridge over the real core, dialogs."""

from __future__ import annotations

import smtplib
from typing import Any, TypeVar

from PySide6.QtWidgets import QDialog, QMessageBox, QWidget

from server.api import NewUser

from .helpers import DOMAIN

ALICE = f"alice@{DOMAIN}"
ALICE_PW = "alice-Tomato-pw-1"  # passes the strength rule
BOB = f"bob@{DOMAIN}"

W = TypeVar("W", bound=QWidget)


def open_child(qtbot: Any, parent: QWidget, cls: type[W]) -> W:
    """Wait until ``parent`` shows a ``cls`` child and return it."""

    def shown() -> W | None:
        return next((w for w in parent.findChildren(cls) if w.isVisible()), None)

    qtbot.waitUntil(lambda: shown() is not None)
    found = shown()
    assert found is not None
    return found


def answer(qtbot: Any, parent: QWidget, button: QMessageBox.StandardButton) -> str:
    """Answer the message box ``parent`` shows; return its text."""
    box = open_child(qtbot, parent, QMessageBox)
    text = box.text()
    box.button(button).click()
    qtbot.waitUntil(lambda: not box.isVisible())
    return text


def close_dialog(qtbot: Any, dialog: QDialog, accept: bool) -> None:
    (dialog.accept if accept else dialog.reject)()
    qtbot.waitUntil(lambda: not dialog.isVisible())


def add_user(core: Any, address: str = ALICE, password: str = ALICE_PW) -> None:
    core.run(core.api.add_user(NewUser(address, password, display_name="Test")))


def submission_port(core: Any) -> int:
    status = core.run(core.api.set_module_enabled("submission", True))
    assert status.state.value == "RUNNING", status
    return next(e.port for e in status.endpoints if e.security != "implicit")


def submit(port: int, to: str, subject: str) -> None:
    """Send through the submission module, logged in as alice (plain text is
    allowed on loopback)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.login(ALICE, ALICE_PW)
        client.sendmail(
            ALICE,
            [to],
            f"From: {ALICE}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nhello\r\n",
        )
