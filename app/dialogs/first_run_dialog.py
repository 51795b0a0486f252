"""The first-run dialog: the mail domain and this server's host name."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.base import error_label
from app.dialogs.validation import domain_problem


class FirstRunDialog(QDialog):
    """Asks for the mail domain and host name; returns them with ``value()``.

    Signals: the standard ``QDialog`` signals only.
    """

    def __init__(
        self, default_hostname: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to Quicksilver")
        self.setMinimumWidth(480)
        intro = QLabel(
            "Quicksilver needs the mail domain it receives mail for (the part "
            "after @ in your users' addresses) and the name this computer gives "
            "in greetings. You can add more domains later.",
            self,
        )
        intro.setWordWrap(True)
        self.domain_edit = QLineEdit(self)
        self.domain_edit.setPlaceholderText("e.g. example.com")
        self.hostname_edit = QLineEdit(default_hostname, self)
        self.hostname_edit.setPlaceholderText("e.g. mail.example.com")
        form = QFormLayout()
        form.addRow("Mail &domain:", self.domain_edit)
        form.addRow("&Host name:", self.hostname_edit)
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
        self.domain_edit.textChanged.connect(self.on_field_changed)
        self.hostname_edit.textChanged.connect(self.on_field_changed)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.validate()

    @property
    def ok_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def problem(self) -> str:
        return domain_problem(self.domain_edit.text()) or domain_problem(
            self.hostname_edit.text(), "host name"
        )

    def validate(self) -> bool:
        problem = self.problem()
        self.error_label.setText(problem)
        self.ok_button.setEnabled(not problem)
        return not problem

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)

    def value(self) -> tuple[str, str]:
        return (
            self.domain_edit.text().strip().rstrip(".").lower(),
            self.hostname_edit.text().strip().rstrip(".").lower(),
        )

    def on_field_changed(self, _text: str = "") -> None:
        self.validate()
