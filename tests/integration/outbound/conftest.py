"""Fixtures for outbound tests: an in-memory keyring, sinks, a core with relay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningCore, start_core
from tests.integration.outbound.sink import Sink


def _memory_backend() -> Any:
    from keyring.backend import KeyringBackend
    from keyring.errors import PasswordDeleteError

    class _Mem(KeyringBackend):
        priority = 1  # type: ignore[assignment]
        name = "memory (tests)"

        def __init__(self) -> None:
            super().__init__()
            self.store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            if self.store.pop((service, username), None) is None:
                raise PasswordDeleteError("not found")

    return _Mem()


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[Any]:
    import keyring

    old = keyring.get_keyring()
    be = _memory_backend()
    keyring.set_keyring(be)
    try:
        yield be
    finally:
        keyring.set_keyring(old)


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink().start()
    try:
        yield s
    finally:
        s.stop()


def use_relay(
    core: RunningCore,
    sink: Sink,
    *,
    username: str = "",
    password: str = "",
    security: str = "none",
) -> None:
    """Point ``relay`` at ``sink`` and switch it on."""
    core.run(
        core.api.update_settings(
            "relay",
            {
                "host": "127.0.0.1",
                "port": sink.port,
                "security": security,
                "username": username,
                "verify_certificate": False,
            },
        )
    )
    if password:
        core.run(core.api.relay_set_password(password))
    st = core.run(core.api.set_module_enabled("relay", True))
    assert st.state.value == "RUNNING", st


@pytest.fixture
def relay_core(tmp_path: Path, sink: Sink) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp", "submission"))
    try:
        use_relay(c, sink)
        yield c
    finally:
        c.runtime.stop()
