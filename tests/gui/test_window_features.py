"""The window's tools against the real core: menus and shortcuts, closing to
the tray, live sessions, the log console's views, session logging, the test
message, client setup and statistics."""

from __future__ import annotations

import smtplib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QMessageBox

from app import theme
from app.bridge import CoreBridge
from app.dialogs.test_message_dialog import TestMessageDialog
from app.models.log_model import LogModel
from app.models.modules_model import ModulesModel
from app.views.main_window import KEEP_IN_TRAY_KEY, MainWindow
from server.api import CoreApi, NewUser
from server.events import LogRecorded
from server.modules.base import ModuleState

from .helpers import DOMAIN, HOSTNAME, wait_for
from .test_main_window import listening, smtp_state, tick_smtp

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot: Any, gui_loop: Any, real_core: Any) -> Iterator[MainWindow]:
    bridge = CoreBridge(real_core)
    snapshot = wait_for(qtbot, bridge.connect_core())
    win = MainWindow(bridge)
    qtbot.addWidget(win)
    win.apply_snapshot(snapshot)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.quit()


def add_user(qtbot: Any, win: MainWindow, core: Any, local: str = "alice") -> str:
    address = f"{local}@{DOMAIN}"
    core.run(core.api.add_user(NewUser(address, f"pw-Kettle-{local}-9")))
    qtbot.waitUntil(lambda: win.users_page.model.row_of(address) >= 0)
    return address


# -- menus, shortcuts, tabs ----------------------------------------
def test_ctrl_number_switches_tabs_and_ctrl_f_searches(
    qtbot: Any, window: MainWindow
) -> None:
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles[:2] == ["Log console", "Users"]
    assert titles[-2:] == ["Statistics", "Client setup"]
    window.activateWindow()
    for i in reversed(range(min(9, window.tabs.count()))):
        qtbot.keyClick(
            window, Qt.Key(Qt.Key.Key_1 + i), Qt.KeyboardModifier.ControlModifier
        )
        assert window.tabs.currentIndex() == i, titles[i]
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.log_console
    assert QApplication.focusWidget() is window.log_console.search_edit
    window.client_help_action.trigger()
    assert window.tabs.currentWidget() is window.client_setup_page


def test_menus_have_the_actions(window: MainWindow) -> None:
    menus = {
        a.text().replace("&", ""): [
            x.text().replace("&", "") for x in a.menu().actions()
        ]
        for a in window.menuBar().actions()
    }
    assert set(menus) == {"File", "Modules", "Configuration", "Window", "Help"}
    assert menus["File"][:2] == ["Send test message…", "Save log…"]
    assert "Quit" in menus["File"]
    assert {"SMTP", "POP3", "IMAP"} <= set(menus["Modules"])
    assert {"General…", "Queue…", "Security…"} <= set(menus["Configuration"])
    assert "Always keep running in tray" in menus["Window"]
    assert "Statistics" in menus["Window"] and "Client setup" in menus["Window"]
    assert "How to set up a mail client" in menus["Help"]
    assert window.quit_action.shortcut().toString() == "Ctrl+Q"


def test_module_menu_tick_starts_and_follows_the_table(
    qtbot: Any, window: MainWindow
) -> None:
    action = window.module_actions["smtp"]
    assert action.isCheckable() and not action.isChecked()
    action.trigger()
    qtbot.waitUntil(lambda: smtp_state(window) is ModuleState.RUNNING)
    model = window.modules_model
    qtbot.waitUntil(lambda: bool(model.status(model.row_of("smtp")).endpoints))
    port = model.status(model.row_of("smtp")).endpoints[0].port
    assert listening(port)
    action.trigger()
    qtbot.waitUntil(lambda: smtp_state(window) is ModuleState.STOPPED)
    assert not action.isChecked()
    tick_smtp(qtbot, window)  # the table's tick moves the menu's tick
    assert window.module_actions["smtp"].isChecked()


