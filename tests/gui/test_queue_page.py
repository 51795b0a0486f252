"""The Queue tab against the real core: a held job, its banner and actions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QMenu, QMessageBox

from app.bridge import CoreBridge
from app.models.queue_model import QueueModel
from app.views.admin_pages import admin_pages
from app.views.queue_page import QueuePage
from server.queue.admin import ADMIN_HELD, NO_ROUTE

from .admin_helpers import ALICE, add_user, answer, submission_port, submit

pytestmark = pytest.mark.gui

FAR = "far@remote.test"


@pytest.fixture
def page(qtbot: Any, bridge: CoreBridge) -> Iterator[QueuePage]:
    p = QueuePage(bridge)
    qtbot.addWidget(p)
    p.resize(1100, 420)
    p.show()
    yield p
    p.hide()  # stops its timers


def cell(page: QueuePage, row: int, col: int) -> str:
    return str(page.model.data(page.model.index(row, col)))


def test_admin_pages_are_tabs(qtbot: Any, bridge: CoreBridge) -> None:
    from PySide6.QtWidgets import QWidget

    parent = QWidget()
    qtbot.addWidget(parent)
    titles = [title for title, _page in admin_pages(bridge, parent)]
    assert titles == [
        "Mailboxes",
        "Messages",
        "Queue",
        "Sessions",
        "Domains",
        "Aliases",
        "Rules",
        "Lists",
        "Collector",
        "Security",
    ]


def test_held_job_banner_and_actions(
    qtbot: Any, real_core: Any, page: QueuePage
) -> None:
    add_user(real_core)
    port = submission_port(real_core)
    submit(port, FAR, "queue test one")
    # the MessageQueued event refreshes the page (coalesced)
    qtbot.waitUntil(lambda: page.model.rowCount() == 1)
    job = page.model.job(0)
    assert cell(page, 0, QueueModel.COL_FROM) == ALICE
    assert cell(page, 0, QueueModel.COL_RECIPIENTS) == f"{FAR} (held)"
    assert cell(page, 0, QueueModel.COL_ERROR) == NO_ROUTE
    assert page.banner.isVisible()
    assert "No relay or MX module is switched on" in page.banner.text()
    assert not page.hold_button.isEnabled()  # nothing selected

    page.select_job(job.job_id)
    assert page.hold_button.isEnabled() and not page.release_button.isEnabled()
    page.hold_button.click()
    qtbot.waitUntil(lambda: "The message is held." in page.status_label.text())
    assert page.model.job(0).last_error == ADMIN_HELD
    assert page.release_button.isEnabled() and not page.hold_button.isEnabled()

    page.release_button.click()
    qtbot.waitUntil(lambda: "released" in page.status_label.text())
    assert page.model.job(0).last_error == NO_ROUTE

    page.retry_button.click()  # no route: the core says why it still waits
    qtbot.waitUntil(lambda: "no remote delivery module" in page.status_label.text())

    page.headers_button.click()
    qtbot.waitUntil(lambda: page.headers_dialog is not None)
    assert page.headers_dialog is not None
    assert "Subject: queue test one" in page.headers_dialog.text()
    assert page.headers_dialog.text_edit.isReadOnly()
    page.headers_dialog.close()

    page.delete_button.click()
    assert job.job_id in answer(qtbot, page, QMessageBox.StandardButton.No)
    assert page.model.rowCount() == 1
    page.delete_button.click()
    answer(qtbot, page, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: page.model.rowCount() == 0)
    assert "deleted" in page.status_label.text()
    assert not page.banner.isVisible()
    assert real_core.run(real_core.api.queue_jobs()) == ()


def test_bounce_now_and_context_menu(
    qtbot: Any, real_core: Any, page: QueuePage
) -> None:
    add_user(real_core)
    submit(submission_port(real_core), FAR, "to be bounced")
    qtbot.waitUntil(lambda: page.model.rowCount() == 1)
    job = page.model.job(0)

    rect = page.table.visualRect(page.model.index(0, 0))
    page.table.customContextMenuRequested.emit(rect.center())
    menu = open_menu(qtbot, page)
    labels = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert labels[:5] == ["&Hold", "&Release", "Retry &now", "&Bounce now", "&Delete…"]
    menu.close()

    page.bounce_action.trigger()
    assert job.job_id in answer(qtbot, page, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: "returned to its sender" in page.status_label.text())
    qtbot.waitUntil(lambda: page.model.rowCount() == 0)


def open_menu(qtbot: Any, page: QueuePage) -> QMenu:
    qtbot.waitUntil(lambda: page.findChild(QMenu) is not None)
    menu = page.findChild(QMenu)
    assert isinstance(menu, QMenu)
    return menu


def test_route_banner_texts() -> None:
    from app.views.queue_page import NO_ROUTE_TEXT, route_banner
    from server.modules.base import ModuleState, ModuleStatus

    off = ModuleStatus("relay", "Relay", False, ModuleState.STOPPED)
    failed = ModuleStatus(
        "relay", "Relay", True, ModuleState.FAILED, last_error="No smart host set."
    )
    running = ModuleStatus("mx", "MX", True, ModuleState.RUNNING)
    assert route_banner((off,)) == NO_ROUTE_TEXT
    assert "No smart host set." in route_banner((failed,))
    assert route_banner((off, running)) == ""
