"""The Queue tab: messages waiting for remote delivery, and what to do with them.

Shows ``api.queue_jobs()``; queue and module events trigger a refresh,
coalesced (a burst of deliveries costs one call). Hold, Release, Retry now,
Bounce now and Delete call the facade and show its ``QueueActionResult``;
"Headers…" shows a job's header section; "Relay settings…" edits the smart
host (``relay_flow.edit_relay_settings``, also the main window's menu entry).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer
from PySide6.QtGui import QAction, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.base import notify
from app.dialogs.confirm import TextDialog, confirm
from app.dialogs.relay_dialog import RelayChange
from app.models.queue_model import QueueModel
from app.tasks import spawn
from app.views.relay_flow import edit_relay_settings
from server.api import (
    ADMIN_HELD,
    CoreApi,
    QueueActionResult,
)
from server.errors import ValidationError
from server.modules import registry
from server.modules.base import ModuleState, ModuleStatus
from server.queue.spool import QueueJobView

log = logging.getLogger("quicksilver.app")

# a queue action of the facade, on one job (``CoreApi.hold_job``...)
JobAction = Callable[[CoreApi, str], Awaitable[QueueActionResult]]

REFRESH_MS = 300  # coalesce a burst of queue events into one refresh
TICK_MS = 30_000  # repaint "12 min" / "in 4 min" while the page is shown
BANNER_STYLE = (
    "QLabel { background: #fff4ce; color: #4a3b00; border: 1px solid #e0c46c;"
    " border-radius: 3px; padding: 6px; }"
)
NO_ROUTE_TEXT = (
    "No relay or MX module is switched on: remote mail waits here. Tick relay "
    "(send through a smart host) or mx (deliver directly) to send it."
)


def route_names() -> frozenset[str]:
    """The modules that send remote mail out (the registry's routes)."""
    return frozenset(m.name for m in registry.routes())


def route_banner(modules: tuple[ModuleStatus, ...]) -> str:
    """Why remote mail cannot leave, or '' when a route is running."""
    routes = [m for m in modules if m.name in route_names()]
    if any(m.state is ModuleState.RUNNING for m in routes):
        return ""
    broken = [m for m in routes if m.enabled and m.state is ModuleState.FAILED]
    if broken:
        m = broken[0]
        why = f": {m.last_error}" if m.last_error else ""
        return (
            f"The {m.title} module is switched on but not running{why}. "
            "Remote mail waits here."
        )
    return NO_ROUTE_TEXT


class QueuePage(QWidget):
    """The queue table, its actions and the no-route banner.

    Signals: none.
    """

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._dirty = True
        self.modules: tuple[ModuleStatus, ...] = ()
        self.headers_dialog: TextDialog | None = None

        self.banner = QLabel(self)
        self.banner.setObjectName("queueBanner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.hide()

        self.model = QueueModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        for col in (
            QueueModel.COL_ID,
            QueueModel.COL_SIZE,
            QueueModel.COL_AGE,
            QueueModel.COL_ATTEMPTS,
            QueueModel.COL_NEXT,
        ):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(
            QueueModel.COL_RECIPIENTS, QHeaderView.ResizeMode.Interactive
        )
        self.table.setColumnWidth(QueueModel.COL_FROM, 170)
        self.table.setColumnWidth(QueueModel.COL_RECIPIENTS, 240)

        self.hold_action = QAction("&Hold", self)
        self.hold_action.setToolTip("Keep this message from being tried until released")
        self.release_action = QAction("&Release", self)
        self.release_action.setToolTip("Let a held message be tried again")
        self.retry_action = QAction("Retry &now", self)
        self.retry_action.setToolTip("Try the waiting recipients now")
        self.bounce_action = QAction("&Bounce now", self)
        self.bounce_action.setToolTip("Give up and return the message to its sender")
        self.delete_action = QAction("&Delete…", self)
        self.delete_action.setToolTip("Remove the message without telling anyone")
        self.headers_action = QAction("Head&ers…", self)
        self.headers_action.setToolTip("Show the message's header lines")
        self.job_actions = (
            self.hold_action,
            self.release_action,
            self.retry_action,
            self.bounce_action,
            self.delete_action,
            self.headers_action,
        )
        buttons = QVBoxLayout()
        self.buttons: dict[QAction, QPushButton] = {}
        for action in self.job_actions:
            button = QPushButton(action.text(), self)
            button.setToolTip(action.toolTip())
            button.clicked.connect(action.trigger)
            self.buttons[action] = button
            buttons.addWidget(button)
            if action is self.delete_action:
                line = QFrame(self)
                line.setFrameShape(QFrame.Shape.HLine)
                line.setFrameShadow(QFrame.Shadow.Sunken)
                buttons.addWidget(line)
        self.hold_button = self.buttons[self.hold_action]
        self.release_button = self.buttons[self.release_action]
        self.retry_button = self.buttons[self.retry_action]
        self.bounce_button = self.buttons[self.bounce_action]
        self.delete_button = self.buttons[self.delete_action]
        self.headers_button = self.buttons[self.headers_action]
        buttons.addStretch(1)
        self.relay_button = QPushButton("Relay &settings…", self)
        self.relay_button.setToolTip("The smart host that remote mail goes through")
        buttons.addWidget(self.relay_button)

        self.status_label = QLabel(self)
        self.status_label.setObjectName("queueStatus")
        self.status_label.setWordWrap(True)

        body = QHBoxLayout()
        body.addWidget(self.table, 1)
        body.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addLayout(body, 1)
        layout.addWidget(self.status_label)

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self.on_refresh_timer_timeout)
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(TICK_MS)
        self._tick_timer.timeout.connect(self.model.tick)

        self.hold_action.triggered.connect(self.on_hold_action_triggered)
        self.release_action.triggered.connect(self.on_release_action_triggered)
        self.retry_action.triggered.connect(self.on_retry_action_triggered)
        self.bounce_action.triggered.connect(self.on_bounce_action_triggered)
        self.delete_action.triggered.connect(self.on_delete_action_triggered)
        self.headers_action.triggered.connect(self.on_headers_action_triggered)
        self.relay_button.clicked.connect(self.on_relay_button_clicked)
        self.table.customContextMenuRequested.connect(
            self.on_table_customContextMenuRequested
        )
        self.table.doubleClicked.connect(self.on_table_doubleClicked)
        self.table.selectionModel().selectionChanged.connect(self.on_selection_changed)
        self.model.modelReset.connect(self.on_selection_changed)
        bridge.queueChanged.connect(self.on_bridge_queueChanged)
        bridge.moduleStateChanged.connect(self.on_bridge_moduleStateChanged)
        self.on_selection_changed()

    # -- selection -------------------------------------------------------------
    def selected_job(self) -> QueueJobView | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.job(rows[0].row()) if rows else None

    def select_job(self, job_id: str) -> None:
        row = self.model.row_of(job_id)
        if row >= 0:
            self.table.selectRow(row)

    # -- refresh ---------------------------------------------------------------
    async def refresh(self) -> None:
        jobs = await self._bridge.run(CoreApi.queue_jobs)
        modules = await self._bridge.run(CoreApi.modules)
        self._dirty = False
        selected = self.selected_job()
        self.model.set_jobs(jobs)
        self.modules = tuple(modules)
        if selected is not None:
            self.select_job(selected.job_id)
        self._update_banner()

    def schedule_refresh(self) -> None:
        self._dirty = True
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _update_banner(self) -> None:
        text = route_banner(self.modules) if self.model.has_held() else ""
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._tick_timer.start()
        if self._dirty:
            spawn(self.refresh())

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._tick_timer.stop()
        self._refresh_timer.stop()  # refreshed when shown again (still dirty)

    # -- actions ---------------------------------------------------------------
    async def act(
        self, action: JobAction, job: QueueJobView
    ) -> QueueActionResult | None:
        """Run a queue action of the facade (``CoreApi.hold_job``...) on ``job``
        and say what happened."""
        try:
            result = await self._bridge.run(action, job.job_id)
        except ValidationError as exc:
            notify(self, "Queue", str(exc))
            await self.refresh()
            return None
        await self.refresh()  # the table first: the words then describe it
        if result.ok:
            self.status_label.setText(f"Job {job.job_id}: {result.message}")
        else:
            notify(self, "Queue", result.message)
        return result

    async def delete_job(self, job: QueueJobView) -> QueueActionResult | None:
        text = (
            f"Delete job {job.job_id} from {job.sender or '<>'} "
            f"to {', '.join(a for a, _ in job.recipients)}?\n"
            "Nobody is told: the message is simply gone."
        )
        if not await confirm(self, "Delete message", text):
            return None
        return await self.act(CoreApi.delete_job, job)

    async def bounce_job(self, job: QueueJobView) -> QueueActionResult | None:
        text = (
            f"Give up on job {job.job_id} now and return it to "
            f"{job.sender or 'nobody (it has no sender)'}?"
        )
        if not await confirm(self, "Bounce message", text):
            return None
        return await self.act(CoreApi.bounce_job, job)

    async def show_headers(self, job: QueueJobView) -> TextDialog | None:
        try:
            headers = await self._bridge.run(CoreApi.job_headers, job.job_id)
        except ValidationError as exc:
            notify(self, "Headers", str(exc))
            return None
        if self.headers_dialog is not None:
            self.headers_dialog.close()
        dialog = TextDialog(
            f"Headers of job {job.job_id}",
            f"From {job.sender or '<>'}, {len(job.recipients)} recipient(s):",
            headers.headers,
            self,
        )
        dialog.destroyed.connect(self.on_headers_dialog_destroyed)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.headers_dialog = dialog
        return dialog

    async def edit_relay(self) -> RelayChange | None:
        change = await edit_relay_settings(self._bridge, self)
        if change is not None:
            where = " The password was stored." if change.password else ""
            if change.password == "":
                where = " The stored password was removed."
            self.status_label.setText(f"Relay settings saved.{where}")
            await self.refresh()
        return change

    # -- slots -----------------------------------------------------------------
    def on_selection_changed(self, *_args: object) -> None:
        job = self.selected_job()
        admin_held = job is not None and job.last_error == ADMIN_HELD
        for action in self.job_actions:
            action.setEnabled(job is not None)
        self.hold_action.setEnabled(job is not None and not admin_held)
        self.release_action.setEnabled(admin_held)
        for action, button in self.buttons.items():
            button.setEnabled(action.isEnabled())

    def on_refresh_timer_timeout(self) -> None:
        if self.isVisible():
            spawn(self.refresh())

    def on_bridge_queueChanged(self, _event: object) -> None:
        self.schedule_refresh()

    def on_bridge_moduleStateChanged(self, event: object) -> None:
        if getattr(event, "name", "") in route_names():
            self.schedule_refresh()

    def _with_job(
        self, flow: Callable[[QueueJobView], Coroutine[Any, Any, object]]
    ) -> None:
        job = self.selected_job()
        if job is not None:
            spawn(flow(job))

    def on_hold_action_triggered(self) -> None:
        self._with_job(lambda job: self.act(CoreApi.hold_job, job))

    def on_release_action_triggered(self) -> None:
        self._with_job(lambda job: self.act(CoreApi.release_job, job))

    def on_retry_action_triggered(self) -> None:
        self._with_job(lambda job: self.act(CoreApi.retry_job, job))

    def on_bounce_action_triggered(self) -> None:
        self._with_job(self.bounce_job)

    def on_delete_action_triggered(self) -> None:
        self._with_job(self.delete_job)

    def on_headers_action_triggered(self) -> None:
        self._with_job(self.show_headers)

    def on_relay_button_clicked(self) -> None:
        spawn(self.edit_relay())

    def on_table_doubleClicked(self, _index: QModelIndex) -> None:
        self._with_job(self.show_headers)

    def on_table_customContextMenuRequested(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        menu = QMenu(self)
        for action in self.job_actions:
            menu.addAction(action)
            if action is self.delete_action:
                menu.addSeparator()
        menu.aboutToHide.connect(menu.deleteLater)
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def on_headers_dialog_destroyed(self, *_args: object) -> None:
        self.headers_dialog = None
