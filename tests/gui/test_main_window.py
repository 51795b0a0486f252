"""The main window against the real core (127.0.0.1, port 0, tmp data dir)."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QMessageBox, QStyle, QStyleOptionViewItem, QTableView

from app.dialogs.settings_dialog import SettingsDialog
from app.dialogs.user_dialog import UserDialog
from app.models.modules_model import ModulesModel
from app.views.main_window import MainWindow
from server.api import CoreApi
from server.modules.base import ModuleState

from .helpers import DOMAIN, wait_for

pytestmark = pytest.mark.gui


def click_check(qtbot: Any, table: QTableView, index: QModelIndex) -> None:
    """Click the check box of a cell where a person would."""
    option = QStyleOptionViewItem()
    table.initViewItemOption(option)
    option.rect = table.visualRect(index)
    option.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
    rect = table.style().subElementRect(
        QStyle.SubElement.SE_ItemViewItemCheckIndicator, option, table
    )
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def smtp_port(win: MainWindow) -> int:
    model = win.modules_model
    status = model.status(model.row_of("smtp"))
    assert status.endpoints, "smtp has no endpoint"
    text = model.data(model.index(model.row_of("smtp"), ModulesModel.COL_ADDRESS))
    assert text == f"127.0.0.1:{status.endpoints[0].port}"
    return status.endpoints[0].port


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def smtp_state(win: MainWindow) -> ModuleState:
    model = win.modules_model
    return model.status(model.row_of("smtp")).state


def tick_smtp(qtbot: Any, win: MainWindow) -> int:
    model = win.modules_model
    index = model.index(model.row_of("smtp"), ModulesModel.COL_ON)
    click_check(qtbot, win.modules_panel.table, index)
    qtbot.waitUntil(lambda: smtp_state(win) is ModuleState.RUNNING)
    qtbot.waitUntil(lambda: bool(model.status(model.row_of("smtp")).endpoints))
    return smtp_port(win)


def test_tick_smtp_listens_and_untick_closes(qtbot: Any, window: MainWindow) -> None:
    model = window.modules_model
    assert smtp_state(window) is ModuleState.STOPPED
    port = tick_smtp(qtbot, window)
    assert listening(port)
    assert (
        model.data(model.index(model.row_of("smtp"), 0), Qt.ItemDataRole.CheckStateRole)
        == Qt.CheckState.Checked
    )
    assert window.status_light.state() is ModuleState.RUNNING

    click_check(
        qtbot,
        window.modules_panel.table,
        model.index(model.row_of("smtp"), ModulesModel.COL_ON),
    )
    qtbot.waitUntil(lambda: smtp_state(window) is ModuleState.STOPPED)
    assert not listening(port)
    assert window.status_light.state() is ModuleState.STOPPED


def open_user_dialog(qtbot: Any, win: MainWindow) -> UserDialog:
    qtbot.mouseClick(win.users_page.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.findChild(UserDialog) is not None)
    dialog = win.findChild(UserDialog)
    assert isinstance(dialog, UserDialog)
    qtbot.waitUntil(dialog.isVisible)
    return dialog


def test_add_user_through_dialog(qtbot: Any, window: MainWindow) -> None:
    window.tabs.setCurrentWidget(window.users_page)
    dialog = open_user_dialog(qtbot, window)
    assert dialog.domain_combo.currentText() == DOMAIN
    qtbot.keyClicks(dialog.local_edit, "alice")
    qtbot.keyClicks(dialog.name_edit, "Alice Example")
    qtbot.keyClicks(dialog.password.edit, "correct horse")
    qtbot.keyClicks(dialog.confirm, "correct horse")
    assert dialog.ok_button.isEnabled()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    users = window.users_page.model
    qtbot.waitUntil(lambda: users.row_of("alice@example.test") >= 0)
    assert (
        users.user(users.row_of("alice@example.test")).display_name == "Alice Example"
    )
    assert wait_for(
        qtbot,
        window.bridge.run(CoreApi.check_login, "alice@example.test", "correct horse"),
    )
    assert not wait_for(
        qtbot, window.bridge.run(CoreApi.check_login, "alice@example.test", "wrong")
    )
    assert "1 user " in window.counts_label.text()


def test_core_side_duplicate_is_shown_in_the_dialog(
    qtbot: Any, window: MainWindow, real_core: Any
) -> None:
    from server.api import NewUser

    dialog = open_user_dialog(qtbot, window)
    # someone else adds bob while the dialog is open
    real_core.run(
        real_core.api.add_user(NewUser("bob@example.test", "pw-one-Kettle-9"))
    )
    qtbot.keyClicks(dialog.local_edit, "bob")
    qtbot.keyClicks(dialog.password.edit, "pw-two-Kettle-9")
    qtbot.keyClicks(dialog.confirm, "pw-two-Kettle-9")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: "bob@example.test" in dialog.error_label.text() and dialog.isVisible()
    )
    dialog.reject()


def test_delete_user_asks_first(qtbot: Any, window: MainWindow, real_core: Any) -> None:
    from server.api import NewUser

    real_core.run(
        real_core.api.add_user(NewUser("carol@example.test", "pw-Kettle-carol-9"))
    )
    real_core.run(
        real_core.services.store.deliver(
            "carol@example.test", b"Subject: keep me\r\n\r\nhi\r\n"
        )
    )
    users = window.users_page.model
    qtbot.waitUntil(lambda: users.row_of("carol@example.test") >= 0)
    window.users_page.select_user("carol@example.test")

    def confirm(button: QMessageBox.StandardButton) -> None:
        qtbot.mouseClick(window.users_page.delete_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.users_page.findChild(QMessageBox) is not None)
        box = window.users_page.findChild(QMessageBox)
        assert isinstance(box, QMessageBox) and "carol@example.test" in box.text()
        assert "deleted/example.test/carol-" in box.text()
        assert "cannot be undone" not in box.text()
        box.button(button).click()
        qtbot.waitUntil(lambda: window.users_page.findChild(QMessageBox) is None)

    confirm(QMessageBox.StandardButton.No)
    assert users.row_of("carol@example.test") >= 0
    confirm(QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: users.row_of("carol@example.test") < 0)
    # the box said where the mail goes (issue 17: not "cannot be undone")
    kept = Path(real_core.data_dir) / "deleted" / "example.test"
    assert [p.name.startswith("carol-") for p in kept.iterdir()] == [True]

    # carol again: the window offers her old mail back, and it comes back
    real_core.run(
        real_core.api.add_user(NewUser("carol@example.test", "pw-Kettle-carol-8"))
    )
    offered = asyncio.ensure_future(
        window.users_page.offer_old_mail("carol@example.test")
    )
    qtbot.waitUntil(lambda: window.users_page.findChild(QMessageBox) is not None)
    box = window.users_page.findChild(QMessageBox)
    assert "was deleted on 20" in box.text() and "kept" in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(offered.done)
    assert offered.result() is True
    inbox = real_core.run(real_core.services.store.list_messages(
        "carol@example.test", "INBOX"))  # fmt: skip
    assert len(inbox) == 1
    assert list(kept.iterdir()) == []  # moved back, not copied


def send_mail(port: int, sender: str = "bob@example.org") -> str:
    """Send one message; return the client's own address as the server sees it."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        host, cport = client.sock.getsockname()[:2]
        client.sendmail(
            sender, ["postmaster@example.test"], "Subject: hi\r\n\r\nhello\r\n"
        )
    return f"{host}:{cport}"


