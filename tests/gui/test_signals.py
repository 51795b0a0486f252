"""SIGTERM to the GUI process closes the window the normal way: the core stops
cleanly, the process exits 0 and accepted mail is in the Maildir.

The child is the real ``python -m app`` (offscreen), over a data folder made
with the real ``quicksilver-server`` management commands (``python -m server``).
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "example.test"
USER = f"alice@{DOMAIN}"
START_WITHIN_S = 30  # the SMTP port accepts (core up, window shown)
EXIT_WITHIN_S = 30  # after SIGTERM

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGTERM") or sys.platform == "win32",
    reason="POSIX signals",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def manage(data: Path, *args: str, stdin: str | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "server", "--data-dir", str(data), *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def make_data_dir(data: Path, port: int) -> None:
    manage(data, "init", "--domain", DOMAIN)
    manage(data, "user", "add", USER, "--password-stdin", stdin="s3cret-Passw0rd\n")
    manage(data, "module", "set", "smtp", "--bind", "127.0.0.1", "--port", str(port))
    manage(data, "module", "enable", "smtp")
    for name in ("submission", "pop3", "imap", "relay", "mx"):
        manage(data, "module", "disable", name)


def wait_for_port(port: int, proc: subprocess.Popen[str], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    if proc.poll() is None:
        proc.kill()
    out = proc.communicate(timeout=10)[0]
    pytest.fail(f"the SMTP port {port} never accepted; app output:\n{out}")


def test_sigterm_closes_the_window_stops_the_core_and_exits_0(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    make_data_dir(data, port)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--data-dir", str(data)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, proc, START_WITHIN_S)
        marker = uuid.uuid4().hex
        msg = EmailMessage()
        msg["From"] = "bob@sender.test"
        msg["To"] = USER
        msg["Subject"] = f"signal test {marker}"
        msg.set_content("hello\n")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(msg)

        proc.send_signal(signal.SIGTERM)
        try:
            out = proc.communicate(timeout=EXIT_WITHIN_S)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate(timeout=10)[0]
            pytest.fail(f"no exit within {EXIT_WITHIN_S} s of SIGTERM:\n{out}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)

    assert proc.returncode == 0, out
    assert "core stopped" in out, out  # the normal close path ran
    new = data / "mail" / DOMAIN / "alice" / "new"
    bodies = [p.read_bytes() for p in new.iterdir()]
    assert any(marker.encode() in b for b in bodies), (bodies, out)
    # The port is released: the listener closed with the core (SO_REUSEADDR,
    # as every server sets it: the client side may still be in TIME_WAIT).
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


# The child for the wizard test: ``python -m app``'s ``main()`` unchanged, with
# an application-wide event filter that only prints a line when a dialog window
# is shown, so the test signals the moment the wizard is on screen instead of
# guessing with a sleep (the QApplication is made first so the filter sees the
# wizard; ``main()`` reuses it, as it would any existing instance).
SHOWN = "test-probe: shown "
WATCHED_APP = f"""
import sys
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QDialog

qapp = QApplication(sys.argv[:1])


class ShowProbe(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Show and isinstance(obj, QDialog):
            print({SHOWN!r} + type(obj).__name__, flush=True)
        return False


probe = ShowProbe()
qapp.installEventFilter(probe)
from app.__main__ import main

sys.exit(main())
"""


class Output:
    """The child's merged output, read as it comes by a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self._stream = proc.stdout
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, text: str, within: float) -> bool:
        """True once a line containing ``text`` arrived; False at the deadline
        or when the output ended without it."""
        deadline = time.monotonic() + within
        with self._changed:
            while not any(text in line for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._changed.wait(min(left, 0.5))
            return True

    def text(self) -> str:
        """All of it; call once the child has exited."""
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._stream.close()
        with self._changed:
            return "".join(self.lines)


def test_sigterm_during_the_first_run_wizard_exits_0(tmp_path: Path) -> None:
    """A fresh data folder: the wizard is open and nothing listens yet; SIGTERM
    cancels it and the app exits 0 with the core stopped."""
    data = tmp_path / "fresh"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen(
        [sys.executable, "-c", WATCHED_APP, "--data-dir", str(data)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(proc)
    try:
        opened = output.wait_for(SHOWN + "FirstRunWizard", START_WITHIN_S)
        if not opened:
            proc.kill()
            pytest.fail(f"the wizard never opened; app output:\n{output.text()}")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=EXIT_WITHIN_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    out = output.text()
    assert proc.returncode == 0, out
    assert "core stopped" in out, out
    assert "no mail domain yet" in out, out
    assert (data / "settings.toml").exists(), out  # the core did start
