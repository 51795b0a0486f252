"""Import boundaries (STYLE.md habit 1): the core never imports Qt or ``app``."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import server

ROOT = Path(__file__).resolve().parents[2]


def server_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(server.__path__, "server."))


def test_every_server_module_imports_with_qt_blocked() -> None:
    """Import all of ``server`` in a fresh interpreter where PySide6 cannot load."""
    names = server_modules()
    assert len(names) > 15
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'shiboken6', 'qasync', 'app'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib\n"
        f"for n in {names!r}:\n"
        "    importlib.import_module(n)\n"
        "assert not any(m.startswith(('PySide6', 'app')) for m in sys.modules)\n"
        "print('ok', len(sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from server.modules import registry" imports server.modules.registry
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_modules_do_not_import_each_other_or_the_runtime() -> None:
    """Protocol and delivery modules see interfaces only, never each other."""
    groups = {
        "server/protocols/smtp": ("server.protocols.pop3", "server.protocols.imap"),
        "server/protocols/pop3": ("server.protocols.smtp", "server.protocols.imap"),
        "server/protocols/imap": ("server.protocols.smtp", "server.protocols.pop3"),
    }
    upward = ("server.runtime", "server.api", "server.queue", "server.__main__", "app")
    for folder, forbidden in groups.items():
        for path in (ROOT / folder).glob("*.py"):
            for name in _imports(path):
                assert not name.startswith(forbidden + upward), (
                    f"{path}: imports {name}"
                )


def test_low_layers_do_not_import_upwards() -> None:
    low = [
        "server/storage",
        "server/accounts",
        "server/config",
        "server/queue",
        "server/delivery",
        "server/modules",
    ]
    for folder in low:
        for path in (ROOT / folder).glob("*.py"):
            for name in _imports(path):
                assert not name.startswith(("server.runtime", "server.api", "app")), (
                    f"{path}: imports {name}"
                )


def test_app_reaches_the_core_only_through_the_facade() -> None:
    """Only the bridge and the entry point touch the runtime; no view or model
    imports server internals (value types from server.api/config/events are ok)."""
    allowed = (
        "server.api",
        "server.events",
        "server.config.schema",
        "server.modules.base",
        "server.modules.registry",
        "server.accounts.base",
        "server.errors",
        "server.queue.spool",
        "server.paths",
        "server.accounts.validate",
    )
    for path in (ROOT / "app").rglob("*.py"):
        if path.name in ("bridge.py", "__main__.py"):
            continue
        for name in _imports(path):
            if name.startswith("server"):
                assert name.startswith(allowed), f"{path}: imports {name}"
