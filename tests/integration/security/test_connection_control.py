"""Connection control: access lists, per-IP and total limits, bans."""

from __future__ import annotations

import socket

from tests.conftest import RunningCore


def _greeting(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=5) as s:
        return s.makefile("rb").readline()


def test_access_list_refuses_a_denied_network_with_554(core: RunningCore) -> None:
    core.run(
        core.api.update_settings("smtp", {"access": ("deny 127.0.0.0/8", "allow all")})
    )
    host, port = core.endpoint("smtp")
    assert _greeting(host, port).startswith(b"554 5.7.1 ")


def test_default_access_allows_loopback_and_lan_refuses_internet() -> None:
    from server.config.schema import SecuritySettings
    from server.netcontrol import is_allowed, parse_rules

    rules = parse_rules(SecuritySettings().access)
    for ok in (
        "127.0.0.1",
        "::1",
        "192.168.1.20",
        "10.9.8.7",
        "172.20.0.1",
        "fe80::1",
        "::ffff:192.168.0.4",
    ):
        assert is_allowed(rules, ok), ok
    for bad in ("8.8.8.8", "2001:db8::1", "172.32.0.1", "not-an-ip", ""):
        assert not is_allowed(rules, bad), bad


def test_connections_per_ip_are_limited(core: RunningCore) -> None:
    core.run(core.api.update_settings("security", {"max_connections_per_ip": 2}))
    core.run(core.api.restart_module("smtp"))
    host, port = core.endpoint("smtp")
    held = []
    try:
        for _ in range(2):
            s = socket.create_connection((host, port), timeout=5)
            held.append(s)
            assert s.makefile("rb").readline().startswith(b"220 ")
        assert _greeting(host, port).startswith(b"421 4.7.0 Too many connections")
    finally:
        for s in held:
            s.close()


def test_total_connections_are_limited(core: RunningCore) -> None:
    core.run(core.api.update_settings("security", {"max_connections": 3}))
    core.run(core.api.restart_module("smtp"))
    host, port = core.endpoint("smtp")
    held = []
    try:
        for _ in range(3):
            s = socket.create_connection((host, port), timeout=5)
            held.append(s)
            s.makefile("rb").readline()
        assert _greeting(host, port).startswith(b"421 4.3.2 Too many connections")
    finally:
        for s in held:
            s.close()
