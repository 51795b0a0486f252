"""The main window: modules on top, pages in tabs below, a menu, a toolbar and
(where the desktop has one) a tray icon.

It wires models and pages to the bridge: the snapshot fills them, events keep
them current, and every action is an awaited facade call. It owns no core state.

Tabs: Log console, Users, the administration pages (``admin_pages``),
Statistics, Client setup; Ctrl+1…Ctrl+9 switch to them, Ctrl+F searches the
log, Ctrl+Q quits. Closing the window quits (stops the core), unless "Always
keep running in tray" is ticked and a tray exists: then it hides to the tray.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QToolBar,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.base import exec_async, notify
from app.dialogs.settings_dialog import SettingsDialog
from app.dialogs.test_message_dialog import (
    SendError,
    TestMessageDialog,
    send_test_message,
)
from app.formatting import configured_address
from app.models.modules_model import ModulesModel
from app.paths import app_icon
from app.tasks import spawn
from app.tray import TrayIcon, tray_available
from app.views.admin_pages import admin_pages
from app.views.client_setup_page import ClientSetupPage
from app.views.log_console import LogConsole
from app.views.modules_panel import ModulesPanel
from app.views.stats_page import StatsPage
from app.views.users_page import UsersPage
from app.widgets.status_light import StatusLight
from server.api import CoreApi, Snapshot
from server.config.schema import SECTIONS, Settings
from server.events import (
    Event,
    MessageDelivered,
    ModuleStateChanged,
    SessionClosed,
    SessionOpened,
)
from server.modules.base import ModuleState, ModuleStatus

log = logging.getLogger("quicksilver.app")

REFRESH_MS = 150  # coalesce bursts of activity events into one status query
USAGE_REFRESH_MS = 1000  # deliveries change mailbox usage: re-read users, at most 1/s
QUEUE_REFRESH_MS = 250  # queue events come in bursts: re-count at most 4/s
CONFIG_SECTIONS = (("general", "General"), ("queue", "Queue"), ("security", "Security"))
KEEP_IN_TRAY_KEY = "window/keepRunningInTray"
MAX_TAB_SHORTCUTS = 9


def default_prefs() -> QSettings:
    return QSettings(
        QSettings.Format.IniFormat,
        QSettings.Scope.UserScope,
        "Quicksilver",
        "Quicksilver",
    )


class MainWindow(QMainWindow):
    """Quicksilver's main window.

    Signals:
        closed(): the person quit; ``main()`` then stops the core.
    """

    closed = Signal()

    def __init__(
        self,
        bridge: CoreBridge,
        parent: QWidget | None = None,
        prefs: QSettings | None = None,
        use_tray: bool | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.prefs = prefs if prefs is not None else default_prefs()
        self.settings: Settings | None = None
        self.data_dir = ""
        self.queue_size = 0
        self._quitting = False
        self._stopped_by_tray: list[str] = []
        self.setWindowTitle("Quicksilver Mail Server")
        self.setWindowIcon(app_icon())
        self.resize(1280, 800)

        self.modules_model = ModulesModel(self)
        self.modules_panel = ModulesPanel(self.modules_model, self)
        self.log_console = LogConsole(self)
        self.users_page = UsersPage(bridge, self)
        self.stats_page = StatsPage(self)
        self.client_setup_page = ClientSetupPage(self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.log_console, "Log console")
        self.tabs.addTab(self.users_page, "Users")
        try:
            pages = admin_pages(bridge, self)
        except ImportError:  # a page still being written: the rest still work
            log.exception("administration pages unavailable")
            pages = []
        for title, page in pages:
            self.tabs.addTab(page, title)
        self.tabs.addTab(self.stats_page, "Statistics")
        self.tabs.addTab(self.client_setup_page, "Client setup")
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.modules_panel)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)

        self._build_actions()
        self._build_status_bar()
        self.tray: TrayIcon | None = None
        if use_tray if use_tray is not None else tray_available():
            self.set_tray(TrayIcon(self))
        self._refresh_timer = self._timer(REFRESH_MS, self.on_refresh_timer_timeout)
        self._usage_timer = self._timer(USAGE_REFRESH_MS, self.on_usage_timer_timeout)
        self._queue_timer = self._timer(QUEUE_REFRESH_MS, self.on_queue_timer_timeout)

        self.modules_model.enableRequested.connect(
            self.on_modules_model_enableRequested
        )
        self.modules_model.modelReset.connect(self._rebuild_module_actions)
        self.modules_model.rowsInserted.connect(self._rebuild_module_actions)
        self.modules_model.dataChanged.connect(self._sync_module_actions)
        self.modules_panel.settingsRequested.connect(
            self.on_modules_panel_settingsRequested
        )
        self.modules_panel.restartRequested.connect(
            self.on_modules_panel_restartRequested
        )
        self.users_page.model.modelReset.connect(self.on_users_model_reset)
        self.modules_panel.table.selectionModel().selectionChanged.connect(
            self.on_modules_selection_changed
        )
        self.modules_model.modelReset.connect(self.on_modules_selection_changed)
        self.on_modules_selection_changed()
        self.log_console.sessionLogRequested.connect(
            self.on_log_console_sessionLogRequested
        )
        self.log_console.saveRequested.connect(self.on_save_log_action_triggered)
        bridge.eventReceived.connect(self.on_bridge_eventReceived)
        bridge.moduleStateChanged.connect(self.on_bridge_moduleStateChanged)
        bridge.moduleActivity.connect(self.on_bridge_moduleActivity)
        bridge.logRecorded.connect(self.log_console.on_bridge_logRecorded)
        bridge.accountsChanged.connect(self.on_bridge_accountsChanged)
        bridge.queueChanged.connect(self.on_bridge_queueChanged)
        bridge.settingsChanged.connect(self.on_bridge_settingsChanged)

    def _timer(self, ms: int, slot: Any) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(ms)
        timer.timeout.connect(slot)
        return timer

    # -- construction -------------------------------------------------------------
    def _build_actions(self) -> None:
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.quit_action.triggered.connect(self.quit)
        self.send_test_action = QAction("Send &test message…", self)
        self.send_test_action.setIconText("Send test…")
        self.send_test_action.setToolTip(
            "Send a message through the SMTP module to a local user"
        )
        self.send_test_action.triggered.connect(self.on_send_test_action_triggered)
        self.save_log_action = QAction("&Save log…", self)
        self.save_log_action.setShortcut(QKeySequence.StandardKey.Save)
        self.save_log_action.triggered.connect(self.on_save_log_action_triggered)
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
        self.client_help_action = QAction("How to set up a mail &client", self)
        self.client_help_action.triggered.connect(
            lambda: self.tabs.setCurrentWidget(self.client_setup_page)
        )
        self.find_action = QAction("&Find in log", self)
        self.find_action.setShortcut(QKeySequence("Ctrl+F"))
        self.find_action.triggered.connect(self.focus_log_search)
        self.addAction(self.find_action)
        self.keep_in_tray_action = QAction("Always &keep running in tray", self)
        self.keep_in_tray_action.setCheckable(True)
        self.keep_in_tray_action.setChecked(
            str(self.prefs.value(KEEP_IN_TRAY_KEY, "false")).lower() == "true"
        )
        self.keep_in_tray_action.toggled.connect(self.on_keep_in_tray_toggled)

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.send_test_action)
        file_menu.addAction(self.save_log_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        self.modules_menu = menu.addMenu("&Modules")
        self.module_actions: dict[str, QAction] = {}
        self.module_settings_menu = QMenu("&Settings", self)
        self.module_restart_menu = QMenu("&Restart", self)
        self._rebuild_module_actions()

        config_menu = menu.addMenu("&Configuration")
        self.config_actions: dict[str, QAction] = {}
        for section, title in CONFIG_SECTIONS:
            action = config_menu.addAction(f"&{title}…")
            action.triggered.connect(functools.partial(self.open_settings, section))
            action.setIconText(f"{title} settings")
            self.config_actions[section] = action
        self.relay_action: QAction | None = None
        if importlib.util.find_spec("app.dialogs.relay_dialog") is not None:
            self.relay_action = config_menu.addAction("&Relay (smart host)…")
            self.relay_action.triggered.connect(self.on_relay_action_triggered)
        config_menu.addSeparator()
        config_menu.addAction(self.add_user_action)

        self.window_menu = menu.addMenu("&Window")
        self.tab_actions: list[QAction] = []
        for i in range(self.tabs.count()):
            action = self.window_menu.addAction(self.tabs.tabText(i).replace("&", ""))
            if i < MAX_TAB_SHORTCUTS:
                action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(functools.partial(self.show_tab, i))
            self.tab_actions.append(action)
        self.window_menu.addSeparator()
        self.window_menu.addAction(self.find_action)
        self.window_menu.addAction(self.keep_in_tray_action)

        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.client_help_action)
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
        toolbar.addSeparator()
        toolbar.addAction(self.send_test_action)
        toolbar.addAction(self.save_log_action)
        self.addToolBar(toolbar)

    def _rebuild_module_actions(self, *_args: object) -> None:
        """Modules menu: a tick per module, then Settings and Restart submenus."""
        self.modules_menu.clear()
        self.module_settings_menu.clear()
        self.module_restart_menu.clear()
        self.module_actions = {}
        for status in self.modules_model.statuses():
            action = self.modules_menu.addAction(status.title)
            action.setCheckable(True)
            action.setChecked(status.enabled)
            action.setToolTip(f"Tick to start {status.title}, untick to stop it")
            action.toggled.connect(
                functools.partial(self.on_module_action_toggled, status.name)
            )
            self.module_actions[status.name] = action
            self.module_settings_menu.addAction(
                f"{status.title}…",
                functools.partial(self.open_settings, status.name),
            )
            self.module_restart_menu.addAction(
                status.title,
                functools.partial(self.on_modules_panel_restartRequested, status.name),
            )
        self.modules_menu.addSeparator()
        self.modules_menu.addMenu(self.module_settings_menu)
        self.modules_menu.addMenu(self.module_restart_menu)
        self.modules_menu.addSeparator()
        self.modules_menu.addAction(self.module_settings_action)
        self.modules_menu.addAction(self.restart_action)

    def _sync_module_actions(self, *_args: object) -> None:
        for status in self.modules_model.statuses():
            action = self.module_actions.get(status.name)
            if action is not None and action.isChecked() != status.enabled:
                action.blockSignals(True)
                action.setChecked(status.enabled)
                action.blockSignals(False)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_light = StatusLight(self, self.fontMetrics().height() * 3 // 4)
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

    def set_tray(self, tray: TrayIcon | None) -> None:
        if self.tray is not None:
            self.tray.dispose()
        self.tray = tray
        if tray is None:
            return
        tray.showRequested.connect(self.show_from_tray)
        tray.startAllRequested.connect(self.on_tray_startAllRequested)
        tray.stopAllRequested.connect(self.on_tray_stopAllRequested)
        tray.quitRequested.connect(self.quit)
        tray.show()
        self._update_counts()

    # -- feeding ------------------------------------------------------------------
    def apply_snapshot(self, snapshot: Snapshot) -> None:
        self.data_dir = snapshot.data_dir
        self._set_settings(snapshot.settings)
        self.modules_model.set_modules(snapshot.modules)
        self.modules_panel.fit_height()
        self.users_page.model.set_users(snapshot.users)
        self.users_page.domains = tuple(d.name for d in snapshot.domains)
        self.log_console.add_modules([m.name for m in snapshot.modules])
        self.log_console.add_records(snapshot.logs)
        self.stats_page.set_modules(snapshot.modules)
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
        self.stats_page.set_queue_length(self.queue_size)
        self.client_setup_page.set_modules(statuses)
        if self.tray is not None:
            self.tray.set_state(len(running), len(statuses), self.queue_size, failed)

    def on_users_model_reset(self) -> None:
        self.client_setup_page.set_users(
            [u.address for u in self.users_page.model.users()]
        )
        self._update_counts()

    def on_modules_selection_changed(self, *_args: object) -> None:
        has = self.modules_panel.selected_module() is not None
        self.module_settings_action.setEnabled(has)
        self.restart_action.setEnabled(has)

    def on_add_user_action_triggered(self) -> None:
        self.tabs.setCurrentWidget(self.users_page)
        self.users_page.on_add_button_clicked()

    def show_tab(self, index: int, _checked: bool = False) -> None:
        self.tabs.setCurrentIndex(index)
        self.tabs.currentWidget().setFocus(Qt.FocusReason.ShortcutFocusReason)

    def focus_log_search(self) -> None:
        self.tabs.setCurrentWidget(self.log_console)
        self.log_console.focus_search()

    # -- module actions -----------------------------------------------------------
    def on_module_action_toggled(self, name: str, on: bool) -> None:
        row = self.modules_model.row_of(name)
        if row >= 0:
            index = self.modules_model.index(row, ModulesModel.COL_ON)
            state = Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
            self.modules_model.setData(index, state, Qt.ItemDataRole.CheckStateRole)

    def on_modules_model_enableRequested(self, name: str, on: bool) -> None:
        self._sync_module_actions()
        spawn(self.set_module_enabled(name, on))

    async def set_module_enabled(self, name: str, on: bool) -> ModuleStatus | None:
        try:
            status = await self.bridge.run(CoreApi.set_module_enabled, name, on)
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
        status = await self.bridge.run(CoreApi.restart_module, name)
        self.modules_model.update_status(status)
        self._update_counts()

    def on_tray_stopAllRequested(self) -> None:
        spawn(self.stop_all())

    def on_tray_startAllRequested(self) -> None:
        spawn(self.start_all())

    async def stop_all(self) -> None:
        """Untick every ticked module (remembered for "Start all enabled")."""
        names = [s.name for s in self.modules_model.statuses() if s.enabled]
        if names:
            self._stopped_by_tray = names
        for name in names:
            await self.set_module_enabled(name, False)

    async def start_all(self) -> None:
        """Start what "Stop all" stopped, else every ticked module not running."""
        names = self._stopped_by_tray or [
            s.name
            for s in self.modules_model.statuses()
            if s.enabled and s.state is not ModuleState.RUNNING
        ]
        self._stopped_by_tray = []
        for name in names:
            await self.set_module_enabled(name, True)

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

    async def apply_settings(self, section: str, values: dict[str, Any]) -> Settings:
        return await self.bridge.run(CoreApi.update_settings, section, values)

    async def edit_settings(self, section: str) -> Settings | None:
        settings = await self.bridge.run(CoreApi.settings)
        self._set_settings(settings)
        title = section.title()
        row = self.modules_model.row_of(section)
        if row >= 0:
            title = self.modules_model.status(row).title
        dialog = SettingsDialog(
            section,
            settings.section(section),
            self.apply_settings,
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

    def on_relay_action_triggered(self) -> None:
        try:
            from app.views.queue_page import edit_relay_settings
        except ImportError:
            notify(self, "Relay", "The relay settings page is not available yet.")
            return
        spawn(self._edit_relay(edit_relay_settings))

    async def _edit_relay(self, edit: Any) -> None:
        await edit(self.bridge, self)
        await self.refresh_modules()

    async def refresh_modules(self) -> None:
        statuses = await self.bridge.run(CoreApi.modules)
        self.modules_model.set_modules(statuses)
        self._update_counts()

    # -- tools ----------------------------------------------------------------------
    def on_send_test_action_triggered(self) -> None:
        spawn(self.send_test_message())

    def smtp_endpoint(self) -> tuple[str, int] | None:
        row = self.modules_model.row_of("smtp")
        if row < 0:
            return None
        status = self.modules_model.status(row)
        if status.state is not ModuleState.RUNNING or not status.endpoints:
            return None
        return status.endpoints[0].host, status.endpoints[0].port

    async def send_test_message(self) -> str | None:
        """Ask for a message, send it through our SMTP module, show the reply."""
        users = sorted(self.users_page.model.addresses())
        host = ""
        if self.settings is not None:
            host = self.settings.general.hostname or self.settings.general.domain
        dialog = TestMessageDialog(
            users, sender=f"quicksilver-test@{host or 'localhost'}", parent=self
        )
        try:
            while await exec_async(dialog) == TestMessageDialog.DialogCode.Accepted:
                endpoint = self.smtp_endpoint()
                if endpoint is None:
                    dialog.show_error(
                        "The SMTP module is not running: tick SMTP in the modules "
                        "panel (or fix its error), then send again."
                    )
                    continue
                value = dialog.value()
                try:
                    reply = await asyncio.to_thread(
                        send_test_message, endpoint[0], endpoint[1], value
                    )
                except SendError as exc:
                    dialog.show_error(str(exc))
                    continue
                self.statusBar().showMessage(
                    f"Test message to {value.recipient}: {reply}", 10_000
                )
                notify(
                    self,
                    "Test message sent",
                    f"The message to {value.recipient} was accepted.\n\n"
                    f"The server replied: {reply}",
                    QMessageBox.Icon.Information,
                )
                return reply
            return None
        finally:
            dialog.deleteLater()

    def on_save_log_action_triggered(self) -> None:
        spawn(self.save_log())

    async def save_log(self) -> str | None:
        module = self.log_console.current_module() or "all"
        dialog = QFileDialog(self, "Save log")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter("Text files (*.log *.txt);;All files (*)")
        dialog.selectFile(f"quicksilver-{module}.log")
        try:
            if await exec_async(dialog) != QFileDialog.DialogCode.Accepted:
                return None
            files = dialog.selectedFiles()
        finally:
            dialog.deleteLater()
        if not files:
            return None
        try:
            count = await asyncio.to_thread(self.log_console.save_to, files[0])
        except OSError as exc:
            notify(self, "Save log", f"Could not save {files[0]}: {exc}")
            return None
        self.statusBar().showMessage(f"Saved {count} lines to {files[0]}", 10_000)
        return files[0]

    def on_log_console_sessionLogRequested(self, module: str, on: bool) -> None:
        spawn(self.set_session_log(module, on))

    async def set_session_log(self, module: str, on: bool) -> bool:
        try:
            settings = await self.bridge.run(
                CoreApi.update_settings, module, {"session_log": on}
            )
        except Exception as exc:
            log.exception("could not switch session logging of %s", module)
            notify(self, "Session logging", f"Could not change {module}: {exc}")
            if self.settings is not None:
                self.log_console.set_settings(self.settings)
            return False
        self._set_settings(settings)
        return True

    # -- event slots --------------------------------------------------------------
    def on_bridge_eventReceived(self, event: Event) -> None:
        self.stats_page.add_event(event)

    def on_bridge_moduleStateChanged(self, event: ModuleStateChanged) -> None:
        try:
            state = ModuleState(event.state)
        except ValueError:
            state = ModuleState.FAILED
        row = self.modules_model.row_of(event.name)
        was = self.modules_model.status(row).state if row >= 0 else None
        self.modules_model.apply_state(event.name, state, event.message)
        if state is ModuleState.STOPPED:
            self.stats_page.module_stopped(event.name)
        failed_now = state is ModuleState.FAILED and was is not ModuleState.FAILED
        if failed_now and self.tray is not None and row >= 0:
            self.tray.notify_failed(self.modules_model.status(row).title, event.message)
        self._update_counts()
        self._refresh_timer.start()

    def on_bridge_moduleActivity(self, event: Any) -> None:
        if isinstance(event, (SessionOpened, SessionClosed)):
            self.modules_model.apply_session(
                event.module, isinstance(event, SessionOpened)
            )
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def on_bridge_accountsChanged(self, _event: Any) -> None:
        spawn(self.refresh_accounts())

    def on_bridge_queueChanged(self, event: Any) -> None:
        if not self._queue_timer.isActive():
            self._queue_timer.start()
        if isinstance(event, MessageDelivered) and not self._usage_timer.isActive():
            self._usage_timer.start()

    def on_queue_timer_timeout(self) -> None:
        spawn(self.refresh_queue())

    def on_usage_timer_timeout(self) -> None:
        spawn(self.users_page.refresh())

    def on_bridge_settingsChanged(self, _event: Any) -> None:
        spawn(self.refresh_settings())

    def on_refresh_timer_timeout(self) -> None:
        spawn(self.refresh_modules())

    async def refresh_accounts(self) -> None:
        await self.users_page.refresh()
        domains = await self.bridge.run(CoreApi.list_domains)
        self.users_page.domains = tuple(d.name for d in domains)

    async def refresh_queue(self) -> None:
        jobs = await self.bridge.run(CoreApi.queue_jobs)
        self.queue_size = len(jobs)
        self._update_counts()

    async def refresh_settings(self) -> None:
        """A setting changed (here or elsewhere): show it, and the modules'
        new state (the core restarts a module when its settings need it)."""
        self._set_settings(await self.bridge.run(CoreApi.settings))
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _set_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.modules_model.set_configured_addresses(
            {name: configured_address(settings.section(name)) for name in SECTIONS}
        )
        self.log_console.set_settings(settings, self.data_dir)
        self.client_setup_page.set_settings(settings)

    def on_about_action_triggered(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("About Quicksilver")
        size = self.fontMetrics().height() * 4
        box.setIconPixmap(app_icon().pixmap(size, size))
        box.setText(
            "<b>Quicksilver</b><br>A desktop mail server in the tradition of "
            "Mercury/32: SMTP, submission, POP3 and IMAP in one window."
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- tray and closing -------------------------------------------------------------
    def on_keep_in_tray_toggled(self, on: bool) -> None:
        self.prefs.setValue(KEEP_IN_TRAY_KEY, "true" if on else "false")
        self.prefs.sync()

    def keeps_running_in_tray(self) -> bool:
        return self.keep_in_tray_action.isChecked() and self.tray is not None

    def show_from_tray(self) -> None:
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()

    def quit(self) -> None:
        """Quit for real (File > Quit, Ctrl+Q, the tray's Quit)."""
        self._quitting = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._quitting and self.keeps_running_in_tray():
            event.ignore()
            self.hide()
            assert self.tray is not None
            self.tray.icon.showMessage(
                "Quicksilver keeps running",
                "The mail server runs on in the tray. Quit from its menu.",
            )
            return
        self.bridge.disconnect_core()
        for timer in (self._refresh_timer, self._usage_timer, self._queue_timer):
            timer.stop()
        self.stats_page.stop()
        if self.tray is not None:
            self.tray.dispose()
            self.tray = None
        event.accept()
        self.closed.emit()
