"""Connection control rules: ordered allow/deny, IPv6, per-module override."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from server.config.schema import Pop3Settings, SecuritySettings, Settings, SmtpSettings
from server.errors import ValidationError
from server.events import EventBus
from server.modules.base import ListenerModule, ModuleContext, RefusalKind
from server.netcontrol import is_allowed, parse_rule, parse_rules


def test_first_matching_rule_decides_deny_before_allow() -> None:
    rules = parse_rules(("deny 192.168.1.66", "allow 192.168.1.0/24", "deny all"))
    assert not is_allowed(rules, "192.168.1.66")
    assert is_allowed(rules, "192.168.1.67")
    assert not is_allowed(rules, "192.168.2.1")


def test_allow_before_deny_lets_the_earlier_rule_win() -> None:
    rules = parse_rules(("allow 192.168.1.0/24", "deny 192.168.1.66"))
    assert is_allowed(rules, "192.168.1.66")


def test_a_peer_no_rule_matches_is_refused() -> None:
    assert not is_allowed(parse_rules(("allow 10.0.0.0/8",)), "192.168.1.1")
    assert not is_allowed((), "127.0.0.1")


def test_ipv6_rules_match_ipv6_peers_only() -> None:
    rules = parse_rules(("deny 2001:db8:bad::/48", "allow 2001:db8::/32", "deny all"))
    assert is_allowed(rules, "2001:db8:1::5")
    assert not is_allowed(rules, "2001:db8:bad::5")
    assert not is_allowed(rules, "2001:db9::1")
    assert not is_allowed(parse_rules(("allow 0.0.0.0/0",)), "2001:db8::1")
    assert is_allowed(parse_rules(("allow ::/0",)), "2001:db8::1")


def test_ipv6_scope_ids_and_mapped_ipv4_are_judged_by_the_address() -> None:
    rules = parse_rules(("allow fe80::/10", "allow 192.168.0.0/16", "deny all"))
    assert is_allowed(rules, "fe80::1%eth0")
    assert is_allowed(rules, "::ffff:192.168.3.4")
    assert not is_allowed(rules, "::ffff:8.8.8.8")
    assert not is_allowed(
        parse_rules(("deny ::ffff:0:0/96", "deny all")), "::ffff:1.2.3.4"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "permit all",
        "allow",
        "allow 300.1.1.1",
        "deny 10.0.0.0/99",
        "allow a b",
        "allow example.com",
    ],
)
def test_malformed_rules_are_refused_with_a_message(bad: str) -> None:
    with pytest.raises(ValidationError):
        parse_rule(bad)


class _Auth:
    def __init__(self, banned: set[str] | None = None) -> None:
        self.banned = banned or set()

    async def authenticate(self, *a: Any, **k: Any) -> None:
        return None

    def is_banned(self, ip: str) -> bool:
        return ip in self.banned


class _Module(ListenerModule):
    name = "smtp"

    def __init__(self, settings: Settings, auth: _Auth | None = None) -> None:
        super().__init__(EventBus(), logging.getLogger("test"))
        self.ctx = ModuleContext(
            events=self.events,
            settings=lambda: settings,
            accounts=None,
            store=None,
            delivery=None,
            tls=None,
            auth=auth or _Auth(),  # type: ignore[arg-type]
        )


def _refused(m: ListenerModule, ip: str) -> tuple[RefusalKind, str]:
    refused = m.admission(ip)
    assert refused is not None, f"{ip} was admitted"
    return refused.kind, refused.reason


def test_module_access_list_overrides_the_global_one() -> None:
    s = Settings(
        security=SecuritySettings(access=("allow 127.0.0.0/8", "deny all")),
        smtp=SmtpSettings(access=("allow 192.168.5.0/24", "deny all")),
    )
    smtp = _Module(s)
    assert smtp.admission("192.168.5.9") is None
    assert _refused(smtp, "127.0.0.1") == (  # global rule not consulted
        RefusalKind.NOT_ALLOWED,
        "Connections from your address are not allowed",
    )
    pop3 = _Module(s)
    pop3.name = "pop3"  # no own list: the global one applies
    assert pop3.admission("127.0.0.1") is None
    assert _refused(pop3, "192.168.5.9")[0] is RefusalKind.NOT_ALLOWED


def test_empty_module_access_list_falls_back_to_the_global_one() -> None:
    s = Settings(pop3=Pop3Settings(access=()))
    m = _Module(s)
    m.name = "pop3"
    assert m.admission("192.168.1.2") is None
    assert m.admission("8.8.8.8") is not None


def test_bans_are_checked_before_the_access_list() -> None:
    s = Settings(smtp=SmtpSettings(access=("allow all",)))
    m = _Module(s, _Auth({"192.168.1.50"}))
    kind, reason = _refused(m, "192.168.1.50")
    assert kind is RefusalKind.BANNED and "failed logins" in reason


def test_connection_limits_apply_per_ip_and_in_total() -> None:
    s = Settings(
        security=dataclasses.replace(
            SecuritySettings(), max_connections_per_ip=2, max_connections=3
        )
    )
    m = _Module(s)
    m.session_opened(1, "127.0.0.1:1000", None)
    m.session_opened(2, "127.0.0.1:1001", None)
    kind, reason = _refused(m, "127.0.0.1")
    assert kind is RefusalKind.PER_IP and "from your address" in reason
    assert m.admission("127.0.0.2") is None
    m.session_opened(3, "[::1]:1002", None)
    assert _refused(m, "::1") == (
        RefusalKind.TOTAL,
        "Too many connections; try again later",
    )
    m.session_closed(1)
    assert m.admission("127.0.0.1") is None


def test_per_ip_limit_counts_mapped_ipv4_and_ipv6_by_64() -> None:
    """Issue 10 (bans): a dual-stack listener sees an IPv4 client as
    ``::ffff:a.b.c.d``, and an IPv6 client can pick any address of its /64;
    the per-IP limit counts them as bans do, or one client gets twice the
    limit (mapped) or an unlimited number (IPv6) of connections."""
    s = Settings(
        security=dataclasses.replace(
            SecuritySettings(), max_connections_per_ip=2, max_connections=100
        ),
        smtp=SmtpSettings(access=("allow all",)),
    )
    m = _Module(s)
    m.session_opened(1, "127.0.0.1:1000", None)
    m.session_opened(2, "[::ffff:127.0.0.1]:1001", None)
    assert _refused(m, "::ffff:127.0.0.1")[0] is RefusalKind.PER_IP
    assert _refused(m, "127.0.0.1")[0] is RefusalKind.PER_IP
    m.session_opened(3, "[2001:db8:1:2::5]:1002", None)
    m.session_opened(4, "[2001:db8:1:2::6]:1003", None)
    assert _refused(m, "2001:db8:1:2::7")[0] is RefusalKind.PER_IP
    assert m.admission("2001:db8:1:3::7") is None
