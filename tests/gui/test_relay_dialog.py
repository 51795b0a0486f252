"""The relay (smart host) dialog: validation, saving, the password, the test."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.bridge import CoreBridge
from app.dialogs.relay_dialog import RelayChange, RelayDialog
from app.views.queue_page import QueuePage
from server.config.schema import RelaySettings
from server.delivery.smtp_client import ProbeResult
from tests.integration.outbound.sink import Sink

from .admin_helpers import open_child
from .helpers import wait_for

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    """As on a headless Linux box: no keyring, so the 0600 file is used (and
    the tests never touch the real keyring)."""
    import keyring
    from keyring.backends import fail

    old = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(old)


@pytest.fixture
def dialog(qtbot: Any) -> RelayDialog:
    d = RelayDialog(RelaySettings(), "Passwords are stored in the system keyring.")
    qtbot.addWidget(d)
    d.show()
    return d


def type_into(qtbot: Any, edit: Any, text: str) -> None:
    edit.clear()
    qtbot.keyClicks(edit, text)


def test_validation_as_you_type(qtbot: Any, dialog: RelayDialog) -> None:
    assert not dialog.ok_button.isEnabled()
    assert "Enter the smart host" in dialog.error_label.text()
    assert not dialog.test_button.isVisible()  # no tester handed in
    type_into(qtbot, dialog.host_edit, "smtp provider")
    assert "smart host" in dialog.error_label.text()
    assert not dialog.ok_button.isEnabled()
    type_into(qtbot, dialog.host_edit, "smtp.provider.example")
    assert dialog.ok_button.isEnabled() and dialog.error_label.text() == ""
    type_into(qtbot, dialog.password.edit, "secret")
    assert "user name that goes with the password" in dialog.error_label.text()
    type_into(qtbot, dialog.username_edit, "me@provider.example")
    assert dialog.ok_button.isEnabled()
    # the usual port follows the security mode; a mismatch is hinted
    dialog.security_combo.setCurrentIndex(dialog.security_combo.findData("implicit"))
    assert dialog.port_spin.value() == 465
    dialog.port_spin.setValue(587)
    assert "usually expects STARTTLS" in dialog.hint_label.text()
    assert dialog.ok_button.isEnabled()  # a hint, not an error
    dialog.security_combo.setCurrentIndex(dialog.security_combo.findData("none"))
    assert "never sent" in dialog.hint_label.text()


def test_value_holds_only_changes(qtbot: Any, dialog: RelayDialog) -> None:
    type_into(qtbot, dialog.host_edit, "smtp.provider.example")
    assert dialog.value() == RelayChange({"host": "smtp.provider.example"}, None)
    dialog.verify_check.setChecked(False)
    type_into(qtbot, dialog.username_edit, "me")
    type_into(qtbot, dialog.password.edit, "pw")
    value = dialog.value()
    assert value.settings == {
        "host": "smtp.provider.example",
        "username": "me",
        "verify_certificate": False,
    }
    assert value.password == "pw"
    dialog.forget_check.setChecked(True)
    assert dialog.value().password == "" and not dialog.password.isEnabled()


def test_test_button_shows_the_probe(
    qtbot: Any, gui_loop: Any, dialog: RelayDialog
) -> None:
    seen: list[RelayChange] = []

    async def tester(change: RelayChange) -> ProbeResult:
        seen.append(change)
        return ProbeResult(True, "220 hi", "PIPELINING", "STARTTLS worked.", "", "ok")

    dialog.set_tester(tester)
    assert dialog.test_button.isVisible() and not dialog.test_button.isEnabled()
    type_into(qtbot, dialog.host_edit, "smtp.provider.example")
    assert dialog.test_button.isEnabled()
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Banner: 220 hi" in dialog.test_output.toPlainText())
    assert "TLS: STARTTLS worked." in dialog.test_output.toPlainText()
    assert seen[0].settings["host"] == "smtp.provider.example"


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink().start()
    try:
        yield s
    finally:
        s.stop()


def test_relay_settings_saved_through_the_core(
    qtbot: Any, gui_loop: Any, real_core: Any, sink: Sink, tmp_path: Any
) -> None:
    bridge = CoreBridge(real_core)
    wait_for(qtbot, bridge.connect_core())
    page = QueuePage(bridge)
    qtbot.addWidget(page)
    page.show()
    try:
        page.relay_button.click()
        dialog = open_child(qtbot, page, RelayDialog)
        assert "in a protected file" in dialog.storage_label.text()
        assert "no keyring is available" in dialog.storage_label.text()
        assert "secrets.json" in dialog.storage_label.toolTip()  # the core's words
        type_into(qtbot, dialog.host_edit, "127.0.0.1")
        dialog.security_combo.setCurrentIndex(dialog.security_combo.findData("none"))
        dialog.port_spin.setValue(sink.port)
        type_into(qtbot, dialog.username_edit, "relay-user")
        type_into(qtbot, dialog.password.edit, "relay-secret-pw")

        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: "Banner: 220 sink.test ESMTP" in dialog.test_output.toPlainText()
        )
        assert "127.0.0.1 answered" in dialog.test_output.toPlainText()
        assert dialog.password.text() == ""  # stored by the test; "unchanged" now

        dialog.port_spin.setValue(sink.port)  # unchanged: nothing more to save
        dialog.timeout_spin.setValue(60)
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "Relay settings saved" in page.status_label.text())
        assert not any(d.isVisible() for d in page.findChildren(RelayDialog))
    finally:
        page.hide()
        bridge.disconnect_core()

    api = real_core.api
    relay = real_core.run(api.settings()).relay
    assert (relay.host, relay.port, relay.security) == ("127.0.0.1", sink.port, "none")
    assert (relay.username, relay.timeout) == ("relay-user", 60)
    assert real_core.run(api.secrets_backend()).uses_file
    data_dir = tmp_path / "data"
    assert "relay-secret-pw" not in (data_dir / "settings.toml").read_text()
    secrets_file = data_dir / "secrets.json"
    assert "relay-secret-pw" in json.loads(secrets_file.read_text()).values()
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
