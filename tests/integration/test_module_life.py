"""Module life: stop() closes live sessions, including clients stuck in a TLS
handshake on an implicit-TLS port; a refused client costs no handshake."""

from __future__ import annotations

import poplib
import smtplib
import socket
import ssl
from pathlib import Path

import pytest

from server.config.schema import Settings
from server.errors import ValidationError
from server.modules.base import Listener, Module, ModuleContext
from server.runtime import wait_for
from tests.conftest import RunningCore, start_core


def test_stop_closes_clients_stuck_in_the_tls_handshake(tmp_path: Path) -> None:
    c = start_core(tmp_path / "data", enabled=("pop3", "imap"))
    stuck: list[socket.socket] = []
    try:
        try:
            for module in ("pop3", "imap"):
                s = socket.create_connection(c.endpoint(module, "implicit"), timeout=5)
                stuck.append(s)  # connected, never says hello

            def both_accepted() -> bool:
                st = {m.name: m.sessions for m in c.run(c.api.modules())}
                return st["pop3"] == 1 and st["imap"] == 1

            assert wait_for(both_accepted, 5)
        finally:
            c.runtime.stop()
        for s in stuck:
            s.settimeout(5)
            assert s.recv(100) == b""  # closed by the server, not left hanging
    finally:
        for s in stuck:
            s.close()


def test_implicit_tls_session_after_the_guard(tmp_path: Path) -> None:
    c = start_core(tmp_path / "data", enabled=("pop3",))
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(c.endpoint("pop3", "implicit"), timeout=5)
        with ctx.wrap_socket(raw) as tls:
            assert tls.recv(100).startswith(b"+OK")
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        c.runtime.stop()


def test_refused_client_on_a_tls_port_is_closed_before_any_handshake(
    tmp_path: Path,
) -> None:
    c = start_core(tmp_path / "data", enabled=("pop3",))
    try:
        c.run(c.api.update_settings("pop3", {"access": ("deny all",)}))
        raw = socket.create_connection(c.endpoint("pop3", "implicit"), timeout=5)
        raw.settimeout(5)
        assert raw.recv(100) == b""  # no ServerHello, no plaintext either
        raw.close()
    finally:
        c.runtime.stop()


def test_nothing_listens_before_the_first_run_setup(tmp_path: Path) -> None:
    """A fresh data folder has no mail domain: no module opens a port until the
    first-run settings are given; then the enabled ones start."""
    import dataclasses

    from server.config.store import SettingsStore
    from server.runtime import Runtime

    data = tmp_path / "data"
    data.mkdir()
    store = SettingsStore(data / "settings.toml")
    s = store.defaults()
    for name in ("smtp", "pop3", "imap"):
        sec = getattr(s, name)
        s = s.replace_section(
            name,
            dataclasses.replace(
                sec,
                bind="127.0.0.1",
                port=0,
                **({"tls_port": 0} if hasattr(sec, "tls_port") else {}),
            ),
        )
    store.save(s)  # defaults, but loopback and port 0; no domain
    rt = Runtime(data)
    rt.start()
    try:
        mods = {m.name: m for m in rt.run(rt.api.modules())}
        assert all(
            m.state.value == "STOPPED" and not m.endpoints for m in mods.values()
        )
        assert rt.run(rt.api.snapshot()).needs_first_run
        rt.run(rt.api.first_run("example.test", "mail.example.test"))
        mods = {m.name: m for m in rt.run(rt.api.modules())}
        assert {n for n, m in mods.items() if m.state.value == "RUNNING"} == {
            "smtp",
            "pop3",
            "imap",
        }
    finally:
        rt.stop()


def _states(c: RunningCore) -> dict[str, tuple[str, str]]:
    return {m.name: (m.state.value, m.last_error) for m in c.run(c.api.modules())}


def _core_with_pop3_failed(tmp_path: Path, reason: str) -> RunningCore:
    """A core with SMTP and POP3 ticked, checked: POP3 FAILED with
    ``reason``, SMTP running all the same."""
    c = start_core(tmp_path / "data", enabled=("smtp", "pop3"))
    try:
        states = _states(c)
        assert states["pop3"] == ("FAILED", reason)
        assert states["smtp"][0] == "RUNNING"
    except BaseException:
        c.runtime.stop()
        raise
    return c


def test_a_module_whose_start_raises_is_failed_and_the_rest_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception in a module's start (not a ModuleStartError)
    marks that module FAILED with the reason; the others keep serving; a
    tick after the fault is gone starts it."""
    from server.protocols.pop3.module import Pop3Module

    real = Pop3Module.listeners

    def broken(self: Pop3Module) -> list[Listener]:
        raise RuntimeError("the disk said no")

    monkeypatch.setattr(Pop3Module, "listeners", broken)
    c = _core_with_pop3_failed(tmp_path, "Could not start: the disk said no")
    try:
        with smtplib.SMTP(*c.endpoint("smtp"), timeout=10) as s:
            assert s.noop()[0] == 250
        monkeypatch.setattr(Pop3Module, "listeners", real)
        c.run(c.api.set_module_enabled("pop3", True))
        assert _states(c)["pop3"] == ("RUNNING", "")
        p = poplib.POP3(*c.endpoint("pop3"), timeout=10)
        try:
            assert p.getwelcome().startswith(b"+OK")
        finally:
            p.quit()
    finally:
        c.runtime.stop()


def test_a_module_whose_settings_check_fails_at_start_is_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.protocols.pop3.module import Pop3Module

    seen: list[Settings] = []

    def refuse(self: Pop3Module, settings: Settings) -> None:
        seen.append(settings)
        raise ValidationError("pop3.port: not today", field="pop3.port")

    monkeypatch.setattr(Pop3Module, "configure", refuse)
    c = _core_with_pop3_failed(tmp_path, "pop3.port: not today")
    try:
        # the check is handed the whole settings in use, not a section
        assert seen and seen[-1] is c.runtime.services.settings
    finally:
        c.runtime.stop()


def test_a_module_that_cannot_be_made_shows_failed_when_ticked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module whose constructor raises stands in as FAILED (ticked) or
    STOPPED (not ticked), never missing; the other modules start."""
    import dataclasses

    from server.modules import registry

    def cannot(ctx: ModuleContext) -> Module:
        raise OSError("no such thing")

    swapped = [
        dataclasses.replace(m, factory=cannot) if m.name == "pop3" else m
        for m in registry.modules()
    ]
    monkeypatch.setattr(registry, "_modules", swapped)
    c = _core_with_pop3_failed(tmp_path, "Cannot set up: no such thing")
    try:
        c.run(c.api.set_module_enabled("pop3", False))
        assert _states(c)["pop3"][0] == "STOPPED"
        c.run(c.api.update_settings("pop3", {"timeout": 900}))  # still harmless
        c.run(c.api.set_module_enabled("pop3", True))
        assert _states(c)["pop3"] == ("FAILED", "Cannot set up: no such thing")
    finally:
        c.runtime.stop()
