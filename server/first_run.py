"""The first run's settings, worked out before anything changes (pure).

``CoreServices.complete_first_run`` (server/runtime.py) checks the wizard's
choices with ``first_run_settings``, does the side effects (domain, user,
certificate) and then writes ``changed_keys(before, after)`` as one patch,
so each enabled module starts once, on its chosen ports and listen address.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from server.accounts.validate import normalize_domain
from server.api import LISTEN_ADDRESS, FirstRunSetup
from server.config.schema import SECTIONS, Settings
from server.errors import ValidationError

PORT_KEYS = ("port", "tls_port")  # the ports a wizard page may choose


def first_run_settings(
    current: Settings, setup: FirstRunSetup, modules: Iterable[str]
) -> Settings:
    """``current`` with the first run's choices; ``ValidationError`` naming
    the first bad one (an unknown reach, module or key; two enabled modules
    on one port)."""
    bind = LISTEN_ADDRESS.get(setup.reach)
    if bind is None:
        raise ValidationError("Choose who may connect.", field="reach")
    names = tuple(modules)
    dom = normalize_domain(setup.domain)
    host = setup.hostname.strip().rstrip(".").lower() or f"mail.{dom}"
    general = dataclasses.replace(current.general, domain=dom, hostname=host)
    settings = current.replace_section("general", general)
    chosen = {m.name: m for m in setup.modules}
    for name in chosen:
        if name not in names:
            raise ValidationError(f"There is no module {name!r}.", field="module")
    for name in names:
        section = getattr(settings, name, None)
        if section is None:
            continue
        values: dict[str, object] = {}
        if hasattr(section, "bind"):
            values["bind"] = bind
        choice = chosen.get(name)
        if choice is not None:
            values["enabled"] = choice.enabled
            for key, port in choice.ports:
                if key not in PORT_KEYS or not hasattr(section, key):
                    raise ValidationError(f"{name} has no setting {key!r}.", field=key)
                values[key] = port
        settings = settings.replace_section(
            name, dataclasses.replace(section, **values)
        )
    _check_ports(settings, names)
    return settings


def _check_ports(settings: Settings, names: Iterable[str]) -> None:
    used: dict[int, str] = {}
    for name in names:
        section = getattr(settings, name, None)
        if not getattr(section, "enabled", False):
            continue
        for key in PORT_KEYS:
            port = int(getattr(section, key, 0) or 0)
            if port and port in used:
                raise ValidationError(
                    f"{name} and {used[port]} cannot share port {port}.", field=key
                )
            if port:
                used[port] = name


def changed_keys(before: Settings, after: Settings) -> dict[str, dict[str, object]]:
    """Every key whose value differs, by section: the patch from one to the
    other."""
    patch: dict[str, dict[str, object]] = {}
    for name in SECTIONS:
        old, new = getattr(before, name), getattr(after, name)
        keys = {
            f.name: getattr(new, f.name)
            for f in dataclasses.fields(new)
            if getattr(old, f.name) != getattr(new, f.name)
        }
        if keys:
            patch[name] = keys
    return patch