def test_log_console_shows_smtp_session(
    qtbot: Any, window: MainWindow, real_core: Any
) -> None:
    from server.api import NewUser

    real_core.run(
        real_core.api.add_user(NewUser("postmaster@example.test", "pw-Kettle-post-9"))
    )
    console = window.log_console
    port = tick_smtp(qtbot, window)
    peer = send_mail(port)

    def rows_with(text: str) -> list[str]:
        return [r.message for r in console.model.records() if text in r.message]

    # the session's lines carry the client's address; one names the sender
    qtbot.waitUntil(lambda: any("bob@example.org" in m for m in rows_with(peer)))
    assert len(rows_with(peer)) >= 2
    assert any(r.module == "smtp" for r in console.model.records())

    # filter by module, then search
    console.show_module("smtp")
    shown = console.proxy.rowCount()
    assert 0 < shown < console.model.rowCount()
    console.search_edit.setText(peer)
    assert 0 < console.proxy.rowCount() < shown
    assert all(
        peer in console.proxy.index(r, 3).data()
        for r in range(console.proxy.rowCount())
    )

    # pause: new records wait; resume: they appear
    console.pause_check.setChecked(True)
    before = console.model.rowCount()
    peer2 = send_mail(port, "carol@example.org")
    qtbot.waitUntil(lambda: any(peer2 in r.message for r in console._held))
    assert console.model.rowCount() == before
    assert "paused" in console.count_label.text()
    console.pause_check.setChecked(False)
    qtbot.waitUntil(lambda: bool(rows_with(peer2)))
    assert console.model.rowCount() <= console.model.capacity


