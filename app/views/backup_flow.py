"""File > Back up… and File > Restore….

Back up: the core writes the archive (``CoreApi.backup``, in a worker
thread) while every module keeps running; the window only picks the file
and says how it went.

Restore: the window picks an archive, checks every file of it against its
manifest (``check_backup_archive``, in a worker thread) and asks; then the
application stops its core, restores (``restore_backup_archive``: the data
folder there is moved aside, never deleted) and starts again on the restored
folder (``app/__main__.py``). ``quicksilver-server restore`` does the same
from the shell.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from app.bridge import CoreBridge
from app.dialogs.base import ask_save_path, notify
from app.dialogs.confirm import confirm
from server.api import BackupResult, CoreApi, check_backup_archive
from server.errors import ValidationError


async def back_up(bridge: CoreBridge, parent: QWidget) -> BackupResult | None:
    """The archive written, or ``None`` when cancelled or failed (said)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = await ask_save_path(
        parent,
        "Back up the data folder",
        "Quicksilver backups (*.tar.gz);;All files (*)",
        str(Path.home() / f"quicksilver-backup-{stamp}.tar.gz"),
    )
    if path is None:
        return None
    try:
        done = await bridge.run(CoreApi.backup, path)
    except (ValidationError, OSError) as exc:
        notify(parent, "Back up", f"The backup was not written: {exc}")
        return None
    notify(
        parent,
        "Backup written",
        f"{done.path}\n\n{done.files} files, {done.messages} messages, "
        f"{done.bytes / 1e6:.1f} MB. Everything kept running.\n\n"
        "To restore it: File → Restore…",
        QMessageBox.Icon.Information,
    )
    return done


async def choose_restore(parent: QWidget, data_dir: str) -> str | None:
    """The archive to restore, checked and agreed to; ``None`` when
    cancelled or not a good archive (said)."""
    path = await ask_save_path(
        parent,
        "Restore a backup",
        "Quicksilver backups (*.tar.gz);;All files (*)",
        str(Path.home()),
        save=False,
    )
    if path is None:
        return None
    try:
        files = await asyncio.to_thread(check_backup_archive, path)
    except ValidationError as exc:
        notify(parent, "Restore", f"This archive cannot be restored: {exc}")
        return None
    folder = Path(data_dir)
    if not await confirm(
        parent,
        "Restore a backup",
        f"Restore {Path(path).name} ({files} files, every one checked)?\n\n"
        "Quicksilver stops every module, moves the data folder in use aside to "
        f"{folder.name}.before-restore-<time> beside it (nothing is deleted), "
        "puts the backup in its place and starts again.",
    ):
        return None
    return path
