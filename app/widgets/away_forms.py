"""The user dialog's "Out of office" and "Forwarding" tabs.

Both end up in the user's rules script as Sieve (vacation, redirect :copy;
server/sieve/rules.py), so a mail client that edits Sieve sees them too.
Each form says what is wrong with its input in ``problem()`` (the core's
own check) and gives its part of the rule set in ``value()``.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from server.api import AutoReply, Forwarding, RuleSet, check_rules
from server.errors import ValidationError


class AutoReplyForm(QWidget):
    """On/off, first and last day, subject, text, and how often per sender."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.on_check = QCheckBox("&Reply automatically to messages I receive", self)
        self.start_edit = QLineEdit(self)
        self.start_edit.setPlaceholderText("YYYY-MM-DD, empty: from now")
        self.end_edit = QLineEdit(self)
        self.end_edit.setPlaceholderText("YYYY-MM-DD, empty: until switched off")
        self.subject_edit = QLineEdit("Out of office", self)
        self.text_edit = QPlainTextEdit(self)
        self.text_edit.setPlaceholderText(
            "I am away until Monday and will answer then."
        )
        self.days_spin = QSpinBox(self)
        self.days_spin.setRange(1, 365)
        self.days_spin.setValue(7)
        self.days_spin.setSuffix(" days")
        note = QLabel(
            "One reply per sender in that time. Never to mailing lists, bulk "
            "mail, other automatic replies or bounces (RFC 3834).",
            self,
        )
        note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("&First day:", self.start_edit)
        form.addRow("&Last day:", self.end_edit)
        form.addRow("&Subject:", self.subject_edit)
        form.addRow("&Text:", self.text_edit)
        form.addRow("Reply &once every:", self.days_spin)
        layout = QVBoxLayout(self)
        layout.addWidget(self.on_check)
        layout.addLayout(form)
        layout.addWidget(note)
        self.on_check.toggled.connect(self._enable)
        self._enable(False)

    def _enable(self, on: bool) -> None:
        for w in (
            self.start_edit,
            self.end_edit,
            self.subject_edit,
            self.text_edit,
            self.days_spin,
        ):
            w.setEnabled(on)

    def load(self, reply: AutoReply | None) -> None:
        self.on_check.setChecked(reply is not None)
        if reply is not None:
            self.start_edit.setText(reply.start)
            self.end_edit.setText(reply.end)
            self.subject_edit.setText(reply.subject)
            self.text_edit.setPlainText(reply.text)
            self.days_spin.setValue(reply.days)

    def value(self) -> AutoReply | None:
        if not self.on_check.isChecked():
            return None
        return AutoReply(
            self.subject_edit.text().strip(),
            self.text_edit.toPlainText(),
            self.days_spin.value(),
            self.start_edit.text().strip(),
            self.end_edit.text().strip(),
        )

    def problem(self) -> str:
        try:
            check_rules(RuleSet(auto_reply=self.value()))
        except ValidationError as exc:
            return f"Out of office: {exc}"
        return ""


class ForwardForm(QWidget):
    """On/off, the addresses, and whether a copy stays here."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.on_check = QCheckBox("&Forward every message I receive", self)
        self.to_edit = QLineEdit(self)
        self.to_edit.setPlaceholderText("name@example.org, another@example.net")
        self.keep_check = QCheckBox("&Keep a copy here as well", self)
        self.keep_check.setChecked(True)
        form = QFormLayout()
        form.addRow("&To:", self.to_edit)
        form.addRow("", self.keep_check)
        layout = QVBoxLayout(self)
        layout.addWidget(self.on_check)
        layout.addLayout(form)
        layout.addStretch(1)
        self.on_check.toggled.connect(self._enable)
        self._enable(False)

    def _enable(self, on: bool) -> None:
        self.to_edit.setEnabled(on)
        self.keep_check.setEnabled(on)

    def load(self, fwd: Forwarding | None) -> None:
        self.on_check.setChecked(fwd is not None)
        if fwd is not None:
            self.to_edit.setText(", ".join(fwd.to))
            self.keep_check.setChecked(fwd.keep)

    def value(self) -> Forwarding | None:
        if not self.on_check.isChecked():
            return None
        to = tuple(a.strip() for a in self.to_edit.text().replace(";", ",").split(","))
        return Forwarding(tuple(a for a in to if a), self.keep_check.isChecked())

    def problem(self) -> str:
        try:
            check_rules(RuleSet(forwarding=self.value()))
        except ValidationError as exc:
            return f"Forwarding: {exc}"
        return ""
