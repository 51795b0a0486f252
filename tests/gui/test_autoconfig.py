"""The Thunderbird autoconfig builder (pure): parse what it writes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.autoconfig import ServerEntry, autoconfig_xml


def test_autoconfig_parses_back() -> None:
    text = autoconfig_xml(
        "example.test",
        "mail.example.test",
        [
            ServerEntry("imap", 993, "SSL"),
            ServerEntry("imap", 143, "STARTTLS"),
            ServerEntry("pop3", 995, "SSL"),
            ServerEntry("smtp", 587, "STARTTLS"),
            ServerEntry("smtp", 465, "SSL"),
        ],
    )
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(text.encode())
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None and provider.get("id") == "example.test"
    assert provider.findtext("domain") == "example.test"
    incoming = provider.findall("incomingServer")
    assert [
        (s.get("type"), s.findtext("port"), s.findtext("socketType")) for s in incoming
    ] == [("imap", "993", "SSL"), ("imap", "143", "STARTTLS"), ("pop3", "995", "SSL")]
    outgoing = provider.findall("outgoingServer")
    assert [
        (s.get("type"), s.findtext("port"), s.findtext("socketType")) for s in outgoing
    ] == [("smtp", "587", "STARTTLS"), ("smtp", "465", "SSL")]
    for server in incoming + outgoing:
        assert server.findtext("hostname") == "mail.example.test"
        assert server.findtext("username") == "%EMAILADDRESS%"
        assert server.findtext("authentication") == "password-cleartext"


def test_autoconfig_escapes_and_refuses_nonsense() -> None:
    root = ET.fromstring(
        autoconfig_xml("a.test", "h.test", [], display_name="A & B <mail>")
    )
    assert root.findtext("emailProvider/displayName") == "A & B <mail>"
    with pytest.raises(ValueError):
        ServerEntry("ftp", 21, "SSL")
    with pytest.raises(ValueError):
        ServerEntry("imap", 143, "TLS")
    with pytest.raises(ValueError):
        ServerEntry("imap", 0, "SSL")
