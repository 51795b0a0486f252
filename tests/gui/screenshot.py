"""Take the README screenshots of every page (a script, not a test).

    .venv/bin/python tests/gui/screenshot.py [--offscreen] [--out-dir DIR]
        [--size 900x600]

Starts Xvfb on :98 (1280x800x24, or ``--size``; shots of another size go
to ``resources/screenshots/WxH/``) and, when installed, ``trayer`` as the tray
host, then re-runs itself there with the xcb platform. It builds a demo data
folder (domain example.test, three users, SMTP, submission, POP3 and IMAP on
free high ports, a few messages sent, one remote message held in the queue),
walks the window through its tabs and saves one PNG per page with
``import -window root`` (imagemagick), plus the first-run wizard
(``widget.grab()``). Without Xvfb, or with ``--offscreen``, every shot is a
``grab()`` of the window.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "resources" / "screenshots"
DISPLAY = ":98"
SCREEN = (1280, 800)
TRAY_HEIGHT = 24


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--size", default="1280x800", help="screen WxH")
    parser.add_argument("--offscreen", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tray", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global SCREEN
    width, _, height = args.size.partition("x")
    SCREEN = (int(width), int(height))
    if args.out_dir is None:
        default = SCREEN == (1280, 800)
        args.out_dir = DEFAULT_OUT if default else DEFAULT_OUT / args.size
    return args


def run_under_xvfb(args: argparse.Namespace) -> int:
    xvfb = subprocess.Popen(
        [
            "Xvfb",
            DISPLAY,
            "-screen",
            "0",
            f"{SCREEN[0]}x{SCREEN[1]}x24",
            "-nolisten",
            "tcp",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tray: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{DISPLAY[1:]}").exists():
            if time.monotonic() > deadline or xvfb.poll() is not None:
                print("Xvfb did not start; falling back to offscreen")
                return run_child(args, {"QT_QPA_PLATFORM": "offscreen"})
            time.sleep(0.05)
        env = {"DISPLAY": DISPLAY, "QT_QPA_PLATFORM": "xcb"}
        if shutil.which("trayer"):
            tray = subprocess.Popen(
                [
                    "trayer",
                    "--edge",
                    "bottom",
                    "--align",
                    "right",
                    "--widthtype",
                    "request",
                    "--height",
                    str(TRAY_HEIGHT),
                    "--SetDockType",
                    "true",
                    "--transparent",
                    "false",
                    "--tint",
                    "0xdddddd",
                ],
                env={**os.environ, "DISPLAY": DISPLAY},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
        return run_child(args, env, tray=tray is not None)
    finally:
        if tray is not None:
            tray.terminate()
            tray.wait(10)
        xvfb.terminate()
        xvfb.wait(10)


def run_child(args: argparse.Namespace, env: dict[str, str], tray: bool = False) -> int:
    cmd = [sys.executable, __file__, "--child", "--out-dir", str(args.out_dir)]
    cmd += ["--size", args.size]
    if tray:
        cmd.append("--tray")
    return subprocess.call(cmd, env={**os.environ, **env}, cwd=ROOT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_settings(data_dir: Path) -> dict[str, int]:
    import dataclasses

    sys.path.insert(0, str(ROOT))
    from server.config.schema import Settings
    from server.config.store import SettingsStore
    from tests.gui.helpers import write_test_settings

    write_test_settings(data_dir)
    store = SettingsStore(data_dir / "settings.toml")
    settings: Settings = store.load()
    ports = {
        "smtp": 2525,
        "submission": 2587,
        "submission_tls": 2465,
        "pop3": 2110,
        "pop3_tls": 2995,
        "imap": 2143,
        "imap_tls": 2993,
    }
    for key in ports:  # the nice numbers if free, else any free port
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", ports[key]))
        except OSError:
            ports[key] = free_port()
    for name in ("smtp", "submission", "pop3", "imap"):
        changes = {"enabled": True, "port": ports[name]}
        if f"{name}_tls" in ports:
            changes["tls_port"] = ports[f"{name}_tls"]
        section = dataclasses.replace(settings.section(name), **changes)
        settings = settings.replace_section(name, section)
    store.save(settings)
    return ports


LETTERS = (
    ("newsletter@example.org", "alice", "Welcome to Quicksilver"),
    ("carol@partner.example", "bob", "Invoice 2026-117"),
    ("noreply@shop.example", "alice", "Your order has shipped"),
    ("dave@club.example", "carol", "Saturday's match"),
    ("news@paper.example", "bob", "Morning briefing"),
)


def send_demo_mail(ports: dict[str, int]) -> None:
    for i in range(3):
        with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=10) as client:
            client.ehlo("client.example.org")
            for sender, user, subject in LETTERS:
                client.sendmail(
                    sender,
                    [f"{user}@example.test"],
                    f"From: {sender}\r\nTo: {user}@example.test\r\n"
                    f"Subject: {subject} ({i + 1})\r\n\r\nHello {user}!\r\n",
                )
    # one message for a remote domain: it waits in the queue (no relay, no MX)
    with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=10) as client:
        client.ehlo("laptop.example.test")
        client.login("alice@example.test", "demo-Kettle-pass-1")
        client.sendmail(
            "alice@example.test",
            ["friend@far-away.example"],
            "From: alice@example.test\r\nTo: friend@far-away.example\r\n"
            "Subject: Holiday photos\r\n\r\nSee you soon!\r\n",
        )


async def capture(window: object, out: Path) -> None:
    from PySide6.QtWidgets import QApplication, QWidget

    assert isinstance(window, QWidget)
    await asyncio.sleep(0.6)
    QApplication.processEvents()
    grabbed = False
    if os.environ.get("QT_QPA_PLATFORM") == "xcb" and shutil.which("import"):
        code = await asyncio.to_thread(
            subprocess.call, ["import", "-window", "root", str(out)]
        )
        grabbed = code == 0
    if not grabbed:
        window.grab().save(str(out))
    print(f"saved {out}")


DEV_MAIL = (
    ("Reset your password", "Click the link to choose a new password."),
    ("Your invoice #1042", "Thank you for your order."),
    ("Welcome aboard!", "Your account is ready."),
)


def send_dev_mail(ports: dict[str, int]) -> None:
    """What a web application under test sends: to made-up addresses."""
    with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=10) as client:
        client.ehlo("app.dev.example")
        for i, (subject, text) in enumerate(DEV_MAIL):
            html = (
                f"<h2>{subject}</h2><p>{text}</p>"
                '<p><a href="https://shop.dev.example/account">Open your account</a>'
                "</p><p style='color:gray'>The Shop team</p>"
            )
            client.sendmail(
                "noreply@shop.dev.example",
                [f"customer{i + 1}@anywhere.example"],
                (
                    "From: The Shop <noreply@shop.dev.example>\r\n"
                    f"To: customer{i + 1}@anywhere.example\r\n"
                    f"Subject: {subject}\r\nMIME-Version: 1.0\r\n"
                    'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
                    "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                    f"{html}\r\n--b\r\n"
                    'Content-Type: application/pdf; name="invoice.pdf"\r\n'
                    "Content-Disposition: attachment; filename=invoice.pdf\r\n"
                    "Content-Transfer-Encoding: base64\r\n\r\n"
                    "JVBERi0xLjQK\r\n--b--\r\n"
                ),
            )


async def show_capture_mode(window: object, ports: dict[str, int]) -> None:
    """Capture mode on, a few messages from an application, the first one
    open in the Messages tab."""
    from app.views.main_window import MainWindow
    from app.views.messages_page import MessagesPage
    from server.api import CoreApi

    assert isinstance(window, MainWindow)

    async def on(api: CoreApi) -> None:
        await api.update_settings("capture", {"enabled": True})

    await window.bridge.run(on)
    await asyncio.sleep(1.5)  # the modules start again, saying so
    await asyncio.to_thread(send_dev_mail, ports)
    page = window.tabs.findChild(MessagesPage)
    assert page is not None
    window.tabs.setCurrentWidget(page)
    await asyncio.sleep(1.0)
    await page.load()
    page.table.selectRow(0)
    await asyncio.sleep(0.8)


async def stage(window: object, out_dir: Path, ports: dict[str, int]) -> None:
    from PySide6.QtWidgets import QApplication

    from app.dialogs.first_run_wizard import FirstRunWizard
    from app.views.main_window import MainWindow
    from server.api import CoreApi, NewUser

    assert isinstance(window, MainWindow)
    try:
        bridge = window.bridge
        for address, pw, name, quota in (
            ("alice@example.test", "demo-Kettle-pass-1", "Alice Liddell", 0),
            ("bob@example.test", "demo-Kettle-pass-2", "Bob Builder", 500),
            ("carol@example.test", "demo-Kettle-pass-3", "Carol Singer", 200),
        ):
            await bridge.run(
                CoreApi.add_user, NewUser(address, pw, name, quota * 1024 * 1024)
            )
        await asyncio.to_thread(send_demo_mail, ports)
        await asyncio.sleep(1.5)  # let the log, queue and counters settle
        jobs = await bridge.run(CoreApi.queue_jobs)
        for job in jobs[:1]:
            await bridge.run(CoreApi.hold_job, job.job_id)
        out_dir.mkdir(parents=True, exist_ok=True)

        window.log_console.table.scrollToBottom()
        await capture(window, out_dir / "main-window.png")
        pages = {
            "users": window.users_page,
            "statistics": window.stats_page,
            "client-setup": window.client_setup_page,
        }
        window.client_setup_page.select_user("alice@example.test")
        for name, page in pages.items():
            window.tabs.setCurrentWidget(page)
            await capture(window, out_dir / f"{name}.png")
        known = {window.tabs.indexOf(p) for p in pages.values()}
        known |= {window.tabs.indexOf(window.log_console)}
        titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
        known |= {titles.index("Messages")}  # last, in capture mode
        for i in range(window.tabs.count()):
            if i in known:
                continue
            title = window.tabs.tabText(i).replace("&", "").lower().replace(" ", "-")
            window.tabs.setCurrentIndex(i)
            await asyncio.sleep(0.5)
            await capture(window, out_dir / f"{title}.png")

        await show_capture_mode(window, ports)
        await capture(window, out_dir / "messages.png")

        settings = await bridge.run(CoreApi.settings)
        wizard = FirstRunWizard(
            settings,
            "mail.example.test",
            lambda queries: bridge.run(CoreApi.check_ports, queries),
        )
        wizard.confirm_quit = None  # closed at the end: no question
        wizard.domain_page.domain_edit.setText("example.test")
        wizard.show()
        wizard.grab().save(str(out_dir / "wizard-welcome.png"))
        wizard.next()
        wizard.next()
        wizard.next()
        wizard.reach_page.grab().save(str(out_dir / "wizard-reach.png"))
        wizard.next()
        smtp = wizard.modules_page.row("smtp")
        smtp.spins["port"].setValue(ports["smtp"])  # in use: the window's SMTP
        await asyncio.sleep(1.0)
        QApplication.processEvents()
        wizard.grab().save(str(out_dir / "wizard.png"))
        print(f"saved {out_dir / 'wizard.png'}")
        wizard.close()
        wizard.deleteLater()
    finally:
        window.quit()


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
        ports = demo_settings(data_dir)
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
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
                height = SCREEN[1] - (TRAY_HEIGHT if args.tray else 0)
                window.setGeometry(0, 0, SCREEN[0], height)  # type: ignore[attr-defined]
                spawn(stage(window, args.out_dir, ports))

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
