"""The users table: one row per mailbox user (``UserView`` values)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from app.formatting import human_size
from server.api import UserView

Index = QModelIndex | QPersistentModelIndex


class UsersModel(QAbstractTableModel):
    """Users sorted by address.

    Signals: the standard model signals only.
    """

    COL_ADDRESS, COL_NAME, COL_ENABLED, COL_QUOTA, COL_USAGE = range(5)
    HEADERS = ("Address", "Name", "Enabled", "Quota", "Usage")
    UserRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[UserView] = []

    def set_users(self, users: Iterable[UserView]) -> None:
        self.beginResetModel()
        self._rows = sorted(users, key=lambda u: u.address)
        self.endResetModel()

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
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.HEADERS)
        ):
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        u = self._rows[index.row()]
        col = index.column()
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
