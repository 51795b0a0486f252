"""Helpers shared by dialogs."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel, QMessageBox, QWidget

ERROR_STYLE = "color: #c62828;"


async def exec_async(dialog: QDialog) -> int:
    """Show ``dialog`` window-modal and await its result code.

    ``QDialog.exec()`` would start a nested Qt event loop inside an asyncio task
    and let other tasks run re-entrantly; ``open()`` plus ``finished`` does not.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()

    def on_dialog_finished(code: int) -> None:
        if not done.done():
            done.set_result(code)

    dialog.finished.connect(on_dialog_finished)
    dialog.open()
    try:
        return await done
    finally:
        dialog.finished.disconnect(on_dialog_finished)


def error_label(parent: QWidget) -> QLabel:
    """A word-wrapped red label for validation messages."""
    label = QLabel(parent)
    label.setObjectName("errorLabel")
    label.setWordWrap(True)
    label.setStyleSheet(ERROR_STYLE)
    return label


def notify(
    parent: QWidget,
    title: str,
    text: str,
    icon: QMessageBox.Icon = QMessageBox.Icon.Warning,
) -> QMessageBox:
    """Show a message box without blocking (no nested event loop)."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def buddy_label(text: str, buddy: QWidget) -> QLabel:
    """A form label whose mnemonic (``&``) focuses ``buddy``.

    ``QFormLayout.addRow(str, layout)`` cannot set a buddy and shows the ``&``.
    """
    label = QLabel(text, buddy.parentWidget())
    label.setBuddy(buddy)
    return label
