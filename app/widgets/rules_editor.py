"""The rules list of the Rules page and of the user dialog's Rules tab.

Mercury-style: an ordered list of "when FIELD TEST VALUE then ACTION" rows,
each with an on/off box; Add…, Edit…, Remove, Move up/down, and Test… (the
owner runs the rules on a pasted message through the core). The core keeps
them as Sieve (server/sieve/rules.py). A script written elsewhere (a mail
client over ManageSieve, or by hand) is shown read-only, as text: the
editor never rewrites it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.base import ValidatedDialog, error_label, exec_async
from app.tasks import spawn
from server.api import (
    ACTION_TITLES,
    FIELD_TITLES,
    TEST_TITLES,
    Rule,
    RuleSet,
    RulesView,
    check_rule,
)
from server.errors import ValidationError

TryRules = Callable[[RuleSet, str], Awaitable[tuple[str, ...]]]

_NEEDS_ARGUMENT = {
    "move": "Folder:",
    "copy": "Folder:",
    "forward": "Address:",
    "forward-copy": "Address:",
    "reject": "Message:",
}


def rule_text(r: Rule) -> tuple[str, str]:
    """(when, then) in words, for the list."""
    field = r.header if r.field == "header" else FIELD_TITLES[r.field]
    when = f"{field} {TEST_TITLES[r.test]} {r.value!r}" if r.value else f"{field} …"
    then = ACTION_TITLES[r.action]
    if r.argument:
        then += f": {r.argument}"
    if r.stop:
        then += ", then stop"
    return when, then


class RuleDialog(ValidatedDialog):
    """One rule: the fields as combo boxes and lines; OK only when the core's
    own check (``check_rule``) accepts it."""

    def __init__(self, rule: Rule | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit rule" if rule else "Add rule")
        self.setMinimumWidth(480)
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("optional, e.g. Club mail")
        self.field_combo = QComboBox(self)
        for key, title in FIELD_TITLES.items():
            self.field_combo.addItem(title, key)
        self.header_edit = QLineEdit(self)
        self.header_edit.setPlaceholderText("e.g. X-Spam-Flag")
        self.test_combo = QComboBox(self)
        for key, title in TEST_TITLES.items():
            self.test_combo.addItem(title, key)
        self.value_edit = QLineEdit(self)
        self.value_edit.setPlaceholderText("e.g. [club] or 5M for a size")
        self.action_combo = QComboBox(self)
        for key, title in ACTION_TITLES.items():
            self.action_combo.addItem(title, key)
        self.argument_label = QLabel("Folder:", self)
        self.argument_edit = QLineEdit(self)
        self.stop_check = QCheckBox("Then stop: no later rule for this message", self)
        self.enabled_check = QCheckBox("Rule is on", self)
        self.enabled_check.setChecked(True)
        form = QFormLayout()
        form.addRow("&Name:", self.name_edit)
        form.addRow("&When:", self.field_combo)
        form.addRow("Header &field:", self.header_edit)
        form.addRow("&Test:", self.test_combo)
        form.addRow("&Value:", self.value_edit)
        form.addRow("&Then:", self.action_combo)
        form.addRow(self.argument_label, self.argument_edit)
        form.addRow("", self.stop_check)
        form.addRow("", self.enabled_check)
        self.error_label = error_label(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
            parent=self,
        )
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        if rule is not None:
            self._load(rule)
        for signal in (
            self.field_combo.currentIndexChanged,
            self.test_combo.currentIndexChanged,
            self.action_combo.currentIndexChanged,
        ):
            signal.connect(self.on_field_changed)
        for edit in (
            self.name_edit,
            self.header_edit,
            self.value_edit,
            self.argument_edit,
        ):
            edit.textChanged.connect(self.on_field_changed)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.validate()

    def _load(self, r: Rule) -> None:
        self.name_edit.setText(r.name)
        self.field_combo.setCurrentIndex(self.field_combo.findData(r.field))
        self.header_edit.setText(r.header)
        self.test_combo.setCurrentIndex(self.test_combo.findData(r.test))
        self.value_edit.setText(r.value)
        self.action_combo.setCurrentIndex(self.action_combo.findData(r.action))
        self.argument_edit.setText(r.argument)
        self.stop_check.setChecked(r.stop)
        self.enabled_check.setChecked(r.enabled)

    def value(self) -> Rule:
        return Rule(
            field=str(self.field_combo.currentData()),
            test=str(self.test_combo.currentData()),
            value=self.value_edit.text(),
            action=str(self.action_combo.currentData()),
            argument=self.argument_edit.text().strip(),
            header=self.header_edit.text().strip(),
            name=self.name_edit.text().strip(),
            enabled=self.enabled_check.isChecked(),
            stop=self.stop_check.isChecked(),
        )

    def problem(self) -> str:
        field = self.field_combo.currentData()
        self.header_edit.setEnabled(field == "header")
        label = _NEEDS_ARGUMENT.get(str(self.action_combo.currentData()))
        self.argument_edit.setEnabled(label is not None)
        self.argument_label.setText(label or "")
        try:
            check_rule(self.value())
        except ValidationError as exc:
            return str(exc)
        return ""


class TryRulesDialog(QDialog):
    """Paste a message, press Try: what the rules would do with it."""

    def __init__(
        self, rules: RuleSet, try_rules: TryRules, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Try the rules on a message")
        self.resize(620, 480)
        self._rules = rules
        self._try = try_rules
        self.message_edit = QPlainTextEdit(self)
        self.message_edit.setPlaceholderText(
            "Paste a whole message here, headers first:\n\n"
            "From: someone@example.org\nSubject: Hello\n\nThe text."
        )
        self.try_button = QPushButton("&Try", self)
        self.result_list = QListWidget(self)
        self.error_label = error_label(self)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Message (nothing is delivered or sent):", self))
        layout.addWidget(self.message_edit, 2)
        layout.addWidget(self.try_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(QLabel("The rules would:", self))
        layout.addWidget(self.result_list, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(close)
        self.try_button.clicked.connect(self.on_try_button_clicked)

    def on_try_button_clicked(self) -> None:
        spawn(self.run())

    async def run(self) -> tuple[str, ...]:
        self.error_label.clear()
        try:
            lines = await self._try(self._rules, self.message_edit.toPlainText())
        except ValidationError as exc:
            self.error_label.setText(str(exc))
            return ()
        self.result_list.clear()
        self.result_list.addItems(list(lines))
        return lines


class RulesEditor(QWidget):
    """The rule list (or a foreign script's text). ``changed`` fires on any
    edit; ``rules()`` is the current list."""

    changed = Signal()

    def __init__(self, try_rules: TryRules, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._try = try_rules
        self._rules: list[Rule] = []
        self._filling = False
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels(["On", "When", "Then"])
        self.table.verticalHeader().setVisible(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.add_button = QPushButton("&Add…", self)
        self.edit_button = QPushButton("&Edit…", self)
        self.remove_button = QPushButton("&Remove", self)
        self.up_button = QPushButton("Move &up", self)
        self.down_button = QPushButton("Move &down", self)
        self.try_button = QPushButton("&Test…", self)
        self.try_button.setToolTip("Run the rules on a pasted message")
        buttons = QVBoxLayout()
        for b in (
            self.add_button,
            self.edit_button,
            self.remove_button,
            self.up_button,
            self.down_button,
            self.try_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        editor = QWidget(self)
        row = QHBoxLayout(editor)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.table, 1)
        row.addLayout(buttons)

        foreign = QWidget(self)
        self.foreign_label = QLabel(foreign)
        self.foreign_label.setWordWrap(True)
        self.foreign_text = QPlainTextEdit(foreign)
        self.foreign_text.setReadOnly(True)
        col = QVBoxLayout(foreign)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.foreign_label)
        col.addWidget(self.foreign_text, 1)

        self.stack = QStackedWidget(self)
        self.stack.addWidget(editor)
        self.stack.addWidget(foreign)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

        self.add_button.clicked.connect(self.on_add_button_clicked)
        self.edit_button.clicked.connect(self.on_edit_button_clicked)
        self.remove_button.clicked.connect(self.on_remove_button_clicked)
        self.up_button.clicked.connect(lambda: self.move_rule(-1))
        self.down_button.clicked.connect(lambda: self.move_rule(1))
        self.try_button.clicked.connect(self.on_try_button_clicked)
        self.table.doubleClicked.connect(self.on_edit_button_clicked)
        self.table.itemChanged.connect(self.on_table_itemChanged)
        self.table.itemSelectionChanged.connect(self.update_buttons)
        self.update_buttons()

    # -- content -----------------------------------------------------------------
    @property
    def editable(self) -> bool:
        return self.stack.currentIndex() == 0

    def set_view(self, view: RulesView) -> None:
        if view.editable:
            self.stack.setCurrentIndex(0)
            self.set_rules(view.rules.rules)
            return
        self.stack.setCurrentIndex(1)
        self.foreign_label.setText(
            f"The script in use, '{view.script}', was written elsewhere (a mail "
            "client or by hand). It is shown here as it is and left alone; "
            "deactivate it in that program to use rules here."
        )
        self.foreign_text.setPlainText(view.text)

    def set_rules(self, rules: tuple[Rule, ...]) -> None:
        self._rules = list(rules)
        self._fill()

    def rules(self) -> tuple[Rule, ...]:
        return tuple(self._rules)

    def _fill(self, select: int = -1) -> None:
        self._filling = True
        self.table.setRowCount(len(self._rules))
        for i, r in enumerate(self._rules):
            on = QTableWidgetItem()
            on.setFlags(
                Qt.ItemFlag.ItemIsUserCheckable
                | Qt.ItemFlag.ItemIsEnabled
                | Qt.ItemFlag.ItemIsSelectable
            )
            on.setCheckState(
                Qt.CheckState.Checked if r.enabled else Qt.CheckState.Unchecked
            )
            on.setToolTip(r.name or f"Rule {i + 1}")
            self.table.setItem(i, 0, on)
            when, then = rule_text(r)
            self.table.setItem(i, 1, QTableWidgetItem(when))
            self.table.setItem(i, 2, QTableWidgetItem(then))
        self._filling = False
        if 0 <= select < len(self._rules):
            self.table.selectRow(select)
        self.update_buttons()

    def selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def update_buttons(self) -> None:
        row = self.selected_row()
        self.edit_button.setEnabled(row >= 0)
        self.remove_button.setEnabled(row >= 0)
        self.up_button.setEnabled(row > 0)
        self.down_button.setEnabled(0 <= row < len(self._rules) - 1)

    def move_rule(self, step: int) -> None:
        row = self.selected_row()
        to = row + step
        if row < 0 or not 0 <= to < len(self._rules):
            return
        self._rules[row], self._rules[to] = self._rules[to], self._rules[row]
        self._fill(to)
        self.changed.emit()

    # -- flows ---------------------------------------------------------------------
    async def edit_rule(self, row: int) -> Rule | None:
        dialog = RuleDialog(self._rules[row] if row >= 0 else None, parent=self)
        try:
            if await exec_async(dialog) != QDialog.DialogCode.Accepted:
                return None
            rule = check_rule(dialog.value())
        finally:
            dialog.deleteLater()
        if row >= 0:
            self._rules[row] = rule
        else:
            self._rules.append(rule)
            row = len(self._rules) - 1
        self._fill(row)
        self.changed.emit()
        return rule

    async def try_rules(self, rules: RuleSet) -> None:
        dialog = TryRulesDialog(rules, self._try, parent=self)
        try:
            await exec_async(dialog)
        finally:
            dialog.deleteLater()

    # -- slots ------------------------------------------------------------------------
    def on_add_button_clicked(self) -> None:
        spawn(self.edit_rule(-1))

    def on_edit_button_clicked(self, *_args: object) -> None:
        row = self.selected_row()
        if row >= 0:
            spawn(self.edit_rule(row))

    def on_remove_button_clicked(self) -> None:
        row = self.selected_row()
        if row >= 0:
            del self._rules[row]
            self._fill(min(row, len(self._rules) - 1))
            self.changed.emit()

    def on_try_button_clicked(self) -> None:
        spawn(self.try_rules(RuleSet(self.rules())))

    def on_table_itemChanged(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 0:
            return
        row = item.row()
        on = item.checkState() == Qt.CheckState.Checked
        self._rules[row] = dataclasses.replace(self._rules[row], enabled=on)
        self.changed.emit()
