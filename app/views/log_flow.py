"""File > Save log: ask where, then write the log console's view of the log."""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import QFileDialog, QWidget

from app.dialogs.base import exec_async, notify
from app.views.log_console import LogConsole


async def save_log(console: LogConsole, parent: QWidget) -> tuple[str, int] | None:
    """The file chosen and the lines written; ``None`` when cancelled or failed
    (a failure is shown). The file is written off the GUI loop."""
    module = console.current_module() or "all"
    dialog = QFileDialog(parent, "Save log")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setNameFilter("Text files (*.log *.txt);;All files (*)")
    dialog.selectFile(f"quicksilver-{module}.log")
    try:
        if await exec_async(dialog) != QFileDialog.DialogCode.Accepted:
            return None
        files = dialog.selectedFiles()
    finally:
        dialog.deleteLater()
    if not files:
        return None
    try:
        count = await asyncio.to_thread(console.save_to, files[0])
    except OSError as exc:
        notify(parent, "Save log", f"Could not save {files[0]}: {exc}")
        return None
    return files[0], count
