"""Add or edit an alias (or a domain's catch-all). Returns an ``AliasValue``."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.base import ValidatedDialog, error_label
from app.dialogs.validation import local_part_problem
from server.accounts.base import Alias
from server.accounts.validate import normalize_local


@dataclass(frozen=True)
class AliasValue:
    """What ``api.set_alias`` takes: ``local@domain`` or ``*@domain``."""

    address: str
    targets: tuple[str, ...]


class AliasDialog(ValidatedDialog):
    """One address or a catch-all, and a checklist of users to deliver to.

    Validates as you type; OK stays disabled until the alias is complete. In
    edit mode the address is fixed and only the targets change.

    Signals: the standard ``QDialog`` signals only.
    """

    def __init__(
        self,
        domains: Sequence[str],
        users: Sequence[str],
        existing: Collection[str] = (),
        alias: Alias | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._users = {u.lower() for u in users}
        self._existing = {a.lower() for a in existing}
        self._alias = alias
        self.setWindowTitle("Edit alias" if alias else "Add alias")
        self.setMinimumWidth(480)

        self.address_radio = QRadioButton("&One address", self)
        self.catch_all_radio = QRadioButton(self)
        self.address_radio.setChecked(True)
        self.kind_group = QButtonGroup(self)
        self.kind_group.addButton(self.address_radio)
        self.kind_group.addButton(self.catch_all_radio)

        self.local_edit = QLineEdit(self)
        self.local_edit.setPlaceholderText("e.g. info, sales, webmaster")
        self.domain_combo = QComboBox(self)
        self.domain_combo.addItems(list(domains))
        address_row = QHBoxLayout()
        address_row.addWidget(self.local_edit, 2)
        address_row.addWidget(QLabel("@", self))
        address_row.addWidget(self.domain_combo, 2)

        targets_label = QLabel("&Deliver to these users:", self)
        self.targets_list = QListWidget(self)
        targets_label.setBuddy(self.targets_list)
        for user in sorted(users):
            item = QListWidgetItem(user, self.targets_list)
            item.setFlags(
                Qt.ItemFlag.ItemIsUserCheckable
                | Qt.ItemFlag.ItemIsEnabled
                | Qt.ItemFlag.ItemIsSelectable
            )
            item.setCheckState(Qt.CheckState.Unchecked)

        self.error_label = error_label(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
            parent=self,
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.address_radio)
        layout.addLayout(address_row)
        layout.addWidget(self.catch_all_radio)
        layout.addSpacing(6)
        layout.addWidget(targets_label)
        layout.addWidget(self.targets_list, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        if alias is not None:
            self._load(alias)
        self.local_edit.textChanged.connect(self.on_field_changed)
        self.domain_combo.currentTextChanged.connect(
            self.on_domain_combo_currentTextChanged
        )
        self.kind_group.buttonToggled.connect(self.on_kind_group_buttonToggled)
        self.targets_list.itemChanged.connect(self.on_targets_list_itemChanged)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._sync_kind()
        self.validate()

    CATCH_ALL_TEXT = "&Catch-all: every other address @{} (not a user or an alias)"

    def is_catch_all(self) -> bool:
        return self.catch_all_radio.isChecked()

    def address(self) -> str:
        if self._alias is not None:
            return self._alias.address
        domain = self.domain_combo.currentText()
        if self.is_catch_all():
            return f"*@{domain}"
        return f"{self.local_edit.text().strip().lower()}@{domain}"

    def targets(self) -> tuple[str, ...]:
        items = (self.targets_list.item(i) for i in range(self.targets_list.count()))
        return tuple(
            item.text() for item in items if item.checkState() == Qt.CheckState.Checked
        )

    def set_targets(self, targets: Collection[str]) -> None:
        wanted = {t.lower() for t in targets}
        for i in range(self.targets_list.count()):
            item = self.targets_list.item(i)
            checked = item.text().lower() in wanted
            item.setCheckState(
                Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
            )

    def problem(self) -> str:
        """The first thing wrong with the input, or ''."""
        if self._alias is None:
            if not self.domain_combo.currentText():
                return "There is no mail domain yet: add one on the Domains tab."
            if not self.is_catch_all():
                local = self.local_edit.text().strip()
                problem = local_part_problem(local)
                if problem:
                    return problem.replace("user name", "alias name")
                address = f"{normalize_local(local)}@{self.domain_combo.currentText()}"
                if address in self._users:
                    return f"{address} is a user: an alias needs an address of its own."
                if address in self._existing:
                    return f"{address} is already an alias: edit it instead."
            elif self.address() in self._existing:
                return (
                    f"{self.domain_combo.currentText()} already has a catch-all: "
                    "edit it instead."
                )
        if not self._users:
            return "There are no users yet: add one on the Users tab first."
        if not self.targets():
            return "Tick at least one user to deliver to."
        return ""

    def value(self) -> AliasValue:
        return AliasValue(self.address(), self.targets())

    def _load(self, alias: Alias) -> None:
        local, _, domain = alias.address.partition("@")
        if local == "*":
            self.catch_all_radio.setChecked(True)
        else:
            self.local_edit.setText(local)
        if self.domain_combo.findText(domain) < 0:
            self.domain_combo.addItem(domain)
        self.domain_combo.setCurrentText(domain)
        for widget in (
            self.address_radio,
            self.catch_all_radio,
            self.local_edit,
            self.domain_combo,
        ):
            widget.setEnabled(False)
        self.set_targets(alias.targets)

    def _sync_kind(self) -> None:
        domain = self.domain_combo.currentText() or "the domain"
        self.catch_all_radio.setText(self.CATCH_ALL_TEXT.format(domain))
        if self._alias is None:
            self.local_edit.setEnabled(not self.is_catch_all())

    # -- slots ----------------------------------------------------------------
    def on_domain_combo_currentTextChanged(self, _text: str) -> None:
        self._sync_kind()
        self.validate()

    def on_kind_group_buttonToggled(self, _button: object, _checked: bool) -> None:
        self._sync_kind()
        self.validate()

    def on_targets_list_itemChanged(self, _item: QListWidgetItem) -> None:
        self.validate()
