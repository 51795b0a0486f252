"""Load and save ``settings.toml``.

Reading validates every key against the schema (``server/config/schema.py``):
an unknown section or key, a wrong type or a bad value raises ``ValidationError``
naming it. Writing is atomic. Secrets are never written here (the relay
password lives in the keyring).
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any

from server.config.schema import (
    SCHEMA_VERSION,
    SECTIONS,
    Settings,
    default_hostname,
    validate_section,
)
from server.errors import ValidationError
from server.fsutil import atomic_write


def _coerce(section: str, name: str, annotation: Any, value: Any) -> Any:
    key = f"{section}.{name}"
    ann = str(annotation)
    if ann == "bool":
        if not isinstance(value, bool):
            raise ValidationError(f"{key}: must be true or false", field=key)
        return value
    if ann == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"{key}: must be a whole number", field=key)
        return value
    if ann == "str":
        if not isinstance(value, str):
            raise ValidationError(f"{key}: must be text", field=key)
        return value
    if ann.startswith("tuple[int"):
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ValidationError(f"{key}: must be a list of whole numbers", field=key)
        return tuple(value)
    if ann.startswith("tuple[str"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError(f"{key}: must be a list of text values", field=key)
        return tuple(value)
    raise ValidationError(f"{key}: unsupported setting type", field=key)


def settings_from_dict(data: dict[str, Any]) -> Settings:
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
        raise ValidationError(
            f"schema_version: {version!r} is not supported (this version reads "
            f"{SCHEMA_VERSION})",
            field="schema_version",
        )
    sections: dict[str, Any] = {}
    for name, table in data.items():
        if name == "schema_version":
            continue
        cls = SECTIONS.get(name)
        if cls is None:
            raise ValidationError(f"{name}: unknown settings section", field=name)
        if not isinstance(table, dict):
            raise ValidationError(f"{name}: must be a table", field=name)
        hints = typing.get_type_hints(cls)
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {}
        for key, value in table.items():
            if key not in fields:
                raise ValidationError(
                    f"{name}.{key}: unknown setting", field=f"{name}.{key}"
                )
            values[key] = _coerce(
                name,
                key,
                hints[key].__name__ if isinstance(hints[key], type) else hints[key],
                value,
            )
        obj = cls(**values)
        validate_section(name, obj)
        sections[name] = obj
    return Settings(**sections)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        out = ['"']
        for ch in value:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
        out.append('"')
        return "".join(out)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def settings_to_toml(settings: Settings) -> str:
    lines = [
        "# Quicksilver settings. Edit with the window or `quicksilver-server`;",
        "# unknown keys are refused at start. Passwords are never stored here.",
        f"schema_version = {SCHEMA_VERSION}",
    ]
    for name in SECTIONS:
        section = getattr(settings, name)
        lines.append("")
        lines.append(f"[{name}]")
        for f in dataclasses.fields(section):
            lines.append(f"{f.name} = {_toml_value(getattr(section, f.name))}")
    return "\n".join(lines) + "\n"


class SettingsStore:
    """The settings file of one data folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Settings:
        """Read and validate; a missing file gives the built-in defaults."""
        if not self.path.exists():
            return self.defaults()
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"{self.path.name}: not valid TOML ({exc})") from exc
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{self.path.name}: not UTF-8 text") from exc
        return settings_from_dict(data)

    def save(self, settings: Settings) -> None:
        for name in SECTIONS:
            validate_section(name, getattr(settings, name))
        atomic_write(self.path, settings_to_toml(settings).encode("utf-8"), mode=0o600)

    @staticmethod
    def defaults() -> Settings:
        s = Settings()
        return dataclasses.replace(
            s, general=dataclasses.replace(s.general, hostname=default_hostname())
        )
