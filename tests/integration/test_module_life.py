"""Module life: stop() closes live sessions, including clients stuck in a TLS
handshake on an implicit-TLS port; a refused client costs no handshake."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from server.runtime import wait_for
from tests.conftest import start_core


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
