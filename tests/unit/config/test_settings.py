from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from server.config.schema import Settings
from server.config.store import SettingsStore
from server.errors import ValidationError


def test_defaults_round_trip(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.toml")
    s = store.defaults()
    s = s.replace_section(
        "smtp", dataclasses.replace(s.smtp, port=2525, bind="127.0.0.1")
    )
    store.save(s)
    assert store.load() == s
    text = (tmp_path / "settings.toml").read_text()
    assert "schema_version = 1" in text and "port = 2525" in text
    assert (tmp_path / "settings.toml").stat().st_mode & 0o777 == 0o600


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    s = SettingsStore(tmp_path / "none.toml").load()
    assert s.smtp.port == 25 and s.pop3.port == 110 and s.imap.port == 143
    assert s.submission.port == 587 and s.submission.tls_port == 465
    assert s.general.hostname


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[smtp]\nprot = 25\n", "smtp.prot"),
        ("[smtp]\nport = 70000\n", "smtp.port"),
        ('[smtp]\nport = "25"\n', "smtp.port"),
        ("[smtp]\nenabled = 1\n", "smtp.enabled"),
        ('[smtp]\nbind = "not an ip"\n', "smtp.bind"),
        ('[pop3]\nplaintext_login = "sometimes"\n', "pop3.plaintext_login"),
        ("[nonsense]\na = 1\n", "nonsense"),
        ("schema_version = 99\n", "schema_version"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    p = tmp_path / "settings.toml"
    p.write_text(text)
    with pytest.raises(ValidationError) as err:
        SettingsStore(p).load()
    assert key in str(err.value)


def test_broken_toml_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "settings.toml"
    p.write_text("[smtp\nport=")
    with pytest.raises(ValidationError, match="not valid TOML"):
        SettingsStore(p).load()


def test_write_is_atomic_no_temp_left(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.toml")
    for port in range(2500, 2510):
        s = Settings()
        store.save(s.replace_section("smtp", dataclasses.replace(s.smtp, port=port)))
    # the writers' lock file stays (never removed), no temporary file does
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["settings.toml", "settings.toml.lock"]
