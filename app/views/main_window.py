"""The main window: modules on top, log console and users in tabs below.

It wires models to the bridge: the snapshot fills the models, events keep them
current, and every action is an awaited facade call. It owns no core state.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QToolBar,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.base import exec_async, notify
from app.dialogs.settings_dialog import SettingsDialog
from app.formatting import configured_address
from app.models.modules_model import ModulesModel
from app.paths import app_icon
from app.tasks import spawn
from app.views.admin_pages import admin_pages
from app.views.log_console import LogConsole
from app.views.modules_panel import ModulesPanel
from app.views.users_page import UsersPage
from app.widgets.status_light import StatusLight
from server.api import Snapshot
from server.config.schema import SECTIONS, Settings
from server.events import MessageDelivered, ModuleStateChanged
from server.modules.base import ModuleState, ModuleStatus

log = logging.getLogger("quicksilver.app")

REFRESH_MS = 150  # coalesce bursts of activity events into one status query
USAGE_REFRESH_MS = 1000  # deliveries change mailbox usage: re-read users, at most 1/s
CONFIG_SECTIONS = (("general", "General"), ("queue", "Queue"), ("security", "Security"))


class MainWindow(QMainWindow):
    """Quicksilver's main window.

    Signals:
        closed(): the window was closed; ``main()`` then stops the core.
    """

    closed = Signal()

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.settings: Settings | None = None
        self.queue_size = 0
        self.setWindowTitle("Quicksilver Mail Server")
        self.setWindowIcon(app_icon())
        self.resize(1280, 800)

        self.modules_model = ModulesModel(self)
        self.modules_panel = ModulesPanel(self.modules_model, self)
        self.log_console = LogConsole(self)
        self.users_page = UsersPage(bridge, self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.log_console, "Log console")
        self.tabs.addTab(self.users_page, "Users")
        for title, page in admin_pages(bridge, self):
            self.tabs.addTab(page, title)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.modules_panel)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)

        self._build_actions()
        self._build_status_bar()
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self.on_refresh_timer_timeout)
        self._usage_timer = QTimer(self)
        self._usage_timer.setSingleShot(True)
        self._usage_timer.setInterval(USAGE_REFRESH_MS)
        self._usage_timer.timeout.connect(self.on_usage_timer_timeout)

        self.modules_model.enableRequested.connect(
            self.on_modules_model_enableRequested
        )
        self.modules_panel.settingsRequested.connect(
            self.on_modules_panel_settingsRequested
        )
        self.modules_panel.restartRequested.connect(
            self.on_modules_panel_restartRequested
        )
        self.users_page.model.modelReset.connect(self._update_counts)
        self.modules_panel.table.selectionModel().selectionChanged.connect(
            self.on_modules_selection_changed
        )
        self.modules_model.modelReset.connect(self.on_modules_selection_changed)
        self.on_modules_selection_changed()
        bridge.moduleStateChanged.connect(self.on_bridge_moduleStateChanged)
        bridge.moduleActivity.connect(self.on_bridge_moduleActivity)
        bridge.logRecorded.connect(self.log_console.on_bridge_logRecorded)
        bridge.accountsChanged.connect(self.on_bridge_accountsChanged)
        bridge.queueChanged.connect(self.on_bridge_queueChanged)
        bridge.settingsChanged.connect(self.on_bridge_settingsChanged)

    # -- construction -------------------------------------------------------------
    def _build_actions(self) -> None:
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.close)
        self.add_user_action = QAction("Add &user…", self)
        self.add_user_action.triggered.connect(self.on_add_user_action_triggered)
        self.module_settings_action = QAction("Module &settings…", self)
        self.module_settings_action.triggered.connect(
            self.modules_panel.on_settings_button_clicked
        )
        self.restart_action = QAction("&Restart module", self)
        self.restart_action.triggered.connect(
            self.modules_panel.on_restart_button_clicked
        )
        self.about_action = QAction("&About Quicksilver", self)
        self.about_action.triggered.connect(self.on_about_action_triggered)

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.quit_action)
        modules_menu = menu.addMenu("&Modules")
        modules_menu.addAction(self.module_settings_action)
        modules_menu.addAction(self.restart_action)
        config_menu = menu.addMenu("&Configuration")
        self.config_actions: dict[str, QAction] = {}
        for section, title in CONFIG_SECTIONS:
            action = config_menu.addAction(f"{title}…")
            action.triggered.connect(functools.partial(self.open_settings, section))
            action.setIconText(f"{title} settings")
            self.config_actions[section] = action
        config_menu.addSeparator()
        config_menu.addAction(self.add_user_action)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.about_action)

        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addAction(self.module_settings_action)
        toolbar.addAction(self.restart_action)
        toolbar.addSeparator()
        toolbar.addAction(self.add_user_action)
        toolbar.addAction(self.config_actions["general"])
        self.addToolBar(toolbar)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_light = StatusLight(self)
        self.running_label = QLabel(self)
        self.counts_label = QLabel(self)
        self.data_dir_label = QLabel(self)
        self.data_dir_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        bar.setStyleSheet("QStatusBar::item { border: none; }")
        bar.addWidget(self.status_light)
        bar.addWidget(self.running_label)
        bar.addWidget(QLabel("·", self))
        bar.addWidget(self.counts_label)
        bar.addPermanentWidget(self.data_dir_label)

    # -- feeding ------------------------------------------------------------------
    def apply_snapshot(self, snapshot: Snapshot) -> None:
        self._set_settings(snapshot.settings)
        self.modules_model.set_modules(snapshot.modules)
        self.modules_panel.fit_height()
        self.users_page.model.set_users(snapshot.users)
        self.users_page.domains = tuple(d.name for d in snapshot.domains)
        self.log_console.add_modules([m.name for m in snapshot.modules])
        self.log_console.add_records(snapshot.logs)
        self.queue_size = len(snapshot.queue)
        self.data_dir_label.setText(f"Data folder: {snapshot.data_dir}")
        self._update_counts()

    def _update_counts(self, *_args: object) -> None:
        statuses = self.modules_model.statuses()
        running = [s.title for s in statuses if s.state is ModuleState.RUNNING]
        failed = [s.title for s in statuses if s.state is ModuleState.FAILED]
        busy = any(
            s.state in (ModuleState.STARTING, ModuleState.STOPPING) for s in statuses
        )
        if failed:
            self.status_light.set_state(ModuleState.FAILED)
        elif busy:
            self.status_light.set_state(ModuleState.STARTING)
        else:
            self.status_light.set_state(
                ModuleState.RUNNING if running else ModuleState.STOPPED
            )
        text = f"{len(running)} of {len(statuses)} modules running"
        if failed:
            text += f" · failed: {', '.join(failed)}"
        self.running_label.setText(text)
        users = self.users_page.model.rowCount()
        self.counts_label.setText(
            f"{users} user{'s' if users != 1 else ''} · {self.queue_size} in queue"
        )

    def on_modules_selection_changed(self, *_args: object) -> None:
        has = self.modules_panel.selected_module() is not None
        self.module_settings_action.setEnabled(has)
        self.restart_action.setEnabled(has)

    def on_add_user_action_triggered(self) -> None:
        self.tabs.setCurrentWidget(self.users_page)
        self.users_page.on_add_button_clicked()

    # -- module actions -----------------------------------------------------------
    def on_modules_model_enableRequested(self, name: str, on: bool) -> None:
        spawn(self.set_module_enabled(name, on))

    async def set_module_enabled(self, name: str, on: bool) -> ModuleStatus | None:
        try:
            status: ModuleStatus = await self.bridge.call(
                "set_module_enabled", name, on
            )
        except Exception as exc:
            log.exception("could not switch %s %s", name, "on" if on else "off")
            notify(
                self,
                "Modules",
                f"Could not switch {name} {'on' if on else 'off'}: {exc}",
            )
            await self.refresh_modules()
            return None
        self.modules_model.update_status(status)
        self._update_counts()
        return status

    def on_modules_panel_restartRequested(self, name: str) -> None:
        spawn(self.restart_module(name))

    async def restart_module(self, name: str) -> None:
        status: ModuleStatus = await self.bridge.call("restart_module", name)
        self.modules_model.update_status(status)
        self._update_counts()

    def on_modules_panel_settingsRequested(self, name: str) -> None:
        self.open_settings(name)

    def open_settings(self, section: str, _checked: bool = False) -> None:
        if section not in SECTIONS:
            notify(
                self,
                "Settings",
                f"{section} has no settings of its own.",
                QMessageBox.Icon.Information,
            )
            return
        spawn(self.edit_settings(section))

    async def edit_settings(self, section: str) -> Settings | None:
        settings: Settings = await self.bridge.call("settings")
        self._set_settings(settings)
        title = section.title()
        row = self.modules_model.row_of(section)
        if row >= 0:
            title = self.modules_model.status(row).title
        dialog = SettingsDialog(
            section,
            settings.section(section),
            functools.partial(self.bridge.call, "update_settings"),
            parent=self,
            title=title,
        )
        try:
            if await exec_async(dialog) != SettingsDialog.DialogCode.Accepted:
                return None
        finally:
            dialog.deleteLater()
        if isinstance(dialog.result_value, Settings):
            self._set_settings(dialog.result_value)
        await self.refresh_modules()
        return self.settings

    async def refresh_modules(self) -> None:
        statuses: tuple[ModuleStatus, ...] = await self.bridge.call("modules")
        self.modules_model.set_modules(statuses)
        self._update_counts()

    # -- event slots --------------------------------------------------------------
    def on_bridge_moduleStateChanged(self, event: ModuleStateChanged) -> None:
        try:
            state = ModuleState(event.state)
        except ValueError:
            state = ModuleState.FAILED
        self.modules_model.apply_state(event.name, state, event.message)
        self._update_counts()
        self._refresh_timer.start()

    def on_bridge_moduleActivity(self, _event: Any) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def on_bridge_accountsChanged(self, _event: Any) -> None:
        spawn(self.refresh_accounts())

    def on_bridge_queueChanged(self, event: Any) -> None:
        spawn(self.refresh_queue())
        if isinstance(event, MessageDelivered) and not self._usage_timer.isActive():
            self._usage_timer.start()

    def on_usage_timer_timeout(self) -> None:
        spawn(self.users_page.refresh())

    def on_bridge_settingsChanged(self, _event: Any) -> None:
        spawn(self.refresh_settings())

    def on_refresh_timer_timeout(self) -> None:
        spawn(self.refresh_modules())

    async def refresh_accounts(self) -> None:
        await self.users_page.refresh()
        domains = await self.bridge.call("list_domains")
        self.users_page.domains = tuple(d.name for d in domains)

    async def refresh_queue(self) -> None:
        jobs = await self.bridge.call("queue_jobs")
        self.queue_size = len(jobs)
        self._update_counts()

    async def refresh_settings(self) -> None:
        self._set_settings(await self.bridge.call("settings"))

    def _set_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.modules_model.set_configured_addresses(
            {name: configured_address(settings.section(name)) for name in SECTIONS}
        )

    def on_about_action_triggered(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("About Quicksilver")
        box.setIconPixmap(app_icon().pixmap(64, 64))
        box.setText(
            "<b>Quicksilver</b><br>A desktop mail server in the tradition of "
            "Mercury/32: SMTP, submission, POP3 and IMAP in one window."
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- closing --------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        self.bridge.disconnect_core()
        self._refresh_timer.stop()
        self._usage_timer.stop()
        event.accept()
        self.closed.emit()
