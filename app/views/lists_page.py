"""The Lists tab: distribution lists, their members, and posts that wait for
a moderator (server/lists/). Mercury's list server, the part an office uses.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.base import ValidatedDialog, error_label, exec_async
from app.dialogs.confirm import confirm
from app.tasks import spawn
from server.api import CoreApi, HeldMessage, ListMember, MailList
from server.errors import ValidationError

POLICY_TITLES = {
    "members": "Members only (others wait for a moderator)",
    "moderators": "Moderators only (an announcement list)",
    "anyone": "Anyone",
}
REPLY_TITLES = {"list": "Replies go to the list", "sender": "Replies go to the sender"}


class ListDialog(ValidatedDialog):
    """A list's address (when new), title, who may post, Reply-To, subject
    prefix and moderators."""

    def __init__(
        self,
        domains: Sequence[str],
        ml: MailList | None = None,
        moderators: Sequence[str] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit list" if ml else "Add list")
        self.setMinimumWidth(480)
        self._ml = ml
        self.local_edit = QLineEdit(self)
        self.local_edit.setPlaceholderText("e.g. team")
        self.domain_combo = QComboBox(self)
        self.domain_combo.addItems(list(domains))
        row = QHBoxLayout()
        row.addWidget(self.local_edit, 2)
        row.addWidget(QLabel("@", self))
        row.addWidget(self.domain_combo, 2)
        self.title_edit = QLineEdit(self)
        self.policy_combo = QComboBox(self)
        for key, title in POLICY_TITLES.items():
            self.policy_combo.addItem(title, key)
        self.reply_combo = QComboBox(self)
        for key, title in REPLY_TITLES.items():
            self.reply_combo.addItem(title, key)
        self.prefix_edit = QLineEdit(self)
        self.prefix_edit.setPlaceholderText("e.g. [team]")
        self.moderators_edit = QLineEdit(", ".join(moderators), self)
        self.moderators_edit.setPlaceholderText("boss@example.org, …")
        form = QFormLayout()
        form.addRow("&Address:", row)
        form.addRow("&Title:", self.title_edit)
        form.addRow("Who may &post:", self.policy_combo)
        form.addRow("&Replies:", self.reply_combo)
        form.addRow("Subject pre&fix:", self.prefix_edit)
        form.addRow("&Moderators:", self.moderators_edit)
        self.error_label = error_label(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
            parent=self,
        )
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        if ml is not None:
            self.local_edit.setText(ml.local)
            self.local_edit.setReadOnly(True)
            self.domain_combo.setCurrentText(ml.domain)
            self.domain_combo.setEnabled(False)
            self.title_edit.setText(ml.title)
            self.policy_combo.setCurrentIndex(self.policy_combo.findData(ml.policy))
            self.reply_combo.setCurrentIndex(self.reply_combo.findData(ml.reply_to))
            self.prefix_edit.setText(ml.prefix)
        self.local_edit.textChanged.connect(self.on_field_changed)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.validate()

    def value(self) -> MailList:
        return MailList(
            f"{self.local_edit.text().strip().lower()}@{self.domain_combo.currentText()}",
            self.title_edit.text().strip(),
            str(self.policy_combo.currentData()),
            str(self.reply_combo.currentData()),
            self.prefix_edit.text().strip(),
        )

    def moderators(self) -> tuple[str, ...]:
        text = self.moderators_edit.text().replace(";", ",")
        return tuple(a.strip() for a in text.split(",") if a.strip())

    def problem(self) -> str:
        if not self.local_edit.text().strip():
            return "Enter the list's name (the part before the @)."
        if not self.domain_combo.currentText():
            return "There is no mail domain yet: set one up first."
        return ""


def _table(parent: QWidget, headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers), parent)
    t.setHorizontalHeaderLabels(headers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    t.horizontalHeader().setSectionResizeMode(
        0, QHeaderView.ResizeMode.ResizeToContents
    )
    return t


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))


class ListsPage(QWidget):
    """Lists, the selected list's members, and the moderation queue.

    Signals: none.
    """

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._loaded = False
        self.lists: tuple[MailList, ...] = ()
        self.members: tuple[ListMember, ...] = ()
        self.held: tuple[HeldMessage, ...] = ()
        self.domains: tuple[str, ...] = ()

        self.list_table = _table(self, ["List", "Title", "Who may post"])
        self.add_button = QPushButton("&Add…", self)
        self.edit_button = QPushButton("&Edit…", self)
        self.remove_button = QPushButton("&Remove…", self)
        self.member_table = _table(self, ["Member", "State", "Bounces"])
        self.add_member_button = QPushButton("Add &member…", self)
        self.remove_member_button = QPushButton("Remove m&ember", self)
        self.held_table = _table(self, ["List", "From", "Subject"])
        self.approve_button = QPushButton("A&pprove", self)
        self.reject_button = QPushButton("Re&ject", self)
        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)

        def boxed(
            title: str, table: QTableWidget, buttons: list[QPushButton]
        ) -> QGroupBox:
            box = QGroupBox(title, self)
            col = QVBoxLayout()
            for b in buttons:
                col.addWidget(b)
            col.addStretch(1)
            row = QHBoxLayout(box)
            row.addWidget(table, 1)
            row.addLayout(col)
            return box

        split = QSplitter(self)
        split.addWidget(
            boxed(
                "Lists",
                self.list_table,
                [self.add_button, self.edit_button, self.remove_button],
            )
        )
        split.addWidget(
            boxed(
                "Members of the selected list",
                self.member_table,
                [self.add_member_button, self.remove_member_button],
            )
        )
        note = QLabel(
            "Mail to a list goes to every member, with the list's headers "
            "(List-Id, unsubscribe). People join or leave by writing "
            "'subscribe' or 'unsubscribe' to name-request@ and answering the "
            "confirmation.",
            self,
        )
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(split, 2)
        layout.addWidget(
            boxed(
                "Waiting for a moderator",
                self.held_table,
                [self.approve_button, self.reject_button],
            ),
            1,
        )
        layout.addWidget(self.status_label)

        self.add_button.clicked.connect(self.on_add_button_clicked)
        self.edit_button.clicked.connect(self.on_edit_button_clicked)
        self.remove_button.clicked.connect(self.on_remove_button_clicked)
        self.add_member_button.clicked.connect(self.on_add_member_button_clicked)
        self.remove_member_button.clicked.connect(self.on_remove_member_button_clicked)
        self.approve_button.clicked.connect(self.on_approve_button_clicked)
        self.reject_button.clicked.connect(self.on_reject_button_clicked)
        self.list_table.itemSelectionChanged.connect(self.on_list_selected)
        self.member_table.itemSelectionChanged.connect(self.update_buttons)
        self.held_table.itemSelectionChanged.connect(self.update_buttons)
        self.update_buttons()

    # -- state --------------------------------------------------------------------
    @staticmethod
    def _row(table: QTableWidget) -> int:
        rows = table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def selected_list(self) -> MailList | None:
        row = self._row(self.list_table)
        return self.lists[row] if 0 <= row < len(self.lists) else None

    def select_list(self, address: str) -> None:
        for i, ml in enumerate(self.lists):
            if ml.address == address:
                self.list_table.selectRow(i)

    def update_buttons(self) -> None:
        has_list = self.selected_list() is not None
        self.edit_button.setEnabled(has_list)
        self.remove_button.setEnabled(has_list)
        self.add_member_button.setEnabled(has_list)
        self.remove_member_button.setEnabled(self._row(self.member_table) >= 0)
        held = self._row(self.held_table) >= 0
        self.approve_button.setEnabled(held)
        self.reject_button.setEnabled(held)

    async def refresh(self) -> None:
        selected = self.selected_list()
        self.lists = await self._bridge.run(CoreApi.list_lists)
        self.domains = tuple(
            d.name for d in await self._bridge.run(CoreApi.list_domains)
        )
        self.held = await self._bridge.run(CoreApi.held_posts)
        _fill(
            self.list_table,
            [[m.address, m.title, m.policy] for m in self.lists],
        )
        _fill(self.held_table, [[h.list, h.sender, h.subject] for h in self.held])
        self._loaded = True
        if selected is not None:
            self.select_list(selected.address)
        elif self.lists:
            self.list_table.selectRow(0)  # show someone's members at once
        await self.refresh_members()

    async def refresh_members(self) -> None:
        ml = self.selected_list()
        members = await self._bridge.run(CoreApi.list_members, ml.address) if ml else ()
        if self.selected_list() != ml:
            return  # the selection moved meanwhile: its own refresh follows
        self.members = members
        _fill(
            self.member_table,
            [
                [m.address, "on" if m.enabled else "off (bounces)", str(m.bounces)]
                for m in self.members
            ],
        )
        self.update_buttons()

    # -- flows ----------------------------------------------------------------------
    async def edit_list(self, ml: MailList | None) -> MailList | None:
        moderators = (
            await self._bridge.run(CoreApi.list_moderators, ml.address) if ml else ()
        )
        dialog = ListDialog(self.domains, ml, moderators, parent=self)
        try:
            while await exec_async(dialog) == QDialog.DialogCode.Accepted:
                try:
                    saved = await self._bridge.run(CoreApi.save_list, dialog.value())
                    await self._bridge.run(
                        CoreApi.set_list_moderators, saved.address, dialog.moderators()
                    )
                except ValidationError as exc:
                    dialog.show_error(str(exc))
                    continue
                await self.refresh()
                self.select_list(saved.address)
                self.status_label.setText(f"{saved.address} saved.")
                return saved
            return None
        finally:
            dialog.deleteLater()

    async def remove_list(self, ml: MailList) -> bool:
        if not await confirm(
            self,
            "Remove list",
            f"Remove the list {ml.address}?\nIts members are forgotten; mail to "
            "it will be refused.",
        ):
            return False
        await self._bridge.run(CoreApi.remove_list, ml.address)
        await self.refresh()
        self.status_label.setText(f"{ml.address} removed.")
        return True

    async def add_member(self, ml: MailList) -> None:
        ask = QInputDialog(self)
        ask.setWindowTitle("Add members")
        ask.setLabelText(f"Addresses to add to {ml.address} (comma between):")
        try:
            if await exec_async(ask) != QDialog.DialogCode.Accepted:
                return
            text = ask.textValue()
        finally:
            ask.deleteLater()
        added: list[str] = []
        problems: list[str] = []
        for a in (x.strip() for x in text.replace(";", ",").split(",")):
            if not a:
                continue
            try:
                m = await self._bridge.run(CoreApi.add_list_member, ml.address, a)
                added.append(m.address)
            except ValidationError as exc:
                problems.append(str(exc))
        await self.refresh_members()
        said = [f"Added {', '.join(added)}."] if added else []
        self.status_label.setText(" ".join(said + problems))

    async def moderate(self, approve: bool) -> None:
        row = self._row(self.held_table)
        if not 0 <= row < len(self.held):
            return
        held = self.held[row]
        try:
            if approve:
                n = await self._bridge.run(CoreApi.approve_post, held.id)
                self.status_label.setText(f"Sent to {n} members.")
            else:
                await self._bridge.run(CoreApi.reject_post, held.id, True)
                self.status_label.setText("Rejected; the sender was told.")
        except ValidationError as exc:
            self.status_label.setText(str(exc))
        await self.refresh()

    # -- slots ------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        spawn(self.refresh())

    def on_list_selected(self) -> None:
        self.update_buttons()
        spawn(self.refresh_members())

    def on_add_button_clicked(self) -> None:
        spawn(self.edit_list(None))

    def on_edit_button_clicked(self) -> None:
        ml = self.selected_list()
        if ml is not None:
            spawn(self.edit_list(ml))

    def on_remove_button_clicked(self) -> None:
        ml = self.selected_list()
        if ml is not None:
            spawn(self.remove_list(ml))

    def on_add_member_button_clicked(self) -> None:
        ml = self.selected_list()
        if ml is not None:
            spawn(self.add_member(ml))

    def on_remove_member_button_clicked(self) -> None:
        ml = self.selected_list()
        row = self._row(self.member_table)
        if ml is not None and 0 <= row < len(self.members):
            member = self.members[row].address

            async def go() -> None:
                await self._bridge.run(CoreApi.remove_list_member, ml.address, member)
                await self.refresh_members()
                self.status_label.setText(f"Removed {member}.")

            spawn(go())

    def on_approve_button_clicked(self) -> None:
        spawn(self.moderate(True))

    def on_reject_button_clicked(self) -> None:
        spawn(self.moderate(False))
