"""Access rules as an editor (issue 17): ordered rows, checked as typed,
comments kept, a test box naming the rule that decides; the module settings
dialog edits its list through it and the core gets the same strings."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from app.dialogs.access_dialog import AccessRulesDialog, join_rule, split_rule
from app.dialogs.settings_dialog import AccessField, SettingsDialog
from server.config.schema import SecuritySettings, SmtpSettings
from server.netcontrol import is_allowed, parse_rules

pytestmark = pytest.mark.gui

OFFICE = ("allow 192.168.1.0/24 # office LAN", "deny all")


def test_rows_validate_reorder_and_keep_comments(qtbot: Any) -> None:
    dialog = AccessRulesDialog(OFFICE, inherited=SecuritySettings().access)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 2
    assert dialog.row_values(0) == ("allow", "192.168.1.0/24", "office LAN")
    assert dialog.value() == OFFICE and dialog.ok_button.isEnabled()

    qtbot.keyClicks(dialog.test_edit, "192.168.1.20")
    assert dialog.test_result.text() == (
        "192.168.1.20: allowed by rule 1 (allow 192.168.1.0/24 # office LAN)."
    )
    dialog.test_edit.setText("203.0.113.5")
    assert "refused by rule 2 (deny all)" in dialog.test_result.text()

    row = dialog.add_row("allow", "203.0.113.0/24", "partner")
    dialog.table.setCurrentCell(row, 1)
    dialog.up_button.click()  # above "deny all"
    assert dialog.value()[1] == "allow 203.0.113.0/24 # partner"
    assert "allowed by rule 2" in dialog.test_result.text()

    dialog.table.item(1, 1).setText("203.0.113.999")
    assert "Rule 2: '203.0.113.999' is not an address" in dialog.error_label.text()
    assert not dialog.ok_button.isEnabled()
    dialog.table.item(1, 1).setText("203.0.113.7")
    combo = dialog.table.cellWidget(1, 0)
    assert isinstance(combo, QComboBox)
    combo.setCurrentText("deny")
    assert dialog.ok_button.isEnabled()
    rules = parse_rules(dialog.value())
    assert not is_allowed(rules, "203.0.113.7") and is_allowed(rules, "192.168.1.9")

    while dialog.table.rowCount():
        dialog.table.setCurrentCell(0, 1)
        dialog.remove_button.click()
    assert "Security settings' rules apply" in dialog.inherit_note.text()
    dialog.test_edit.setText("127.0.0.1")
    assert "of the Security settings" in dialog.test_result.text()


def test_a_comment_stays_one_line_and_round_trips() -> None:
    text = join_rule("deny", " 10.0.0.0/8 ", "two\nlines  here")
    assert text == "deny 10.0.0.0/8 # two lines here"
    assert split_rule(text) == ("deny", "10.0.0.0/8", "two lines here")
    assert parse_rules((text,))[0].allow is False


def test_the_module_dialog_edits_access_through_the_editor(
    qtbot: Any, gui_loop: Any
) -> None:
    async def apply(section: str, values: dict[str, Any]) -> object:
        return values

    dialog = SettingsDialog(
        "smtp", SmtpSettings(), apply, inherited_access=SecuritySettings().access
    )
    qtbot.addWidget(dialog)
    field = dialog.editors["access"]
    assert isinstance(field, AccessField)
    assert field.summary.text() == "the Security settings' rules"
    qtbot.mouseClick(field.edit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: field.findChild(AccessRulesDialog) is not None)
    editor = field.findChild(AccessRulesDialog)
    assert isinstance(editor, AccessRulesDialog)
    editor.add_row("allow", "10.1.0.0/16", "branch")
    editor.add_row("deny", "all", "")
    editor.ok_button.click()
    qtbot.waitUntil(lambda: field.rules != ())
    assert dialog.changed_values() == {
        "access": ("allow 10.1.0.0/16 # branch", "deny all")
    }
    assert field.summary.text().startswith("2 rules")
