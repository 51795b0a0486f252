"""The bans table: addresses refused after repeated failed logins (``Ban``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import (
    QObject,
    Qt,
)

from app.models.base import RowsModel
from app.models.queue_model import span_text
from server.api import Ban


class BansModel(RowsModel[Ban]):
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
        self._clock = clock

    def set_bans(self, bans: Iterable[Ban]) -> None:
        self._reset(sorted(bans, key=lambda b: b.ip))

    def ban(self, row: int) -> Ban:
        return self._rows[row]

    def ips(self) -> tuple[str, ...]:
        return tuple(b.ip for b in self._rows)

    def row_of(self, ip: str) -> int:
        return next((i for i, b in enumerate(self._rows) if b.ip == ip), -1)

    # -- Qt model API ---------------------------------------------------------
    def cell(self, b: Ban, col: int, role: int) -> Any:
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
