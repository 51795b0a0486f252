"""Start Quicksilver with its window: ``python -m app`` or ``quicksilver``.

Order of life: QApplication -> qasync loop -> ``Runtime.start()`` (core thread)
-> bridge snapshot -> first-run dialog if needed -> main window -> wait for the
window to close -> stop the core from a worker thread (so the GUI loop keeps
running while modules close their sessions) -> exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from PySide6.QtWidgets import QMessageBox

from app.bridge import CoreBridge, RuntimeLike
from app.dialogs.base import exec_async
from app.dialogs.first_run_dialog import FirstRunDialog
from app.paths import app_icon, default_data_dir
from app.views.main_window import MainWindow
from server.config.schema import default_hostname
from server.errors import ValidationError

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


async def first_run(bridge: CoreBridge) -> bool:
    """Ask for the domain and host name until the core accepts them."""
    dialog = FirstRunDialog(default_hostname())
    dialog.setWindowIcon(app_icon())
    try:
        while await exec_async(dialog) == FirstRunDialog.DialogCode.Accepted:
            domain, hostname = dialog.value()
            try:
                await bridge.call("first_run", domain, hostname)
            except ValidationError as exc:
                dialog.show_error(str(exc))
                continue
            return True
        return False
    finally:
        dialog.deleteLater()


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


async def run_session(
    runtime: StartableRuntime,
    on_window: Callable[[MainWindow], None] | None = None,
) -> int:
    """Start the core, show the window, and stop the core when it closes.

    Returns the exit code: 0, or 1 when the core could not start (the person is
    told why first).
    """
    try:
        await asyncio.to_thread(runtime.start)
    except Exception as exc:  # an edge: say why, then exit
        log.exception("the core could not start")
        await asyncio.to_thread(runtime.stop)  # release what did start (its loop)
        await exec_async(startup_error_box(exc))
        return 1
    bridge = CoreBridge(runtime)
    try:
        snapshot = await bridge.connect_core()
        if snapshot.needs_first_run:
            if not await first_run(bridge):
                return 0
            snapshot = await bridge.call("snapshot")
        window = MainWindow(bridge)
        closed = asyncio.Event()
        window.closed.connect(closed.set)
        window.apply_snapshot(snapshot)
        window.show()
        if on_window is not None:
            on_window(window)
        await closed.wait()
        window.deleteLater()
        return 0
    finally:
        await shutdown(runtime, bridge)
        bridge.deleteLater()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir: Path = args.data_dir or default_data_dir()
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
    runtime = Runtime(data_dir)
    code: int = qasync.run(run_session(runtime))
    return code


if __name__ == "__main__":
    sys.exit(main())
