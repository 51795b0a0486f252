"""``main()`` end to end in a child process: start, window, close, exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import start_real_core

ROOT = Path(__file__).resolve().parents[2]
EXIT_WITHIN_S = 20  # start + show + close + stop take under a second

CHILD = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import app.__main__ as entry
from app.views.main_window import MainWindow

qapp = QApplication(sys.argv[:1])

def close_when_shown():
    for w in QApplication.topLevelWidgets():
        if isinstance(w, MainWindow) and w.isVisible():
            print("window shown:", w.data_dir_label.text(), flush=True)
            w.close()
            return
    QTimer.singleShot(50, close_when_shown)

QTimer.singleShot(50, close_when_shown)
sys.exit(entry.main(["--data-dir", sys.argv[1]]))
"""


def test_main_starts_shows_the_window_and_exits_cleanly(tmp_path: Path) -> None:
    pytest.importorskip("server.runtime")
    data = tmp_path / "data"
    start_real_core(data).stop(timeout=5)  # settings on port 0 + first run done
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(data)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=EXIT_WITHIN_S,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"quicksilver did not exit within {EXIT_WITHIN_S} s of closing its "
            f"window:\n{(exc.stderr or b'')[-2000:]!r}"
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"window shown: Data folder: {data}" in proc.stdout
    assert "core stopped" in proc.stderr
