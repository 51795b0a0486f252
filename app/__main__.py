"""Start Quicksilver with its window: ``python -m app`` or ``quicksilver``.

Order of life: QApplication -> qasync loop -> ``Runtime.start()`` (core thread)
-> bridge snapshot -> first-run wizard if needed -> main window -> wait for the
window to close -> stop the core from a worker thread (so the GUI loop keeps
running while modules close their sessions) -> exit 0. After File > Restore…
the window closes with an archive to restore: the core stops, the archive
becomes the data folder (the old one moved aside) and a new session starts on
it (``run_app``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PySide6.QtWidgets import QMessageBox

from app.bridge import CoreBridge, RuntimeLike
from app.dialogs.base import exec_async, notify
from app.dialogs.first_run_wizard import FirstRunWizard
from app.paths import app_icon, default_data_dir
from app.views.main_window import MainWindow
from server.api import CoreApi, RestoreResult, restore_backup_archive
from server.config.schema import Settings, default_hostname
from server.errors import ValidationError
from server.heap import settle_heap
from server.paths import use_private_umask

log = logging.getLogger("quicksilver.app")


class StartableRuntime(RuntimeLike, Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="quicksilver", description="Quicksilver mail server with its window."
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data folder (default: $QUICKSILVER_HOME or the per-user data folder)",
    )
    return parser.parse_args(argv)


async def first_run(bridge: CoreBridge, settings: Settings) -> bool:
    """Run the first-run wizard until the core accepts its choices.

    False: the person cancelled (the caller stops the core and exits)."""
    wizard = FirstRunWizard(
        settings,
        default_hostname(),
        lambda queries: bridge.run(CoreApi.check_ports, queries),
    )
    wizard.setWindowIcon(app_icon())
    try:
        while await exec_async(wizard) == FirstRunWizard.DialogCode.Accepted:
            try:
                await bridge.run(CoreApi.complete_first_run, wizard.value())
            except ValidationError as exc:
                wizard.show_error(str(exc))
                continue
            except Exception as exc:  # an edge: say what failed, let them retry
                log.exception("first-run setup failed")
                wizard.show_error(f"Setting up failed: {exc}")
                continue
            return True
        return False
    finally:
        wizard.deleteLater()


def startup_error_box(exc: Exception) -> QMessageBox:
    box = QMessageBox(
        QMessageBox.Icon.Critical,
        "Quicksilver cannot start",
        f"The mail server could not start:\n\n{exc}",
        QMessageBox.StandardButton.Close,
    )
    box.setWindowIcon(app_icon())
    return box


async def shutdown(runtime: StartableRuntime, bridge: CoreBridge) -> None:
    """Stop relaying events, then stop the core off the GUI thread."""
    bridge.disconnect_core()
    await asyncio.to_thread(runtime.stop)
    log.info("core stopped")


class _SignalCloser:
    """SIGTERM/SIGINT (logout, ``kill``, Ctrl+C) close the window the normal way,
    so the core stops cleanly and the process exits 0. Installed before the core
    starts: a signal that comes before the window exists ends the session as
    soon as the core is up."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.window: MainWindow | None = None
        self.closed: asyncio.Event | None = None

    def __call__(self) -> None:
        if self.requested.is_set():
            return  # already closing: a repeated signal changes nothing
        self.requested.set()
        window, closed = self.window, self.closed
        if window is None or closed is None:
            # Still starting, or in the first-run wizard: cancel any open dialog
            # (the session then ends as if the person had cancelled).
            from PySide6.QtWidgets import QApplication, QDialog

            for widget in QApplication.topLevelWidgets():
                if isinstance(widget, QDialog) and widget.isVisible():
                    # a signal is not a person: no "are you sure?" (the wizard)
                    getattr(widget, "cancel", widget.reject)()
            return
        # quit(), where the window has it, closes even with "keep running in tray".
        quit_window = getattr(window, "quit", None)
        (quit_window if callable(quit_window) else window.close)()
        if not closed.is_set():  # the window refused to close: stop anyway
            closed.set()

    def uninstall(self) -> None:
        """Give the signals back (the loop may outlive this session: tests)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.remove_signal_handler(signum)
            except (NotImplementedError, RuntimeError, ValueError):
                signal.signal(
                    signum,
                    signal.SIG_DFL
                    if signum == signal.SIGTERM
                    else signal.default_int_handler,
                )
        poke = getattr(self, "_poke", None)
        if poke is not None:
            poke.stop()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self)
        except (NotImplementedError, RuntimeError, ValueError):
            # No loop support (Windows): a Python handler runs only when the
            # interpreter does, so a timer wakes it while Qt waits in C.
            from PySide6.QtCore import QTimer

            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: QTimer.singleShot(0, self))
            self._poke = QTimer()
            self._poke.timeout.connect(lambda: None)
            self._poke.start(250)


@dataclass
class SessionEnd:
    """How a session ended: ``restore`` is the archive File > Restore… chose
    ("" for a plain quit)."""

    restore: str = ""


async def run_session(
    runtime: StartableRuntime,
    on_window: Callable[[MainWindow], None] | None = None,
    end: SessionEnd | None = None,
) -> int:
    """Start the core, show the window, and stop the core when it closes.

    Returns the exit code: 0, or 1 when the core could not start (the person is
    told why first). ``end`` learns whether a restore was asked for.
    """
    closer = _SignalCloser()
    closer.install()
    try:
        await asyncio.to_thread(runtime.start)
    except Exception as exc:  # an edge: say why, then exit
        log.exception("the core could not start")
        await asyncio.to_thread(runtime.stop)  # release what did start (its loop)
        closer.uninstall()
        await exec_async(startup_error_box(exc))
        return 1
    bridge = CoreBridge(runtime)
    try:
        snapshot = await bridge.connect_core()
        if closer.requested.is_set():
            return 0
        if snapshot.needs_first_run:
            if not await first_run(bridge, snapshot.settings):
                return 0
            snapshot = await bridge.run(CoreApi.snapshot)
        window = MainWindow(bridge)
        closed = asyncio.Event()
        window.closed.connect(closed.set)
        window.apply_snapshot(snapshot)
        window.show()
        settle_heap()  # start-up's objects live for good: out of the GC's walk
        if on_window is not None:
            on_window(window)
        closer.window, closer.closed = window, closed
        if closer.requested.is_set():
            closed.set()
        await closed.wait()
        if end is not None:
            end.restore = window.restore_archive
        window.deleteLater()
        return 0
    finally:
        await shutdown(runtime, bridge)
        bridge.deleteLater()
        closer.uninstall()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir: Path = args.data_dir or default_data_dir()
    # Before anything is created: the data folder is for this user only
    # (server/paths.py says why, and how the person's own exports keep their mode).
    use_private_umask()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    import qasync
    from PySide6.QtWidgets import QApplication

    from server.runtime import Runtime

    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(qapp, QApplication)
    qapp.setApplicationName("Quicksilver")
    qapp.setOrganizationName("Quicksilver")
    qapp.setWindowIcon(app_icon())
    qapp.setQuitOnLastWindowClosed(False)
    data_dir.mkdir(parents=True, exist_ok=True)
    code: int = qasync.run(run_app(data_dir, Runtime))
    return code


async def run_app(
    data_dir: Path,
    make_runtime: Callable[[Path], StartableRuntime],
    on_window: Callable[[MainWindow], None] | None = None,
) -> int:
    """Sessions on ``data_dir`` until one ends without a restore."""
    restored: RestoreResult | None = None
    failed = ""
    while True:
        end = SessionEnd()

        def shown(
            window: MainWindow,
            done: RestoreResult | None = restored,
            failed: str = failed,
        ) -> None:
            if done is not None:
                aside = f"\n\nThe folder used before: {done.moved_aside}"
                notify(
                    window,
                    "Backup restored",
                    f"Restored {done.files} files into {done.target}."
                    + (aside if done.moved_aside else ""),
                    QMessageBox.Icon.Information,
                )
            elif failed:
                notify(window, "Restore", failed)
            if on_window is not None:
                on_window(window)

        code = await run_session(make_runtime(data_dir), shown, end)
        if not end.restore:
            return code
        restored, failed = None, ""
        try:
            restored = await asyncio.to_thread(
                restore_backup_archive, end.restore, str(data_dir)
            )
            log.info("restored %s into %s", end.restore, data_dir)
        except ValidationError as exc:
            failed = f"The backup was not restored (nothing changed): {exc}"
            log.error("%s", failed)


if __name__ == "__main__":
    sys.exit(main())
