"""Load and change ``settings.toml``: one file, several writers, no lost update.

Reading validates every key against the schema (``server/config/schema.py``):
an unknown section or key, a wrong type or a bad value raises ``ValidationError``
naming it. Secrets are never written here (the relay password lives in the
keyring).

Writers live in several processes (the core of the window or of a headless
server, and every ``quicksilver-server`` command), so a change is a *patch*
(section -> key -> value, only the keys the person changed), applied by
``SettingsStore.patch`` under an exclusive lock on ``settings.toml.lock``
(``server/config/filelock.py``): read the file as it is now, apply the patch,
validate, write durably (tmp, fsync, rename, fsync of the folder:
``server/fsutil.py``), release. A writer holding an old copy can therefore
never put back values another writer changed since. Reads take the same lock
(on Windows a file open for reading cannot be renamed over). A running core
notices a change by another writer by comparing the file's bytes
(``runtime.CoreServices.reload_settings``).
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.config.filelock import exclusive_lock
from server.config.schema import (
    SCHEMA_VERSION,
    SECTIONS,
    Settings,
    default_hostname,
    validate_section,
)
from server.errors import ValidationError
from server.fsutil import atomic_write

# section -> key -> new value: what one change of the settings carries.
Patch = Mapping[str, Mapping[str, Any]]


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
    if ann == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(f"{key}: must be a number", field=key)
        return float(value)
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


_FIELD_TYPES: dict[type[Any], dict[str, Any]] = {}


def field_types(cls: type[Any]) -> dict[str, Any]:
    """Field name -> its type, as ``_coerce`` reads it (worked out once per
    section class: ``get_type_hints`` costs about 0.1 ms a call)."""
    known = _FIELD_TYPES.get(cls)
    if known is not None:
        return known
    hints = typing.get_type_hints(cls)
    types = {
        f.name: hints[f.name].__name__
        if isinstance(hints[f.name], type)
        else hints[f.name]
        for f in dataclasses.fields(cls)
    }
    _FIELD_TYPES[cls] = types
    return types


def _coerce_field(cls: type[Any], section: str, key: str, value: Any) -> Any:
    """Check one value of ``section`` against its field's type (as read from
    TOML: a list where the field holds a tuple)."""
    types = field_types(cls)
    if key not in types:
        raise ValidationError(
            f"{section}.{key}: unknown setting", field=f"{section}.{key}"
        )
    return _coerce(section, key, types[key], value)


def apply_patch(settings: Settings, patch: Patch) -> Settings:
    """``settings`` with the keys of ``patch`` changed, each checked like a key
    read from the file (type, then the section's rules)."""
    new = settings
    for name, values in patch.items():
        cls = SECTIONS.get(name)
        if cls is None:
            raise ValidationError(f"{name}: unknown settings section", field=name)
        checked = {
            key: _coerce_field(cls, name, key, list(v) if isinstance(v, tuple) else v)
            for key, v in values.items()
        }
        section = dataclasses.replace(getattr(new, name), **checked)
        new = new.replace_section(name, section)
    return new


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
        values = {key: _coerce_field(cls, name, key, v) for key, v in table.items()}
        obj = cls(**values)
        validate_section(name, obj)
        sections[name] = obj
    return Settings(**sections)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
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


@dataclass(frozen=True)
class SettingsFile:
    """The settings and the exact bytes of the file they came from (``b""``
    when there is no file): a core compares bytes to notice another writer."""

    settings: Settings
    raw: bytes


class SettingsStore:
    """The settings file of one data folder, shared by every process that
    uses that folder (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    # -- reading -------------------------------------------------------------------
    def load(self) -> Settings:
        """Read and validate; a missing file gives the built-in defaults."""
        return self.read().settings

    def read(self) -> SettingsFile:
        raw = self.read_raw()
        return SettingsFile(self.parse(raw), raw or b"")

    def read_raw(self) -> bytes | None:
        """The file's bytes, ``None`` if it is missing (not parsed)."""
        if not self.path.parent.is_dir():  # no data folder yet: nothing to lock
            return None
        with exclusive_lock(self.lock_path):
            return self._read_raw()

    def parse(self, raw: bytes | None) -> Settings:
        if raw is None:
            return self.defaults()
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"{self.path.name}: not valid TOML ({exc})") from exc
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{self.path.name}: not UTF-8 text") from exc
        return settings_from_dict(data)

    def _read_raw(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    # -- writing -------------------------------------------------------------------
    def patch(self, patch: Patch) -> SettingsFile:
        """Apply ``patch`` to the file as it is now, under the lock; return the
        result. Nothing is written when nothing changes. A file that is not
        valid is left as it is (a person may be editing it) and the patch is
        refused with the reason."""
        with exclusive_lock(self.lock_path):
            raw = self._read_raw()
            try:
                current = self.parse(raw)
            except ValidationError as exc:
                raise ValidationError(
                    f"{exc} -- nothing was changed; correct {self.path} first"
                ) from exc
            new = apply_patch(current, patch)
            if raw is not None and new == current:
                return SettingsFile(current, raw)
            return SettingsFile(new, self._write(new))

    def create_if_missing(self, settings: Settings) -> SettingsFile | None:
        """Write ``settings`` if there is no file (a first start, or the file
        was removed while a core ran); ``None`` if there was one."""
        with exclusive_lock(self.lock_path):
            if self.path.exists():
                return None
            return SettingsFile(settings, self._write(settings))

    def save(self, settings: Settings) -> None:
        """Replace the whole file: for a new data folder (tests, tools). A
        running system changes settings with ``patch`` only."""
        with exclusive_lock(self.lock_path):
            self._write(settings)

    def _write(self, settings: Settings) -> bytes:
        for name in SECTIONS:
            validate_section(name, getattr(settings, name))
        data = settings_to_toml(settings).encode("utf-8")
        atomic_write(self.path, data, mode=0o600)
        return data

    @staticmethod
    def defaults() -> Settings:
        s = Settings()
        return dataclasses.replace(
            s, general=dataclasses.replace(s.general, hostname=default_hostname())
        )