def last_seq(console: Any) -> int:
    records = console.model.records()
    return records[-1].seq if records else 0


def test_log_console_ring_never_exceeds_bound(qtbot: Any) -> None:
    from app.views.log_console import LogConsole
    from server.events import LogRecorded

    console = LogConsole(capacity=100)
    qtbot.addWidget(console)
    for start in range(1, 1000, 150):
        console.add_records(
            [
                LogRecorded(
                    seq=i,
                    level="INFO",
                    logger="quicksilver.smtp",
                    module="smtp",
                    message=f"line {i}",
                )
                for i in range(start, start + 150)
            ]
        )
        qtbot.waitUntil(lambda s=start: last_seq(console) == s + 149)
        assert console.model.rowCount() == 100
    console.clear_button.click()
    assert console.model.rowCount() == 0


def test_settings_dialog_shows_core_error_then_applies(
    qtbot: Any, window: MainWindow
) -> None:
    window.modules_panel.select_module("smtp")
    qtbot.mouseClick(window.modules_panel.settings_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.findChild(SettingsDialog) is not None)
    dialog = window.findChild(SettingsDialog)
    assert isinstance(dialog, SettingsDialog) and dialog.section == "smtp"
    qtbot.waitUntil(dialog.isVisible)
    assert "enabled" not in dialog.editors

    port = dialog.editors["port"]
    port.setValue(70000)  # type: ignore[attr-defined]
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "0..65535" in dialog.error_label.text())
    assert dialog.isVisible()
    assert "border" in port.styleSheet()

    port.setValue(0)  # type: ignore[attr-defined]
    dialog.editors["timeout"].setValue(120)  # type: ignore[attr-defined]
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.findChild(SettingsDialog) is None)  # closed, freed
    settings = wait_for(qtbot, window.bridge.run(CoreApi.settings))
    assert settings.smtp.timeout == 120
    assert settings.smtp.port == 0


def open_module_settings(qtbot: Any, window: MainWindow, name: str) -> SettingsDialog:
    window.modules_panel.select_module(name)
    qtbot.mouseClick(window.modules_panel.settings_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.findChild(SettingsDialog) is not None)
    dialog = window.findChild(SettingsDialog)
    assert isinstance(dialog, SettingsDialog) and dialog.section == name
    qtbot.waitUntil(dialog.isVisible)
    return dialog


def test_module_settings_check_ports_name_the_owner_and_offer_one(
    qtbot: Any, window: MainWindow
) -> None:
    """Issue 17: a busy port was saved and the module turned red; a port of
    another of our modules was "another program"."""
    wait_for(qtbot, window.bridge.run(CoreApi.set_module_enabled, "pop3", True))
    model = window.modules_model
    qtbot.waitUntil(lambda: bool(model.status(model.row_of("pop3")).endpoints))
    pop3_port = model.status(model.row_of("pop3")).endpoints[0].port  # running
    dialog = open_module_settings(qtbot, window, "smtp")
    port = dialog.editors["port"]
    port.setValue(pop3_port)  # type: ignore[attr-defined]
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "POP3" in dialog.error_label.text())
    assert "Quicksilver's POP3 module" in dialog.error_label.text()
    assert dialog.isVisible() and dialog.fix_button.isVisible()

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        port.setValue(busy)  # type: ignore[attr-defined]
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "another program" in dialog.error_label.text())
        assert dialog.fix_button.isVisible()
        offered = int(dialog.fix_button.text().removeprefix("Use "))
        assert offered != busy and offered != pop3_port
        qtbot.mouseClick(dialog.fix_button, Qt.MouseButton.LeftButton)
        assert port.value() == offered  # type: ignore[attr-defined]
        assert dialog.error_label.text() == ""
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.findChild(SettingsDialog) is None)
    settings = wait_for(qtbot, window.bridge.run(CoreApi.settings))
    assert settings.smtp.port == offered


