"""The Rules tab and the user dialog's Rules, Out of office and Forwarding
tabs, against the real core: what the person clicks ends up as the user's
Sieve script, and a script written elsewhere is shown and left alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.bridge import CoreBridge
from app.dialogs.user_dialog import UserDialog
from app.views.rules_page import RulesPage
from app.views.users_page import UsersPage
from app.widgets.rules_editor import RuleDialog, TryRulesDialog
from server.api import AutoReply, Forwarding, Rule, RuleSet
from server.sieve.store import ScriptStore

from .admin_helpers import ALICE, add_user, close_dialog, open_child
from .helpers import wait_for

pytestmark = pytest.mark.gui


def sieve_dir(core: Any) -> Path:
    return Path(core.data_dir) / "sieve"


def fill_rule(
    qtbot: Any,
    dialog: RuleDialog,
    field: str,
    test: str,
    value: str,
    action: str,
    argument: str = "",
) -> None:
    dialog.field_combo.setCurrentIndex(dialog.field_combo.findData(field))
    dialog.test_combo.setCurrentIndex(dialog.test_combo.findData(test))
    dialog.value_edit.clear()
    qtbot.keyClicks(dialog.value_edit, value)
    dialog.action_combo.setCurrentIndex(dialog.action_combo.findData(action))
    dialog.argument_edit.clear()
    if argument:
        qtbot.keyClicks(dialog.argument_edit, argument)


def test_rule_dialog_checks_as_you_type(qtbot: Any) -> None:
    dialog = RuleDialog()
    qtbot.addWidget(dialog)
    fill_rule(qtbot, dialog, "subject", "contains", "[club]", "move")
    assert "needs where" in dialog.error_label.text()
    assert not dialog.ok_button.isEnabled()
    qtbot.keyClicks(dialog.argument_edit, "Club")
    assert dialog.ok_button.isEnabled() and dialog.error_label.text() == ""
    fill_rule(qtbot, dialog, "size", "contains", "5M", "delete")
    assert "is over" in dialog.error_label.text()
    dialog.test_combo.setCurrentIndex(dialog.test_combo.findData("over"))
    assert dialog.ok_button.isEnabled()
    assert not dialog.argument_edit.isEnabled()  # delete needs nothing
    assert dialog.value() == Rule("size", "over", "5M", "delete")


def test_global_rules_page_adds_reorders_saves_and_tries(
    qtbot: Any, real_core: Any, bridge: CoreBridge
) -> None:
    add_user(real_core)
    page = RulesPage(bridge)
    qtbot.addWidget(page)
    page.resize(900, 600)
    page.show()
    qtbot.waitUntil(lambda: page._loaded)
    assert not page.save_button.isEnabled()
    for field, value, folder in (
        ("subject", "lottery", "Junk"),
        ("from", "boss@", "Boss"),
    ):
        page.editor.add_button.click()
        dialog = open_child(qtbot, page.editor, RuleDialog)
        fill_rule(qtbot, dialog, field, "contains", value, "move", folder)
        close_dialog(qtbot, dialog, accept=True)
        qtbot.waitUntil(lambda v=value: any(v in r.value for r in page.editor.rules()))
    assert [r.argument for r in page.editor.rules()] == ["Junk", "Boss"]
    page.editor.table.selectRow(1)
    page.editor.up_button.click()
    assert [r.argument for r in page.editor.rules()] == ["Boss", "Junk"]
    page.editor.table.item(1, 0).setCheckState(Qt.CheckState.Unchecked)
    assert [r.enabled for r in page.editor.rules()] == [True, False]
    assert page.save_button.isEnabled()
    page.grab().save(str(Path(real_core.data_dir).parent / "rules-page.png"))
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Saved: 2 rules" in page.status_label.text())
    text = (
        sieve_dir(real_core) / "@global" / "before" / "quicksilver-rules.sieve"
    ).read_text()
    assert 'fileinto :create "Boss"' in text and "(off)" in text
    assert 'fileinto :create "Junk"' not in text  # the rule that is off

    page.editor.try_button.click()
    trial = open_child(qtbot, page.editor, TryRulesDialog)
    trial.message_edit.setPlainText("From: boss@example.test\nSubject: hi\n\ntext")
    trial.try_button.click()
    qtbot.waitUntil(lambda: trial.result_list.count() > 0)
    assert trial.result_list.item(0).text() == "Move to folder 'Boss'"
    trial.reject()


def test_user_dialog_tabs_write_the_users_script(
    qtbot: Any, real_core: Any, bridge: CoreBridge
) -> None:
    add_user(real_core)
    page = UsersPage(bridge)
    qtbot.addWidget(page)
    page.show()
    wait_for(qtbot, page.refresh())
    page.select_user(ALICE)
    page.edit_button.click()
    dialog = open_child(qtbot, page, UserDialog)
    assert dialog.tabs is not None
    assert [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())] == [
        "Account",
        "Rules",
        "Out of office",
        "Forwarding",
    ]
    dialog.tabs.setCurrentIndex(2)
    dialog.auto_reply.on_check.setChecked(True)
    assert "text of the reply" in dialog.error_label.text()
    assert not dialog.ok_button.isEnabled()
    qtbot.keyClicks(dialog.auto_reply.text_edit, "Back on Monday.")
    qtbot.keyClicks(dialog.auto_reply.end_edit, "2999-12-31")
    assert dialog.ok_button.isEnabled()
    dialog.tabs.setCurrentIndex(3)
    dialog.forward.on_check.setChecked(True)
    qtbot.keyClicks(dialog.forward.to_edit, "nobody")
    assert "not a mail address" in dialog.error_label.text()
    dialog.forward.to_edit.clear()
    qtbot.keyClicks(dialog.forward.to_edit, "dave@remote.test")
    dialog.forward.keep_check.setChecked(False)
    dialog.grab().save(str(Path(real_core.data_dir).parent / "user-forward.png"))
    close_dialog(qtbot, dialog, accept=True)
    path = sieve_dir(real_core) / "example.test" / "alice" / "quicksilver.sieve"
    qtbot.waitUntil(path.exists)
    text = path.read_text()
    assert 'redirect "dave@remote.test";' in text
    assert 'vacation :days 7 :subject "Out of office" "Back on Monday.";' in text
    store = ScriptStore(sieve_dir(real_core))
    assert store.active_name(ALICE) == "quicksilver"

    # open again: everything is shown as saved
    page.edit_button.click()
    again = open_child(qtbot, page, UserDialog)
    assert again.auto_reply.value() == AutoReply(
        "Out of office", "Back on Monday.", 7, "", "2999-12-31"
    )
    assert again.forward.value() == Forwarding(("dave@remote.test",), False)
    assert again.rules_value() == RuleSet(
        (), again.auto_reply.value(), again.forward.value()
    )
    close_dialog(qtbot, again, accept=False)
    # let the page's flow end (deleteLater) before the page itself goes: a
    # window-modal child dialog destroyed with its parent crashed Qt here
    qtbot.waitUntil(lambda: not page.findChildren(UserDialog))


def test_a_script_from_elsewhere_is_read_only_in_the_dialog(
    qtbot: Any, real_core: Any, bridge: CoreBridge
) -> None:
    add_user(real_core)
    store = ScriptStore(sieve_dir(real_core))
    own = 'require "fileinto";\nfileinto "Mine";\n'
    store.put(ALICE, "thunderbird", own)
    store.set_active(ALICE, "thunderbird")
    page = UsersPage(bridge)
    qtbot.addWidget(page)
    page.show()
    wait_for(qtbot, page.refresh())
    page.select_user(ALICE)
    page.edit_button.click()
    dialog = open_child(qtbot, page, UserDialog)
    assert dialog.rules_editor is not None and not dialog.rules_editor.editable
    assert dialog.rules_editor.foreign_text.toPlainText() == own
    assert "thunderbird" in dialog.rules_editor.foreign_label.text()
    assert not dialog.auto_reply.isEnabled() and not dialog.forward.isEnabled()
    assert dialog.rules_value() is None
    close_dialog(qtbot, dialog, accept=True)  # saves the account only
    qtbot.waitUntil(lambda: page.selected_user() is not None)
    assert store.get(ALICE, "thunderbird") == own
    assert store.active_name(ALICE) == "thunderbird"
