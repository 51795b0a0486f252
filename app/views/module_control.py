"""Switching, restarting and configuring modules: the window's calls to the core.

``ModuleControl`` turns the person's requests (a tick, Restart, the tray's
Start all / Stop all, a settings dialog) into facade calls and feeds the
answers to ``ModulesModel``. A failure is shown in a message box and the model
re-read, so a tick never claims what the core did not do.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from app.bridge import CoreBridge
from app.dialogs.base import exec_async, notify
from app.dialogs.settings_dialog import SettingsDialog
from app.models.modules_model import ModulesModel
from server.api import CoreApi
from server.config.schema import SECTIONS, Settings
from server.modules.base import ModuleState, ModuleStatus

log = logging.getLogger("quicksilver.app")


class ModuleControl(QObject):
    """Module actions against the core, for the window ``parent``.

    Signals:
        statusesChanged(): the model holds new module statuses.
        settingsRead(object): the core's ``Settings``, as read for a dialog or
            saved by it.
    """

    statusesChanged = Signal()
    settingsRead = Signal(object)

    def __init__(
        self, bridge: CoreBridge, model: ModulesModel, parent: QWidget
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.model = model
        self.window = parent
        self._stopped_by_tray: list[str] = []

    async def set_module_enabled(self, name: str, on: bool) -> ModuleStatus | None:
        try:
            status = await self.bridge.run(CoreApi.set_module_enabled, name, on)
        except Exception as exc:
            log.exception("could not switch %s %s", name, "on" if on else "off")
            notify(
                self.window,
                "Modules",
                f"Could not switch {name} {'on' if on else 'off'}: {exc}",
            )
            await self.refresh()
            return None
        self.model.update_status(status)
        self.statusesChanged.emit()
        return status

    async def restart_module(self, name: str) -> None:
        self.model.update_status(await self.bridge.run(CoreApi.restart_module, name))
        self.statusesChanged.emit()

    async def refresh(self) -> None:
        self.model.set_modules(await self.bridge.run(CoreApi.modules))
        self.statusesChanged.emit()

    async def stop_all(self) -> None:
        """Untick every ticked module (remembered for "Start all enabled")."""
        names = [s.name for s in self.model.statuses() if s.enabled]
        if names:
            self._stopped_by_tray = names
        for name in names:
            await self.set_module_enabled(name, False)

    async def start_all(self) -> None:
        """Start what "Stop all" stopped, else every ticked module not running."""
        names = self._stopped_by_tray or [
            s.name
            for s in self.model.statuses()
            if s.enabled and s.state is not ModuleState.RUNNING
        ]
        self._stopped_by_tray = []
        for name in names:
            await self.set_module_enabled(name, True)

    def can_configure(self, section: str) -> bool:
        """Has ``section`` a settings dialog? If not, say so."""
        if section in SECTIONS:
            return True
        notify(
            self.window,
            "Settings",
            f"{section} has no settings of its own.",
            QMessageBox.Icon.Information,
        )
        return False

    async def apply_settings(self, section: str, values: dict[str, Any]) -> Settings:
        return await self.bridge.run(CoreApi.update_settings, section, values)

    async def edit_settings(self, section: str) -> Settings | None:
        """The settings dialog of a module or section, saved through the core."""
        settings = await self.bridge.run(CoreApi.settings)
        self.settingsRead.emit(settings)
        row = self.model.row_of(section)
        title = self.model.status(row).title if row >= 0 else section.title()
        dialog = SettingsDialog(
            section,
            settings.section(section),
            self.apply_settings,
            parent=self.window,
            title=title,
        )
        try:
            if await exec_async(dialog) != SettingsDialog.DialogCode.Accepted:
                return None
        finally:
            dialog.deleteLater()
        saved = dialog.result_value
        if isinstance(saved, Settings):
            self.settingsRead.emit(saved)
        await self.refresh()
        return saved if isinstance(saved, Settings) else None
