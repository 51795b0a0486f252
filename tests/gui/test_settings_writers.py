"""The window and ``quicksilver-server`` change settings at the same time (issue 11).

A person runs ``quicksilver-server module ...`` while the window is open, then
saves another setting in the window. Before the fix the core kept its own copy
of the whole settings, the CLI wrote the file behind its back, and the
window's save wrote the core's old copy over the CLI's change (lost). Now
every change is a patch under the settings lock, and the core reloads a file
another writer changed: both changes stay, in the file, in the running core
(the module the CLI turned on is listening) and in the window.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.bridge import CoreBridge
from app.dialogs.settings_dialog import SettingsDialog
from app.views.main_window import MainWindow
from server.config.store import SettingsStore
from server.modules.base import ModuleState

from .helpers import wait_for

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[2]


def cli(data: Path, *args: str) -> None:
    """``quicksilver-server`` in its own process, as a person would run it."""
    out = subprocess.run(
        [sys.executable, "-m", "server", "--data-dir", str(data), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr


@pytest.fixture(params=["window-saves-first", "core-reloads-first"])
def poll_interval(request: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """``window-saves-first``: the core does not look at the file by itself
    during the test, so the window's save is what meets the CLI's change;
    ``core-reloads-first``: the core notices the change on its own first."""
    import server.runtime

    if request.param == "window-saves-first":
        # raising=False: the code before the fix had no such setting (and no
        # reload); the test then shows the lost update itself
        monkeypatch.setattr(
            server.runtime, "SETTINGS_POLL_INTERVAL", 3600.0, raising=False
        )
    return str(request.param)


@pytest.fixture
def window(
    qtbot: Any, gui_loop: Any, poll_interval: str, real_core: Any
) -> Iterator[MainWindow]:
    bridge = CoreBridge(real_core)
    snapshot = wait_for(qtbot, bridge.connect_core())
    win = MainWindow(bridge)
    qtbot.addWidget(win)
    win.apply_snapshot(snapshot)
    win.show()
    yield win
    win.close()


def test_cli_change_and_window_save_both_stay(
    qtbot: Any, window: MainWindow, real_core: Any, poll_interval: str
) -> None:
    data = real_core.data_dir
    # The window opens the SMTP settings: its editors hold the values of now.
    window.open_settings("smtp")
    qtbot.waitUntil(lambda: window.findChild(SettingsDialog) is not None)
    dialog = window.findChild(SettingsDialog)
    assert isinstance(dialog, SettingsDialog)
    qtbot.waitUntil(dialog.isVisible)

    # Meanwhile, from a shell: another key of the same section, another
    # section, and a module turned on.
    cli(data, "module", "set", "smtp", "--bind", "127.0.0.2")
    cli(data, "module", "set", "pop3", "--port", "2110")
    cli(data, "module", "enable", "imap")
    services = real_core.services
    if poll_interval == "core-reloads-first":
        qtbot.waitUntil(lambda: services.settings.imap.enabled, timeout=10_000)
    else:
        assert not services.settings.imap.enabled  # the core has not looked

    # The person changes the SMTP timeout in the window and saves.
    dialog.editors["timeout"].setValue(120)  # type: ignore[attr-defined]
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.findChild(SettingsDialog) is None)

    def both_kept(s: Any) -> bool:
        return (
            s.smtp.timeout == 120
            and s.smtp.bind == "127.0.0.2"
            and s.pop3.port == 2110
            and s.imap.enabled
        )

    assert both_kept(SettingsStore(data / "settings.toml").load())  # the file
    assert both_kept(services.settings)  # the running core
    imap = services.modules["imap"].status(True)
    assert imap.state is ModuleState.RUNNING and imap.endpoints  # listening now
    qtbot.waitUntil(lambda: both_kept(window.settings))  # and the window
    model = window.modules_model
    qtbot.waitUntil(lambda: model.status(model.row_of("imap")).enabled)
