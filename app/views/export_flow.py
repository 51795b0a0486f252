"""File > Export for Postfix and Dovecot…: the window picks a new or empty
folder, asks whether the smart host password may go into it (when there is
one), lets the core write the tree (``CoreApi.export_postfix_dovecot``, in a
worker thread, read-only on the data folder while every module keeps
running) and shows what carried over and what did not."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app.bridge import CoreBridge
from app.dialogs.base import exec_async, notify
from app.dialogs.confirm import confirm
from server.api import CoreApi, ExportResult
from server.errors import ValidationError


async def ask_folder(parent: QWidget, title: str, suggested: str) -> str | None:
    """A folder chosen (window-modal), or None when cancelled."""
    dialog = QFileDialog(parent, title)
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    dialog.setDirectory(suggested)
    try:
        if await exec_async(dialog) != QFileDialog.DialogCode.Accepted:
            return None
        chosen = dialog.selectedFiles()
    finally:
        dialog.deleteLater()
    return chosen[0] if chosen else None


async def export(
    bridge: CoreBridge, parent: QWidget, relay_login: bool, folder: str | None = None
) -> ExportResult | None:
    """The export written, or None when cancelled or refused (said).
    ``folder``: skip the question (tests)."""
    if folder is None:
        folder = await ask_folder(
            parent,
            "Export for Postfix and Dovecot: a new or empty folder",
            str(Path.home()),
        )
    if not folder:
        return None
    with_password = relay_login and await confirm(
        parent,
        "Smart host password",
        "Write the smart host password into the export (postfix/sasl_passwd, "
        "readable by you only)?\n\nWith No, the file gets a placeholder to fill in.",
    )
    try:
        done = await bridge.run(CoreApi.export_postfix_dovecot, folder, with_password)
    except (ValidationError, OSError) as exc:
        notify(parent, "Export for Postfix and Dovecot", f"Nothing was exported: {exc}")
        return None
    carried = "\n".join(f"• {c}" for c in done.carried)
    missing = "\n".join(f"• {m}" for m in done.missing) or "• nothing"
    notify(
        parent,
        "Exported for Postfix and Dovecot",
        f"{done.folder}: {done.files} files. Quicksilver kept running.\n\n"
        f"Carried over:\n{carried}\n\nNot carried over:\n{missing}\n\n"
        f"The next steps are in {done.folder / 'README.md'}.",
        QMessageBox.Icon.Information,
    )
    return done
