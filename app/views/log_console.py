"""The live log console: one view per module plus "All", bounded, searchable,
pausable, savable, with Mercury's per-module session logging switch.

A tab bar picks the module (the filter); the search box narrows further. The
model is a ring of at most ``capacity`` rows, and records that arrive while
paused wait in a ring of the same size, so memory stays bounded under any load.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFontDatabase, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTabBar,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.models.log_model import DEFAULT_CAPACITY, LogFilterProxy, LogModel, record_line
from server.config.schema import Settings
from server.events import LogRecorded
from server.modules import registry
from server.paths import write_user_text

FLUSH_MS = 50  # batch bursts of records into one model insert
ALL_MODULES = "All"


class LogConsole(QWidget):
    """Shows ``LogRecorded`` events as they arrive.

    While paused, new records wait (at most ``capacity`` of them) and are added
    on resume; Clear empties the view only, the core keeps its own ring.

    Signals:
        sessionLogRequested(str, bool): the person ticked or unticked "Session
            logging" for a module (the window asks the core).
        saveRequested(): the person pressed "Save…".
    """

    sessionLogRequested = Signal(str, bool)
    saveRequested = Signal()

    def __init__(
        self, parent: QWidget | None = None, capacity: int = DEFAULT_CAPACITY
    ) -> None:
        super().__init__(parent)
        self.model = LogModel(self, capacity=capacity)
        self.proxy = LogFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._incoming: list[LogRecorded] = []
        self._held: deque[LogRecorded] = deque(maxlen=capacity)
        self._session_logs: dict[str, bool] = {}  # modules that can log sessions
        self._data_dir = ""
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self.on_flush_timer_timeout)

        self.module_tabs = QTabBar(self)
        self.module_tabs.setDocumentMode(True)
        self.module_tabs.setExpanding(False)
        self.module_tabs.setDrawBase(False)
        self.module_tabs.addTab(ALL_MODULES)
        self.module_tabs.setTabData(0, None)
        self.module_tabs.setTabToolTip(0, "Every module's lines")

        self.search_edit = QLineEdit(self)
        self.search_edit.setPlaceholderText("Search the log… (Ctrl+F)")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setAccessibleName("Search the log")
        self.session_log_check = QCheckBox("Session lo&gging", self)
        self.pause_check = QCheckBox("&Pause", self)
        self.clear_button = QPushButton("Cle&ar", self)
        self.save_button = QPushButton("&Save…", self)
        self.save_button.setToolTip("Save the lines shown to a text file")
        self.count_label = QLabel(self)
        self.count_label.setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        self.count_label.setMinimumWidth(
            self.fontMetrics().horizontalAdvance("00000 of 00000 lines")
        )
        bar = QHBoxLayout()
        bar.addWidget(self.search_edit, 1)
        bar.addWidget(self.session_log_check)
        bar.addWidget(self.pause_check)
        bar.addWidget(self.clear_button)
        bar.addWidget(self.save_button)
        bar.addWidget(self.count_label)

        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.table.verticalHeader().setDefaultSectionSize(
            self.table.fontMetrics().height() + self.table.fontMetrics().height() // 3
        )
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        self._fit_columns()
        header.setStretchLastSection(True)

        layout = QVBoxLayout(self)
        layout.addWidget(self.module_tabs)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        self.setTabOrder(self.module_tabs, self.search_edit)
        self.setTabOrder(self.search_edit, self.session_log_check)
        self.setTabOrder(self.session_log_check, self.pause_check)
        self.setTabOrder(self.pause_check, self.clear_button)
        self.setTabOrder(self.clear_button, self.save_button)
        self.setTabOrder(self.save_button, self.table)

        # a line cut off at the window's edge is read whole: its tooltip,
        # a double click (the line in a box to read and select), or Ctrl+C
        self.copy_action = QAction("&Copy", self.table)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.copy_action.triggered.connect(self.copy_selection)
        self.table.addAction(self.copy_action)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.table.doubleClicked.connect(self.on_table_doubleClicked)

        self.module_tabs.currentChanged.connect(self.on_module_tabs_currentChanged)
        self.search_edit.textChanged.connect(self.on_search_edit_textChanged)
        self.pause_check.toggled.connect(self.on_pause_check_toggled)
        self.clear_button.clicked.connect(self.on_clear_button_clicked)
        self.save_button.clicked.connect(self.saveRequested)
        self.session_log_check.clicked.connect(self.on_session_log_check_clicked)
        self.model.rowsInserted.connect(self.on_model_rows_changed)
        self.model.rowsRemoved.connect(self.on_model_rows_changed)
        self.model.modelReset.connect(self.on_model_rows_changed)
        self.on_model_rows_changed()
        self._update_session_log_check()

    # -- feeding ----------------------------------------------------------------
    def add_modules(self, names: list[str]) -> None:
        for name in names:
            if self.tab_of(name) < 0:
                i = self.module_tabs.addTab(name)
                self.module_tabs.setTabData(i, name)
                self.module_tabs.setTabToolTip(i, f"Lines from {name} only")

    def set_settings(self, settings: Settings, data_dir: str = "") -> None:
        """Which modules can log sessions, and whether each does now."""
        if data_dir:
            self._data_dir = data_dir
        self._session_logs = {}
        for name in registry.names():
            section = getattr(settings, name, None)
            if section is not None and hasattr(section, "session_log"):
                self._session_logs[name] = bool(section.session_log)
        self._update_session_log_check()

    def add_records(self, records: list[LogRecorded] | tuple[LogRecorded, ...]) -> None:
        if self.pause_check.isChecked():
            self._held.extend(records)
            self._update_count()
            return
        self._incoming.extend(records)
        if len(self._incoming) > self.model.capacity:
            del self._incoming[: -self.model.capacity]
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def on_bridge_logRecorded(self, record: LogRecorded) -> None:
        self.add_records([record])

    # -- reading ----------------------------------------------------------------
    def tab_of(self, module: str | None) -> int:
        for i in range(self.module_tabs.count()):
            if self.module_tabs.tabData(i) == module:
                return i
        return -1

    def current_module(self) -> str | None:
        data = self.module_tabs.tabData(self.module_tabs.currentIndex())
        return data if isinstance(data, str) else None

    def show_module(self, module: str | None) -> None:
        """Switch to the view of ``module`` (None: all)."""
        if module is not None:
            self.add_modules([module])
        self.module_tabs.setCurrentIndex(self.tab_of(module))

    def _fit_columns(self) -> None:
        """Widths for the time, level and module columns from the widest text
        they can hold. Not ResizeToContents: that measures up to 1,000 rows
        through the model (Python calls, each waiting for the interpreter
        lock while the core is busy) after every insert, and under load it
        took a third of a core and made the window late."""
        header = self.table.horizontalHeader()
        metrics = self.table.fontMetrics()
        widest = {
            LogModel.COL_TIME: ["00:00:00"],
            LogModel.COL_LEVEL: ["Debug", "Info", "Warning", "Error", "Critical"],
            LogModel.COL_MODULE: ["core", "queue", "storage", *registry.names()],
        }
        pad = 3 * metrics.averageCharWidth()
        for col, texts in widest.items():
            text = max(metrics.horizontalAdvance(t) for t in texts) + pad
            title = header.fontMetrics().horizontalAdvance(LogModel.HEADERS[col]) + pad
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(col, max(text, title))

    def shown_lines(self) -> list[str]:
        model = self.proxy
        return [
            record_line(model.index(r, 0).data(LogModel.RecordRole))
            for r in range(model.rowCount())
        ]

    def save_to(self, path: str | Path) -> int:
        """Write the lines shown (this view, this search) to ``path``."""
        lines = self.shown_lines()
        write_user_text(Path(path), "".join(f"{line}\n" for line in lines))
        return len(lines)

    def focus_search(self) -> None:
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    # -- slots ------------------------------------------------------------------
    def on_flush_timer_timeout(self) -> None:
        records, self._incoming = self._incoming, []
        if not records:
            return
        bar = self.table.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        self.add_modules(sorted({r.module for r in records}))
        self.model.append(records)
        if at_bottom:
            self.table.scrollToBottom()

    def selected_lines(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [
            record_line(
                self.model.record(self.proxy.mapToSource(self.proxy.index(r, 0)).row())
            )
            for r in rows
        ]

    def copy_selection(self) -> None:
        lines = self.selected_lines()
        if lines:
            QApplication.clipboard().setText("\n".join(lines))

    def on_table_doubleClicked(self, index: QModelIndex) -> None:
        row = self.proxy.mapToSource(index).row()
        box = QMessageBox(
            QMessageBox.Icon.NoIcon,
            "Log line",
            record_line(self.model.record(row)),
            QMessageBox.StandardButton.Close,
            self,
        )
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def on_module_tabs_currentChanged(self, _index: int) -> None:
        self.proxy.set_module(self.current_module())
        self._update_count()
        self._update_session_log_check()

    def on_search_edit_textChanged(self, text: str) -> None:
        self.proxy.set_search(text)
        self._update_count()

    def on_pause_check_toggled(self, paused: bool) -> None:
        if not paused and self._held:
            held = list(self._held)
            self._held.clear()
            self.add_records(held)
        self._update_count()

    def on_clear_button_clicked(self) -> None:
        self._held.clear()
        self._incoming.clear()
        self.model.clear()

    def on_session_log_check_clicked(self, on: bool) -> None:
        module = self.current_module()
        if module in self._session_logs:
            self.sessionLogRequested.emit(module, on)

    def on_model_rows_changed(self, *_args: object) -> None:
        self._update_count()

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        text = f"{shown} of {total} lines" if shown != total else f"{total} lines"
        if self.pause_check.isChecked():
            text += f" · paused, {len(self._held)} waiting"
        self.count_label.setText(text)

    def _update_session_log_check(self) -> None:
        module = self.current_module()
        check = self.session_log_check
        can = module in self._session_logs
        check.setEnabled(can)
        check.setChecked(bool(module and self._session_logs.get(module)))
        where = (
            f"{self._data_dir}/logs/{module}.log"
            if self._data_dir
            else f"logs/{module}.log in the data folder"
        )
        if can:
            check.setToolTip(
                f"Write every {module} session in full (each command and reply, "
                f"passwords masked) to {where}. Rotates at 5 MB."
            )
        elif module is None:
            check.setToolTip("Pick a module's tab to switch its session logging.")
        else:
            check.setToolTip(f"{module} has no session log of its own.")
