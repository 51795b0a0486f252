"""The list of modules exists once: ``server/modules/registry.py`` (issue 11).

It used to be written in six places (the registry, the CLI, the PyInstaller
spec, the log console, the statistics page, client setup) and a seventh in the
wizard. Any tuple, list or set literal elsewhere that names two or more modules
is a copy of that list. The protocol names ("imap", "pop3", "smtp") are also
protocols in their own right (autoconfig kinds), so a literal made only of them
is allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

from server.modules import registry

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_NAMES = frozenset({"imap", "pop3", "smtp"})


def _module_name_lists(path: Path, names: frozenset[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Tuple | ast.List | ast.Set):
            continue
        strings = {
            e.value
            for e in node.elts
            if isinstance(e, ast.Constant) and isinstance(e.value, str)
        }
        hits = strings & names
        if len(hits) >= 2 and not hits <= PROTOCOL_NAMES:
            found.append(f"{path.as_posix()}:{node.lineno}: {sorted(hits)}")
    return found


def test_the_module_list_is_written_once() -> None:
    names = frozenset(registry.names())
    assert {"smtp", "submission", "pop3", "imap", "relay", "mx"} <= names
    sources = [
        p
        for folder in ("server", "app", "packaging")
        for p in (ROOT / folder).rglob("*")
        if p.suffix in (".py", ".spec") and p != ROOT / "server/modules/registry.py"
    ]
    assert len(sources) > 50
    copies = [hit for p in sources for hit in _module_name_lists(p, names)]
    assert copies == []


def test_the_check_finds_a_copy(tmp_path: Path) -> None:
    """The scan itself can fail: a copied list is reported."""
    copy = tmp_path / "copy.py"
    copy.write_text('NAMES = ("smtp", "relay")\nKINDS = ("imap", "pop3")\n')
    hits = _module_name_lists(copy, frozenset(registry.names()))
    assert len(hits) == 1 and "relay" in hits[0]
