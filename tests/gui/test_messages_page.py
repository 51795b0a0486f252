"""The Messages tab (issue 17, capture mode): the tick turns it on, mail to
any address shows up live with its attachments, the HTML is shown without
loading anything from outside, an attachment is saved, one message is
released through the relay to a local sink, and Delete all empties it."""

from __future__ import annotations

import base64
import smtplib
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from app.bridge import CoreBridge
from app.views.messages_page import MessagesPage
from tests.integration.outbound.sink import Sink

from .helpers import wait_for

pytestmark = pytest.mark.gui

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
    "hKmMIQAAAABJRU5ErkJggg=="
)
MESSAGE = (
    b"From: Shop <shop@dev.example>\r\nTo: buyer@anywhere.example\r\n"
    b"Subject: Order 42\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="o"\r\n\r\n'
    b'--o\r\nContent-Type: multipart/related; boundary="r"\r\n\r\n'
    b"--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<h1>Thanks</h1><script>document.write('ran')</script>"
    b'<img src="http://127.0.0.1:9/track.png"><img src="cid:logo@x">'
    b'<link rel="stylesheet" href="https://cdn.example/x.css">\r\n'
    b"--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + base64.b64encode(PNG)
    + b"\r\n--r--\r\n"
    b'--o\r\nContent-Type: text/csv; name="rows.csv"\r\n'
    b'Content-Disposition: attachment; filename="rows.csv"\r\n\r\na,b\r\n1,2\r\n'
    b"--o--\r\n"
)


def yes(qtbot: Any, page: QWidget) -> None:
    qtbot.waitUntil(lambda: page.findChild(QMessageBox) is not None)
    box = page.findChild(QMessageBox)
    box.button(QMessageBox.StandardButton.Yes).click()


def test_capture_tick_live_list_safe_view_save_release_and_delete_all(
    qtbot: Any, gui_loop: Any, real_core: Any, tmp_path: Path
) -> None:
    sink = Sink().start()
    try:
        real_core.run(real_core.api.set_module_enabled("smtp", True))
        real_core.run(
            real_core.api.update_settings(
                "relay",
                {"host": "127.0.0.1", "port": sink.port, "security": "none"},
            )
        )
        real_core.run(real_core.api.set_module_enabled("relay", True))
        bridge = CoreBridge(real_core)
        wait_for(qtbot, bridge.connect_core())
        parent = QWidget()
        qtbot.addWidget(parent)
        page = MessagesPage(bridge, parent)
        parent.show()
        page.show()
        qtbot.waitUntil(lambda: page.state is not None)
        assert not page.capture_box.isChecked()
        assert not page.delete_all_button.isEnabled()

        qtbot.mouseClick(page.capture_box, Qt.MouseButton.LeftButton)
        yes(qtbot, page)
        qtbot.waitUntil(lambda: page.state is not None and page.state.enabled)
        assert page.capture_box.isChecked()
        assert "IMAP or POP3, user capture@" in page.login_label.text()
        password = wait_for(qtbot, page.show_password())
        assert password and password in page.login_label.text()

        def smtp_up() -> bool:
            return any(
                m.name == "smtp" and m.state.value == "RUNNING" and m.endpoints
                for m in real_core.run(real_core.api.modules())
            )

        qtbot.waitUntil(smtp_up)
        (smtp,) = [
            m for m in real_core.run(real_core.api.modules()) if m.name == "smtp"
        ]
        with smtplib.SMTP(
            smtp.endpoints[0].host, smtp.endpoints[0].port, local_hostname="dev"
        ) as s:
            s.sendmail("shop@dev.example", ["buyer@anywhere.example"], MESSAGE)
        qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=5000)  # live
        assert page.model.item(0, 2).text() == "buyer@anywhere.example"
        assert page.model.item(0, 3).text() == "Order 42"
        assert page.model.item(0, 5).text() == "rows.csv"

        page.table.selectRow(0)
        qtbot.waitUntil(lambda: page.shown is not None)
        assert page.viewer.currentIndex() == 0  # it has HTML: shown rendered
        html = page.html_view.toPlainText()
        assert "Thanks" in html and "ran" not in html  # no script ran
        refused = page.html_view.refused
        assert any("127.0.0.1:9/track.png" in r for r in refused)
        assert not any("logo@x" in r for r in refused)  # the inline image loaded
        assert "Subject: Order 42" in page.header_view.toPlainText()
        assert "Content-ID: <logo@x>" in page.source_view.toPlainText()
        assert page.attachment_list.count() == 1
        saved = wait_for(qtbot, page.save_attachment(str(tmp_path / "rows.csv")))
        assert Path(saved).read_bytes() == b"a,b\r\n1,2"
        assert sink.messages == [], "nothing left while captured"

        reply = wait_for(qtbot, page.release_selected("dev@real.example"))
        assert reply and "Sent to dev@real.example" in page.status.text()
        qtbot.waitUntil(lambda: len(sink.messages) == 1)
        assert sink.messages[0].rcpts == ["dev@real.example"]
        assert wait_for(qtbot, page.release_selected("not an address")) == ""
        assert "Not released" in page.status.text()

        qtbot.mouseClick(page.delete_all_button, Qt.MouseButton.LeftButton)
        yes(qtbot, page)
        qtbot.waitUntil(lambda: page.model.rowCount() == 0)
        assert page.shown is None and not page.delete_all_button.isEnabled()
    finally:
        sink.stop()


def test_the_window_title_says_capture_mode(
    qtbot: Any, window: Any, real_core: Any
) -> None:
    assert "capture" not in window.windowTitle()
    real_core.run(real_core.api.update_settings("capture", {"enabled": True}))
    qtbot.waitUntil(lambda: "capture mode" in window.windowTitle(), timeout=5000)
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert "Messages" in titles
    real_core.run(real_core.api.update_settings("capture", {"enabled": False}))
    qtbot.waitUntil(lambda: "capture" not in window.windowTitle(), timeout=5000)
