"""The Sessions tab (issue 17): a live list of clients with Disconnect and
Disconnect and ban, driven as a person would."""

from __future__ import annotations

import imaplib
import re
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from app.bridge import CoreBridge
from app.views.sessions_page import SessionsPage
from server.api import CoreApi, NewUser

from .helpers import DOMAIN, wait_for

pytestmark = pytest.mark.gui


def test_a_client_appears_and_is_disconnected_and_banned(
    qtbot: Any, gui_loop: Any, real_core: Any
) -> None:
    bridge = CoreBridge(real_core)
    wait_for(qtbot, bridge.connect_core())
    address = f"carol@{DOMAIN}"
    real_core.run(real_core.api.add_user(NewUser(address, "pw-Kettle-carol-9")))
    wait_for(qtbot, bridge.run(CoreApi.set_module_enabled, "imap", True))
    statuses = wait_for(qtbot, bridge.run(CoreApi.modules))
    (imap_status,) = [s for s in statuses if s.name == "imap"]
    endpoint = next(e for e in imap_status.endpoints if e.security == "starttls")
    client = imaplib.IMAP4(endpoint.host, endpoint.port)
    client.login(address, "pw-Kettle-carol-9")

    parent = QWidget()
    qtbot.addWidget(parent)
    page = SessionsPage(bridge, parent)
    parent.show()
    page.show()
    qtbot.waitUntil(lambda: page.model.rowCount() == 1)
    row = [page.model.item(0, c).text() for c in range(6)]
    assert row[0] == "imap" and row[1].startswith("127.0.0.1:")
    assert row[2] == address and row[5] == "LOGIN"
    received, _, sent = row[4].partition(" / ")  # bytes in and out
    size = r"\d+(\.\d)? (B|KB)"
    assert re.fullmatch(size, received) and re.fullmatch(size, sent), row[4]
    assert received != "0 B" and sent != "0 B"
    assert not page.ban_button.isEnabled()  # nothing chosen yet
    page.table.selectRow(0)
    assert page.ban_button.isEnabled()
    qtbot.mouseClick(page.ban_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.findChild(QMessageBox) is not None)
    box = page.findChild(QMessageBox)
    assert "refuse its address" in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: "banned 127.0.0.1" in page.status.text())
    qtbot.waitUntil(lambda: page.model.rowCount() == 0)
    bans = wait_for(qtbot, bridge.run(CoreApi.bans))
    assert [b.ip for b in bans] == ["127.0.0.1"]
    client.shutdown()
