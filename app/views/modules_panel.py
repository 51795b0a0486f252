"""The modules table: tick to start/stop, lights, addresses, counters."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.models.modules_model import ModulesModel

FIT_MS = 1000  # the columns are fitted to their contents at most this often


class ModulesPanel(QGroupBox):
    """A table on ``ModulesModel`` plus Settings… and Restart buttons.

    Signals:
        settingsRequested(str): open the settings of this module.
        restartRequested(str): restart this module.
    """

    settingsRequested = Signal(str)
    restartRequested = Signal(str)

    def __init__(self, model: ModulesModel, parent: QWidget | None = None) -> None:
        super().__init__("Modules", parent)
        self.model = model
        self.table = QTableView(self)
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        # Columns fit their contents, measured at most every FIT_MS: with
        # ResizeToContents every change of a session count had every cell
        # measured through the model (Python calls, each waiting for the
        # interpreter lock while the core is busy).
        for col in range(ModulesModel.COL_ERROR):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(FIT_MS)
        self._fit_timer.timeout.connect(self.fit_columns)
        for signal in (model.modelReset, model.rowsInserted, model.dataChanged):
            signal.connect(self._fit_soon)
        self.fit_columns()

        self.settings_button = QPushButton("S&ettings…", self)
        self.restart_button = QPushButton("&Restart", self)
        buttons = QVBoxLayout()
        buttons.addWidget(self.settings_button)
        buttons.addWidget(self.restart_button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

        self.table.doubleClicked.connect(self.on_table_doubleClicked)
        self.settings_button.clicked.connect(self.on_settings_button_clicked)
        self.restart_button.clicked.connect(self.on_restart_button_clicked)
        self.table.selectionModel().selectionChanged.connect(self.on_selection_changed)
        model.modelReset.connect(self.on_selection_changed)
        self.on_selection_changed()

    def _fit_soon(self, *_args: object) -> None:
        if not self._fit_timer.isActive():
            self._fit_timer.start()

    def fit_columns(self) -> None:
        for col in range(ModulesModel.COL_ERROR):
            self.table.resizeColumnToContents(col)

    def selected_module(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.status(rows[0].row()).name

    def select_module(self, name: str) -> None:
        row = self.model.row_of(name)
        if row >= 0:
            self.table.selectRow(row)

    def fit_height(self) -> None:
        """Room for every row and no empty space under them; on a small
        window the main window's splitter may give less (three rows at
        least, and a scroll bar)."""
        rows = self.model.rowCount()
        height = self.table.horizontalHeader().height() + 2 * self.table.frameWidth()
        row_heights = [self.table.rowHeight(r) for r in range(rows)]
        self.table.setMaximumHeight(height + sum(row_heights) + 2)
        self.table.setMinimumHeight(height + sum(row_heights[:3]) + 2)

    def full_height(self) -> int:
        """The panel's height with every row shown."""
        hint = self.sizeHint().height() - self.table.sizeHint().height()
        return hint + self.table.maximumHeight()

    # -- slots ----------------------------------------------------------------
    def on_table_doubleClicked(self, index: QModelIndex) -> None:
        if index.column() != ModulesModel.COL_ON:
            self.settingsRequested.emit(self.model.status(index.row()).name)

    def on_settings_button_clicked(self) -> None:
        name = self.selected_module()
        if name:
            self.settingsRequested.emit(name)

    def on_restart_button_clicked(self) -> None:
        name = self.selected_module()
        if name:
            self.restartRequested.emit(name)

    def on_selection_changed(self, *_args: object) -> None:
        has = self.selected_module() is not None
        self.settings_button.setEnabled(has)
        self.restart_button.setEnabled(has)
