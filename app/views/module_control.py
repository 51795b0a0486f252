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
from app.dialogs.settings_dialog import SettingsDialog, Suggested
from app.models.modules_model import ModulesModel
from server.api import CoreApi, PortQuery
from server.config.schema import SECTIONS, Settings
from server.modules.base import ModuleState, ModuleStatus

PORT_KEYS = ("port", "tls_port")
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
        await self.check_ports(section, values)
        return await self.bridge.run(CoreApi.update_settings, section, values)

    async def check_ports(self, section: str, values: dict[str, Any]) -> None:
        """Before a module's new ports are saved (as the wizard does): a port
        another of our modules is set to, or that cannot be opened now, is
        refused with its owner named and a free port offered (``Suggested``).
        A port the module itself holds now is fine."""
        if not any(k in values for k in (*PORT_KEYS, "bind")):
            return
        settings = await self.bridge.run(CoreApi.settings)
        current = settings.section(section)
        bind = str(values.get("bind", getattr(current, "bind", "0.0.0.0")))
        wanted = [
            (key, int(values.get(key, getattr(current, key))))
            for key in PORT_KEYS
            if hasattr(current, key)
        ]
        row = self.model.row_of(section)
        held = {e.port for e in self.model.status(row).endpoints} if row >= 0 else set()
        if "bind" not in values:
            held |= {p for k, p in wanted if k not in values}  # unchanged
        others = self._ports_of_others(settings, section)
        taken = frozenset(others) | {p for _, p in wanted}
        if len(wanted) == 2 and wanted[0][1] and wanted[0][1] == wanted[1][1]:
            port = wanted[1][1]
            raise Suggested(
                f"Port {port} is given twice: the TLS port needs a port of its own.",
                f"{section}.tls_port",
                0,
            )
        probe: list[tuple[str, int]] = []
        for key, port in wanted:
            if not 0 < port <= 65535 or port in held:
                continue  # 0: off; out of range: the core's check says so
            if port in others:
                suggestion = await self._free_port(bind, port, taken)
                raise Suggested(
                    f"Port {port} is set for Quicksilver's {others[port]} module."
                    + _try(suggestion),
                    f"{section}.{key}",
                    suggestion,
                )
            probe.append((key, port))
        if not probe:
            return
        queries = tuple(
            PortQuery(bind, port, _preferred(port), taken) for _, port in probe
        )
        checks = await self.bridge.run(CoreApi.check_ports, queries)
        for (key, _), check in zip(probe, checks, strict=True):
            if check.problem:
                raise Suggested(
                    check.problem + _try(check.suggestion),
                    f"{section}.{key}",
                    check.suggestion,
                )

    def _ports_of_others(self, settings: Settings, section: str) -> dict[int, str]:
        """Ports the other switched-on modules are set to, with their titles."""
        out: dict[int, str] = {}
        for name in SECTIONS:
            sec = settings.section(name)
            if name == section or not getattr(sec, "enabled", False):
                continue
            row = self.model.row_of(name)
            title = self.model.status(row).title if row >= 0 else name
            for key in PORT_KEYS:
                port = int(getattr(sec, key, 0) or 0)
                if port:
                    out[port] = title
        return out

    async def _free_port(self, bind: str, port: int, taken: frozenset[int]) -> int:
        """A port near ``port`` that is free and none of ours (0: none)."""
        start = _preferred(port)
        while start in taken:
            start += 1
        query = PortQuery(bind, start, start + 1, taken)
        (check,) = await self.bridge.run(CoreApi.check_ports, (query,))
        return check.suggestion if check.problem else start

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
            inherited_access=settings.security.access,
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


def _preferred(port: int) -> int:
    """Where to look for a free port: above 2000 for a privileged one (25 ->
    2525, as the wizard offers), else the next one up."""
    return port + 2500 if port < 1024 else port + 1


def _try(suggestion: int) -> str:
    return f" Port {suggestion} is free." if suggestion else ""
