"""The Sessions tab: who is connected now, with Disconnect and Disconnect
and ban (Mercury's and hMailServer's live connections view).

The list is read from the core (``CoreApi.sessions``) every ``REFRESH_MS``
while the tab is shown, never while it is hidden.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtGui import QHideEvent, QShowEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QHeaderView, QPushButton, QWidget

from app.bridge import CoreBridge
from app.dialogs.confirm import confirm
from app.formatting import human_size
from app.models.queue_model import span_text
from app.tasks import spawn
from app.views.domains_page import list_page_layout, table_view
from server.api import CoreApi, SessionInfo
from server.errors import ValidationError

REFRESH_MS = 1000
HEADERS = ("Module", "Client", "User", "Connected for", "In / out", "Doing")


class SessionsPage(QWidget):
    """Live sessions; Disconnect closes one, Disconnect and ban also bans its
    address for the ban time of the Security settings.

    Signals: none.
    """

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.sessions: tuple[SessionInfo, ...] = ()
        self.model = QStandardItemModel(0, len(HEADERS), self)
        self.model.setHorizontalHeaderLabels(list(HEADERS))
        self.table = table_view(self)
        self.table.setModel(self.model)
        header = self.table.horizontalHeader()
        for col in range(len(HEADERS) - 1):  # "Doing" takes the rest
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.disconnect_button = QPushButton("&Disconnect", self)
        self.ban_button = QPushButton("Disconnect and &ban", self)
        self.ban_button.setToolTip(
            "Close the connection and refuse its address for the ban time "
            "(Security settings)"
        )
        self.status = list_page_layout(
            self,
            "Clients connected now, to every module. The list follows along "
            "while this tab is open.",
            self.table,
            [self.disconnect_button, self.ban_button],
        )
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh_soon)
        self.disconnect_button.clicked.connect(
            lambda: spawn(self.disconnect_selected(False))
        )
        self.ban_button.clicked.connect(self.on_ban_button_clicked)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self._update_buttons()

    # -- life ----------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh_soon()
        self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._timer.stop()

    def refresh_soon(self) -> None:
        spawn(self.refresh())

    async def refresh(self) -> None:
        self.show_sessions(await self._bridge.run(CoreApi.sessions))

    def show_sessions(self, sessions: tuple[SessionInfo, ...]) -> None:
        keep = self.selected()
        self.sessions = sessions
        self.model.setRowCount(0)
        now = time.time()
        for s in sessions:
            traffic = f"{human_size(s.received)} / {human_size(s.sent)}"
            row = [s.module, s.peer, s.user, span_text(now - s.since), traffic, s.doing]
            self.model.appendRow([QStandardItem(text) for text in row])
        if keep is not None:
            for i, s in enumerate(sessions):
                if (s.module, s.key) == (keep.module, keep.key):
                    self.table.selectRow(i)
        self._update_buttons()

    # -- actions -------------------------------------------------------------------
    def selected(self) -> SessionInfo | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.sessions):
            return None
        return self.sessions[rows[0].row()]

    def _update_buttons(self, *_args: object) -> None:
        on = self.selected() is not None
        self.disconnect_button.setEnabled(on)
        self.ban_button.setEnabled(on)

    def on_ban_button_clicked(self) -> None:
        spawn(self.ban_selected())

    async def ban_selected(self) -> str:
        chosen = self.selected()
        if chosen is None or not await confirm(
            self,
            "Disconnect and ban",
            f"Close {chosen.peer} ({chosen.module}) and refuse its address "
            "for the ban time?",
        ):
            return ""
        return await self.disconnect_selected(True)

    async def disconnect_selected(self, ban: bool) -> str:
        chosen = self.selected()
        if chosen is None:
            return ""
        try:
            said = await self._bridge.run(
                CoreApi.disconnect, chosen.module, chosen.key, ban
            )
        except ValidationError as exc:
            said = str(exc)
        self.status.setText(said)
        await self.refresh()
        return said
