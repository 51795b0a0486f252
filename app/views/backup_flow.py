"""File > Back up…: ask where, then have the core write the archive.

The core writes it (``CoreApi.backup``, in a worker thread) while every module
keeps running; the window only picks the file and says how it went. Restoring
is done with the server stopped: ``quicksilver-server restore ARCHIVE``.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from app.bridge import CoreBridge
from app.dialogs.base import ask_save_path, notify
from server.api import BackupResult, CoreApi
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
        "To restore it, stop Quicksilver and run:\n"
        f"quicksilver-server --data-dir FOLDER restore {done.path}",
        QMessageBox.Icon.Information,
    )
    return done
