"""The window reaches the core through typed facade calls and opens no socket.

Issue 11: the window used to call the facade by method-name strings
(``bridge.call("queue_jobs")``), so a renamed facade method broke only at run
time, and it spoke SMTP itself for "Send test message".
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

NETWORK_MODULES = (
    "socket",
    "ssl",
    "smtplib",
    "poplib",
    "imaplib",
    "aiosmtplib",
    "http",
    "urllib",
    "PySide6.QtNetwork",
)
# The first-run wizard's free-port probe moves to the core in its own change.
NETWORK_EXEMPT = {"app/dialogs/first_run_wizard.py"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_window_does_no_network_io_of_its_own() -> None:
    """Sockets belong to the core's modules (DESIGN.md); the window asks the
    facade (``CoreApi.send_test_message``...)."""
    offenders = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in NETWORK_EXEMPT:
            continue
        for name in _imports(path):
            if name.startswith(NETWORK_MODULES):
                offenders.append(f"{rel}: imports {name}")
    assert offenders == []


SNIPPET = """\
from __future__ import annotations

from app.bridge import CoreBridge
from server.api import CoreApi


async def calls(bridge: CoreBridge) -> None:
    jobs = await bridge.run(CoreApi.queue_jobs)
    first: str = jobs[0].job_id
    await bridge.run(CoreApi.hold_job, first)
    await bridge.run(lambda api: api.set_module_enabled("smtp", True))
    await bridge.run(CoreApi.queue_jbos)  # line 12: misspelt method
    await bridge.run(CoreApi.hold_job, 42)  # line 13: wrong argument type
    await bridge.run(lambda api: api.restart_modul("smtp"))  # line 14: misspelt
    count: int = await bridge.run(CoreApi.settings)  # line 15: wrong result type
"""


def test_mypy_catches_a_misspelt_facade_method(tmp_path: Path) -> None:
    """Through ``CoreBridge.run`` a wrong facade name, argument or result type is a
    type error (``mypy --strict app`` in CI), and the right ones are not."""
    snippet = tmp_path / "window_calls.py"
    snippet.write_text(SNIPPET, encoding="utf-8")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--config-file",
            str(ROOT / "pyproject.toml"),
            str(snippet),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = {
        int(line.split(":")[1])
        for line in out.stdout.splitlines()
        if line.startswith(str(snippet)) and ": error:" in line
    }
    assert lines == {12, 13, 14, 15}, out.stdout
    assert '"queue_jbos"' in out.stdout and '"restart_modul"' in out.stdout
