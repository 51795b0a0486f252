"""File > Save log: ask where, then write the log console's view of the log."""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import QWidget

from app.dialogs.base import ask_save_path, notify
from app.views.log_console import LogConsole


async def save_log(console: LogConsole, parent: QWidget) -> tuple[str, int] | None:
    """The file chosen and the lines written; ``None`` when cancelled or failed
    (a failure is shown). The file is written off the GUI loop."""
    module = console.current_module() or "all"
    path = await ask_save_path(
        parent,
        "Save log",
        "Text files (*.log *.txt);;All files (*)",
        f"quicksilver-{module}.log",
    )
    if path is None:
        return None
    try:
        count = await asyncio.to_thread(console.save_to, path)
    except OSError as exc:
        notify(parent, "Save log", f"Could not save {path}: {exc}")
        return None
    return path, count
