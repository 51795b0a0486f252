"""The Users tab: the users table and Add / Edit / Delete."""

from __future__ import annotations

import logging

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.base import exec_async, notify
from app.dialogs.confirm import TextDialog, confirm
from app.dialogs.user_dialog import UserDialog
from app.models.users_model import UsersModel
from app.tasks import spawn
from server.api import CoreApi, NewUser, RuleSet, UserView
from server.errors import ValidationError

log = logging.getLogger("quicksilver.app")


class UsersPage(QWidget):
    """Lists users; its buttons open ``UserDialog`` and call the core.

    Signals: none.
    """

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.domains: tuple[str, ...] = ()
        self.model = UsersModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(
            UsersModel.COL_ADDRESS, QHeaderView.ResizeMode.ResizeToContents
        )
        header.setSectionResizeMode(UsersModel.COL_NAME, QHeaderView.ResizeMode.Stretch)

        self.add_button = QPushButton("Add…", self)
        self.edit_button = QPushButton("Edit…", self)
        self.delete_button = QPushButton("Delete", self)
        buttons = QVBoxLayout()
        for button in (self.add_button, self.edit_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

        self.add_button.clicked.connect(self.on_add_button_clicked)
        self.edit_button.clicked.connect(self.on_edit_button_clicked)
        self.delete_button.clicked.connect(self.on_delete_button_clicked)
        self.table.doubleClicked.connect(self.on_table_doubleClicked)
        self.table.selectionModel().selectionChanged.connect(self.on_selection_changed)
        self.model.modelReset.connect(self.on_selection_changed)
        self.on_selection_changed()

    def selected_user(self) -> UserView | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.user(rows[0].row()) if rows else None

    def select_user(self, address: str) -> None:
        row = self.model.row_of(address)
        if row >= 0:
            self.table.selectRow(row)

    # -- slots ------------------------------------------------------------------
    def on_selection_changed(self, *_args: object) -> None:
        has = self.selected_user() is not None
        self.edit_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    def on_add_button_clicked(self) -> None:
        spawn(self.edit_user(None))

    def on_edit_button_clicked(self) -> None:
        user = self.selected_user()
        if user is not None:
            spawn(self.edit_user(user))

    def on_table_doubleClicked(self, index: QModelIndex) -> None:
        spawn(self.edit_user(self.model.user(index.row())))

    def on_delete_button_clicked(self) -> None:
        user = self.selected_user()
        if user is not None:
            spawn(self.delete_user(user))

    # -- flows --------------------------------------------------------------------
    async def edit_user(self, user: UserView | None) -> UserView | None:
        """Open the dialog until the core accepts the value or the person cancels."""
        existing = self.model.addresses() if user is None else ()
        rules = None
        if user is not None:
            rules = await self._bridge.run(CoreApi.user_rules, user.address)

        async def try_rules(rs: RuleSet, message: str) -> tuple[str, ...]:
            assert user is not None
            return await self._bridge.run(CoreApi.try_rules, user.address, rs, message)

        dialog = UserDialog(
            self.domains, existing, user, parent=self, rules=rules, try_rules=try_rules
        )
        try:
            while await exec_async(dialog) == QDialog.DialogCode.Accepted:
                value = dialog.value()
                wanted = dialog.rules_value()
                try:
                    if wanted is not None and user is not None:
                        # rules first: a refusal there leaves the account as it was
                        await self._bridge.run(
                            CoreApi.set_user_rules, user.address, wanted
                        )
                    saved = await (
                        self._bridge.run(CoreApi.add_user, value)
                        if isinstance(value, NewUser)
                        else self._bridge.run(CoreApi.update_user, value)
                    )
                except ValidationError as exc:
                    dialog.show_error(str(exc))
                    continue
                if isinstance(value, NewUser):
                    await self.offer_old_mail(saved.address)
                await self.apply_legacy(
                    saved.address,
                    user.legacy_password if user is not None else False,
                    dialog.legacy_check.isChecked(),
                )
                await self.refresh()
                self.select_user(saved.address)
                return saved
            return None
        finally:
            dialog.deleteLater()

    async def apply_legacy(self, address: str, had: bool, wanted: bool) -> str:
        """Make or take away the user's legacy password; a new one is shown
        once (returned)."""
        if had == wanted:
            return ""
        try:
            secret = await self._bridge.run(
                CoreApi.set_legacy_password, address, wanted
            )
        except ValidationError as exc:
            notify(self, "Legacy password", str(exc))
            return ""
        if secret:
            dialog = TextDialog(
                "Legacy password",
                f"The legacy password of {address}, for APOP and CRAM-MD5 only. "
                "It is shown only now: put it into the old mail program.",
                secret,
                self,
            )
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.open()
        return secret

    async def offer_old_mail(self, address: str) -> bool:
        """A user made again whose deleted mail is kept: offer to bring it back."""
        when = await self._bridge.run(CoreApi.deleted_mail, address)
        if not when or not await confirm(
            self,
            "Bring back the old mail?",
            f"{address} was deleted on {when} and its mail was kept. Put that "
            "mail (all its folders) back into this account?",
        ):
            return False
        try:
            await self._bridge.run(CoreApi.restore_deleted_mail, address)
        except ValidationError as exc:
            notify(self, "Bring back the old mail", str(exc))
            return False
        return True

    async def delete_user(self, user: UserView) -> bool:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete user",
            f"Delete {user.address}?\nThe account goes at once. Its mail is not "
            "destroyed: it is moved to the data folder's deleted/ folder "
            f"(deleted/{user.address.partition('@')[2]}/"
            f"{user.address.partition('@')[0]}-<date>). Add the user again "
            "later and Quicksilver offers to bring that mail back.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        try:
            answer = await exec_async(box)
        finally:
            box.deleteLater()
        if answer != QMessageBox.StandardButton.Yes:
            return False
        try:
            await self._bridge.run(CoreApi.delete_user, user.address)
        except ValidationError as exc:
            notify(self, "Delete user", str(exc))
            return False
        await self.refresh()
        return True

    async def refresh(self) -> None:
        users = await self._bridge.run(CoreApi.list_users)
        self.model.set_users(users)
