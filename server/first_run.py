"""The first run: the wizard's choices applied in one step.

``complete_first_run`` (``CoreApi.complete_first_run`` calls it) checks
every choice before it changes anything: the settings they make
(``first_run_settings``, pure), the first user and the certificate. Then it
makes the domain, the certificate and the user, and writes
``changed_keys(before, after)`` as one patch, so each enabled module starts
once, on its chosen ports and listen address.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from server.accounts.strength import password_problem
from server.accounts.validate import (
    check_password,
    normalize_address,
    normalize_domain,
    split_address,
)
from server.api import LISTEN_ADDRESS, FirstRunSetup
from server.config.schema import SECTIONS, Settings
from server.errors import ValidationError
from server.tls import check_pair

if TYPE_CHECKING:
    from server.runtime import CoreServices

log = logging.getLogger("quicksilver.core")

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


async def complete_first_run(core: CoreServices, setup: FirstRunSetup) -> Settings:
    """The wizard's choices in one step (``CoreApi.complete_first_run``).

    Issue 10: the wizard used to call ``first_run`` (which started every
    enabled module on its defaults, 0.0.0.0), then change each module's
    ports and enable it (two more restarts). Here nothing listens until
    the whole new settings are written once, and each enabled module then
    starts once, on the chosen ports and listen address.
    """
    # checks; changes nothing
    settings = first_run_settings(core.settings, setup, core.modules)
    user_address = ""
    if setup.user is not None:
        user_address = normalize_address(setup.user.address)
        if split_address(user_address)[1] != settings.general.domain:
            raise ValidationError(
                f"The first user must be in {settings.general.domain}.",
                field="user",
            )
        check_password(setup.user.password)
        weak = await asyncio.to_thread(
            password_problem, setup.user.password, [user_address]
        )
        if weak:
            raise ValidationError(weak, field="password")
    if setup.certificate is not None:
        await asyncio.to_thread(check_pair, *setup.certificate)
    # -- checked: now change, in an order that a retry repeats harmlessly
    dom = settings.general.domain
    if not core.accounts.is_local_domain(dom):
        await asyncio.to_thread(core.accounts.add_domain, dom)
    await asyncio.to_thread(core.accounts.set_primary_domain, dom)
    core.accounts_changed("domains")
    if setup.certificate is not None:
        await asyncio.to_thread(core.tls.import_pair, *setup.certificate)
    else:  # ours, made for the machine name at start: remake it for this one
        await asyncio.to_thread(core.tls.hostname_changed, settings.general.hostname)
    if setup.user is not None:
        new = setup.user
        if core.accounts.get_user(user_address) is None:
            await asyncio.to_thread(
                functools.partial(
                    core.accounts.add_user,
                    user_address,
                    new.password,
                    display_name=new.display_name,
                    quota_bytes=new.quota_bytes,
                    enabled=new.enabled,
                )
            )
        else:  # an earlier attempt got this far
            await asyncio.to_thread(
                core.accounts.set_password, user_address, new.password
            )
        await core.store.ensure_user(user_address)
        core.accounts_changed("users")
    # one patch of every key the choices change, under the settings lock;
    # the first mail domain then starts each enabled module once
    patch = changed_keys(core.settings, settings)
    had_domain = bool(core.settings.general.domain)
    settings = await core.update_settings(patch)
    if had_domain:  # a repeated first run: else the new domain started them
        await core.start_enabled()
    log.info("first-run setup done for %s", dom)
    return settings
