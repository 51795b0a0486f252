"""``SettingsStore.patch``: a change names only its keys and is checked like
the file; a file that is not valid is never overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config.store import SettingsStore
from server.errors import ValidationError


def test_patch_changes_only_its_keys(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.toml")
    store.patch({"smtp": {"port": 2525}})
    # another writer, with a copy read before the first change
    result = store.patch({"smtp": {"timeout": 120}, "pop3": {"enabled": False}})
    s = store.load()
    assert result.settings == s
    assert (s.smtp.port, s.smtp.timeout, s.pop3.enabled) == (2525, 120, False)
    assert result.raw == (tmp_path / "settings.toml").read_bytes()


def test_patch_values_are_checked_like_the_file(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.toml")
    store.patch({"security": {"access": ("allow 127.0.0.0/8", "deny all")}})
    assert store.load().security.access == ("allow 127.0.0.0/8", "deny all")
    before = (tmp_path / "settings.toml").read_bytes()
    for patch, key in [
        ({"smtp": {"port": "25"}}, "smtp.port"),  # text where a number goes
        ({"smtp": {"prot": 25}}, "smtp.prot"),
        ({"nonsense": {"a": 1}}, "nonsense"),
        ({"smtp": {"port": 70000}}, "smtp.port"),
        ({"imap": {"access": ("allow nowhere",)}}, "imap.access"),
    ]:
        with pytest.raises(ValidationError) as err:
            store.patch(patch)
        assert key in str(err.value)
    assert (tmp_path / "settings.toml").read_bytes() == before


def test_patch_that_changes_nothing_does_not_write(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    store = SettingsStore(path)
    store.patch({"smtp": {"port": 2525}})
    path.write_text(path.read_text() + "# a note by hand\n")
    before = path.stat()
    store.patch({"smtp": {"port": 2525}})
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert path.read_text().endswith("# a note by hand\n")


def test_invalid_file_is_left_alone(tmp_path: Path) -> None:
    """A person half-way through editing the file: a patch is refused with the
    reason, and their text stays as it is."""
    path = tmp_path / "settings.toml"
    path.write_text('[smtp]\nport = "twenty-five"\n')
    with pytest.raises(ValidationError, match=r"smtp\.port.*nothing was changed"):
        SettingsStore(path).patch({"pop3": {"port": 2110}})
    assert path.read_text() == '[smtp]\nport = "twenty-five"\n'


def test_create_if_missing_never_replaces(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    store = SettingsStore(path)
    first = store.create_if_missing(store.defaults())
    assert first is not None and path.read_bytes() == first.raw
    store.patch({"smtp": {"port": 2525}})
    assert store.create_if_missing(store.defaults()) is None
    assert store.load().smtp.port == 2525
