"""``quicksilver-server config list|get|set``: every setting the window's
dialogs edit, from the shell, with the same checks (``SettingsStore.patch``:
the type, then the section's rules). A running server applies a change
within a second, as it does for the window's.

Keys are ``section.name`` (``relay.host``, ``smtp.max_recipients``). Values
are typed as on a command line: ``true``/``false`` (also on/off, yes/no),
whole numbers, numbers, text; a list is comma-separated (an empty string
empties it). ``relay.password`` is not a setting but a secret: it is read
from standard input (``--password-stdin``) and kept where the window keeps it
(the keyring, or the 0600 secrets file).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.cli_output import print_json
from server.config.schema import SECTIONS, Settings
from server.config.store import SettingsStore, field_types
from server.errors import ValidationError
from server.secrets import SecretStore, relay_key

PASSWORD_KEY = "relay.password"
_TRUE = {"true", "on", "yes", "1"}
_FALSE = {"false", "off", "no", "0"}


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="list, show and change settings")
    psub = p.add_subparsers(dest="action", required=True)
    ls = psub.add_parser("list", help="every setting (or one section's)")
    ls.add_argument("section", nargs="?")
    ls.add_argument("--json", action="store_true")
    get = psub.add_parser("get", help="one setting's value")
    get.add_argument("key", help="section.name, e.g. relay.host")
    get.add_argument("--json", action="store_true")
    put = psub.add_parser("set", help="change a setting (checked as in the window)")
    put.add_argument("key", help="section.name, e.g. smtp.max_recipients")
    put.add_argument("value", nargs="?", help="the new value (a list: a,b,c)")
    put.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"for {PASSWORD_KEY}: read it from standard input",
    )


def run(
    args: argparse.Namespace,
    store: SettingsStore,
    data_dir: Path,
    read_password: Callable[[bool], str],
) -> int:
    settings = store.load()
    if args.action == "list":
        values = _flat(settings, args.section)
        if args.json:
            print_json(values)
        else:
            for key, value in values.items():
                print(f"{key} = {_show(value)}")
        return 0
    if args.action == "get":
        section, name = _split(args.key)
        value = _value(getattr(settings, section), name)
        print(json.dumps(value) if args.json else _show(value))
        return 0
    if args.key == PASSWORD_KEY:
        return _set_password(args, settings, data_dir, read_password)
    if args.value is None:
        raise ValidationError(f"config set {args.key}: give the new value")
    section, name = _split(args.key)
    value = parse_value(section, name, args.value)
    new = store.patch({section: {name: value}}).settings
    print(f"{args.key} = {_show(_value(getattr(new, section), name))}")
    print("saved (a running server applies it within a second)")
    return 0


def parse_value(section: str, name: str, text: str) -> Any:
    """A command-line word as the setting's type; ``ValidationError`` with
    the same words as the settings file's checks."""
    key = f"{section}.{name}"
    kind = str(field_types(SECTIONS[section])[name])
    if kind == "bool":
        word = text.strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise ValidationError(f"{key}: must be true or false", field=key)
    if kind == "int":
        try:
            return int(text.strip())
        except ValueError:
            raise ValidationError(f"{key}: must be a whole number", field=key) from None
    if kind == "float":
        try:
            return float(text.strip())
        except ValueError:
            raise ValidationError(f"{key}: must be a number", field=key) from None
    if kind.startswith("tuple"):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if kind.startswith("tuple[int"):
            try:
                return [int(t) for t in items]
            except ValueError:
                raise ValidationError(
                    f"{key}: whole numbers separated by commas", field=key
                ) from None
        return items
    return text


def _split(key: str) -> tuple[str, str]:
    section, dot, name = key.partition(".")
    if not dot or section not in SECTIONS:
        known = ", ".join(sorted(SECTIONS))
        raise ValidationError(
            f"{key}: not a setting (section.name; the sections are {known})"
        )
    if name not in field_types(SECTIONS[section]):
        raise ValidationError(
            f"{key}: unknown setting (quicksilver-server config list {section})"
        )
    return section, name


def _value(section: object, name: str) -> Any:
    value = getattr(section, name)
    return list(value) if isinstance(value, tuple) else value


def _flat(settings: Settings, only: str | None) -> dict[str, Any]:
    if only is not None and only not in SECTIONS:
        raise ValidationError(
            f"{only}: no such section (the sections are {', '.join(sorted(SECTIONS))})"
        )
    out: dict[str, Any] = {}
    for name in SECTIONS:
        if only is not None and name != only:
            continue
        section = getattr(settings, name)
        for f in dataclasses.fields(section):
            out[f"{name}.{f.name}"] = _value(section, f.name)
    return out


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _set_password(
    args: argparse.Namespace,
    settings: Settings,
    data_dir: Path,
    read_password: Callable[[bool], str],
) -> int:
    if args.value is not None:
        raise ValidationError(
            f"{PASSWORD_KEY} is never given on the command line (it would stay "
            "in the shell's history): use --password-stdin"
        )
    cfg = settings.relay
    if not cfg.host or not cfg.username:
        raise ValidationError(
            "set relay.host and relay.username first", field="relay.username"
        )
    password = read_password(args.password_stdin)
    secrets = SecretStore(data_dir)
    key = relay_key(cfg.host, cfg.username)
    if password:
        secrets.set(key, password)
        print(f"password for {cfg.username} at {cfg.host} saved")
    else:
        secrets.delete(key)
        print(f"password for {cfg.username} at {cfg.host} removed")
    print(f"kept in: {secrets.backend_description()}")
    print(
        "a running server uses it when the relay module starts again "
        "(quicksilver-server module disable relay, then enable relay)"
    )
    return 0
