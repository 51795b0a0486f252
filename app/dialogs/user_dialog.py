"""Add or edit a mailbox user. Returns a ``NewUser`` or a ``UserChange``.

A new password must pass the core's strength rule (``server.accounts.strength``):
the meter under the field shows how it scores, the error label says why it is
refused, and OK stays disabled until it passes.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.base import ValidatedDialog, buddy_label, error_label
from app.dialogs.validation import local_part_problem, password_problem
from app.widgets.away_forms import AutoReplyForm, ForwardForm
from app.widgets.password_field import PasswordField
from app.widgets.password_meter import PasswordMeter
from app.widgets.rules_editor import RulesEditor, TryRules
from server.api import NewUser, RuleSet, RulesView, UserChange, UserView

MB = 1024 * 1024
MAX_QUOTA_MB = 1024 * 1024  # 1 TB
GENERATED_BYTES = 12  # secrets.token_urlsafe(12): 16 characters, 96 bits


def generate_password() -> str:
    return secrets.token_urlsafe(GENERATED_BYTES)


class UserDialog(ValidatedDialog):
    """Address, display name, password (+ confirm, Generate), quota, enabled;
    when editing (``rules`` given) also tabs for the user's Rules, Out of
    office and Forwarding (``rules_value()``).

    Validates as you type; OK stays disabled until every field is valid. In
    edit mode the address is fixed and an empty password means "unchanged".

    Signals: the standard ``QDialog`` signals only.
    """

    def __init__(
        self,
        domains: Sequence[str],
        existing: Collection[str] = (),
        user: UserView | None = None,
        parent: QWidget | None = None,
        rules: RulesView | None = None,
        try_rules: TryRules | None = None,
    ) -> None:
        super().__init__(parent)
        self._rules_view = rules
        self._existing = {a.lower() for a in existing}
        self._user = user
        self.setWindowTitle("Edit user" if user else "Add user")
        self.setMinimumWidth(460)

        editing = rules is not None and try_rules is not None
        # the account's fields live on their own page (a tab when editing)
        self.tabs: QTabWidget | None = QTabWidget(self) if editing else None
        page = QWidget(self.tabs if self.tabs is not None else self)
        self.local_edit = QLineEdit(page)
        self.local_edit.setPlaceholderText("mailbox name, e.g. alice (or alice@domain)")
        self.domain_combo = QComboBox(page)
        self.domain_combo.addItems(list(domains))
        address_row = QHBoxLayout()
        address_row.addWidget(self.local_edit, 2)
        address_row.addWidget(QLabel("@", page))
        address_row.addWidget(self.domain_combo, 2)

        self.name_edit = QLineEdit(page)
        self.name_edit.setPlaceholderText("optional, e.g. Alice Example")
        self.password = PasswordField(page)
        self.confirm = QLineEdit(page)
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.generate_button = QPushButton("Generate", self)
        self.generate_button.setToolTip("Fill in a random password and show it")
        password_row = QHBoxLayout()
        password_row.addWidget(self.password, 1)
        password_row.addWidget(self.generate_button)
        self.meter = PasswordMeter(page)

        self.quota_spin = QSpinBox(page)
        self.quota_spin.setRange(0, MAX_QUOTA_MB)
        self.quota_spin.setSuffix(" MB")
        self.quota_spin.setSpecialValueText("No limit")
        self.enabled_check = QCheckBox("Account enabled (can log in and receive mail)")
        self.enabled_check.setChecked(True)
        self.legacy_check = QCheckBox(
            "Old mail programs: a separate password for APOP and CRAM-MD5", page
        )
        self.legacy_note = QLabel(
            "APOP and CRAM-MD5 are old ways to log in that need a password the "
            "server can read back. Ticking this makes a second, random password "
            "for this user, shown once; it is stored encrypted and works only "
            "for those two (turn on Legacy logins in the POP3, IMAP or "
            "Submission settings). Someone who copies the data folder and the "
            "key can read it. Use it only for a program that can do nothing "
            "else.",
            page,
        )
        self.legacy_note.setWordWrap(True)
        self.legacy_note.setStyleSheet("color: palette(mid);")

        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(buddy_label("&Address:", self.local_edit), address_row)
        form.addRow("Display &name:", self.name_edit)
        form.addRow(buddy_label("&Password:", self.password.edit), password_row)
        form.addRow("Strength:", self.meter)
        form.addRow("&Confirm:", self.confirm)
        form.addRow("&Quota:", self.quota_spin)
        form.addRow("", self.enabled_check)
        form.addRow("", self.legacy_check)
        form.addRow("", self.legacy_note)

        self.error_label = error_label(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
            parent=self,
        )
        layout = QVBoxLayout(self)
        self.rules_editor: RulesEditor | None = None
        owner = self.tabs if self.tabs is not None else self
        self.auto_reply = AutoReplyForm(owner)
        self.forward = ForwardForm(owner)
        if self.tabs is None or rules is None or try_rules is None:
            layout.addWidget(page)
            self.auto_reply.hide()
            self.forward.hide()
        else:
            # editing: the account, then what happens to the user's mail
            self.tabs.addTab(page, "Account")
            self.rules_editor = RulesEditor(try_rules, self.tabs)
            self.rules_editor.set_view(rules)
            self.tabs.addTab(self.rules_editor, "Rules")
            self.tabs.addTab(self.auto_reply, "Out of office")
            self.tabs.addTab(self.forward, "Forwarding")
            self.auto_reply.load(rules.rules.auto_reply)
            self.forward.load(rules.rules.forwarding)
            if not rules.editable:
                for tab in (self.auto_reply, self.forward):
                    tab.setEnabled(False)
                    tab.setToolTip("The script in use was written elsewhere.")
            self.setMinimumWidth(640)
            layout.addWidget(self.tabs)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        if user is not None:
            self._load(user)
        for signal in (
            self.local_edit.textChanged,
            self.domain_combo.currentTextChanged,
            self.name_edit.textChanged,
            self.password.textChanged,
            self.confirm.textChanged,
        ):
            signal.connect(self.on_field_changed)
        self.auto_reply.on_check.toggled.connect(self.on_field_changed)
        for edit in (
            self.auto_reply.start_edit,
            self.auto_reply.end_edit,
            self.auto_reply.subject_edit,
            self.forward.to_edit,
        ):
            edit.textChanged.connect(self.on_field_changed)
        self.auto_reply.text_edit.textChanged.connect(self.on_field_changed)
        self.forward.on_check.toggled.connect(self.on_field_changed)
        self.password.toggle.toggled.connect(self.on_password_toggled)
        self.generate_button.clicked.connect(self.on_generate_button_clicked)
        # Tab goes password, confirm, then Show and Generate
        for first, second in (
            (self.password.edit, self.confirm),
            (self.confirm, self.password.toggle),
            (self.password.toggle, self.generate_button),
        ):
            QWidget.setTabOrder(first, second)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.validate()

    def _typed(self) -> tuple[str, str]:
        """(mailbox name, domain typed after an @, or '') as typed: a full
        address such as carol@example.org is accepted too."""
        local, at, domain = self.local_edit.text().strip().rpartition("@")
        if not at:
            return domain, ""
        return local, domain.lower().rstrip(".")

    def address(self) -> str:
        if self._user is not None:
            return self._user.address
        local, typed = self._typed()
        return f"{local}@{typed or self.domain_combo.currentText()}"

    def problem(self) -> str:
        """The first thing wrong with the input, or ''."""
        if self._user is None:
            local, typed = self._typed()
            problem = local_part_problem(local)
            if problem:
                return problem
            if typed:
                if self.domain_combo.findText(typed) < 0:
                    return f"{typed} is not one of this server's mail domains."
                self.domain_combo.setCurrentText(typed)
            if not self.domain_combo.currentText():
                return "There is no mail domain yet: set one up first."
            if self.address().lower() in self._existing:
                return f"{self.address().lower()} already exists."
            if not self.password.text():
                return "Enter a password (or press Generate)."
        password = self.password.text()
        assessed = self.meter.assess(
            password, (self.address(), self.name_edit.text().strip())
        )
        if password and password_problem(password):
            return password_problem(password)
        if assessed is not None and assessed.problem:
            return assessed.problem
        if password != self.confirm.text():
            return "The passwords do not match."
        if self.tabs is not None:
            return self.auto_reply.problem() or self.forward.problem()
        return ""

    def rules_value(self) -> RuleSet | None:
        """The user's rules, out-of-office reply and forwarding as edited;
        None when not editing them (a new user, or a script from elsewhere)."""
        view = self._rules_view
        if self.rules_editor is None or view is None or not view.editable:
            return None
        return RuleSet(
            self.rules_editor.rules(), self.auto_reply.value(), self.forward.value()
        )

    def value(self) -> NewUser | UserChange:
        quota = self.quota_spin.value() * MB
        name = self.name_edit.text().strip()
        enabled = self.enabled_check.isChecked()
        if self._user is None:
            return NewUser(
                address=self.address().lower(),
                password=self.password.text(),
                display_name=name,
                quota_bytes=quota,
                enabled=enabled,
            )
        return UserChange(
            address=self._user.address,
            display_name=name,
            quota_bytes=quota,
            enabled=enabled,
            password=self.password.text() or None,
        )

    def _load(self, user: UserView) -> None:
        local, _, domain = user.address.partition("@")
        self.local_edit.setText(local)
        self.local_edit.setReadOnly(True)
        if self.domain_combo.findText(domain) < 0:
            self.domain_combo.addItem(domain)
        self.domain_combo.setCurrentText(domain)
        self.domain_combo.setEnabled(False)
        self.name_edit.setText(user.display_name)
        self.quota_spin.setValue(user.quota_bytes // MB)
        self.enabled_check.setChecked(user.enabled)
        self.legacy_check.setChecked(user.legacy_password)
        self.password.edit.setPlaceholderText("unchanged")
        self.confirm.setPlaceholderText("unchanged")

    # -- slots ----------------------------------------------------------------
    def on_password_toggled(self, on: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password
        self.confirm.setEchoMode(mode)

    def on_generate_button_clicked(self) -> None:
        pw = generate_password()
        self.password.setText(pw)
        self.confirm.setText(pw)
        self.password.set_revealed(True)
