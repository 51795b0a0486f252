"""The main window's actions: their words, shortcuts, and places in the menus
and the toolbar. What they do is wired by the window."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

CONFIG_SECTIONS = (
    ("general", "General"),
    ("queue", "Queue"),
    ("security", "Security"),
    ("backup", "Scheduled backups"),
)
MAX_TAB_SHORTCUTS = 9  # Ctrl+1 … Ctrl+9
KeyLike = QKeySequence | QKeySequence.StandardKey | str


class WindowActions:
    """Creates the actions on ``window`` and lays out its menu bar and toolbar.

    ``modules_menu`` goes between File and Configuration; ``tab_titles`` become
    the Window menu's entries (``tab_actions``, in tab order).
    """

    def __init__(self, window: QMainWindow, tab_titles: Sequence[str]) -> None:
        def action(text: str, shortcut: KeyLike | None = None) -> QAction:
            a = QAction(text, window)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            return a

        self.quit = action("&Quit", "Ctrl+Q")
        self.quit.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.send_test = action("Send &test message…", "Ctrl+T")
        self.send_test.setIconText("Send test…")
        self.send_test.setToolTip(
            "Send a message through the SMTP module to a local user"
        )
        self.save_log = action("&Save log…", QKeySequence.StandardKey.Save)
        self.back_up = action("&Back up…")
        self.back_up.setToolTip(
            "Write an archive of settings, accounts, certificates, queue and "
            "mail while the server runs"
        )
        self.restore = action("&Restore…")
        self.restore.setToolTip(
            "Check a backup archive, then restart Quicksilver on it (the data "
            "folder in use is kept aside)"
        )
        self.export = action("E&xport for Postfix and Dovecot…")
        self.export.setToolTip(
            "Write a Postfix + Dovecot configuration for this data folder, for "
            "when the office outgrows one machine (the mail stays where it is)"
        )
        self.add_user = action("Add &user…")
        self.module_settings = action("Module &settings…")
        self.restart = action("&Restart module")
        self.about = action("&About Quicksilver")
        self.client_help = action("How to set up a mail &client")
        self.find = action("&Find in log", "Ctrl+F")
        window.addAction(self.find)  # active whatever has the focus
        self.keep_in_tray = action("Always &keep running in tray")
        self.keep_in_tray.setCheckable(True)
        self.config: dict[str, QAction] = {}
        for section, title in CONFIG_SECTIONS:
            self.config[section] = action(f"&{title}…")
            self.config[section].setIconText(f"{title} settings")
        self.relay = action("&Relay (smart host)…")
        self.tabs: list[QAction] = []
        for i, title in enumerate(tab_titles):
            key = f"Ctrl+{i + 1}" if i < MAX_TAB_SHORTCUTS else None
            self.tabs.append(action(title.replace("&", ""), key))

    def lay_out(self, window: QMainWindow, modules_menu: QMenu) -> None:
        bar = window.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions(
            [self.send_test, self.save_log, self.back_up, self.restore, self.export]
        )
        file_menu.addSeparator()
        file_menu.addAction(self.quit)
        bar.addMenu(modules_menu)
        config_menu = bar.addMenu("&Configuration")
        config_menu.addActions([*self.config.values(), self.relay])
        config_menu.addSeparator()
        config_menu.addAction(self.add_user)
        window_menu = bar.addMenu("&Window")
        window_menu.addActions(self.tabs)
        window_menu.addSeparator()
        window_menu.addActions([self.find, self.keep_in_tray])
        help_menu = bar.addMenu("&Help")
        help_menu.addActions([self.client_help, self.about])

        toolbar = QToolBar("Main", window)
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addActions([self.module_settings, self.restart])
        toolbar.addSeparator()
        toolbar.addActions([self.add_user, self.config["general"]])
        toolbar.addSeparator()
        toolbar.addActions([self.send_test, self.save_log])
        window.addToolBar(toolbar)
