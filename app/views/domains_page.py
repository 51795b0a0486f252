"""The Domains tab: the mail domains this server receives mail for."""

from __future__ import annotations

import logging

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.base import exec_async, notify
from app.dialogs.confirm import confirm
from app.dialogs.domain_dialog import DomainDialog
from app.models.aliases_model import DomainsModel
from app.tasks import spawn
from server.accounts.base import Domain
from server.api import CoreApi
from server.errors import ValidationError

log = logging.getLogger("quicksilver.app")


def table_view(parent: QWidget) -> QTableView:
    """A read-only, single-row-selection table in the style of the Users tab."""
    table = QTableView(parent)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    header = table.horizontalHeader()
    header.setHighlightSections(False)
    header.setStretchLastSection(True)
    return table


def list_page_layout(
    page: QWidget, note_text: str, table: QTableView, buttons: list[QPushButton]
) -> QLabel:
    """The layout the Domains and Aliases tabs share: a note on top, the table
    with a column of buttons beside it, a status line below (returned)."""
    column = QVBoxLayout()
    for button in buttons:
        column.addWidget(button)
    column.addStretch(1)
    note = QLabel(note_text, page)
    note.setWordWrap(True)
    body = QHBoxLayout()
    body.addWidget(table, 1)
    body.addLayout(column)
    status = QLabel(page)
    status.setWordWrap(True)
    layout = QVBoxLayout(page)
    layout.addWidget(note)
    layout.addLayout(body, 1)
    layout.addWidget(status)
    return status


class DomainsPage(QWidget):
    """Lists domains; Add… opens ``DomainDialog``, Remove asks first.

    Signals: none.
    """

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._dirty = True
        self.model = DomainsModel(self)
        self.table = table_view(self)
        self.table.setModel(self.model)
        self.table.horizontalHeader().setSectionResizeMode(
            DomainsModel.COL_NAME, QHeaderView.ResizeMode.ResizeToContents
        )
        self.add_button = QPushButton("&Add…", self)
        self.remove_button = QPushButton("&Remove…", self)
        self.status_label = list_page_layout(
            self,
            "Mail to any of these domains is delivered to the users and aliases "
            "here; a domain with users cannot be removed.",
            self.table,
            [self.add_button, self.remove_button],
        )

        self.add_button.clicked.connect(self.on_add_button_clicked)
        self.remove_button.clicked.connect(self.on_remove_button_clicked)
        self.table.selectionModel().selectionChanged.connect(self.on_selection_changed)
        self.model.modelReset.connect(self.on_selection_changed)
        bridge.accountsChanged.connect(self.on_bridge_accountsChanged)
        self.on_selection_changed()

    def selected_domain(self) -> Domain | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.domain(rows[0].row()) if rows else None

    def select_domain(self, name: str) -> None:
        row = self.model.row_of(name)
        if row >= 0:
            self.table.selectRow(row)

    async def refresh(self) -> None:
        selected = self.selected_domain()
        self.model.set_domains(await self._bridge.run(CoreApi.list_domains))
        self._dirty = False
        if selected is not None:
            self.select_domain(selected.name)

    async def add_domain(self) -> Domain | None:
        dialog = DomainDialog(self.model.names(), parent=self)
        try:
            while await exec_async(dialog) == QDialog.DialogCode.Accepted:
                try:
                    domain = await self._bridge.run(CoreApi.add_domain, dialog.value())
                except ValidationError as exc:
                    dialog.show_error(str(exc))
                    continue
                await self.refresh()
                self.select_domain(domain.name)
                self.status_label.setText(f"{domain.display} added.")
                return domain
            return None
        finally:
            dialog.deleteLater()

    async def remove_domain(self, domain: Domain) -> bool:
        text = (
            f"Remove the domain {domain.display}?\n"
            "Its aliases go with it, and mail to it will be refused."
        )
        if not await confirm(self, "Remove domain", text):
            return False
        try:
            await self._bridge.run(CoreApi.remove_domain, domain.name)
        except ValidationError as exc:
            notify(self, "Remove domain", str(exc))
            return False
        await self.refresh()
        self.status_label.setText(f"{domain.display} removed.")
        return True

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty:
            spawn(self.refresh())

    # -- slots ------------------------------------------------------------------
    def on_selection_changed(self, *_args: object) -> None:
        self.remove_button.setEnabled(self.selected_domain() is not None)

    def on_add_button_clicked(self) -> None:
        spawn(self.add_domain())

    def on_remove_button_clicked(self) -> None:
        domain = self.selected_domain()
        if domain is not None:
            spawn(self.remove_domain(domain))

    def on_bridge_accountsChanged(self, _event: object) -> None:
        self._dirty = True
        if self.isVisible():
            spawn(self.refresh())
