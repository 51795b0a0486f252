"""Helpers shared by dialogs."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QWidget,
)

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


async def ask_save_path(
    parent: QWidget, title: str, name_filter: str, suggested: str, save: bool = True
) -> str | None:
    """Ask where to save (a Save dialog, window-modal), or with ``save``
    False which file to open; the path chosen, or None when cancelled."""
    dialog = QFileDialog(parent, title)
    if save:
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    else:
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    dialog.setNameFilter(name_filter)
    dialog.selectFile(suggested)
    try:
        if await exec_async(dialog) != QFileDialog.DialogCode.Accepted:
            return None
        files = dialog.selectedFiles()
    finally:
        dialog.deleteLater()
    return files[0] if files else None


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


class ValidatedDialog(QDialog):
    """A dialog that validates as you type.

    ``problem()`` says what is wrong (or ''); ``validate()`` shows it in
    ``error_label`` and enables OK only when there is none, then calls
    ``after_validate`` (hints, extra buttons). A subclass creates ``buttons``
    (with OK) and ``error_label`` and connects its fields to
    ``on_field_changed``. It returns a value object; it never calls the core.

    Signals: the standard QDialog signals only.
    """

    buttons: QDialogButtonBox
    error_label: QLabel

    @property
    def ok_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def problem(self) -> str:
        raise NotImplementedError

    def validate(self) -> bool:
        problem = self.problem()
        self.error_label.setText(problem)
        self.ok_button.setEnabled(not problem)
        self.after_validate(problem)
        return not problem

    def after_validate(self, problem: str) -> None:
        """Hook for hints that follow validation; nothing by default."""

    def show_error(self, message: str) -> None:
        """Show an error the core reported (``ValidationError``), e.g. a
        duplicate another administrator just made."""
        self.error_label.setText(message)

    def on_field_changed(self, *_args: object) -> None:
        self.validate()