# -- closing and the tray ----------------------------------------
def test_close_quits_unless_keep_in_tray(
    qtbot: Any, window: MainWindow, isolated_prefs: Path
) -> None:
    closed: list[bool] = []
    window.closed.connect(lambda: closed.append(True))
    assert not window.keep_in_tray_action.isChecked()  # default off
    window.keep_in_tray_action.setChecked(True)
    assert (
        QSettings(
            QSettings.Format.IniFormat,
            QSettings.Scope.UserScope,
            "Quicksilver",
            "Quicksilver",
        ).value(KEEP_IN_TRAY_KEY)
        == "true"
    )
    if window.tray is None:
        # no tray host (offscreen): closing must still quit, or the window
        # would vanish with no way back
        window.close()
        assert closed == [True]
        return
    window.close()  # pragma: no cover (a tray host is running)
    assert closed == [] and not window.isVisible()


def test_the_window_remembers_its_layout(
    qtbot: Any, gui_loop: Any, real_core: Any
) -> None:
    """Size, splitter and the open tab come back on the next run (issue 17)."""
    bridge = CoreBridge(real_core)
    snapshot = wait_for(qtbot, bridge.connect_core())
    first = MainWindow(bridge, use_tray=False)
    qtbot.addWidget(first)
    first.apply_snapshot(snapshot)
    first.show()
    qtbot.waitExposed(first)
    screen = first.screen().availableGeometry()  # restoring fits the screen
    w, h = min(1010, screen.width() - 60), min(690, screen.height() - 80)
    first.resize(w, h)
    first.show_tab(first.tabs.indexOf(first.stats_page))
    total = sum(first.splitter.sizes())
    first.splitter.setSizes([total // 2, total - total // 2])
    qtbot.waitUntil(lambda: first.size().width() == w)
    sizes = first.splitter.sizes()
    size = (first.size().width(), first.size().height())  # the minimum may win
    assert size != (1280, 800)
    first.quit()

    bridge = CoreBridge(real_core)
    snapshot = wait_for(qtbot, bridge.connect_core())
    second = MainWindow(bridge, use_tray=False)
    qtbot.addWidget(second)
    second.apply_snapshot(snapshot)
    second.show()
    qtbot.waitExposed(second)
    assert (second.size().width(), second.size().height()) == size
    assert second.tabs.currentWidget() is second.stats_page
    assert second.splitter.sizes() == sizes
    second.quit()


def test_close_to_tray_hides_and_quit_quits(
    qtbot: Any, gui_loop: Any, real_core: Any
) -> None:
    prefs = QSettings(
        QSettings.Format.IniFormat,
        QSettings.Scope.UserScope,
        "Quicksilver",
        "Quicksilver",
    )
    prefs.setValue(KEEP_IN_TRAY_KEY, "true")
    bridge = CoreBridge(real_core)
    snapshot = wait_for(qtbot, bridge.connect_core())
    # a tray object even where no tray host shows it: the close logic is the same
    win = MainWindow(bridge, use_tray=True)
    qtbot.addWidget(win)
    win.apply_snapshot(snapshot)
    win.show()
    assert win.keep_in_tray_action.isChecked()  # read back from the settings
    assert win.tray is not None
    assert "modules running" in win.tray.icon.toolTip()
    closed: list[bool] = []
    win.closed.connect(lambda: closed.append(True))
    win.close()
    assert closed == [] and not win.isVisible()
    assert bridge.connected  # the core keeps serving
    win.tray.showRequested.emit()
    assert win.isVisible()
    win.tray.quitRequested.emit()
    assert closed == [True] and win.tray is None


def test_tray_notifies_failure_and_stop_start_all(
    qtbot: Any, gui_loop: Any, real_core: Any
) -> None:
    import socket

    bridge = CoreBridge(real_core)
    snapshot = wait_for(qtbot, bridge.connect_core())
    win = MainWindow(bridge, use_tray=True)
    qtbot.addWidget(win)
    win.apply_snapshot(snapshot)
    assert win.tray is not None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        wait_for(qtbot, bridge.run(CoreApi.update_settings, "smtp", {"port": busy}))
        win.module_actions["smtp"].trigger()
        qtbot.waitUntil(lambda: smtp_state(win) is ModuleState.FAILED)
        qtbot.waitUntil(lambda: "SMTP failed" in win.tray.last_notice)
        assert str(busy) in win.tray.last_notice
        assert "Failed: SMTP" in win.tray.icon.toolTip()
    wait_for(qtbot, bridge.run(CoreApi.update_settings, "smtp", {"port": 0}))
    qtbot.waitUntil(lambda: smtp_state(win) is ModuleState.RUNNING)
    win.tray.stopAllRequested.emit()
    qtbot.waitUntil(lambda: smtp_state(win) is ModuleState.STOPPED)
    win.tray.startAllRequested.emit()
    qtbot.waitUntil(lambda: smtp_state(win) is ModuleState.RUNNING)
    win.quit()


# -- live sessions and statistics ----------------------------------------
def test_sessions_now_is_live_and_statistics_count(
    qtbot: Any, window: MainWindow, real_core: Any
) -> None:
    add_user(qtbot, window, real_core)
    port = tick_smtp(qtbot, window)
    model = window.modules_model
    row = model.row_of("smtp")
    window._refresh_timer.setInterval(60_000)  # only events may move the count

    def sessions() -> str:
        return model.data(model.index(row, ModulesModel.COL_SESSIONS))

    client = smtplib.SMTP("127.0.0.1", port, timeout=10)
    qtbot.waitUntil(lambda: sessions() == "1")
    client.sendmail("x@example.org", [f"alice@{DOMAIN}"], "Subject: s\r\n\r\nhi\r\n")
    client.quit()
    qtbot.waitUntil(lambda: sessions() == "0")
    stats = window.stats_page
    qtbot.waitUntil(lambda: sum(stats.collector.series()["in"]) == 1)
    qtbot.waitUntil(lambda: sum(stats.collector.series()["local"]) == 1)
    stats.refresh()
    assert stats.hour_labels["in"].text() == "1"
    assert stats.session_labels["smtp"].text() == "0"


# -- log console ----------------------------------------
def record(seq: int, level: str, module: str, text: str) -> LogRecorded:
    return LogRecorded(seq, level, f"quicksilver.{module}", module, text)


def test_log_console_views_colours_and_save(
    qtbot: Any, window: MainWindow, tmp_path: Path
) -> None:
    console = window.log_console
    console.add_records(
        [
            record(10_001, "INFO", "smtp", "smtp hello"),
            record(10_002, "WARNING", "imap", "imap careful"),
            record(10_003, "ERROR", "smtp", "smtp broken"),
        ]
    )
    qtbot.waitUntil(lambda: any(r.seq == 10_003 for r in console.model.records()))
    tabs = [console.module_tabs.tabText(i) for i in range(console.module_tabs.count())]
    assert tabs[0] == "All" and {"smtp", "imap", "pop3"} <= set(tabs)

    def colour(seq: int) -> QColor | None:
        rows = [i for i, r in enumerate(console.model.records()) if r.seq == seq]
        return console.model.index(rows[0], LogModel.COL_MESSAGE).data(
            Qt.ItemDataRole.ForegroundRole
        )

    assert colour(10_001) is None
    assert colour(10_002) == theme.warning_colour()
    assert colour(10_003) == theme.error_colour()

    console.show_module("smtp")
    assert console.current_module() == "smtp"
    lines = console.shown_lines()
    assert lines and all(" smtp " in line for line in lines)
    assert any("smtp broken" in line for line in lines)
    console.search_edit.setText("broken")
    out = tmp_path / "smtp.txt"
    assert console.save_to(out) == 1
    saved = out.read_text(encoding="utf-8")
    assert "ERROR" in saved and "smtp broken" in saved and "hello" not in saved
    console.search_edit.clear()
    console.show_module(None)
    assert console.proxy.rowCount() == console.model.rowCount()


def test_session_logging_checkbox_writes_logs_smtp_log(
    qtbot: Any, window: MainWindow, real_core: Any
) -> None:
    add_user(qtbot, window, real_core)
    console = window.log_console
    check = console.session_log_check
    console.show_module(None)
    assert not check.isEnabled()
    console.show_module("smtp")
    assert check.isEnabled() and not check.isChecked()
    assert "logs/smtp.log" in check.toolTip()
    check.click()
    settings = real_core.run(real_core.api.settings())
    qtbot.waitUntil(lambda: real_core.run(real_core.api.settings()).smtp.session_log)
    del settings
    port = tick_smtp(qtbot, window)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(
            "x@example.org", [f"alice@{DOMAIN}"], "Subject: s\r\n\r\nhi\r\n"
        )
    log_file = real_core.data_dir / "logs" / "smtp.log"
    qtbot.waitUntil(lambda: log_file.exists() and "MAIL" in log_file.read_text())
    # the checkbox follows the core (untick from elsewhere)
    real_core.run(real_core.api.update_settings("smtp", {"session_log": False}))
    qtbot.waitUntil(lambda: not check.isChecked())
    console.show_module("imap")
    assert not check.isChecked() and check.isEnabled()


# -- send test message ----------------------------------------
def open_test_dialog(qtbot: Any, win: MainWindow) -> TestMessageDialog:
    win.send_test_action.trigger()
    qtbot.waitUntil(lambda: win.findChild(TestMessageDialog) is not None)
    dialog = win.findChild(TestMessageDialog)
    assert isinstance(dialog, TestMessageDialog)
    qtbot.waitUntil(dialog.isVisible)
    return dialog


def test_send_test_message_says_smtp_is_off_then_delivers(
    qtbot: Any, window: MainWindow, real_core: Any
) -> None:
    address = add_user(qtbot, window, real_core)
    dialog = open_test_dialog(qtbot, window)
    assert dialog.to_combo.currentText() == address
    dialog.from_edit.clear()
    assert "sender" in dialog.error_label.text() and not dialog.ok_button.isEnabled()
    qtbot.keyClicks(dialog.from_edit, "tester@example.org")
    dialog.subject_edit.setText("Hello from the test tool")
    assert dialog.ok_button.isEnabled()
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: "not running" in dialog.error_label.text())
    assert dialog.isVisible()
    dialog.reject()
    qtbot.waitUntil(lambda: window.findChild(TestMessageDialog) is None)

    tick_smtp(qtbot, window)
    dialog = open_test_dialog(qtbot, window)
    dialog.from_edit.setText("tester@example.org")
    dialog.subject_edit.setText("Hello from the test tool")
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=10_000)
    box = window.findChild(QMessageBox)
    assert "250" in box.text()
    box.close()
    new = real_core.data_dir / "mail" / DOMAIN / "alice" / "new"
    qtbot.waitUntil(lambda: new.is_dir() and any(new.iterdir()))
    message = next(new.iterdir()).read_bytes()
    assert b"Subject: Hello from the test tool" in message


