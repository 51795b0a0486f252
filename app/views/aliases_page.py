"""The Aliases tab: extra addresses (and catch-alls) delivered to users."""

from __future__ import annotations

import logging

from PySide6.QtCore import QModelIndex
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QHeaderView,
    QPushButton,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.alias_dialog import AliasDialog
from app.dialogs.base import exec_async, notify
from app.dialogs.confirm import confirm
from app.models.aliases_model import AliasesModel, alias_text
from app.tasks import spawn
from app.views.domains_page import list_page_layout, table_view
from server.accounts.base import Alias
from server.api import CoreApi
from server.errors import ValidationError

log = logging.getLogger("quicksilver.app")


class AliasesPage(QWidget):
    """Lists aliases; Add… / Edit… open ``AliasDialog``, Remove asks first.

    Signals: none.
    """

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._dirty = True
        self.domains: tuple[str, ...] = ()
        self.users: tuple[str, ...] = ()
        self.model = AliasesModel(self)
        self.table = table_view(self)
        self.table.setModel(self.model)
        self.table.horizontalHeader().setSectionResizeMode(
            AliasesModel.COL_ADDRESS, QHeaderView.ResizeMode.ResizeToContents
        )
        self.add_button = QPushButton("&Add…", self)
        self.edit_button = QPushButton("&Edit…", self)
        self.remove_button = QPushButton("&Remove…", self)
        self.status_label = list_page_layout(
            self,
            "Mail to an alias goes to the users it lists. A catch-all takes mail "
            "for every address at its domain that is neither a user nor an alias.",
            self.table,
            [self.add_button, self.edit_button, self.remove_button],
        )

        self.add_button.clicked.connect(self.on_add_button_clicked)
        self.edit_button.clicked.connect(self.on_edit_button_clicked)
        self.remove_button.clicked.connect(self.on_remove_button_clicked)
        self.table.doubleClicked.connect(self.on_table_doubleClicked)
        self.table.selectionModel().selectionChanged.connect(self.on_selection_changed)
        self.model.modelReset.connect(self.on_selection_changed)
        bridge.accountsChanged.connect(self.on_bridge_accountsChanged)
        self.on_selection_changed()

    def selected_alias(self) -> Alias | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.alias(rows[0].row()) if rows else None

    def select_alias(self, address: str) -> None:
        row = self.model.row_of(address)
        if row >= 0:
            self.table.selectRow(row)

    async def refresh(self) -> None:
        selected = self.selected_alias()
        aliases = await self._bridge.run(CoreApi.list_aliases)
        domains = await self._bridge.run(CoreApi.list_domains)
        users = await self._bridge.run(CoreApi.list_users)
        self.domains = tuple(d.name for d in domains)
        self.users = tuple(u.address for u in users)
        self.model.set_aliases(aliases)
        self._dirty = False
        if selected is not None:
            self.select_alias(selected.address)

    async def edit_alias(self, alias: Alias | None) -> Alias | None:
        """Open the dialog until the core accepts the alias or the person cancels."""
        if self._dirty:
            await self.refresh()
        dialog = AliasDialog(
            self.domains, self.users, self.model.addresses(), alias, parent=self
        )
        try:
            while await exec_async(dialog) == QDialog.DialogCode.Accepted:
                value = dialog.value()
                try:
                    saved = await self._bridge.run(
                        CoreApi.set_alias, value.address, value.targets
                    )
                except ValidationError as exc:
                    dialog.show_error(str(exc))
                    continue
                await self.refresh()
                self.select_alias(saved.address)
                self.status_label.setText(f"{alias_text(saved.address)} saved.")
                return saved
            return None
        finally:
            dialog.deleteLater()

    async def remove_alias(self, alias: Alias) -> bool:
        text = (
            f"Remove {alias_text(alias.address)}?\n"
            "Mail to it will be refused unless a catch-all takes it."
        )
        if not await confirm(self, "Remove alias", text):
            return False
        try:
            await self._bridge.run(CoreApi.remove_alias, alias.address)
        except ValidationError as exc:
            notify(self, "Remove alias", str(exc))
            return False
        await self.refresh()
        self.status_label.setText(f"{alias_text(alias.address)} removed.")
        return True

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty:
            spawn(self.refresh())

    # -- slots ------------------------------------------------------------------
    def on_selection_changed(self, *_args: object) -> None:
        has = self.selected_alias() is not None
        self.edit_button.setEnabled(has)
        self.remove_button.setEnabled(has)

    def on_add_button_clicked(self) -> None:
        spawn(self.edit_alias(None))

    def on_edit_button_clicked(self) -> None:
        alias = self.selected_alias()
        if alias is not None:
            spawn(self.edit_alias(alias))

    def on_table_doubleClicked(self, index: QModelIndex) -> None:
        spawn(self.edit_alias(self.model.alias(index.row())))

    def on_remove_button_clicked(self) -> None:
        alias = self.selected_alias()
        if alias is not None:
            spawn(self.remove_alias(alias))

    def on_bridge_accountsChanged(self, _event: object) -> None:
        self._dirty = True
        if self.isVisible():
            spawn(self.refresh())
