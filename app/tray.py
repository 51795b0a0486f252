"""The system tray icon: state at a glance, a small menu, failure notices.

Created only where a tray exists (``QSystemTrayIcon.isSystemTrayAvailable()``:
on Linux that needs a tray host such as a panel or ``trayer``). The window owns
it and feeds it; it asks the window for the actions (it never calls the core).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app.paths import app_icon

NOTICE_MS = 8000


def tray_available() -> bool:
    return QSystemTrayIcon.isSystemTrayAvailable()


def tooltip_text(running: int, total: int, queued: int, failed: list[str]) -> str:
    text = f"Quicksilver: {running} of {total} modules running · {queued} in queue"
    if failed:
        text += f"\nFailed: {', '.join(failed)}"
    return text


class TrayIcon(QObject):
    """Wraps a ``QSystemTrayIcon`` with its menu.

    Signals:
        showRequested(): "Show window" or a click on the icon.
        startAllRequested(): "Start all enabled".
        stopAllRequested(): "Stop all".
        quitRequested(): "Quit".
    """

    showRequested = Signal()
    startAllRequested = Signal()
    stopAllRequested = Signal()
    quitRequested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.icon = QSystemTrayIcon(app_icon(), self)
        self.menu = QMenu()
        self.show_action = QAction("&Show window", self)
        self.start_action = QAction("S&tart all enabled", self)
        self.stop_action = QAction("Sto&p all", self)
        self.quit_action = QAction("&Quit", self)
        for action in (self.show_action, self.start_action, self.stop_action):
            self.menu.addAction(action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        self.icon.setContextMenu(self.menu)
        self.icon.setToolTip("Quicksilver")
        self.show_action.triggered.connect(self.showRequested)
        self.start_action.triggered.connect(self.startAllRequested)
        self.stop_action.triggered.connect(self.stopAllRequested)
        self.quit_action.triggered.connect(self.quitRequested)
        self.icon.activated.connect(self.on_icon_activated)
        self.last_notice = ""

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def set_state(
        self, running: int, total: int, queued: int, failed: list[str]
    ) -> None:
        self.icon.setToolTip(tooltip_text(running, total, queued, failed))

    def notify_failed(self, title: str, message: str) -> None:
        self.last_notice = f"{title} failed" + (f": {message}" if message else "")
        self.icon.showMessage(
            f"{title} failed",
            message or "The module stopped working.",
            QSystemTrayIcon.MessageIcon.Warning,
            NOTICE_MS,
        )

    def on_icon_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.showRequested.emit()

    def dispose(self) -> None:
        self.icon.hide()
        self.menu.deleteLater()