def test_send_test_message_works_with_its_defaults(
    qtbot: Any, window: MainWindow, real_core: Any
) -> None:
    """Out of the box (issue 17): From is a real local user, and Send with
    nothing changed delivers."""
    add_user(qtbot, window, real_core, "zed")
    first = add_user(qtbot, window, real_core, "bea")
    tick_smtp(qtbot, window)
    dialog = open_test_dialog(qtbot, window)
    assert dialog.from_edit.text() == first  # the first local user
    assert dialog.ok_button.isEnabled(), dialog.error_label.text()
    to = dialog.to_combo.currentText().partition("@")[0]
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=10_000)
    box = window.findChild(QMessageBox)
    assert "250" in box.text()
    box.close()
    new = real_core.data_dir / "mail" / DOMAIN / to / "new"
    qtbot.waitUntil(lambda: new.is_dir() and any(new.iterdir()))
    assert f"From: {first}".encode() in next(new.iterdir()).read_bytes()


def test_test_message_dialog_takes_a_host_without_a_dot() -> None:
    dialog = TestMessageDialog(["alice@vm"], sender="quicksilver-test@vm")
    try:
        assert dialog.problem() == ""
        dialog.from_edit.setText("no-at-sign")
        assert "not a mail address" in dialog.problem()
    finally:
        dialog.deleteLater()


