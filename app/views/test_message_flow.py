"""The "Send test message" tool: ask, hand the message to the core, show the reply.

The window does no network I/O of its own: ``CoreApi.send_test_message`` sends
the message through the running smtp module (``server/testmessage.py``), the
same path ``quicksilver-server test-message`` takes. A refusal (the module is
off, an address refused) comes back as ``ValidationError`` and is shown in the
dialog, which stays open so the person can fix it and send again.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import QMessageBox, QWidget

from app.bridge import CoreBridge
from app.dialogs.base import exec_async, notify
from app.dialogs.test_message_dialog import TestMessageDialog
from server.api import CoreApi, TestMessageSent
from server.errors import ValidationError


async def send_test_message(
    bridge: CoreBridge, users: Iterable[str], sender: str, parent: QWidget
) -> TestMessageSent | None:
    """Open the dialog until the core accepts a message or the person cancels;
    say what the server replied. ``None`` when cancelled."""
    dialog = TestMessageDialog(sorted(users), sender=sender, parent=parent)
    try:
        while await exec_async(dialog) == TestMessageDialog.DialogCode.Accepted:
            message = dialog.value()
            try:
                sent = await bridge.run(CoreApi.send_test_message, message)
            except ValidationError as exc:
                dialog.show_error(str(exc))
                continue
            notify(
                parent,
                "Test message sent",
                f"The message to {message.recipient} was accepted.\n\n"
                f"The server replied: {sent.reply}",
                QMessageBox.Icon.Information,
            )
            return sent
        return None
    finally:
        dialog.deleteLater()
