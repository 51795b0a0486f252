"""The live log: a bounded ring of ``LogRecorded`` rows and its filter proxy."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from PySide6.QtCore import QObject, QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel

from app import theme
from app.formatting import clock_text
from app.models.base import Index
from server.events import LogRecorded

DEFAULT_CAPACITY = 5000


class LogModel(QStandardItemModel):
    """The newest ``capacity`` log records; older rows fall off the top.

    Records the model already holds (same ``seq``) are ignored, so the
    snapshot and the live events may overlap.

    The cells are Qt items, made once when a record comes in: painting and
    measuring the table never call into Python. (As a Python model, every
    repaint of the console was hundreds of calls into ``data``, each waiting
    for the interpreter lock while the core was busy: under an IMAP load the
    window's timers ran 50-80 ms late at the 95th percentile, 6 ms without
    the console.)

    Roles: DisplayRole (time, level, module, message), ForegroundRole (a
    QColor for warnings and errors), ToolTipRole (the message column) and
    RecordRole (the ``LogRecorded``, on the first column).

    Signals: the standard model signals only.
    """

    COL_TIME, COL_LEVEL, COL_MODULE, COL_MESSAGE = range(4)
    HEADERS = ("Time", "Level", "Module", "Message")
    RecordRole = Qt.ItemDataRole.UserRole + 1

    def __init__(
        self, parent: QObject | None = None, capacity: int = DEFAULT_CAPACITY
    ) -> None:
        super().__init__(0, len(self.HEADERS), parent)
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.setHorizontalHeaderLabels(list(self.HEADERS))
        self._capacity = capacity
        self._last_seq = 0
        self._records: list[LogRecorded] = []

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
        overflow = len(self._records) + len(fresh) - self._capacity
        if overflow > 0:
            self.removeRows(0, overflow)
            del self._records[:overflow]
        for rec in fresh:
            self._records.append(rec)
            self.appendRow(self._items(rec))

    def _items(self, rec: LogRecorded) -> list[QStandardItem]:
        texts = (clock_text(rec.at), rec.level.title(), rec.module, rec.message)
        items = [QStandardItem(text) for text in texts]
        colour = theme.level_colour(rec.level)
        if colour is not None:
            for item in items:
                item.setData(colour, Qt.ItemDataRole.ForegroundRole)
        items[self.COL_MESSAGE].setToolTip(rec.message)
        items[self.COL_TIME].setData(rec, self.RecordRole)
        return items

    def clear(self) -> None:
        """Empty the view (the core keeps its own ring)."""
        self.removeRows(0, self.rowCount())
        self._records.clear()

    def record(self, row: int) -> LogRecorded:
        return self._records[row]

    def records(self) -> tuple[LogRecorded, ...]:
        return tuple(self._records)


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
