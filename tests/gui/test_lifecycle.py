"""Start and stop as ``main()`` does: first run, window, close -> core stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QWidget

from app.__main__ import parse_args, run_session
from app.dialogs.first_run_wizard import FirstRunWizard
from app.views.main_window import MainWindow
from server.api import CoreApi

from .helpers import DOMAIN, HOSTNAME, fill_wizard, wait_for, write_test_settings
from .stubcore import StubRuntime
from .test_main_window import listening, smtp_port, smtp_state, tick_smtp

# Closing the window must stop the core promptly (the person is waiting to quit).
STOP_WITHIN_MS = 10_000


def top_level(cls: type[QWidget]) -> Any:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, cls) and widget.isVisible():
            return widget
    return None


def start_session(tmp_path: Path) -> tuple[Any, asyncio.Task[int], list[MainWindow]]:
    from server.runtime import Runtime

    data = tmp_path / "data"
    write_test_settings(data)
    runtime = Runtime(data)
    windows: list[MainWindow] = []
    task = asyncio.ensure_future(run_session(runtime, on_window=windows.append))
    return runtime, task, windows


def test_first_run_then_close_stops_the_core(
    qtbot: Any, gui_loop: Any, tmp_path: Path
) -> None:
    pytest.importorskip("server.runtime")
    runtime, task, windows = start_session(tmp_path)
    qtbot.waitUntil(
        lambda: top_level(FirstRunWizard) is not None, timeout=STOP_WITHIN_MS
    )
    fill_wizard(qtbot, top_level(FirstRunWizard), {"smtp": {"port": 0}}, None)
    qtbot.waitUntil(lambda: bool(windows), timeout=STOP_WITHIN_MS)
    window = windows[0]
    assert window.users_page.domains == (DOMAIN,)
    assert str(tmp_path) in window.data_dir_label.text()
    assert (
        wait_for(qtbot, window.bridge.run(CoreApi.settings)).general.hostname
        == HOSTNAME
    )

    port = smtp_port_when_running(qtbot, window)
    assert listening(port)
    window.close()
    qtbot.waitUntil(task.done, timeout=STOP_WITHIN_MS)
    assert task.result() == 0
    assert not listening(port)
    assert runtime.loop.is_closed()


def test_cancelled_first_run_stops_the_core(
    qtbot: Any, gui_loop: Any, tmp_path: Path
) -> None:
    pytest.importorskip("server.runtime")
    runtime, task, windows = start_session(tmp_path)
    qtbot.waitUntil(
        lambda: top_level(FirstRunWizard) is not None, timeout=STOP_WITHIN_MS
    )
    wizard = top_level(FirstRunWizard)
    wizard.confirm_quit = lambda _parent: True  # "Quit the setup?" Yes
    wizard.reject()
    qtbot.waitUntil(task.done, timeout=STOP_WITHIN_MS)
    assert task.result() == 0
    assert windows == []
    assert runtime.loop.is_closed()


def test_stub_core_runs_the_same_session(
    qtbot: Any, gui_loop: Any, tmp_path: Path
) -> None:
    stub = StubRuntime(tmp_path / "data")
    stub.start()
    stub.run(stub.api.first_run(DOMAIN, HOSTNAME))
    stub.stop = _counting(stub.stop)  # type: ignore[method-assign]
    stub.start = lambda: None  # type: ignore[method-assign]  (already started)
    windows: list[MainWindow] = []
    task = asyncio.ensure_future(run_session(stub, on_window=windows.append))
    qtbot.waitUntil(lambda: bool(windows), timeout=STOP_WITHIN_MS)
    port = tick_smtp(qtbot, windows[0])
    assert listening(port)
    windows[0].close()
    qtbot.waitUntil(task.done, timeout=STOP_WITHIN_MS)
    assert stub.stop.calls == 1  # type: ignore[attr-defined]
    assert not listening(port)


def smtp_port_when_running(qtbot: Any, window: MainWindow) -> int:
    from server.modules.base import ModuleState

    qtbot.waitUntil(lambda: smtp_state(window) is ModuleState.RUNNING)
    model = window.modules_model
    qtbot.waitUntil(lambda: bool(model.status(model.row_of("smtp")).endpoints))
    return smtp_port(window)


def _counting(fn: Any) -> Any:
    def wrapper() -> None:
        wrapper.calls += 1  # type: ignore[attr-defined]
        fn()

    wrapper.calls = 0  # type: ignore[attr-defined]
    return wrapper


def test_parse_args(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from app.paths import default_data_dir

    assert parse_args(["--data-dir", str(tmp_path)]).data_dir == tmp_path
    assert parse_args([]).data_dir is None
    monkeypatch.setenv("QUICKSILVER_HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home"
    monkeypatch.delenv("QUICKSILVER_HOME")
    assert default_data_dir().name == "Quicksilver"


def test_core_that_cannot_start_is_explained(
    qtbot: Any, gui_loop: Any, tmp_path: Path
) -> None:
    pytest.importorskip("server.runtime")
    from PySide6.QtWidgets import QMessageBox

    from server.runtime import Runtime

    data = tmp_path / "data"
    data.mkdir()
    (data / "settings.toml").write_text("[smtp]\nport = 99999\n", encoding="utf-8")
    task = asyncio.ensure_future(run_session(Runtime(data)))
    qtbot.waitUntil(lambda: top_level(QMessageBox) is not None)
    box = top_level(QMessageBox)
    assert "could not start" in box.text() and "smtp.port" in box.text()
    box.button(QMessageBox.StandardButton.Close).click()
    qtbot.waitUntil(task.done)
    assert task.result() == 1
