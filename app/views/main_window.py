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

import functools
import logging
from collections.abc import Callable

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QMainWindow,
    QSplitter,
    QTabWidget,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.about import open_about_box
from app.dialogs.base import notify
from app.formatting import configured_address
from app.models.modules_model import ModulesModel
from app.paths import app_icon
from app.tasks import spawn
from app.tray import TrayIcon, tray_available
from app.views import backup_flow, export_flow, log_flow
from app.views.admin_pages import admin_pages
from app.views.client_setup_page import ClientSetupPage
from app.views.log_console import LogConsole
from app.views.module_control import ModuleControl
from app.views.modules_menu import ModulesMenu
from app.views.modules_panel import ModulesPanel
from app.views.relay_flow import edit_relay_settings
from app.views.stats_page import StatsPage
from app.views.status_summary import StatusSummary
from app.views.test_message_flow import send_test_message
from app.views.users_page import UsersPage
from app.views.window_actions import WindowActions
from server.api import (
    BackupResult,
    CoreApi,
    ExportResult,
    Snapshot,
    TestMessageSent,
    default_test_sender,
)
from server.config.schema import SECTIONS, Settings
from server.events import (
    Event,
    MessageBounced,
    MessageDeferred,
    MessageDelivered,
    ModuleStateChanged,
    SessionClosed,
    SessionOpened,
)
from server.modules.base import ModuleState, ModuleStatus

log = logging.getLogger("quicksilver.app")

