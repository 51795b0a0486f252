"""Small text formatters shared by models and views (no Qt)."""

from __future__ import annotations

import time

from server.modules.base import Endpoint

_UNITS = ("B", "KB", "MB", "GB", "TB")


def human_size(n: int) -> str:
    """1536 -> '1.5 KB'; 0 -> '0 B'."""
    size = float(n)
    for unit in _UNITS:
        if size < 1024 or unit == _UNITS[-1]:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def endpoint_text(ep: Endpoint) -> str:
    host = f"[{ep.host}]" if ":" in ep.host else ep.host
    suffix = {"implicit": " (TLS)", "starttls": ""}.get(ep.security, "")
    return f"{host}:{ep.port}{suffix}"


def clock_text(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def configured_address(section: object) -> str:
    """'bind:port' (and the TLS port) from a module's settings, 'outbound…' for
    delivery modules, 'inbound…' for the collector, or '' for sections that
    are not modules."""
    bind = getattr(section, "bind", None)
    port = getattr(section, "port", None)
    if hasattr(section, "messages_per_poll"):  # the collector
        return "inbound from remote mailboxes (Collector tab)"
    if port is None:
        return ""
    if bind is None:  # an outbound module (relay, mx)
        host = getattr(section, "host", "")
        return f"outbound via {host}:{port}" if host else "outbound"
    parts = [endpoint_text(Endpoint(bind, port))]
    tls_port = getattr(section, "tls_port", None)
    if tls_port is not None:
        parts.append(endpoint_text(Endpoint(bind, tls_port, "implicit")))
    return ", ".join(parts)
