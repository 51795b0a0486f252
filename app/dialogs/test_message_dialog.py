"""The "Send test message" dialog: from, to (a local user), subject and body.

It returns a ``TestMessage`` (``server.api``); the caller hands it to the core
(``CoreApi.send_test_message``), which sends it through the smtp module like a
mail client would, and shows the core's reply or refusal back here.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.base import ValidatedDialog, buddy_label, error_label
from server.api import TestMessage


class TestMessageDialog(ValidatedDialog):
    """From, To (local users), Subject, Body. Send stays disabled until valid.

    Signals: the standard ``QDialog`` signals only.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        users: Sequence[str],
        sender: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send test message")
        self.from_edit = QLineEdit(sender, self)
        self.from_edit.setPlaceholderText("e.g. test@example.org")
        self.to_combo = QComboBox(self)
        self.to_combo.setEditable(True)
        self.to_combo.addItems(list(users))
        self.to_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.subject_edit = QLineEdit("Quicksilver test message", self)
        self.body_edit = QPlainTextEdit(self)
        self.body_edit.setPlainText(
            "This is a test message sent from the Quicksilver window.\n"
        )
        self.body_edit.setTabChangesFocus(True)
        fm = self.fontMetrics()
        self.body_edit.setMinimumHeight(fm.lineSpacing() * 6)
        self.setMinimumWidth(fm.horizontalAdvance("x") * 60)

        form = QFormLayout()
        form.addRow(buddy_label("&From:", self.from_edit), self.from_edit)
        form.addRow(buddy_label("&To:", self.to_combo), self.to_combo)
        form.addRow(buddy_label("&Subject:", self.subject_edit), self.subject_edit)
        form.addRow(buddy_label("&Body:", self.body_edit), self.body_edit)
        self.error_label = error_label(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
            parent=self,
        )
        self.ok_button.setText("&Send")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        self.from_edit.textChanged.connect(self.on_field_changed)
        self.to_combo.currentTextChanged.connect(self.on_field_changed)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.validate()

    def problem(self) -> str:
        sender = self.from_edit.text().strip()
        rcpt = self.to_combo.currentText().strip()
        if not sender:
            return "Enter the sender address."
        if not _looks_like_address(sender):
            return f"{sender!r} is not a mail address (name@domain)."
        if not rcpt:
            return "Pick a local user to send to (add one in Users first)."
        if not _looks_like_address(rcpt):
            return f"{rcpt!r} is not a mail address (name@domain)."
        return ""

    def value(self) -> TestMessage:
        return TestMessage(
            self.from_edit.text().strip(),
            self.to_combo.currentText().strip(),
            self.subject_edit.text(),
            self.body_edit.toPlainText(),
        )


def _looks_like_address(text: str) -> bool:
    """name@domain; a domain without a dot (``localhost``, a LAN host name)
    is fine: whether the server takes it is the server's to say."""
    local, at, domain = text.rpartition("@")
    return bool(at and local and domain and " " not in text)
