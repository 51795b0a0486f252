"""Relay (smart host) settings: the dialog, saved through the facade, and tested.

``edit_relay_settings`` opens ``RelayDialog`` with the current values and
where the password is kept, saves the changed keys and then the password
(its keyring entry is named after the host and user), and lets "Test the
connection" save first and then probe the host through the core
(``CoreApi.relay_test_connection``). Used by the Queue page's "Relay
settings…" button and the main window's Configuration menu.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QWidget

from app.bridge import CoreBridge
from app.dialogs.base import exec_async
from app.dialogs.relay_dialog import RelayChange, RelayDialog
from server.api import CoreApi, ProbeResult
from server.config.schema import Settings
from server.errors import ValidationError


async def apply_relay_change(bridge: CoreBridge, change: RelayChange) -> Settings:
    """Save the changed relay keys, then the password (its key needs them)."""
    settings: Settings = (
        await bridge.run(CoreApi.update_settings, "relay", change.settings)
        if change.settings
        else await bridge.run(CoreApi.settings)
    )
    if change.password is not None:
        await bridge.run(CoreApi.relay_set_password, change.password)
    return settings


async def storage_text(bridge: CoreBridge) -> tuple[str, str]:
    """Where the relay password is kept: a short line and the core's words."""
    try:
        backend = await bridge.run(CoreApi.secrets_backend)
    except ValidationError as exc:
        return str(exc), ""
    if backend.uses_file:
        short = (
            "Stored in a protected file in the data folder: no keyring is available."
        )
    else:
        short = "Stored in the system keyring."
    return short, backend.description


async def edit_relay_settings(
    bridge: CoreBridge, parent: QWidget
) -> RelayChange | None:
    """Open ``RelayDialog`` until the core accepts the values or the person
    cancels; "Test the connection" saves the values, then probes the host."""
    settings = await bridge.run(CoreApi.settings)
    dialog = RelayDialog(settings.relay, parent=parent)
    dialog.set_storage_text(*await storage_text(bridge))

    async def tester(change: RelayChange) -> ProbeResult:
        saved = await apply_relay_change(bridge, change)
        dialog.saved(saved.relay)
        dialog.set_storage_text(*await storage_text(bridge))
        result = await bridge.run(CoreApi.relay_test_connection)
        return result

    dialog.set_tester(tester)
    try:
        while await exec_async(dialog) == QDialog.DialogCode.Accepted:
            change = dialog.value()
            try:
                await apply_relay_change(bridge, change)
            except ValidationError as exc:
                dialog.show_error(str(exc))
                continue
            return change
        return None
    finally:
        dialog.deleteLater()
