"""Small policy helpers shared by the protocol modules."""

from __future__ import annotations

import ipaddress


def peer_ip(peername: object) -> str:
    """The IP address part of a transport's ``peername`` ('' when unknown)."""
    if isinstance(peername, tuple) and peername:
        return str(peername[0])
    return ""


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def plaintext_login_allowed(policy: str, ip: str, tls_active: bool) -> bool:
    """May a client send a password on this connection?

    ``policy`` is ``never`` / ``loopback`` / ``always`` (the *plaintext_login*
    setting); over TLS a password is always allowed.
    """
    if tls_active:
        return True
    if policy == "always":
        return True
    if policy == "loopback":
        return is_loopback(ip)
    return False
