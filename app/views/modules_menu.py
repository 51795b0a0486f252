"""The window's Modules menu: a tick per module, then Settings and Restart.

It follows ``ModulesModel``: rebuilt when modules come or go, ticks kept in
step when the model changes (without echoing back), and a tick the person
changes goes to the model as if the table's check box had been clicked, so
the table and the menu take one path to the core.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget

from app.models.modules_model import ModulesModel


class ModulesMenu(QMenu):
    """Ticks for ``model``'s modules, Settings/Restart submenus, then ``extra``.

    Signals:
        settingsRequested(str): open the settings of this module.
        restartRequested(str): restart this module.
    """

    settingsRequested = Signal(str)
    restartRequested = Signal(str)

    def __init__(
        self,
        model: ModulesModel,
        extra: Sequence[QAction] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("&Modules", parent)
        self.model = model
        self.extra = tuple(extra)
        self.module_actions: dict[str, QAction] = {}
        self.settings_menu = QMenu("&Settings", self)
        self.restart_menu = QMenu("&Restart", self)
        model.modelReset.connect(self.rebuild)
        model.rowsInserted.connect(self.rebuild)
        model.dataChanged.connect(self.sync)
        self.rebuild()

    def rebuild(self, *_args: object) -> None:
        self.clear()
        self.settings_menu.clear()
        self.restart_menu.clear()
        self.module_actions = {}
        for status in self.model.statuses():
            action = self.addAction(status.title)
            action.setCheckable(True)
            action.setChecked(status.enabled)
            action.setToolTip(f"Tick to start {status.title}, untick to stop it")
            action.toggled.connect(
                functools.partial(self.on_action_toggled, status.name)
            )
            self.module_actions[status.name] = action
            self.settings_menu.addAction(
                f"{status.title}…",
                functools.partial(self.settingsRequested.emit, status.name),
            )
            self.restart_menu.addAction(
                status.title, functools.partial(self.restartRequested.emit, status.name)
            )
        self.addSeparator()
        self.addMenu(self.settings_menu)
        self.addMenu(self.restart_menu)
        if self.extra:
            self.addSeparator()
            self.addActions(list(self.extra))

    def sync(self, *_args: object) -> None:
        """Ticks follow the model, without sending the change back."""
        for status in self.model.statuses():
            action = self.module_actions.get(status.name)
            if action is not None and action.isChecked() != status.enabled:
                action.blockSignals(True)
                action.setChecked(status.enabled)
                action.blockSignals(False)

    def on_action_toggled(self, name: str, on: bool) -> None:
        row = self.model.row_of(name)
        if row >= 0:
            index = self.model.index(row, ModulesModel.COL_ON)
            state = Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
            self.model.setData(index, state, Qt.ItemDataRole.CheckStateRole)
