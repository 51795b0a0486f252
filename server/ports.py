"""Is this port free? The probe behind the wizard's ports page (and, through the
facade, anything else that asks before saving a port).

A probe binds and listens the way a module's listener would (``SO_REUSEADDR``
on POSIX, as asyncio's ``create_server`` sets it), then closes at once. Blocking:
callers run ``check_ports`` in a worker thread; one probe runs at a time
(``_PROBE_LOCK``) so two of our own probes never collide on a port and report
each other as "another program". A port that one of our own running modules
listens on is named as such instead of being probed.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# How far up from the preferred port a free one is looked for.
SUGGESTION_TRIES = 50
# At most this many ports are probed per call (the wizard asks for 7).
MAX_PROBES = 64

_PROBE_LOCK = threading.Lock()


@dataclass(frozen=True)
class PortQuery:
    bind: str
    port: int
    preferred: int  # where to start looking for a free port when this one is not
    taken: frozenset[int] = frozenset()  # ports the caller is about to use itself


@dataclass(frozen=True)
class PortCheck:
    problem: str  # "" when the port is free
    suggestion: int = 0  # a free port to offer instead (0: none found)


def needs_privilege(port: int) -> bool:
    """Ports below 1024 need root (or CAP_NET_BIND_SERVICE) on POSIX."""
    geteuid = getattr(os, "geteuid", None)
    return (
        0 < port < 1024
        and os.name == "posix"
        and geteuid is not None
        and geteuid() != 0
    )


def port_problem(bind: str, port: int, ours: Mapping[int, str] | None = None) -> str:
    """'' if a listener could bind ``bind:port`` now, else why not, in words."""
    if port == 0:
        return ""
    if ours and port in ours:
        return f"Port {port} is used by Quicksilver's {ours[port]} module."
    if needs_privilege(port):
        return f"Port {port} needs administrator rights."
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    host = "" if bind in ("0.0.0.0", "::") else bind
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            if os.name == "posix":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(1)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return f"Port {port} is in use by another program."
        if exc.errno in (errno.EACCES, errno.EPERM):
            return f"Port {port} needs administrator rights."
        if exc.errno == errno.EADDRNOTAVAIL:
            return f"The address {bind} does not belong to this computer."
        return f"Cannot listen on port {port}: {exc.strerror or exc}"
    return ""


def suggest_port(
    bind: str, start: int, taken: frozenset[int], ours: Mapping[int, str] | None = None
) -> int:
    """The first port from ``start`` up that is free and not ``taken`` (0: none)."""
    for port in range(max(1, start), min(65536, start + SUGGESTION_TRIES)):
        if port not in taken and not port_problem(bind, port, ours):
            return port
    return 0


def check_ports(
    queries: Sequence[PortQuery], ours: Mapping[int, str] | None = None
) -> tuple[PortCheck, ...]:
    """Probe each query's port; for a port that is not free, suggest one that is.

    ``ours`` maps the ports our running modules listen on to their titles.
    Blocking: run it in a worker thread.
    """
    if len(queries) > MAX_PROBES:
        raise ValueError(f"at most {MAX_PROBES} ports per check")
    with _PROBE_LOCK:
        out: list[PortCheck] = []
        for q in queries:
            problem = port_problem(q.bind, q.port, ours)
            if not problem:
                out.append(PortCheck(""))
                continue
            suggestion = suggest_port(q.bind, q.preferred, q.taken | {q.port}, ours)
            out.append(PortCheck(problem, suggestion))
        return tuple(out)
