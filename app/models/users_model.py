"""The users table: one row per mailbox user (``UserView`` values)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    Qt,
)

from app.formatting import human_size
from app.models.base import RowsModel
from server.api import UserView


class UsersModel(RowsModel[UserView]):
    """Users sorted by address.

    Signals: the standard model signals only.
    """

    COL_ADDRESS, COL_NAME, COL_ENABLED, COL_QUOTA, COL_USAGE = range(5)
    HEADERS = ("Address", "Name", "Enabled", "Quota", "Usage")
    UserRole = Qt.ItemDataRole.UserRole + 1

    def set_users(self, users: Iterable[UserView]) -> None:
        self._reset(sorted(users, key=lambda u: u.address))

    def user(self, row: int) -> UserView:
        return self._rows[row]

    def users(self) -> tuple[UserView, ...]:
        return tuple(self._rows)

    def addresses(self) -> frozenset[str]:
        return frozenset(u.address for u in self._rows)

    def row_of(self, address: str) -> int:
        for i, u in enumerate(self._rows):
            if u.address == address:
                return i
        return -1

    # -- Qt model API ---------------------------------------------------------
    def cell(self, u: UserView, col: int, role: int) -> Any:
        if role == self.UserRole:
            return u
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.COL_ADDRESS:
                return u.address
            if col == self.COL_NAME:
                return u.display_name
            if col == self.COL_ENABLED:
                return "Yes" if u.enabled else "No"
            if col == self.COL_QUOTA:
                return human_size(u.quota_bytes) if u.quota_bytes else "No limit"
            if col == self.COL_USAGE:
                return human_size(u.usage_bytes)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (
            self.COL_QUOTA,
            self.COL_USAGE,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