# -- client setup ----------------------------------------
def test_client_setup_shows_ports_and_saves_autoconfig(
    qtbot: Any, window: MainWindow, real_core: Any, tmp_path: Path
) -> None:
    real_core.run(
        real_core.api.update_settings("submission", {"port": 2587, "tls_port": 2465})
    )
    real_core.run(
        real_core.api.update_settings("pop3", {"port": 2110, "tls_port": 2995})
    )
    address = add_user(qtbot, window, real_core)
    page = window.client_setup_page
    window.tabs.setCurrentWidget(page)
    qtbot.waitUntil(lambda: page.user() == address)
    wait_for(qtbot, window.set_module_enabled("imap", True))
    imap = real_core.run(real_core.api.modules())
    imap_ports = {e.port for s in imap if s.name == "imap" for e in s.endpoints}
    assert len(imap_ports) == 2
    qtbot.waitUntil(lambda: page.state_labels["imap"].text() == "running")
    assert page.value_labels["server"].text() == HOSTNAME
    assert page.value_labels["username"].text() == address
    qtbot.waitUntil(
        lambda: (
            page.value_labels["smtp"].text()
            == "port 2587 (STARTTLS) or port 2465 (SSL/TLS)"
        )
    )
    assert (
        page.value_labels["pop3"].text()
        == "port 2995 (SSL/TLS) or port 2110 (STARTTLS)"
    )
    for port in imap_ports:
        assert f"port {port}" in page.value_labels["imap"].text()
    assert page.state_labels["pop3"].text() == "off"
    page.copy_buttons["server"].click()
    assert QApplication.clipboard().text() == HOSTNAME

    qtbot.waitUntil(lambda: page.settings is not None and page.settings.imap.enabled)
    path = page.write_autoconfig(tmp_path / "config-v1.1.xml")
    root = ET.parse(path).getroot()
    provider = root.find("emailProvider")
    assert provider is not None and provider.get("id") == DOMAIN
    incoming = [
        (s.get("type"), int(s.findtext("port") or 0), s.findtext("socketType"))
        for s in provider.findall("incomingServer")
    ]
    # only IMAP is on: POP3 is left out; implicit TLS first
    assert {p for _t, p, _s in incoming} == imap_ports
    assert incoming[0][2] == "SSL" and all(t == "imap" for t, _p, _s in incoming)
    outgoing = [
        (int(s.findtext("port") or 0), s.findtext("socketType"))
        for s in provider.findall("outgoingServer")
    ]
    assert outgoing == [(2587, "STARTTLS"), (2465, "SSL")]


