"""The Domains and Aliases tabs against the real core, through their dialogs."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.bridge import CoreBridge
from app.dialogs.alias_dialog import AliasDialog, AliasValue
from app.dialogs.domain_dialog import DomainDialog
from app.views.aliases_page import AliasesPage
from app.views.domains_page import DomainsPage
from server.accounts.base import Alias

from .admin_helpers import ALICE, BOB, add_user, answer, close_dialog, open_child
from .helpers import DOMAIN

pytestmark = pytest.mark.gui


def type_into(qtbot: Any, edit: Any, text: str) -> None:
    edit.clear()
    qtbot.keyClicks(edit, text)


def test_domain_dialog_validates(qtbot: Any) -> None:
    dialog = DomainDialog(existing=[DOMAIN])
    qtbot.addWidget(dialog)
    assert "Enter the mail domain" in dialog.error_label.text()
    type_into(qtbot, dialog.name_edit, "bad domain")
    assert "characters a domain cannot have" in dialog.error_label.text()
    type_into(qtbot, dialog.name_edit, "Example.Test")
    assert dialog.error_label.text() == "The domain example.test already exists."
    assert not dialog.ok_button.isEnabled()
    dialog.name_edit.setText("bücher.example")  # keyClicks types ASCII only
    assert dialog.ok_button.isEnabled()
    assert "xn--bcher-kva.example" in dialog.hint_label.text()
    assert dialog.value() == "xn--bcher-kva.example"


def test_add_and_remove_domains(qtbot: Any, real_core: Any, bridge: CoreBridge) -> None:
    add_user(real_core)
    page = DomainsPage(bridge)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.model.names() == (DOMAIN,))

    page.add_button.click()
    dialog = open_child(qtbot, page, DomainDialog)
    type_into(qtbot, dialog.name_edit, "Other.Test")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "other.test" in page.model.names())
    assert page.selected_domain() is not None
    assert "other.test added" in page.status_label.text()

    page.add_button.click()  # cancel changes nothing
    close_dialog(qtbot, open_child(qtbot, page, DomainDialog), accept=False)

    page.remove_button.click()
    assert "other.test" in answer(qtbot, page, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: page.model.names() == (DOMAIN,))

    page.select_domain(DOMAIN)  # it has a user: the core refuses, we say why
    page.remove_button.click()
    answer(qtbot, page, QMessageBox.StandardButton.Yes)
    text = answer(qtbot, page, QMessageBox.StandardButton.Ok)
    assert "still has users" in text
    assert page.model.names() == (DOMAIN,)


def test_alias_dialog_validates(qtbot: Any) -> None:
    dialog = AliasDialog(
        [DOMAIN], [ALICE, BOB], existing=[f"sales@{DOMAIN}", f"*@{DOMAIN}"]
    )
    qtbot.addWidget(dialog)
    assert "Enter the mailbox name" in dialog.error_label.text()
    type_into(qtbot, dialog.local_edit, "bad name")
    assert "The alias name 'bad name' may only contain" in dialog.error_label.text()
    type_into(qtbot, dialog.local_edit, "alice")
    assert "is a user" in dialog.error_label.text()
    type_into(qtbot, dialog.local_edit, "Sales")
    assert "already an alias" in dialog.error_label.text()
    type_into(qtbot, dialog.local_edit, "info")
    assert dialog.error_label.text() == "Tick at least one user to deliver to."
    assert not dialog.ok_button.isEnabled()
    dialog.set_targets([BOB])
    assert dialog.ok_button.isEnabled()
    assert dialog.value() == AliasValue(f"info@{DOMAIN}", (BOB,))
    dialog.catch_all_radio.click()
    assert "every other address @example.test" in dialog.catch_all_radio.text()
    assert not dialog.local_edit.isEnabled()
    assert "already has a catch-all" in dialog.error_label.text()

    edit = AliasDialog([DOMAIN], [ALICE, BOB], alias=Alias(f"*@{DOMAIN}", (ALICE,)))
    qtbot.addWidget(edit)
    assert edit.catch_all_radio.isChecked() and not edit.domain_combo.isEnabled()
    assert edit.targets() == (ALICE,) and edit.ok_button.isEnabled()

    nobody = AliasDialog([DOMAIN], [])
    qtbot.addWidget(nobody)
    type_into(qtbot, nobody.local_edit, "info")
    assert "no users yet" in nobody.error_label.text()


def test_add_edit_catch_all_and_remove_aliases(
    qtbot: Any, real_core: Any, bridge: CoreBridge
) -> None:
    add_user(real_core, ALICE)
    add_user(real_core, BOB, "bob-Window-pw-2")
    page = AliasesPage(bridge)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.users == (ALICE, BOB) or page.users == (BOB, ALICE))

    page.add_button.click()
    dialog = open_child(qtbot, page, AliasDialog)
    type_into(qtbot, dialog.local_edit, "info")
    dialog.set_targets([ALICE, BOB])
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.model.row_of(f"info@{DOMAIN}") >= 0)

    page.add_button.click()
    dialog = open_child(qtbot, page, AliasDialog)
    dialog.catch_all_radio.click()
    dialog.set_targets([BOB])
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.model.row_of(f"*@{DOMAIN}") >= 0)
    aliases = {
        a.address: a.targets for a in real_core.run(real_core.api.list_aliases())
    }
    assert aliases == {
        f"info@{DOMAIN}": (ALICE, BOB),
        f"*@{DOMAIN}": (BOB,),
        f"postmaster@{DOMAIN}": (ALICE,),  # made with the first user (RFC 5321 4.5.1)
    }

    page.select_alias(f"info@{DOMAIN}")  # edit: only the targets change
    page.edit_button.click()
    dialog = open_child(qtbot, page, AliasDialog)
    assert not dialog.local_edit.isEnabled()
    dialog.set_targets([BOB])
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: page.model.alias(page.model.row_of(f"info@{DOMAIN}")).targets == (BOB,)
    )

    page.select_alias(f"*@{DOMAIN}")
    page.remove_button.click()
    assert "catch-all" in answer(qtbot, page, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: page.model.row_of(f"*@{DOMAIN}") < 0)

    # another window (or the CLI) changes aliases: AccountsChanged refreshes
    real_core.run(real_core.api.remove_alias(f"info@{DOMAIN}"))
    qtbot.waitUntil(lambda: page.model.rowCount() == 1)
    assert page.model.row_of(f"postmaster@{DOMAIN}") == 0
