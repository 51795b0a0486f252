"""The live log console: bounded, filterable, searchable, pausable."""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.models.log_model import DEFAULT_CAPACITY, LogFilterProxy, LogModel
from server.events import LogRecorded

FLUSH_MS = 50  # batch bursts of records into one model insert
ALL_MODULES = "All modules"


class LogConsole(QWidget):
    """Shows ``LogRecorded`` events as they arrive.

    While paused, new records wait (at most ``capacity`` of them) and are added
    on resume; Clear empties the view only, the core keeps its own ring.

    Signals: none.
    """

    def __init__(
        self, parent: QWidget | None = None, capacity: int = DEFAULT_CAPACITY
    ) -> None:
        super().__init__(parent)
        self.model = LogModel(self, capacity=capacity)
        self.proxy = LogFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._incoming: list[LogRecorded] = []
        self._held: deque[LogRecorded] = deque(maxlen=capacity)
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self.on_flush_timer_timeout)

        self.module_combo = QComboBox(self)
        self.module_combo.addItem(ALL_MODULES, None)
        self.module_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToContents
        )
        self.search_edit = QLineEdit(self)
        self.search_edit.setPlaceholderText("Search the log…")
        self.search_edit.setClearButtonEnabled(True)
        self.pause_check = QCheckBox("Pause", self)
        self.clear_button = QPushButton("Clear", self)
        self.count_label = QLabel(self)
        self.count_label.setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        self.count_label.setMinimumWidth(90)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Module:", self))
        bar.addWidget(self.module_combo)
        bar.addWidget(self.search_edit, 1)
        bar.addWidget(self.pause_check)
        bar.addWidget(self.clear_button)
        bar.addWidget(self.count_label)

        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        for col in (LogModel.COL_TIME, LogModel.COL_LEVEL, LogModel.COL_MODULE):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)

        self.module_combo.currentIndexChanged.connect(self.on_module_combo_changed)
        self.search_edit.textChanged.connect(self.on_search_edit_textChanged)
        self.pause_check.toggled.connect(self.on_pause_check_toggled)
        self.clear_button.clicked.connect(self.on_clear_button_clicked)
        self.model.rowsInserted.connect(self.on_model_rows_changed)
        self.model.modelReset.connect(self.on_model_rows_changed)
        self.on_model_rows_changed()

    # -- feeding ----------------------------------------------------------------
    def add_modules(self, names: list[str]) -> None:
        for name in names:
            if self.module_combo.findData(name) < 0:
                self.module_combo.addItem(name, name)

    def add_records(self, records: list[LogRecorded] | tuple[LogRecorded, ...]) -> None:
        if self.pause_check.isChecked():
            self._held.extend(records)
            self._update_count()
            return
        self._incoming.extend(records)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def on_bridge_logRecorded(self, record: LogRecorded) -> None:
        self.add_records([record])

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

    def on_module_combo_changed(self, _index: int) -> None:
        self.proxy.set_module(self.module_combo.currentData())
        self._update_count()

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

    def on_model_rows_changed(self, *_args: object) -> None:
        self._update_count()

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        text = f"{shown} of {total} lines" if shown != total else f"{total} lines"
        if self.pause_check.isChecked():
            text += f" · paused, {len(self._held)} waiting"
        self.count_label.setText(text)
