"""Take the README screenshot of the main window (a script, not a test).

    /work/venv/bin/python tests/gui/screenshot.py [--offscreen] [--out PATH]

Starts Xvfb on :99 (1280x800x24) and re-runs itself there with the xcb platform,
builds a demo data folder (domain example.test, two users, SMTP ticked on
127.0.0.1:2525, one message sent so the log has lines), shows the window and
saves ``import -window root`` (imagemagick). Without Xvfb, or with
``--offscreen``, it renders offscreen and saves ``window.grab()``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "resources" / "screenshots" / "main-window.png"
DISPLAY = ":99"
SMTP_PORT = 2525


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--offscreen", action="store_true")
    parser.add_argument("--tab", choices=("log", "users"), default="log")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def run_under_xvfb(args: argparse.Namespace) -> int:
    xvfb = subprocess.Popen(
        ["Xvfb", DISPLAY, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{DISPLAY[1:]}").exists():
            if time.monotonic() > deadline or xvfb.poll() is not None:
                print("Xvfb did not start; falling back to offscreen")
                return run_child(args, {"QT_QPA_PLATFORM": "offscreen"})
            time.sleep(0.05)
        return run_child(args, {"DISPLAY": DISPLAY, "QT_QPA_PLATFORM": "xcb"})
    finally:
        xvfb.terminate()
        xvfb.wait(10)


def run_child(args: argparse.Namespace, env: dict[str, str]) -> int:
    cmd = [sys.executable, __file__, "--child", "--out", str(args.out)]
    cmd += ["--tab", args.tab]
    return subprocess.call(cmd, env={**os.environ, **env}, cwd=ROOT)


def demo_settings(data_dir: Path) -> None:
    import dataclasses

    sys.path.insert(0, str(ROOT))
    from server.config.schema import Settings
    from server.config.store import SettingsStore
    from tests.gui.helpers import write_test_settings

    write_test_settings(data_dir)
    store = SettingsStore(data_dir / "settings.toml")
    settings: Settings = store.load()
    smtp = dataclasses.replace(settings.smtp, enabled=True, port=SMTP_PORT)
    settings = settings.replace_section("smtp", smtp)
    demo_ports = (
        ("submission", 1587, 1465),
        ("pop3", 1110, 1995),
        ("imap", 1143, 1993),
    )
    for name, port, tls_port in demo_ports:
        section = dataclasses.replace(
            settings.section(name), port=port, tls_port=tls_port
        )
        settings = settings.replace_section(name, section)
    store.save(settings)


def send_demo_message() -> None:
    with smtplib.SMTP("127.0.0.1", SMTP_PORT, timeout=10) as client:
        client.ehlo("client.example.org")
        client.sendmail(
            "newsletter@example.org",
            ["alice@example.test"],
            "From: newsletter@example.org\r\nTo: alice@example.test\r\n"
            "Subject: Welcome to Quicksilver\r\n\r\nHello Alice!\r\n",
        )


async def stage(window: object, out: Path, tab: str) -> None:
    from PySide6.QtWidgets import QApplication

    from app.views.main_window import MainWindow
    from server.api import NewUser

    assert isinstance(window, MainWindow)
    bridge = window.bridge
    await bridge.call(
        "add_user", NewUser("alice@example.test", "demo-pass-1", "Alice Liddell")
    )
    await bridge.call(
        "add_user",
        NewUser("bob@example.test", "demo-pass-2", "Bob Builder", 500 * 1024 * 1024),
    )
    await asyncio.to_thread(send_demo_message)
    await asyncio.sleep(1.0)  # let the log and counters settle
    window.log_console.table.scrollToBottom()
    if tab == "users":
        window.tabs.setCurrentWidget(window.users_page)
    await asyncio.sleep(0.3)
    QApplication.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    grabbed = False
    if os.environ.get("QT_QPA_PLATFORM") == "xcb" and shutil.which("import"):
        code = await asyncio.to_thread(
            subprocess.call, ["import", "-window", "root", str(out)]
        )
        grabbed = code == 0
    if not grabbed:
        window.grab().save(str(out))
    print(f"saved {out}")
    window.close()


def child(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    import qasync
    from PySide6.QtWidgets import QApplication

    import app  # noqa: F401  (PySide6 workaround first)
    from app.__main__ import run_session
    from app.paths import app_icon
    from app.tasks import spawn
    from server.runtime import Runtime

    with tempfile.TemporaryDirectory(prefix="quicksilver-demo-") as tmp:
        data_dir = Path(tmp) / "Quicksilver"
        demo_settings(data_dir)
        qapp = QApplication([sys.argv[0]])
        qapp.setQuitOnLastWindowClosed(False)
        qapp.setWindowIcon(app_icon())
        runtime = Runtime(data_dir)

        async def first_run_then_session() -> int:
            await asyncio.to_thread(runtime.start)
            await asyncio.to_thread(
                runtime.run, runtime.api.first_run("example.test", "mail.example.test")
            )
            runtime.start = lambda: None  # type: ignore[method-assign]

            def on_window(window: object) -> None:
                window.setGeometry(0, 0, 1280, 800)  # type: ignore[attr-defined]
                spawn(stage(window, args.out, args.tab))

            return await run_session(runtime, on_window=on_window)

        return int(qasync.run(first_run_then_session()))


def main() -> int:
    args = parse()
    if args.child:
        return child(args)
    if args.offscreen or not shutil.which("Xvfb"):
        return run_child(args, {"QT_QPA_PLATFORM": "offscreen"})
    return run_under_xvfb(args)


if __name__ == "__main__":
    sys.exit(main())