MODULES_SHARE = 0.5  # of the height, at most, for the modules on a small window
REFRESH_MS = 150  # coalesce bursts of activity events into one status query
USAGE_REFRESH_MS = 1000  # deliveries change mailbox usage: re-read users, at most 1/s
QUEUE_REFRESH_MS = 250  # queue events come in bursts: re-count at most 4/s
KEEP_IN_TRAY_KEY = "window/keepRunningInTray"
# the window's size and place, the splitter and the open tab, kept between runs
GEOMETRY_KEY = "window/geometry"
SPLITTER_KEY = "window/splitter"
TAB_KEY = "window/tab"


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
        self.restore_archive = ""  # File > Restore…: restart on this archive
        self._splitter_restored = False
        self.setWindowTitle("Quicksilver Mail Server")
        self.setWindowIcon(app_icon())
        self.resize(1280, 800)

        self.modules_model = ModulesModel(self)
        self.modules_panel = ModulesPanel(self.modules_model, self)
        self.module_control = ModuleControl(bridge, self.modules_model, self)
        self.log_console = LogConsole(self)
        self.users_page = UsersPage(bridge, self)
        self.stats_page = StatsPage(self)
        self.client_setup_page = ClientSetupPage(self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.log_console, "Log console")
        self.tabs.addTab(self.users_page, "Users")
        for title, page in admin_pages(bridge, self):
            self.tabs.addTab(page, title)
        self.tabs.addTab(self.stats_page, "Statistics")
        self.tabs.addTab(self.client_setup_page, "Client setup")
        self.splitter = splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.modules_panel)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        # the modules take at most MODULES_SHARE of a small window until the
        # person moves the splitter (or the last run's position is restored)
        self._splitter_auto = True
        splitter.splitterMoved.connect(self.on_splitter_moved)
        self.setCentralWidget(splitter)
        self.restore_layout()

        self._build_actions()
        self.summary = StatusSummary(self.statusBar())
        self.status_light = self.summary.light
        self.running_label = self.summary.running_label
        self.counts_label = self.summary.counts_label
        self.data_dir_label = self.summary.data_dir_label
        self.tray: TrayIcon | None = None
        if use_tray if use_tray is not None else tray_available():
            self.set_tray(TrayIcon(self))
        self._refresh_timer = self._timer(REFRESH_MS, self.on_refresh_timer_timeout)
        self._usage_timer = self._timer(USAGE_REFRESH_MS, self.on_usage_timer_timeout)
        self._queue_timer = self._timer(QUEUE_REFRESH_MS, self.on_queue_timer_timeout)

        self.modules_model.enableRequested.connect(
            self.on_modules_model_enableRequested
        )
        self.module_control.statusesChanged.connect(self._update_counts)
        self.module_control.settingsRead.connect(self._set_settings)
        for source in (self.modules_panel, self.modules_menu):
            source.settingsRequested.connect(self.open_settings)
            source.restartRequested.connect(self.on_modules_panel_restartRequested)
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

    def _timer(self, ms: int, slot: Callable[[], None]) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(ms)
        timer.timeout.connect(slot)
        return timer

    # -- construction -------------------------------------------------------------
    def _build_actions(self) -> None:
        titles = [self.tabs.tabText(i) for i in range(self.tabs.count())]
        self.actions_ = a = WindowActions(self, titles)
        self.quit_action = a.quit
        self.send_test_action = a.send_test
        self.keep_in_tray_action = a.keep_in_tray
        self.client_help_action = a.client_help
        a.keep_in_tray.setChecked(
            str(self.prefs.value(KEEP_IN_TRAY_KEY, "false")).lower() == "true"
        )
        for action, slot in (
            (a.quit, self.quit),
            (a.send_test, self.on_send_test_action_triggered),
            (a.save_log, self.on_save_log_action_triggered),
            (a.back_up, self.on_back_up_action_triggered),
            (a.restore, self.on_restore_action_triggered),
            (a.export, self.on_export_action_triggered),
            (a.add_user, self.on_add_user_action_triggered),
            (a.module_settings, self.modules_panel.on_settings_button_clicked),
            (a.restart, self.modules_panel.on_restart_button_clicked),
            (a.about, self.on_about_action_triggered),
            (a.client_help, self.on_client_help_action_triggered),
            (a.find, self.focus_log_search),
            (a.relay, self.on_relay_action_triggered),
        ):
            action.triggered.connect(slot)
        a.keep_in_tray.toggled.connect(self.on_keep_in_tray_toggled)
        for section, action in a.config.items():
            action.triggered.connect(functools.partial(self.open_settings, section))
        for i, action in enumerate(a.tabs):
            action.triggered.connect(functools.partial(self.show_tab, i))
        extra = (a.module_settings, a.restart)
        self.modules_menu = ModulesMenu(self.modules_model, extra, self)
        a.lay_out(self, self.modules_menu)

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

    @property
    def module_actions(self) -> dict[str, QAction]:
        return self.modules_menu.module_actions

    def _update_counts(self, *_args: object) -> None:
        statuses = self.modules_model.statuses()
        self.summary.show(statuses, self.users_page.model.rowCount(), self.queue_size)
        self.stats_page.set_queue_length(self.queue_size)
        self.client_setup_page.set_modules(statuses)
        if self.tray is not None:
            running = [s for s in statuses if s.state is ModuleState.RUNNING]
            failed = [s.title for s in statuses if s.state is ModuleState.FAILED]
            self.tray.set_state(len(running), len(statuses), self.queue_size, failed)

    def on_users_model_reset(self) -> None:
        self.client_setup_page.set_users(
            [u.address for u in self.users_page.model.users()]
        )
        self._update_counts()

    def on_modules_selection_changed(self, *_args: object) -> None:
        has = self.modules_panel.selected_module() is not None
        self.actions_.module_settings.setEnabled(has)
        self.actions_.restart.setEnabled(has)

    def on_add_user_action_triggered(self) -> None:
        self.tabs.setCurrentWidget(self.users_page)
        self.users_page.on_add_button_clicked()

    def show_tab(self, index: int, _checked: bool = False) -> None:
        self.tabs.setCurrentIndex(index)
        self.tabs.currentWidget().setFocus(Qt.FocusReason.ShortcutFocusReason)

    def on_client_help_action_triggered(self) -> None:
        self.tabs.setCurrentWidget(self.client_setup_page)

    def focus_log_search(self) -> None:
        self.tabs.setCurrentWidget(self.log_console)
        self.log_console.focus_search()

    # -- module actions -----------------------------------------------------------
    def on_modules_model_enableRequested(self, name: str, on: bool) -> None:
        self.modules_menu.sync()
        spawn(self.set_module_enabled(name, on))

    async def set_module_enabled(self, name: str, on: bool) -> ModuleStatus | None:
        return await self.module_control.set_module_enabled(name, on)

    def on_modules_panel_restartRequested(self, name: str) -> None:
        spawn(self.module_control.restart_module(name))

    def on_tray_stopAllRequested(self) -> None:
        spawn(self.module_control.stop_all())

    def on_tray_startAllRequested(self) -> None:
        spawn(self.module_control.start_all())

    def open_settings(self, section: str, _checked: bool = False) -> None:
        if self.module_control.can_configure(section):
            spawn(self.module_control.edit_settings(section))

    def on_relay_action_triggered(self) -> None:
        spawn(self.edit_relay())

    async def edit_relay(self) -> None:
        await edit_relay_settings(self.bridge, self)
        await self.refresh_modules()

    async def refresh_modules(self) -> None:
        await self.module_control.refresh()

    # -- tools ----------------------------------------------------------------------
    def on_send_test_action_triggered(self) -> None:
        spawn(self.send_test_message())

    async def send_test_message(self) -> TestMessageSent | None:
        """Ask for a message; the core sends it through the smtp module."""
        host = ""
        if self.settings is not None:
            host = self.settings.general.hostname or self.settings.general.domain
        users = self.users_page.model.addresses()
        sent = await send_test_message(
            self.bridge, users, default_test_sender(host, users), self
        )
        if sent is not None:
            message = f"Test message accepted: {sent.reply}"
            self.statusBar().showMessage(message, 10_000)
        return sent

    def on_back_up_action_triggered(self) -> None:
        spawn(self.back_up())

    async def back_up(self) -> BackupResult | None:
        done = await backup_flow.back_up(self.bridge, self)
        if done is not None:
            self.statusBar().showMessage(f"Backup written to {done.path}", 10_000)
        return done

    def on_restore_action_triggered(self) -> None:
        spawn(self.restore())

    async def restore(self) -> str:
        """File > Restore…: with an archive chosen, checked and agreed to,
        quit so the application restores it and starts again
        (``restore_archive``, read by ``app.__main__.run_session``)."""
        path = await backup_flow.choose_restore(self, self.data_dir)
        if path:
            self.restore_archive = path
            self.quit()
        return path or ""

    def on_export_action_triggered(self) -> None:
        spawn(self.export_for_postfix())

    async def export_for_postfix(
        self, folder: str | None = None
    ) -> ExportResult | None:
        """File > Export for Postfix and Dovecot… (``folder``: no question)."""
        relay = (await self.bridge.run(CoreApi.snapshot)).settings.relay
        done = await export_flow.export(
            self.bridge, self, bool(relay.host and relay.username), folder
        )
        if done is not None:
            self.statusBar().showMessage(f"Exported to {done.folder}", 10_000)
        return done

    def on_save_log_action_triggered(self) -> None:
        spawn(self.save_log())

    async def save_log(self) -> str | None:
        saved = await log_flow.save_log(self.log_console, self)
        if saved is not None:
            self.statusBar().showMessage(
                f"Saved {saved[1]} lines to {saved[0]}", 10_000
            )
        return saved[0] if saved is not None else None

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

    def on_bridge_moduleActivity(self, event: Event) -> None:
        if isinstance(event, (SessionOpened, SessionClosed)):
            self.modules_model.apply_session(
                event.module, isinstance(event, SessionOpened)
            )
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def on_bridge_accountsChanged(self, _event: Event) -> None:
        spawn(self.refresh_accounts())

    def on_bridge_queueChanged(self, event: Event) -> None:
        if not self._queue_timer.isActive():
            self._queue_timer.start()
        outcome = isinstance(event, MessageDeferred | MessageBounced | MessageDelivered)
        if outcome and not self._refresh_timer.isActive():
            self._refresh_timer.start()  # an outbound module's last error may change
        if isinstance(event, MessageDelivered) and not self._usage_timer.isActive():
            self._usage_timer.start()

    def on_queue_timer_timeout(self) -> None:
        spawn(self.refresh_queue())

    def on_usage_timer_timeout(self) -> None:
        spawn(self.users_page.refresh())

    def on_bridge_settingsChanged(self, _event: Event) -> None:
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
        self.setWindowTitle(
            "Quicksilver Mail Server — capture mode (nothing is delivered)"
            if settings.capture.enabled
            else "Quicksilver Mail Server"
        )
        self.modules_model.set_configured_addresses(
            {name: configured_address(settings.section(name)) for name in SECTIONS}
        )
        self.log_console.set_settings(settings, self.data_dir)
        self.client_setup_page.set_settings(settings)

    def on_about_action_triggered(self) -> None:
        open_about_box(self)

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

    def restore_layout(self) -> None:
        """Size, place, splitter and open tab as the last run left them."""
        geometry = self.prefs.value(GEOMETRY_KEY)
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        title = self.prefs.value(TAB_KEY)
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i) == title:
                self.tabs.setCurrentIndex(i)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._splitter_restored:  # once laid out at its restored size
            self._splitter_restored = True
            splitter = self.prefs.value(SPLITTER_KEY)
            if isinstance(splitter, QByteArray) and not splitter.isEmpty():
                self._splitter_auto = not self.splitter.restoreState(splitter)
        if self._splitter_auto:
            self._fit_splitter()

    def on_splitter_moved(self, *_args: object) -> None:
        self._splitter_auto = False

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._splitter_auto:
            self._fit_splitter()

    def _fit_splitter(self) -> None:
        total = sum(self.splitter.sizes())
        if total <= 0:
            return
        panel = min(self.modules_panel.full_height(), int(total * MODULES_SHARE))
        self.splitter.setSizes([panel, total - panel])

    def save_layout(self) -> None:
        self.prefs.setValue(GEOMETRY_KEY, self.saveGeometry())
        self.prefs.setValue(SPLITTER_KEY, self.splitter.saveState())
        self.prefs.setValue(TAB_KEY, self.tabs.tabText(self.tabs.currentIndex()))
        self.prefs.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
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