def test_file_back_up_writes_an_archive_while_running(
    qtbot: Any, window: MainWindow, real_core: Any, tmp_path: Path
) -> None:
    """Issue 17: File > Back up… while the modules run; the archive checks."""
    from PySide6.QtWidgets import QFileDialog

    from server.backup import check_archive

    add_user(qtbot, window, real_core)
    target = tmp_path / "window-backup.tar.gz"
    window.actions_.back_up.trigger()
    qtbot.waitUntil(lambda: window.findChild(QFileDialog) is not None)
    dialog = window.findChild(QFileDialog)
    assert isinstance(dialog, QFileDialog)
    qtbot.waitUntil(dialog.isVisible)
    dialog.selectFile(str(target))
    dialog.accept()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=10_000)
    box = window.findChild(QMessageBox)
    assert "Backup written" in box.windowTitle()
    written = Path(box.text().split("\n", 1)[0])  # the file the dialog gave
    assert written.parent == target.parent and written.name.endswith(".tar.gz")
    assert "Everything kept running" in box.text()
    box.close()
    assert check_archive(written) > 5
    assert all(
        m.state is ModuleState.RUNNING
        for m in window.modules_model.statuses()
        if m.enabled
    )


def test_file_export_for_postfix_and_dovecot(
    qtbot: Any, window: MainWindow, real_core: Any, tmp_path: Path
) -> None:
    """Issue 18: File > Export for Postfix and Dovecot… writes the tree into
    the folder chosen while the modules run, and says what carried over."""
    from PySide6.QtWidgets import QFileDialog

    add_user(qtbot, window, real_core)
    target = tmp_path / "to-postfix"
    target.mkdir()
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    file_items = [a.text().replace("&", "") for a in menus["File"].actions()]
    assert "Export for Postfix and Dovecot…" in file_items
    window.actions_.export.trigger()
    qtbot.waitUntil(lambda: window.findChild(QFileDialog) is not None)
    dialog = window.findChild(QFileDialog)
    assert isinstance(dialog, QFileDialog)
    qtbot.waitUntil(dialog.isVisible)
    dialog.setDirectory(str(target))  # "Choose" in the folder itself
    qtbot.waitUntil(lambda: dialog.selectedFiles() == [str(target)])
    dialog.accept()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=10_000)
    box = window.findChild(QMessageBox)
    assert box.windowTitle() == "Exported for Postfix and Dovecot", box.text()
    assert "Carried over:" in box.text() and "Quicksilver kept running" in box.text()
    box.close()
    passwd = (target / "dovecot/passwd").read_text()
    assert "{ARGON2ID}$argon2id$" in passwd
    assert (target / "postfix/main.cf").is_file() and (target / "README.md").is_file()
    assert all(
        m.state is ModuleState.RUNNING
        for m in window.modules_model.statuses()
        if m.enabled
    )
