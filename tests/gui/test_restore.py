"""File > Restore… (issue 17): a backup made while the window runs is
checked, the application stops its core, puts the backup in place (the
folder in use moved aside, never deleted) and starts again on it; a damaged
archive is refused before anything stops."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from app.__main__ import run_app
from app.views import backup_flow
from app.views.main_window import MainWindow
from server.api import CoreApi, NewUser

from .helpers import DOMAIN, HOSTNAME, wait_for, write_test_settings

pytestmark = pytest.mark.gui


def test_restore_restarts_on_the_backup_and_keeps_the_old_folder(
    qtbot: Any, gui_loop: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.runtime import Runtime

    data = tmp_path / "data"
    write_test_settings(data)
    first = Runtime(data)
    first.start()
    first.run(first.api.first_run(DOMAIN, HOSTNAME))
    first.run(first.api.add_user(NewUser(f"kept@{DOMAIN}", "pw-Kettle-kept-9")))
    first.stop()

    windows: list[MainWindow] = []
    task = asyncio.ensure_future(run_app(data, Runtime, windows.append))
    qtbot.waitUntil(lambda: len(windows) == 1, timeout=10_000)
    window = windows[0]
    archive = tmp_path / "before.tar.gz"
    wait_for(qtbot, window.bridge.run(CoreApi.backup, str(archive)))
    wait_for(
        qtbot,
        window.bridge.run(
            CoreApi.add_user, NewUser(f"late@{DOMAIN}", "pw-Kettle-late-9")
        ),
    )

    # a damaged archive: refused, said, nothing stops
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(archive.read_bytes()[:-300])
    asked: list[str] = []

    async def pick(*_a: Any, **_k: Any) -> str:
        return str(asked[-1])

    async def yes(*_a: Any, **_k: Any) -> bool:
        return True

    monkeypatch.setattr(backup_flow, "ask_save_path", pick)
    monkeypatch.setattr(backup_flow, "confirm", yes)
    asked.append(str(broken))
    assert wait_for(qtbot, window.restore()) == ""
    box = window.findChild(QMessageBox)
    assert box is not None and "cannot be restored" in box.text()
    box.close()
    assert not task.done() and window.isVisible()

    asked.append(str(archive))
    assert wait_for(qtbot, window.restore()) == str(archive)
    qtbot.waitUntil(lambda: len(windows) == 2, timeout=20_000)  # started again
    again = windows[1]
    users = wait_for(qtbot, again.bridge.run(CoreApi.list_users))
    addresses = {u.address for u in users}
    assert f"kept@{DOMAIN}" in addresses and f"late@{DOMAIN}" not in addresses
    qtbot.waitUntil(lambda: again.findChild(QMessageBox) is not None)
    said = again.findChild(QMessageBox).text()
    assert "Restored" in said and "before-restore" in said
    aside = [p for p in tmp_path.iterdir() if ".before-restore-" in p.name]
    assert len(aside) == 1  # the folder in use, kept whole
    assert (aside[0] / "accounts.sqlite3").exists()
    again.close()
    qtbot.waitUntil(task.done, timeout=10_000)
    assert task.result() == 0
