"""The window shows the ManageSieve module like any other: a row in the modules
panel (off by default), a tick that makes it listen, and its settings dialog."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSpinBox

from app.dialogs.settings_dialog import SettingsDialog
from app.models.modules_model import ModulesModel
from app.views.main_window import MainWindow
from server.modules.base import ModuleState

from .test_main_window import click_check

pytestmark = pytest.mark.gui


def test_modules_panel_lists_managesieve_and_its_tick_starts_it(
    qtbot: Any, window: MainWindow, tmp_path: Path
) -> None:
    model = window.modules_model
    row = model.row_of("managesieve")
    assert row >= 0
    assert model.status(row).title == "ManageSieve"
    assert model.status(row).state is ModuleState.STOPPED
    on = model.index(row, ModulesModel.COL_ON)
    assert model.data(on, Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    shown = [
        model.data(model.index(row, c), Qt.ItemDataRole.DisplayRole)
        for c in range(model.columnCount())
    ]
    assert "ManageSieve" in shown

    click_check(qtbot, window.modules_panel.table, on)
    qtbot.waitUntil(lambda: model.status(row).state is ModuleState.RUNNING)
    qtbot.waitUntil(lambda: bool(model.status(row).endpoints))
    port = model.status(row).endpoints[0].port
    assert model.status(row).endpoints[0].security == "starttls"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        first = s.makefile("rb").readline()
    assert first == b'"IMPLEMENTATION" "Quicksilver"\r\n'
    window.grab().save(str(tmp_path / "modules-managesieve.png"))
    assert (tmp_path / "modules-managesieve.png").stat().st_size > 0


def test_managesieve_settings_dialog_shows_its_port(
    qtbot: Any, window: MainWindow
) -> None:
    window.open_settings("managesieve")
    qtbot.waitUntil(lambda: window.findChild(SettingsDialog) is not None)
    dialog = window.findChild(SettingsDialog)
    assert isinstance(dialog, SettingsDialog)
    qtbot.waitUntil(dialog.isVisible)
    ports = [w for w in dialog.findChildren(QSpinBox) if w.objectName() == "port"]
    assert ports and ports[0].value() == 0  # tests bind port 0; default 4190
    dialog.reject()
