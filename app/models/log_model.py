"""The live log: a bounded ring of ``LogRecorded`` rows and its filter proxy."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
)

from app import theme
from app.formatting import clock_text
from app.models.base import Index, RowsModel
from server.events import LogRecorded

DEFAULT_CAPACITY = 5000


class LogModel(RowsModel[LogRecorded]):
    """The newest ``capacity`` log records; older rows fall off the top.

    Records the model already holds (same ``seq``) are ignored, so the
    snapshot and the live events may overlap.

    Signals: the standard model signals only.
    """

    COL_TIME, COL_LEVEL, COL_MODULE, COL_MESSAGE = range(4)
    HEADERS = ("Time", "Level", "Module", "Message")
    RecordRole = Qt.ItemDataRole.UserRole + 1

    def __init__(
        self, parent: QObject | None = None, capacity: int = DEFAULT_CAPACITY
    ) -> None:
        super().__init__(parent)
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._last_seq = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    def append(self, records: Iterable[LogRecorded]) -> None:
        fresh = []
        for rec in records:
            if rec.seq and rec.seq <= self._last_seq:
                continue
            self._last_seq = max(self._last_seq, rec.seq)
            fresh.append(rec)
        if not fresh:
            return
        fresh = fresh[-self._capacity :]
        overflow = len(self._rows) + len(fresh) - self._capacity
        if overflow > 0:
            self.beginRemoveRows(QModelIndex(), 0, overflow - 1)
            del self._rows[:overflow]
            self.endRemoveRows()
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        self._rows.extend(fresh)
        self.endInsertRows()

    def clear(self) -> None:
        """Empty the view (the core keeps its own ring)."""
        self._reset(())

    def record(self, row: int) -> LogRecorded:
        return self._rows[row]

    def records(self) -> tuple[LogRecorded, ...]:
        return tuple(self._rows)

    # -- Qt model API ---------------------------------------------------------
    def cell(self, rec: LogRecorded, col: int, role: int) -> Any:
        if role == self.RecordRole:
            return rec
        if role == Qt.ItemDataRole.DisplayRole:
            return (clock_text(rec.at), rec.level.title(), rec.module, rec.message)[col]
        if role == Qt.ItemDataRole.ForegroundRole:
            return theme.level_colour(rec.level)
        if role == Qt.ItemDataRole.ToolTipRole and col == self.COL_MESSAGE:
            return rec.message
        return None


class LogFilterProxy(QSortFilterProxyModel):
    """Keeps the rows of one module (or all) whose text contains the search.

    Signals: the standard proxy model signals only.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._module: str | None = None
        self._search = ""

    def module(self) -> str | None:
        return self._module

    def set_module(self, module: str | None) -> None:
        self._refilter(lambda: setattr(self, "_module", module or None))

    def set_search(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "_search", text.strip().casefold()))

    def _refilter(self, change: Callable[[], None]) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        if not isinstance(model, LogModel):
            return True
        rec = model.record(source_row)
        if self._module and rec.module != self._module:
            return False
        return not self._search or self._search in (
            f"{rec.module} {rec.level} {rec.message}".casefold()
        )


def record_line(rec: LogRecorded) -> str:
    """One record as a line of text, as "Save…" writes it."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rec.at))
    return f"{stamp} {rec.level:<8} {rec.module:<10} {rec.message}"
