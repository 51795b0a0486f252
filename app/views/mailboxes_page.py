"""The Mailboxes tab: a user's folders with their counts and sizes, a
folder's messages, one message's header or source, and Delete, Move to…
and Empty folder; the user's quota use on top (``CoreApi.mailboxes``).
Everything is read when the tab is shown or the person picks something.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.base import buddy_label
from app.dialogs.confirm import confirm
from app.formatting import human_size
from app.tasks import spawn
from app.views.domains_page import table_view
from server.api import CoreApi, FolderView, MessageRow, MessageSource, UserView
from server.errors import MailError, ValidationError

FOLDER_HEADERS = ("Folder", "Messages", "Size")
MESSAGE_HEADERS = ("Received", "From", "Subject", "Size")


async def _folders(api: CoreApi, user: str) -> tuple[FolderView, ...]:
    return await api.mailboxes.folders(user)


async def _messages(api: CoreApi, user: str, folder: str) -> tuple[MessageRow, ...]:
    return await api.mailboxes.messages(user, folder)


async def _source(api: CoreApi, user: str, folder: str, uid: int) -> MessageSource:
    return await api.mailboxes.source(user, folder, uid)


async def _delete(api: CoreApi, user: str, folder: str, uids: tuple[int, ...]) -> int:
    return await api.mailboxes.delete(user, folder, uids)


async def _move(
    api: CoreApi, user: str, folder: str, uids: tuple[int, ...], target: str
) -> int:
    return await api.mailboxes.move(user, folder, uids, target)


async def _empty(api: CoreApi, user: str, folder: str) -> int:
    return await api.mailboxes.empty(user, folder)


class MailboxesPage(QWidget):
    """Signals: none."""

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.users: tuple[UserView, ...] = ()
        self.folders: tuple[FolderView, ...] = ()
        self.rows: tuple[MessageRow, ...] = ()
        self.source: MessageSource | None = None
        self._loads = 0  # message loads started: only the newest applies

        self.user_combo = QComboBox(self)
        self.quota_label = QLabel(self)
        top = QHBoxLayout()
        top.addWidget(buddy_label("&User:", self.user_combo))
        top.addWidget(self.user_combo, 1)
        top.addWidget(self.quota_label, 1)

        self.folder_model = QStandardItemModel(0, len(FOLDER_HEADERS), self)
        self.folder_model.setHorizontalHeaderLabels(list(FOLDER_HEADERS))
        self.folder_table = table_view(self)
        self.folder_table.setModel(self.folder_model)
        self.message_model = QStandardItemModel(0, len(MESSAGE_HEADERS), self)
        self.message_model.setHorizontalHeaderLabels(list(MESSAGE_HEADERS))
        self.message_table = table_view(self)
        self.message_table.setModel(self.message_model)
        self.message_table.setWordWrap(False)
        heads = self.message_table.horizontalHeader()
        heads.setStretchLastSection(False)
        fit = QHeaderView.ResizeMode.ResizeToContents
        for col, mode in enumerate(
            (
                fit,
                QHeaderView.ResizeMode.Interactive,
                QHeaderView.ResizeMode.Stretch,
                fit,
            )
        ):
            heads.setSectionResizeMode(col, mode)
        heads.resizeSection(1, self.fontMetrics().horizontalAdvance("x") * 28)
        self.folder_table.horizontalHeader().setSectionResizeMode(fit)
        self.folder_table.setMinimumWidth(
            self.fontMetrics().horizontalAdvance("x") * 36
        )
        self.header_radio = QRadioButton("&Header", self)
        self.source_radio = QRadioButton("Sou&rce", self)
        self.header_radio.setChecked(True)
        self.viewer = QPlainTextEdit(self)
        self.viewer.setReadOnly(True)
        self.viewer.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.delete_button = QPushButton("&Delete", self)
        self.move_button = QPushButton("&Move to…", self)
        self.empty_button = QPushButton("&Empty folder", self)
        self.status = QLabel(self)
        self.status.setWordWrap(True)

        view_row = QHBoxLayout()
        view_row.addWidget(self.header_radio)
        view_row.addWidget(self.source_radio)
        view_row.addStretch(1)
        for button in (self.delete_button, self.move_button, self.empty_button):
            view_row.addWidget(button)
        right = QWidget(self)
        rlay = QVBoxLayout(right)
        rlay.setContentsMargins(0, 0, 0, 0)
        rsplit = QSplitter(Qt.Orientation.Vertical, right)
        rsplit.addWidget(self.message_table)
        rsplit.addWidget(self.viewer)
        rlay.addWidget(rsplit, 1)
        rlay.addLayout(view_row)
        split = QSplitter(self)
        split.addWidget(self.folder_table)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)

        self.user_combo.currentTextChanged.connect(self.on_user_changed)
        self.folder_table.selectionModel().selectionChanged.connect(
            lambda *_: spawn(self.load_messages())
        )
        self.message_table.selectionModel().selectionChanged.connect(
            lambda *_: spawn(self.load_source())
        )
        self.header_radio.toggled.connect(self.show_source)
        self.delete_button.clicked.connect(lambda: spawn(self.delete_selected()))
        self.move_button.clicked.connect(lambda: spawn(self.move_selected()))
        self.empty_button.clicked.connect(lambda: spawn(self.empty_folder()))
        self._update_buttons()

    # -- reading ---------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        spawn(self.load_users())

    async def load_users(self) -> None:
        self.users = await self._bridge.run(CoreApi.list_users)
        current = self.user_combo.currentText()
        self.user_combo.blockSignals(True)
        self.user_combo.clear()
        self.user_combo.addItems([u.address for u in self.users])
        if current:
            self.user_combo.setCurrentText(current)
        self.user_combo.blockSignals(False)
        await self.load_folders()

    def user(self) -> str:
        return self.user_combo.currentText()

    def on_user_changed(self, _text: str) -> None:
        spawn(self.load_folders())

    async def load_folders(self) -> None:
        user = self.user()
        self._show_quota()
        if not user:
            self.folders = ()
        else:
            self.folders = await self._bridge.run(_folders, user)
        keep = self.folder()
        self.folder_model.setRowCount(0)
        for f in self.folders:
            self.folder_model.appendRow(
                [
                    QStandardItem(t)
                    for t in (f.name, str(f.messages), human_size(f.size))
                ]
            )
        names = [f.name for f in self.folders]
        self.folder_table.selectRow(names.index(keep) if keep in names else 0)

    def _show_quota(self) -> None:
        view = next((u for u in self.users if u.address == self.user()), None)
        if view is None:
            self.quota_label.setText("")
        elif view.quota_bytes:
            share = 100 * view.usage_bytes / view.quota_bytes
            self.quota_label.setText(
                f"{human_size(view.usage_bytes)} of {human_size(view.quota_bytes)} "
                f"used ({share:.0f}%)"
            )
        else:
            self.quota_label.setText(f"{human_size(view.usage_bytes)} used, no quota")

    def folder(self) -> str:
        rows = self.folder_table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.folders):
            return ""
        return self.folders[rows[0].row()].name

    async def load_messages(self) -> None:
        self._loads += 1
        mine = self._loads
        folder = self.folder()
        rows = await self._bridge.run(_messages, self.user(), folder) if folder else ()
        if mine != self._loads:
            return  # a newer load is under way: its answer counts
        keep = set(self.selected_uids())  # chosen rows stay chosen
        self.rows = rows
        self.message_model.setRowCount(0)
        for m in self.rows:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.received))
            self.message_model.appendRow(
                [
                    QStandardItem(t)
                    for t in (when, m.sender, m.subject, human_size(m.size))
                ]
            )
        again = [i for i, m in enumerate(self.rows) if m.uid in keep]
        if again:
            self.message_table.selectRow(again[0])
        else:
            self.source = None
            self.viewer.clear()
        self._update_buttons()

    def selected_uids(self) -> tuple[int, ...]:
        rows = self.message_table.selectionModel().selectedRows()
        return tuple(self.rows[r.row()].uid for r in rows if r.row() < len(self.rows))

    async def load_source(self) -> None:
        uids = self.selected_uids()
        self._update_buttons()
        if len(uids) != 1:
            self.source = None
            self.viewer.clear()
            return
        try:
            self.source = await self._bridge.run(
                _source, self.user(), self.folder(), uids[0]
            )
        except (ValidationError, MailError) as exc:
            self.status.setText(str(exc))
            return
        if self.selected_uids() != uids:  # chosen otherwise meanwhile
            return
        self.show_source()

    def show_source(self, *_args: object) -> None:
        if self.source is None:
            return
        if self.header_radio.isChecked():
            self.viewer.setPlainText(self.source.header)
        else:
            more = "\n[… shown up to 2 MB]" if self.source.truncated else ""
            self.viewer.setPlainText(self.source.text + more)

    def _update_buttons(self) -> None:
        chosen = bool(self.selected_uids())
        self.delete_button.setEnabled(chosen)
        self.move_button.setEnabled(chosen)
        self.empty_button.setEnabled(bool(self.rows))

    # -- changing --------------------------------------------------------------------
    async def delete_selected(self) -> int:
        uids = self.selected_uids()
        if not uids or not await confirm(
            self,
            "Delete messages",
            f"Delete {len(uids)} message(s) from {self.user()}'s {self.folder()}? "
            "They are removed for good.",
        ):
            return 0
        n = await self._bridge.run(_delete, self.user(), self.folder(), uids)
        self.status.setText(f"Deleted {n} message(s).")
        await self.load_folders()
        return n

    async def move_selected(self, target: str | None = None) -> int:
        uids = self.selected_uids()
        if not uids:
            return 0
        if target is None:
            others = [f.name for f in self.folders if f.name != self.folder()]
            target, ok = QInputDialog.getItem(
                self, "Move to", "Move the message(s) to:", others, 0, False
            )
            if not ok:
                return 0
        try:
            n = await self._bridge.run(_move, self.user(), self.folder(), uids, target)
        except (ValidationError, MailError) as exc:
            self.status.setText(str(exc))
            return 0
        self.status.setText(f"Moved {n} message(s) to {target}.")
        await self.load_folders()
        return n

    async def empty_folder(self) -> int:
        folder = self.folder()
        if not folder or not await confirm(
            self,
            "Empty folder",
            f"Remove every message from {self.user()}'s {folder}? "
            "They are removed for good.",
        ):
            return 0
        n = await self._bridge.run(_empty, self.user(), folder)
        self.status.setText(f"Removed {n} message(s) from {folder}.")
        await self.load_folders()
        return n
