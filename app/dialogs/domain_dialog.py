"""Add a mail domain. Returns the domain's name in its stored (IDNA) form."""

from __future__ import annotations

from collections.abc import Collection

from PySide6.QtWidgets import (
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.base import ValidatedDialog, buddy_label, error_label
from app.dialogs.validation import domain_problem
from server.accounts.validate import normalize_domain


class DomainDialog(ValidatedDialog):
    """One field, checked as you type with the core's own rules.

    Signals: the standard ``QDialog`` signals only.
    """

    def __init__(
        self, existing: Collection[str] = (), parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._existing = {d.lower() for d in existing}
        self.setWindowTitle("Add domain")
        self.setMinimumWidth(420)
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("e.g. example.org or bücher.example")
        self.hint_label = QLabel(self)
        self.hint_label.setWordWrap(True)
        self.hint_label.setEnabled(False)  # greyed: a note, not an error
        form = QFormLayout()
        form.addRow(buddy_label("&Domain:", self.name_edit), self.name_edit)
        form.addRow("", self.hint_label)
        intro = QLabel(
            "Mail for every address at this domain is delivered here. Point the "
            "domain's MX record at this computer for mail from the internet.",
            self,
        )
        intro.setWordWrap(True)
        self.error_label = error_label(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
            parent=self,
        )
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.name_edit.textChanged.connect(self.on_name_edit_textChanged)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.validate()

    def after_validate(self, problem: str) -> None:
        hint = ""
        if not problem:
            ascii_name = normalize_domain(self.name_edit.text())
            if ascii_name != self.name_edit.text().strip().rstrip(".").lower():
                hint = f"Stored and sent on the wire as {ascii_name}."
        self.hint_label.setText(hint)
        self.hint_label.setVisible(bool(hint))

    def problem(self) -> str:
        name = self.name_edit.text()
        problem = domain_problem(name)
        if problem:
            return problem
        if normalize_domain(name) in self._existing:
            return f"The domain {normalize_domain(name)} already exists."
        return ""

    def value(self) -> str:
        return normalize_domain(self.name_edit.text())

    def on_name_edit_textChanged(self, _text: str) -> None:
        self.validate()
