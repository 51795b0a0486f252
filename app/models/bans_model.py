"""The bans table: addresses refused after repeated failed logins (``Ban``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from app.models.queue_model import span_text
from server.api import Ban

Index = QModelIndex | QPersistentModelIndex


class BansModel(QAbstractTableModel):
    """Bans sorted by IP address.

    Signals: the standard model signals only.
    """

    COL_IP, COL_UNTIL, COL_REASON = range(3)
    HEADERS = ("Address", "Banned until", "Reason")
    BanRole = Qt.ItemDataRole.UserRole + 1

    def __init__(
        self, parent: QObject | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(parent)
        self._rows: list[Ban] = []
        self._clock = clock

    def set_bans(self, bans: Iterable[Ban]) -> None:
        self.beginResetModel()
        self._rows = sorted(bans, key=lambda b: b.ip)
        self.endResetModel()

    def ban(self, row: int) -> Ban:
        return self._rows[row]

    def ips(self) -> tuple[str, ...]:
        return tuple(b.ip for b in self._rows)

    def row_of(self, ip: str) -> int:
        return next((i for i, b in enumerate(self._rows) if b.ip == ip), -1)

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
        b = self._rows[index.row()]
        col = index.column()
        if role == self.BanRole:
            return b
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.COL_IP:
                return b.ip
            if col == self.COL_UNTIL:
                clock = time.strftime("%H:%M:%S", time.localtime(b.until))
                left = span_text(b.until - self._clock())
                return f"{clock} (in {left})"
            if col == self.COL_REASON:
                return b.reason
        if role == Qt.ItemDataRole.ToolTipRole and col == self.COL_UNTIL:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b.until))
        return None
