"""Access rules as an editor (issue 17), not a line of text: ordered rows of
action (allow/deny), address or network, and a comment; checked as typed;
a "test an address" box says which rule decides.

The value is the same tuple of strings the settings keep
(``server/netcontrol.py``: ``"allow 192.168.1.0/24 # office"``), so the core
checks it again when it is saved.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.base import ValidatedDialog, error_label
from server.api import first_match, parse_rule, parse_rules
from server.errors import ValidationError

COL_ACTION, COL_NETWORK, COL_COMMENT = range(3)
MAX_RULES = 200


def split_rule(text: str) -> tuple[str, str, str]:
    """(action, network, comment) of a stored rule."""
    body, _, comment = text.partition("#")
    parts = body.split()
    action = parts[0].lower() if parts else "allow"
    network = parts[1] if len(parts) > 1 else ""
    return action, network, comment.strip()


def join_rule(action: str, network: str, comment: str) -> str:
    text = f"{action} {network.strip()}"
    clean = " ".join(comment.split())  # one line
    return f"{text} # {clean}" if clean else text


class AccessRulesDialog(ValidatedDialog):
    """Edit one access list. ``inherited``: the rules that apply while this
    list is empty (a module's list falls back to the Security settings').

    Signals: the standard ``QDialog`` signals only.
    """

    def __init__(
        self,
        rules: tuple[str, ...],
        inherited: tuple[str, ...] | None = None,
        parent: QWidget | None = None,
        title: str = "Access rules",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.inherited = inherited
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels(
            ["Action", "Address or network", "Comment"]
        )
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_ACTION, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setColumnWidth(
            COL_NETWORK, self.fontMetrics().horizontalAdvance("x") * 28
        )
        self.add_button = QPushButton("&Add", self)
        self.remove_button = QPushButton("&Remove", self)
        self.up_button = QPushButton("Move &up", self)
        self.down_button = QPushButton("Move &down", self)
        column = QVBoxLayout()
        for b in (
            self.add_button,
            self.remove_button,
            self.up_button,
            self.down_button,
        ):
            column.addWidget(b)
        column.addStretch(1)
        body = QHBoxLayout()
        body.addWidget(self.table, 1)
        body.addLayout(column)

        note = QLabel(
            "The first rule that matches a client's address decides; a client "
            "no rule matches is refused. An address or a network: 192.168.1.7, "
            "192.168.1.0/24, 2001:db8::/32, or all.",
            self,
        )
        note.setWordWrap(True)
        self.inherit_note = QLabel(self)
        self.inherit_note.setWordWrap(True)
        self.test_edit = QLineEdit(self)
        self.test_edit.setPlaceholderText("an address to test, e.g. 203.0.113.5")
        self.test_result = QLabel(self)
        self.test_result.setWordWrap(True)
        test_row = QHBoxLayout()
        test_row.addWidget(QLabel("Test:", self))
        test_row.addWidget(self.test_edit, 1)
        self.error_label = error_label(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
            parent=self,
        )
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(body, 1)
        layout.addWidget(self.inherit_note)
        layout.addLayout(test_row)
        layout.addWidget(self.test_result)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.resize(self.fontMetrics().horizontalAdvance("x") * 90, 420)

        for text in rules:
            self.add_row(*split_rule(text))
        self.add_button.clicked.connect(lambda: self.add_row("allow", "", ""))
        self.remove_button.clicked.connect(self.remove_row)
        self.up_button.clicked.connect(lambda: self.move_row(-1))
        self.down_button.clicked.connect(lambda: self.move_row(1))
        self.table.itemChanged.connect(self.on_field_changed)
        self.test_edit.textChanged.connect(self.on_field_changed)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.validate()

    # -- rows ----------------------------------------------------------------------
    def add_row(self, action: str, network: str, comment: str) -> int:
        row = self.table.rowCount()
        self.table.insertRow(row)
        combo = QComboBox(self.table)
        combo.addItems(["allow", "deny"])
        combo.setCurrentText(action if action in ("allow", "deny") else "allow")
        combo.currentTextChanged.connect(self.on_field_changed)
        self.table.setCellWidget(row, COL_ACTION, combo)
        self.table.setItem(row, COL_NETWORK, QTableWidgetItem(network))
        self.table.setItem(row, COL_COMMENT, QTableWidgetItem(comment))
        self.table.setCurrentCell(row, COL_NETWORK)
        self.validate()
        return row

    def remove_row(self) -> None:
        row = self.table.currentRow()
        if row >= 0:
            self.table.removeRow(row)
            self.validate()

    def move_row(self, step: int) -> None:
        row = self.table.currentRow()
        other = row + step
        if row < 0 or not 0 <= other < self.table.rowCount():
            return
        a, b = self.row_values(row), self.row_values(other)
        self._set_row(row, *b)
        self._set_row(other, *a)
        self.table.setCurrentCell(other, COL_NETWORK)
        self.validate()

    def _set_row(self, row: int, action: str, network: str, comment: str) -> None:
        combo = self.table.cellWidget(row, COL_ACTION)
        assert isinstance(combo, QComboBox)
        combo.setCurrentText(action)
        for col, text in ((COL_NETWORK, network), (COL_COMMENT, comment)):
            item = self.table.item(row, col)
            if item is not None:
                item.setText(text)

    def row_values(self, row: int) -> tuple[str, str, str]:
        combo = self.table.cellWidget(row, COL_ACTION)
        action = combo.currentText() if isinstance(combo, QComboBox) else "allow"
        texts = []
        for col in (COL_NETWORK, COL_COMMENT):
            item = self.table.item(row, col)
            texts.append(item.text() if item is not None else "")
        return action, texts[0], texts[1]

    # -- value -----------------------------------------------------------------------
    def value(self) -> tuple[str, ...]:
        return tuple(
            join_rule(*self.row_values(r)) for r in range(self.table.rowCount())
        )

    def problem(self) -> str:
        if self.table.rowCount() > MAX_RULES:
            return f"At most {MAX_RULES} rules."
        for row in range(self.table.rowCount()):
            action, network, _ = self.row_values(row)
            if not network.strip():
                return f"Rule {row + 1}: enter an address or a network."
            try:
                parse_rule(f"{action} {network}")
            except ValidationError:
                return (
                    f"Rule {row + 1}: {network.strip()!r} is not an address or a "
                    "network (e.g. 192.168.1.0/24, or all)."
                )
        return ""

    def after_validate(self, problem: str) -> None:
        empty = self.table.rowCount() == 0
        if self.inherited is not None:
            self.inherit_note.setText(
                "No rules here: the Security settings' rules apply."
                if empty
                else "These rules replace the Security settings' for this module."
            )
        elif empty:
            self.inherit_note.setText("No rules: every client is refused.")
        else:
            self.inherit_note.setText("")
        self.test_result.setText(self.test_text())

    def test_text(self) -> str:
        """Which rule decides for the address in the test box, in words."""
        ip = self.test_edit.text().strip()
        if not ip or self.problem():
            return ""
        texts = self.value() or (self.inherited or ())
        rules = parse_rules(texts)
        i = first_match(rules, ip)
        if i is None:
            try:
                parse_rule(f"allow {ip}")
            except ValidationError:
                return f"{ip!r} is not an address."
            return f"{ip}: refused (no rule matches)."
        verdict = "allowed" if rules[i].allow else "refused"
        whose = "" if self.value() else " of the Security settings"
        return f"{ip}: {verdict} by rule {i + 1}{whose} ({texts[i]})."
