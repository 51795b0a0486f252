"""Connection control: who may connect to a module (pure logic, no sockets).

An access list is an ordered tuple of rules, ``"allow NET"`` or ``"deny NET"``
(NET: a CIDR network, one address, or ``all``), each with an optional
``# comment``; the first rule that matches the
peer's address decides, and a peer no rule matches is refused. The default
(``security.access``) allows loopback and the private LAN ranges and refuses the
internet until the administrator allows it. A module's own ``access`` setting,
when not empty, replaces the default for that module.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from server.errors import ValidationError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AccessRule:
    allow: bool
    network: Network | None  # None = all

    def matches(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if self.network is None:
            return True
        return ip.version == self.network.version and ip in self.network


def parse_rule(text: str) -> AccessRule:
    """``allow NET`` or ``deny NET``, with an optional ``# comment``."""
    parts = text.split("#", 1)[0].split()
    if len(parts) != 2 or parts[0].lower() not in ("allow", "deny"):
        raise ValidationError(
            f"access rule {text!r}: write 'allow NETWORK' or 'deny NETWORK'",
            field="access",
        )
    verb, target = parts[0].lower(), parts[1]
    if target.lower() in ("all", "any", "*"):
        return AccessRule(verb == "allow", None)
    try:
        net = ipaddress.ip_network(target, strict=False)
    except ValueError:
        raise ValidationError(
            f"access rule {text!r}: {target!r} is not a network (e.g. 192.168.1.0/24)",
            field="access",
        ) from None
    return AccessRule(verb == "allow", net)


def parse_rules(rules: tuple[str, ...]) -> tuple[AccessRule, ...]:
    return tuple(parse_rule(r) for r in rules)


def first_match(rules: tuple[AccessRule, ...], ip_text: str) -> int | None:
    """The index of the rule that decides for ``ip_text`` (None: no rule
    matches, or not an address: refused)."""
    try:
        ip = ipaddress.ip_address(ip_text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for i, rule in enumerate(rules):
        if rule.matches(ip):
            return i
    return None


def is_allowed(rules: tuple[AccessRule, ...], ip_text: str) -> bool:
    i = first_match(rules, ip_text)
    return i is not None and rules[i].allow
