"""The modules table: one row per module, fed by ``ModuleStatus`` values."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
)

from app import theme
from app.formatting import endpoint_text
from app.models.base import Index, RowsModel
from app.widgets.status_light import light_colour, light_icon
from server.modules.base import ModuleState, ModuleStatus

SESSIONS_REFRESH_MS = 200  # the "Sessions" column follows connections this often


class ModulesModel(RowsModel[ModuleStatus]):
    """Rows: modules in the core's order. The tick is a request, not a fact.

    Ticking "On" emits ``enableRequested``; the caller asks the core and feeds
    the answer back with ``update_status``. The light follows only the state
    the core reports.

    Signals:
        enableRequested(str, bool): the person ticked or unticked a module.
    """

    enableRequested = Signal(str, bool)

    COL_ON, COL_MODULE, COL_STATUS, COL_ADDRESS, COL_SESSIONS, COL_TODAY, COL_ERROR = (
        range(7)
    )
    HEADERS = ("On", "Module", "Status", "Address", "Sessions", "Today", "Last error")
    NameRole = Qt.ItemDataRole.UserRole + 1
    StateRole = Qt.ItemDataRole.UserRole + 2
    LightColourRole = Qt.ItemDataRole.UserRole + 3

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._configured: dict[str, str] = {}
        self._sessions_dirty: set[int] = set()
        self._sessions_timer = QTimer(self)
        self._sessions_timer.setSingleShot(True)
        self._sessions_timer.setInterval(SESSIONS_REFRESH_MS)
        self._sessions_timer.timeout.connect(self.on_sessions_timer_timeout)

    def on_sessions_timer_timeout(self) -> None:
        rows, self._sessions_dirty = self._sessions_dirty, set()
        for row in sorted(r for r in rows if r < len(self._rows)):
            index = self.index(row, self.COL_SESSIONS)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DisplayRole])

    # -- feeding ------------------------------------------------------------
    def set_modules(self, statuses: Iterable[ModuleStatus]) -> None:
        new = list(statuses)
        if [s.name for s in new] == [s.name for s in self._rows]:
            for status in new:
                self.update_status(status)
            return
        self._reset(new)

    def update_status(self, status: ModuleStatus) -> None:
        row = self.row_of(status.name)
        if row < 0:
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows))
            self._rows.append(status)
            self.endInsertRows()
            return
        if self._rows[row] != status:
            self._rows[row] = status
            self._row_changed(row)

    def apply_state(self, name: str, state: ModuleState, message: str = "") -> None:
        """A ``ModuleStateChanged`` event: change the light before the full status."""
        row = self.row_of(name)
        if row < 0:
            return
        old = self._rows[row]
        changes: dict[str, Any] = {"state": state}
        if state is ModuleState.FAILED:
            changes["last_error"] = message or old.last_error
        if state is ModuleState.STOPPED:  # turned off: no start failure left
            changes.update(endpoints=(), sessions=0, last_error="")
        self._rows[row] = dataclasses.replace(old, **changes)
        self._row_changed(row)

    def apply_session(self, name: str, opened: bool) -> None:
        """A ``SessionOpened``/``SessionClosed`` event: move "sessions now" at once
        (the next full status from the core confirms the number)."""
        row = self.row_of(name)
        if row < 0:
            return
        old = self._rows[row]
        sessions = old.sessions + 1 if opened else max(0, old.sessions - 1)
        if sessions != old.sessions:
            self._rows[row] = dataclasses.replace(old, sessions=sessions)
            # shown at most every SESSIONS_REFRESH_MS: under a busy IMAP load
            # (hundreds of logins a second) a repaint per connection kept the
            # window from answering
            self._sessions_dirty.add(row)
            if not self._sessions_timer.isActive():
                self._sessions_timer.start()

    def set_configured_addresses(self, addresses: dict[str, str]) -> None:
        """Where each module listens when running (shown greyed while stopped)."""
        self._configured = dict(addresses)
        if self._rows:
            self.dataChanged.emit(
                self.index(0, self.COL_ADDRESS),
                self.index(len(self._rows) - 1, self.COL_ADDRESS),
            )

    # -- reading ------------------------------------------------------------
    def row_of(self, name: str) -> int:
        for i, status in enumerate(self._rows):
            if status.name == name:
                return i
        return -1

    def status(self, row: int) -> ModuleStatus:
        return self._rows[row]

    def statuses(self) -> tuple[ModuleStatus, ...]:
        return tuple(self._rows)

    # -- Qt model API ---------------------------------------------------------
    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == self.COL_ON:
            base |= Qt.ItemFlag.ItemIsUserCheckable
        return base

    def cell(self, s: ModuleStatus, col: int, role: int) -> Any:
        if role == self.NameRole:
            return s.name
        if role == self.StateRole:
            return s.state
        if role == self.LightColourRole:
            return light_colour(s.state)
        if col == self.COL_ON and role == Qt.ItemDataRole.CheckStateRole:
            return Qt.CheckState.Checked if s.enabled else Qt.CheckState.Unchecked
        if col == self.COL_STATUS and role == Qt.ItemDataRole.DecorationRole:
            return light_icon(s.state)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(s, col)
        if (
            role == Qt.ItemDataRole.ForegroundRole
            and col == self.COL_ADDRESS
            and not s.endpoints
        ):
            return theme.muted_colour()
        if role == Qt.ItemDataRole.ForegroundRole and col == self.COL_ERROR:
            return theme.error_colour()
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == self.COL_ERROR and s.last_error:
                return s.last_error
            if col == self.COL_MODULE:
                return s.name
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (
            self.COL_SESSIONS,
            self.COL_TODAY,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def setData(
        self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole
    ) -> bool:
        if (
            not index.isValid()
            or index.column() != self.COL_ON
            or role != Qt.ItemDataRole.CheckStateRole
        ):
            return False
        on = Qt.CheckState(value) == Qt.CheckState.Checked
        s = self._rows[index.row()]
        if s.enabled != on:
            self._rows[index.row()] = dataclasses.replace(s, enabled=on)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
            self.enableRequested.emit(s.name, on)
        return True

    # -- helpers --------------------------------------------------------------
    def _display(self, s: ModuleStatus, col: int) -> str | None:
        if col == self.COL_MODULE:
            return s.title
        if col == self.COL_STATUS:
            return s.state.value.title()
        if col == self.COL_ADDRESS:
            if not s.endpoints:
                return self._configured.get(s.name, "")
            return ", ".join(endpoint_text(ep) for ep in s.endpoints)
        if col == self.COL_SESSIONS:
            return str(s.sessions)
        if col == self.COL_TODAY:
            return str(s.messages_today)
        if col == self.COL_ERROR:
            return s.last_error
        return None

    def _row_changed(self, row: int) -> None:
        self.dataChanged.emit(
            self.index(row, 0), self.index(row, self.columnCount() - 1)
        )
