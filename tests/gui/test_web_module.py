"""The web module in the window: a row in the modules panel (off by
default), a tick that makes it answer HTTPS, and its settings dialog, which
refuses a public URL that is not https://."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from app.dialogs.settings_dialog import SettingsDialog
from app.models.modules_model import ModulesModel
from app.views.main_window import MainWindow
from server.modules.base import ModuleState

from .test_main_window import click_check

pytestmark = pytest.mark.gui


def test_the_web_modules_tick_makes_it_answer_https(
    qtbot: Any, window: MainWindow, tmp_path: Path
) -> None:
    model = window.modules_model
    row = model.row_of("web")
    assert row >= 0 and model.status(row).state is ModuleState.STOPPED
    on = model.index(row, ModulesModel.COL_ON)
    click_check(qtbot, window.modules_panel.table, on)
    qtbot.waitUntil(lambda: model.status(row).state is ModuleState.RUNNING)
    qtbot.waitUntil(lambda: bool(model.status(row).endpoints))
    end = model.status(row).endpoints[0]
    assert end.security == "implicit"
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", end.port), timeout=5) as s,
        ctx.wrap_socket(s) as t,
    ):
        t.sendall(b"GET /unsubscribe/nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        first = t.makefile("rb").readline()
    assert first == b"HTTP/1.1 404 Not Found\r\n"
    window.grab().save(str(tmp_path / "modules-web.png"))
    assert (tmp_path / "modules-web.png").stat().st_size > 0


def test_the_settings_dialog_refuses_a_plain_http_url(
    qtbot: Any, window: MainWindow, real_core: Any
) -> None:
    window.open_settings("web")
    qtbot.waitUntil(lambda: window.findChild(SettingsDialog) is not None)
    dialog = window.findChild(SettingsDialog)
    assert isinstance(dialog, SettingsDialog)
    qtbot.waitUntil(dialog.isVisible)
    url = dialog.editors["public_url"]
    assert isinstance(url, QLineEdit) and url.placeholderText()
    url.setText("http://lists.example.test")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "https://" in dialog.error_label.text())
    assert dialog.isVisible()
    url.setText("https://lists.example.test")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: (
            real_core.services.settings.web.public_url == "https://lists.example.test"
        )
    )
