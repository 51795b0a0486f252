"""Thunderbird (Mozilla ISPDB) autoconfig: ``config-v1.1.xml`` for our domain.

Pure: values in, XML text out. Thunderbird reads the file from
``http://autoconfig.<domain>/mail/config-v1.1.xml`` or from
``<thunderbird>/isp/<domain>.xml``; the format is described at
https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

SOCKET_TYPES = ("SSL", "STARTTLS", "plain")
KINDS = ("imap", "pop3", "smtp")


@dataclass(frozen=True)
class ServerEntry:
    """One way in: ``kind`` imap/pop3 (incoming) or smtp (outgoing)."""

    kind: str
    port: int
    socket_type: str  # "SSL" (implicit TLS) | "STARTTLS" | "plain"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown server kind {self.kind!r}")
        if self.socket_type not in SOCKET_TYPES:
            raise ValueError(f"unknown socket type {self.socket_type!r}")
        if not 0 < self.port <= 65535:
            raise ValueError(f"bad port {self.port}")


def autoconfig_xml(
    domain: str,
    hostname: str,
    servers: Iterable[ServerEntry],
    display_name: str = "",
) -> str:
    """The ``clientConfig`` document for ``domain``, served by ``hostname``.

    Servers are listed in the order given (Thunderbird prefers the first of
    each kind). Every login is the full address (``%EMAILADDRESS%``) with a
    normal password, sent only inside TLS when the entry says so.
    """
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domain)
    ET.SubElement(provider, "domain").text = domain
    ET.SubElement(provider, "displayName").text = display_name or f"{domain} mail"
    ET.SubElement(provider, "displayShortName").text = domain
    for entry in servers:
        if entry.kind == "smtp":
            server = ET.SubElement(provider, "outgoingServer", type="smtp")
        else:
            server = ET.SubElement(provider, "incomingServer", type=entry.kind)
        ET.SubElement(server, "hostname").text = hostname
        ET.SubElement(server, "port").text = str(entry.port)
        ET.SubElement(server, "socketType").text = entry.socket_type
        ET.SubElement(server, "username").text = "%EMAILADDRESS%"
        ET.SubElement(server, "authentication").text = "password-cleartext"
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'
