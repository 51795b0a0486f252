"""The Lists tab against the real core: make a list in its dialog, add
members, and approve a post that waits for a moderator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from app.bridge import CoreBridge
from app.views.lists_page import ListDialog, ListsPage
from server.delivery.base import Envelope

from .admin_helpers import ALICE, BOB, add_user, answer, close_dialog, open_child
from .helpers import DOMAIN, wait_for

pytestmark = pytest.mark.gui

LIST = f"team@{DOMAIN}"


def inbox(core: Any, user: str) -> list[Path]:
    local, domain = user.split("@")
    md = Path(core.data_dir) / "mail" / domain / local
    return [p for sub in ("new", "cur") for p in (md / sub).glob("*")]


def test_make_a_list_add_members_and_moderate(
    qtbot: Any, real_core: Any, bridge: CoreBridge
) -> None:
    add_user(real_core)
    add_user(real_core, BOB)
    page = ListsPage(bridge)
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    qtbot.waitUntil(lambda: page._loaded)

    page.add_button.click()
    dialog = open_child(qtbot, page, ListDialog)
    assert "Enter the list's name" in dialog.error_label.text()
    qtbot.keyClicks(dialog.local_edit, "team")
    qtbot.keyClicks(dialog.title_edit, "The team")
    qtbot.keyClicks(dialog.prefix_edit, "[team]")
    qtbot.keyClicks(dialog.moderators_edit, BOB)
    close_dialog(qtbot, dialog, accept=True)
    qtbot.waitUntil(lambda: page.selected_list() is not None)
    selected = page.selected_list()
    assert selected is not None and selected.address == LIST
    assert selected.prefix == "[team]"

    page.add_member_button.click()
    ask = open_child(qtbot, page, QInputDialog)
    ask.setTextValue(f"{ALICE}, not an address")
    ask.accept()
    qtbot.waitUntil(lambda: len(page.members) == 1)
    assert page.members[0].address == ALICE
    qtbot.waitUntil(lambda: "not a mail address" in page.status_label.text())

    # a stranger posts: it waits; Approve sends it to the member
    post = b"From: carol@outside.test\r\nSubject: hello team\r\n\r\nhi\r\n"
    real_core.run(
        real_core.services.queue.accept(Envelope("carol@outside.test", (LIST,)), post)
    )
    wait_for(qtbot, page.refresh())
    assert [h.subject for h in page.held] == ["hello team"]
    qtbot.waitUntil(lambda: len(inbox(real_core, BOB)) == 1)  # the notice
    page.held_table.selectRow(0)
    page.grab().save(str(Path(real_core.data_dir).parent / "lists-page.png"))
    page.approve_button.click()
    qtbot.waitUntil(lambda: "Sent to 1 members" in page.status_label.text())
    qtbot.waitUntil(lambda: page.held == ())  # the list is read again after
    qtbot.waitUntil(lambda: len(inbox(real_core, ALICE)) == 1)
    assert b"Subject: [team] hello team" in inbox(real_core, ALICE)[0].read_bytes()

    page.remove_button.click()  # asks first; No keeps it
    answer(qtbot, page, QMessageBox.StandardButton.No)
    assert page.selected_list() is not None
