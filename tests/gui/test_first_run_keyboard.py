"""The whole first run driven as a person at the keyboard (issue 17): from
the welcome page to a received test message, with typing, Tab, Space and
Enter only (no widget is set by code). The data folder is preset to
loopback and free ports (port 0), so nothing here depends on which ports
this machine has free."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.__main__ import run_session
from app.dialogs.first_run_wizard import FirstRunWizard
from app.dialogs.test_message_dialog import TestMessageDialog
from app.views.main_window import MainWindow

from .helpers import DOMAIN, HOSTNAME, write_test_settings
from .test_lifecycle import top_level

pytestmark = pytest.mark.gui


def focused() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None, "nothing has the keyboard focus"
    return widget


def key(
    qtbot: Any, k: Qt.Key, mod: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
) -> None:
    qtbot.keyClick(focused(), k, mod)


def typed(qtbot: Any, text: str) -> None:
    qtbot.keyClicks(focused(), text)


def preset(data: Path) -> None:
    """Loopback and port 0 everywhere, the modules on as a new install has
    them (SMTP, POP3, IMAP)."""
    import dataclasses

    from server.config.schema import Settings
    from server.config.store import SettingsStore

    write_test_settings(data)
    store = SettingsStore(data / "settings.toml")
    settings = store.load()
    for name in ("smtp", "pop3", "imap", "submission"):
        default = getattr(Settings(), name).enabled
        section = dataclasses.replace(settings.section(name), enabled=default)
        settings = settings.replace_section(name, section)
    store.save(settings)


def test_first_run_by_keyboard_to_a_received_test_message(
    qtbot: Any, gui_loop: Any, tmp_path: Path
) -> None:
    from server.runtime import Runtime

    data = tmp_path / "data"
    preset(data)
    windows: list[MainWindow] = []
    task = asyncio.ensure_future(run_session(Runtime(data), on_window=windows.append))
    qtbot.waitUntil(lambda: top_level(FirstRunWizard) is not None, timeout=10_000)
    wizard: FirstRunWizard = top_level(FirstRunWizard)
    wizard.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)

    def on_page(page: QWidget) -> None:
        qtbot.waitUntil(lambda: wizard.currentPage() is page, timeout=5000)

    # Welcome: Enter is Next
    on_page(wizard.welcome_page)
    key(qtbot, Qt.Key.Key_Return)
    # Mail domain: the cursor is in the domain; Tab to the host name
    on_page(wizard.domain_page)
    assert focused() is wizard.domain_page.domain_edit
    assert wizard.domain_page.error_label.text() == ""  # no red before typing
    typed(qtbot, DOMAIN)
    key(qtbot, Qt.Key.Key_Tab)
    assert focused() is wizard.domain_page.hostname_edit
    key(qtbot, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    typed(qtbot, HOSTNAME)
    key(qtbot, Qt.Key.Key_Return)
    # Certificate: self-signed is chosen; Who may connect: this computer only
    on_page(wizard.certificate_page)
    assert wizard.certificate_page.self_signed_radio.isChecked()
    key(qtbot, Qt.Key.Key_Return)
    on_page(wizard.reach_page)
    assert wizard.reach_page.local_radio.isChecked()
    key(qtbot, Qt.Key.Key_Return)
    # Modules: SMTP, Submission, POP3 and IMAP ticked; Next once the ports
    # are checked
    on_page(wizard.modules_page)
    ticked = {r.name for r in wizard.modules_page.rows if r.check.isChecked()}
    assert {"smtp", "submission", "pop3", "imap"} <= ticked
    next_button = wizard.button(wizard.WizardButton.NextButton)
    qtbot.waitUntil(next_button.isEnabled, timeout=10_000)
    key(qtbot, Qt.Key.Key_Return)
    # First user: the cursor is in the name; Tab to the password and confirm
    page = wizard.user_page
    on_page(page)
    qtbot.waitUntil(lambda: focused() is page.local_edit)
    typed(qtbot, "alice")
    key(qtbot, Qt.Key.Key_Tab)
    assert focused() is page.password.edit
    typed(qtbot, "orbit-Kettle-tuba-9")
    key(qtbot, Qt.Key.Key_Tab)  # straight to Confirm, not the buttons
    assert focused() is page.confirm
    typed(qtbot, "orbit-Kettle-tuba-9")
    finish = wizard.button(wizard.WizardButton.FinishButton)
    qtbot.waitUntil(finish.isEnabled)
    key(qtbot, Qt.Key.Key_Return)

    # The window: Ctrl+T opens Send test message; Enter sends it to alice
    qtbot.waitUntil(lambda: bool(windows), timeout=15_000)
    window = windows[0]
    window.activateWindow()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=5000)
    qtbot.waitUntil(
        lambda: any(
            s.name == "smtp" and s.state.value == "RUNNING"
            for s in window.modules_model.statuses()
        ),
        timeout=10_000,
    )
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: top_level(TestMessageDialog) is not None, timeout=5000)
    dialog: TestMessageDialog = top_level(TestMessageDialog)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: isinstance(QApplication.focusWidget(), QWidget))
    assert dialog.from_edit.text() == f"alice@{DOMAIN}"  # a real local user
    key(qtbot, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=10_000)
    said = window.findChild(QMessageBox).text()
    assert f"alice@{DOMAIN} was accepted" in said

    inbox = data / "mail" / DOMAIN / "alice"
    qtbot.waitUntil(lambda: any((inbox / "new").iterdir()), timeout=10_000)
    (message,) = list((inbox / "new").iterdir())
    assert b"Subject: Quicksilver test message" in message.read_bytes()
    window.quit()
    qtbot.waitUntil(task.done, timeout=10_000)
    assert task.result() == 0
