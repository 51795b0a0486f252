"""Secret storage: the keyring when a usable one exists, else a 0600 file."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from server.secrets import SecretStore, relay_key


@pytest.fixture
def fail_keyring() -> Any:
    import keyring
    from keyring.backends import fail

    old = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(old)


def test_headless_falls_back_to_private_file(tmp_path: Path, fail_keyring: Any) -> None:
    s = SecretStore(tmp_path)
    assert s.uses_file
    assert "in a file" in s.backend_description()
    assert "no keyring is available" in s.backend_description()
    key = relay_key("Smart.Example", "me")
    assert s.get(key) is None
    s.set(key, "pa55")
    assert s.get(key) == "pa55"
    mode = stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode)
    assert mode == 0o600
    s.delete(key)
    assert SecretStore(tmp_path).get(key) is None


def test_keyring_backend_is_used_when_usable(tmp_path: Path) -> None:
    from keyring.backend import KeyringBackend

    class Mem(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.d: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.d.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.d[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.d.pop((service, username))

    be = Mem()
    s = SecretStore(tmp_path, backend=be)
    s.set("k", "v")
    assert be.d == {("Quicksilver", "k"): "v"}
    assert s.get("k") == "v"
    assert not (tmp_path / "secrets.json").exists()
    assert "system keyring" in s.backend_description()