def test_module_that_cannot_start_shows_red_with_the_reason(
    qtbot: Any, window: MainWindow
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        wait_for(
            qtbot, window.bridge.run(CoreApi.update_settings, "smtp", {"port": busy})
        )
        model = window.modules_model
        index = model.index(model.row_of("smtp"), ModulesModel.COL_ON)
        click_check(qtbot, window.modules_panel.table, index)
        qtbot.waitUntil(lambda: smtp_state(window) is ModuleState.FAILED)
        row = model.row_of("smtp")
        error = model.data(model.index(row, ModulesModel.COL_ERROR))
        assert str(busy) in error and "in use" in error
        assert model.data(index, ModulesModel.LightColourRole).name() == "#d3302f"
        assert window.status_light.state() is ModuleState.FAILED
        assert "failed: SMTP" in window.running_label.text()


def test_edit_user_changes_name_and_password(
    qtbot: Any, window: MainWindow, real_core: Any
) -> None:
    from server.api import NewUser

    real_core.run(
        real_core.api.add_user(NewUser("dave@example.test", "old-Kettle-pw-9"))
    )
    users = window.users_page.model
    qtbot.waitUntil(lambda: users.row_of("dave@example.test") >= 0)
    window.users_page.select_user("dave@example.test")
    qtbot.mouseClick(window.users_page.edit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.findChild(UserDialog) is not None)
    dialog = window.findChild(UserDialog)
    assert isinstance(dialog, UserDialog) and dialog.local_edit.isReadOnly()
    qtbot.waitUntil(dialog.isVisible)
    qtbot.keyClicks(dialog.name_edit, "Dave D")
    qtbot.keyClicks(dialog.password.edit, "new-Kettle-pw-9")
    qtbot.keyClicks(dialog.confirm, "new-Kettle-pw-9")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: users.user(users.row_of("dave@example.test")).display_name == "Dave D"
    )
    assert wait_for(
        qtbot,
        window.bridge.run(CoreApi.check_login, "dave@example.test", "new-Kettle-pw-9"),
    )


def test_legacy_password_is_made_shown_once_and_taken_away(
    qtbot: Any, window: MainWindow, real_core: Any
) -> None:
    """Issue 16: the user dialog's tick makes a separate password for APOP
    and CRAM-MD5, shows it once, and unticking takes it away."""
    from app.dialogs.confirm import TextDialog
    from server.api import NewUser

    real_core.run(
        real_core.api.add_user(NewUser("erin@example.test", "old-Kettle-pw-9"))
    )
    users = window.users_page.model
    qtbot.waitUntil(lambda: users.row_of("erin@example.test") >= 0)

    def edit(tick: bool) -> UserDialog:
        window.users_page.select_user("erin@example.test")
        qtbot.mouseClick(window.users_page.edit_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.findChild(UserDialog) is not None)
        dialog = window.findChild(UserDialog)
        qtbot.waitUntil(dialog.isVisible)
        assert dialog.legacy_check.isChecked() is not tick
        assert "APOP" in dialog.legacy_note.text()
        dialog.legacy_check.setChecked(tick)
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.findChild(UserDialog) is None)
        return dialog

    edit(True)
    qtbot.waitUntil(lambda: window.users_page.findChild(TextDialog) is not None)
    shown = window.users_page.findChild(TextDialog)
    secret = shown.text_edit.toPlainText().strip()
    assert len(secret) == 20
    assert real_core.services.legacy.get("erin@example.test") == secret
    shown.close()
    qtbot.waitUntil(
        lambda: users.user(users.row_of("erin@example.test")).legacy_password
    )
    edit(False)
    qtbot.waitUntil(lambda: not real_core.services.legacy.has("erin@example.test"))


def test_a_long_log_line_can_be_read_and_copied_whole(qtbot: Any) -> None:
    """Issue 17: a line cut at the window's edge had no way to be read."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.views.log_console import LogConsole
    from server.events import LogRecorded

    console = LogConsole(capacity=100)
    qtbot.addWidget(console)
    long = "delivery to far@remote.test failed: " + "the remote said no " * 30
    console.add_records(
        [
            LogRecorded(1, "INFO", "quicksilver.smtp", "smtp", "short one"),
            LogRecorded(2, "WARNING", "quicksilver.mx", "mx", long),
        ]
    )
    qtbot.waitUntil(lambda: console.proxy.rowCount() == 2)
    row = next(
        r for r in range(2) if "remote said" in str(console.proxy.index(r, 3).data())
    )
    console.table.selectRow(row)
    console.copy_action.trigger()
    assert QApplication.clipboard().text().endswith(long)
    console.on_table_doubleClicked(console.proxy.index(row, 3))
    box = console.findChild(QMessageBox)
    assert box is not None and box.text().endswith(long)
    box.close()
