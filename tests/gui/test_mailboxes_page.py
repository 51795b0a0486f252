"""The Mailboxes tab (issue 17): a user's folders with counts and sizes,
messages newest first, header and source, Move to, Delete, Empty folder,
and the quota in use, driven as an administrator would."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from app.bridge import CoreBridge
from app.views.mailboxes_page import MailboxesPage
from server.api import NewUser

from .helpers import DOMAIN, wait_for

pytestmark = pytest.mark.gui


def yes(qtbot: Any, page: QWidget) -> None:
    qtbot.waitUntil(lambda: page.findChild(QMessageBox) is not None)
    box = page.findChild(QMessageBox)
    box.button(QMessageBox.StandardButton.Yes).click()


def test_browse_move_delete_and_empty(
    qtbot: Any, gui_loop: Any, real_core: Any
) -> None:
    bridge = CoreBridge(real_core)
    wait_for(qtbot, bridge.connect_core())
    address = f"dora@{DOMAIN}"
    real_core.run(
        real_core.api.add_user(
            NewUser(address, "pw-Kettle-dora-9", quota_bytes=10 * 1024 * 1024)
        )
    )
    store = real_core.services.store
    for i in range(3):
        raw = (
            f"From: Sender {i} <s{i}@example.org>\r\nSubject: note {i}\r\n"
            f"Date: Mon, 1 Jan 2024 10:0{i}:00 +0000\r\n\r\nbody {i}\r\n"
        ).encode()
        real_core.run(store.deliver(address, raw, internal_date=1_700_000_000 + i))

    parent = QWidget()
    qtbot.addWidget(parent)
    page = MailboxesPage(bridge, parent)
    parent.show()
    page.show()
    qtbot.waitUntil(lambda: page.user_combo.findText(address) >= 0)
    page.user_combo.setCurrentText(address)
    qtbot.waitUntil(lambda: page.message_model.rowCount() == 3)
    assert page.folder() == "INBOX"
    inbox = page.folder_model.item(0, 1).text()
    assert inbox == "3"
    assert "of 10.0 MB used" in page.quota_label.text()
    assert page.message_model.item(0, 2).text() == "note 2"  # newest first

    page.message_table.selectRow(0)
    qtbot.waitUntil(lambda: "Subject: note 2" in page.viewer.toPlainText())
    assert "body 2" not in page.viewer.toPlainText()  # the header only
    qtbot.mouseClick(page.source_radio, Qt.MouseButton.LeftButton)
    assert "body 2" in page.viewer.toPlainText()

    moved = wait_for(qtbot, page.move_selected("Trash"))
    assert moved == 1
    qtbot.waitUntil(lambda: page.message_model.rowCount() == 2)
    names = [f.name for f in page.folders]
    assert page.folders[names.index("Trash")].messages == 1

    page.message_table.selectRow(0)
    qtbot.waitUntil(lambda: page.delete_button.isEnabled())
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    yes(qtbot, page)
    qtbot.waitUntil(lambda: page.message_model.rowCount() == 1)

    qtbot.mouseClick(page.empty_button, Qt.MouseButton.LeftButton)
    yes(qtbot, page)
    qtbot.waitUntil(lambda: page.message_model.rowCount() == 0)
    infos = real_core.run(store.list_messages(address, "INBOX"))
    assert infos == []
    assert len(real_core.run(store.list_messages(address, "Trash"))) == 1
