"""Shared fixtures: a running core in a temporary data folder.

``core`` starts the real ``Runtime`` (its own thread and loop) with the domain
``example.test``, the user ``alice@example.test`` (password ``alice-pw-1``) and
every listening module bound to 127.0.0.1 on port 0 (so tests never collide).
Only ``smtp`` is on unless a test turns others on.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from server.config.store import SettingsStore
from tests.loopwatch import LoopWatch

if TYPE_CHECKING:
    from server.modules.base import ModuleStatus
    from server.runtime import Runtime

DOMAIN = "example.test"
ALICE = "alice@example.test"
ALICE_PW = "alice-pw-1"
BOB = "bob@example.test"
BOB_PW = "bob-pw-2"


def prepare_data_dir(data_dir: Path, enabled: tuple[str, ...] = ("smtp",)) -> None:
    """Write settings for a test server: loopback, port 0, chosen modules on."""
    import dataclasses

    store = SettingsStore(data_dir / "settings.toml")
    data_dir.mkdir(parents=True, exist_ok=True)
    s = store.defaults()
    s = dataclasses.replace(
        s,
        general=dataclasses.replace(
            s.general, domain=DOMAIN, hostname="mail.example.test"
        ),
    )
    for name in ("smtp", "submission", "pop3", "imap", "managesieve", "web"):
        sec = getattr(s, name)
        changes: dict[str, object] = {
            "enabled": name in enabled,
            "bind": "127.0.0.1",
            "port": 0,
        }
        if hasattr(sec, "tls_port"):
            changes["tls_port"] = 0
        s = s.replace_section(name, dataclasses.replace(sec, **changes))
    store.save(s)


@dataclass
class RunningCore:
    runtime: Runtime
    data_dir: Path

    @property
    def api(self):  # type: ignore[no-untyped-def]
        return self.runtime.api

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.runtime.run(coro)

    def status(self, module: str) -> ModuleStatus:
        """``module``'s status now (state, endpoints, counters)."""
        return {m.name: m for m in self.runtime.services.module_statuses()}[module]

    def endpoint(self, module: str, security: str | None = None) -> tuple[str, int]:
        st = self.status(module)
        for e in st.endpoints:
            if security is None or e.security == security:
                return e.host, e.port
        raise AssertionError(f"{module} has no endpoint {security}: {st}")

    def ports(self, module: str) -> set[int]:
        """The ports ``module`` listens on now: empty while it (re)starts,
        so a test that waits for a move polls this, not ``endpoint``."""
        return {e.port for e in self.status(module).endpoints}

    def maildir(self, address: str) -> Path:
        local, domain = address.split("@")
        return self.data_dir / "mail" / domain / local


def start_core(
    data_dir: Path, enabled: tuple[str, ...] = ("smtp",), users: bool = True
) -> RunningCore:
    from server.accounts.sqlite import SqliteAccountStore
    from server.runtime import Runtime

    fresh = not (data_dir / "settings.toml").exists()
    if fresh:
        prepare_data_dir(data_dir, enabled)
        acc = SqliteAccountStore(data_dir / "accounts.sqlite3")
        acc.add_domain(DOMAIN)
        if users:
            acc.add_user(ALICE, ALICE_PW, display_name="Alice", allow_weak=True)
            acc.add_user(BOB, BOB_PW, display_name="Bob", allow_weak=True)
        acc.close()
    rt = Runtime(data_dir)
    rt.start()
    return RunningCore(rt, data_dir)


@pytest.fixture
def core(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data")
    try:
        yield c
    finally:
        c.runtime.stop()


# The core loop serves every client: no command may hold it longer than this
# (issue 10). Checked by the ``core_lag`` watchdog in the heavy-command tests.
MAX_LOOP_LAG = 0.1


@pytest.fixture
def core_lag(core: RunningCore) -> Iterator[LoopWatch]:
    """The lag of the core's loop (its own thread, server/runtime.py) for the
    whole test: ``assert core_lag.max_lag < MAX_LOOP_LAG, core_lag.summary()``.
    Tests on another core use ``LoopWatch(core.runtime.loop)`` the same way."""
    watch = LoopWatch(core.runtime.loop).start()
    try:
        yield watch
    finally:
        watch.stop()


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
