"""Helpers shared by the GUI tests."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

DOMAIN = "example.test"
HOSTNAME = "mail.example.test"


def wait_for(qtbot: Any, coro: Coroutine[Any, Any, Any], timeout: int = 10_000) -> Any:
    """Run ``coro`` as a task on the GUI loop and return its result."""
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=timeout)
    return task.result()


def write_test_settings(data_dir: Path) -> None:
    """Every listener on 127.0.0.1 port 0, every module off, no domain yet."""
    from server.config.schema import SECTIONS, Settings
    from server.config.store import SettingsStore

    settings = Settings()
    for name in SECTIONS:
        section = settings.section(name)
        fields = {f.name for f in dataclasses.fields(section)}
        changes: dict[str, Any] = {}
        if "bind" in fields:
            changes["bind"] = "127.0.0.1"
        for port in ("port", "tls_port"):
            if port in fields and "bind" in fields:
                changes[port] = 0
        if "enabled" in fields:
            changes["enabled"] = False
        if changes:
            settings = dataclasses.replace(
                settings, **{name: dataclasses.replace(section, **changes)}
            )
    data_dir.mkdir(parents=True, exist_ok=True)
    SettingsStore(data_dir / "settings.toml").save(settings)


def start_real_core(data_dir: Path, first_run: bool = True) -> Any:
    from server.runtime import Runtime

    write_test_settings(data_dir)
    rt = Runtime(data_dir)
    rt.start()
    if first_run:
        rt.run(rt.api.first_run(DOMAIN, HOSTNAME))
    return rt


def fill_wizard(
    qtbot: Any,
    wizard: Any,
    modules: dict[str, dict[str, int]] | None = None,
    user: tuple[str, str] | None = ("alice", "first-pass-1"),
) -> None:
    """Walk the first-run wizard: domain/host, self-signed, this computer only,
    ``modules`` ticked with the given ports (others unticked), ``user``; then
    Finish."""
    from PySide6.QtWidgets import QWizard

    modules = modules if modules is not None else {"smtp": {"port": 0}}
    page = wizard.domain_page
    page.hostname_edit.clear()
    qtbot.keyClicks(page.domain_edit, DOMAIN)
    qtbot.keyClicks(page.hostname_edit, HOSTNAME)
    assert page.isComplete()
    ports = wizard.modules_page
    for _ in range(5):  # the certificate and reach pages keep their defaults
        wizard.next()
        if wizard.currentPage() is ports:
            break
    assert wizard.currentPage() is ports
    for row in ports.rows:
        row.check.setChecked(row.name in modules)
        for key, value in modules.get(row.name, {}).items():
            row.spins[key].setValue(value)
    try:
        qtbot.waitUntil(lambda: not ports.checking() and ports.isComplete())
    except Exception:
        raise AssertionError(ports.error_label.text()) from None
    wizard.next()
    users = wizard.user_page
    assert wizard.currentPage() is users
    if user is None:
        users.create_check.setChecked(False)
    else:
        qtbot.keyClicks(users.local_edit, user[0])
        qtbot.keyClicks(users.password.edit, user[1])
        qtbot.keyClicks(users.confirm, user[1])
    assert users.isComplete()
    wizard.button(QWizard.WizardButton.FinishButton).click()


async def core_probe(queries: tuple[Any, ...]) -> tuple[Any, ...]:
    """The core's port probe without a core (for wizard tests without one)."""
    import asyncio

    from server.ports import check_ports

    return await asyncio.to_thread(check_ports, queries)
