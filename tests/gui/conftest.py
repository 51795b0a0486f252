"""GUI test fixtures: offscreen Qt, a qasync loop marked running, cores.

``gui_loop`` installs a qasync ``QEventLoop`` over pytest-qt's QApplication the
way an already-running application does, so tasks spawned by slots advance
while ``qtbot.waitUntil`` spins the Qt event loop. ``real_core`` runs the real
``server.runtime.Runtime`` in a temporary data folder with every listener on
127.0.0.1 port 0; ``stub_core`` is a small stand-in with the same shape.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import app  # noqa: F401  (the PySide6 refcount workaround, before Qt runs)

from .helpers import start_real_core
from .stubcore import StubRuntime


@pytest.fixture
def gui_loop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        deadline = loop.time() + 2
        while any(not t.done() for t in pending) and loop.time() < deadline:
            qapp.processEvents()
        # Not loop.stop(): it calls QApplication.exit(), and with no exec() to
        # leave, Qt remembers "quit now" and every later QEventLoop.exec() (which
        # qtbot.waitUntil/waitSignal use) returns at once.
        loop._QEventLoop__is_running = False  # type: ignore[attr-defined]
        loop.close()
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)


@pytest.fixture(autouse=True)
def isolated_prefs(tmp_path: Path) -> Iterator[Path]:
    """Window preferences (QSettings) go to a temporary folder, never ~/.config."""
    from PySide6.QtCore import QSettings

    folder = tmp_path / "prefs"
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(folder))
    yield folder


@pytest.fixture
def real_core(tmp_path: Path) -> Iterator[Any]:
    pytest.importorskip("server.runtime")
    rt = start_real_core(tmp_path / "data")
    try:
        yield rt
    finally:
        rt.stop(timeout=5)  # ~20 ms normally; a stuck stop must not stall the suite


@pytest.fixture
def stub_core(tmp_path: Path) -> Iterator[StubRuntime]:
    rt = StubRuntime(tmp_path / "data")
    rt.start()
    try:
        yield rt
    finally:
        rt.stop()


@pytest.fixture
def bridge(qtbot: Any, gui_loop: Any, real_core: Any) -> Iterator[Any]:
    """A CoreBridge connected to ``real_core`` (the admin pages' tests)."""
    from app.bridge import CoreBridge

    from .helpers import wait_for

    b = CoreBridge(real_core)
    wait_for(qtbot, b.connect_core())
    yield b
    b.disconnect_core()


@pytest.fixture
def window(qtbot: Any, gui_loop: Any, real_core: Any) -> Iterator[Any]:
    """The main window over ``real_core``, shown."""
    from app.bridge import CoreBridge
    from app.views.main_window import MainWindow

    from .helpers import wait_for

    bridge = CoreBridge(real_core)
    snapshot = wait_for(qtbot, bridge.connect_core())
    win = MainWindow(bridge)
    qtbot.addWidget(win)
    win.apply_snapshot(snapshot)
    win.show()
    yield win
    win.close()  # stops its timers: nothing may reach for the loop after the test
