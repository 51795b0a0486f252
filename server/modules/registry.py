"""Modules by name, in start order. The runtime imports them lazily so that a
module's import error makes only that module FAILED."""

from __future__ import annotations

# name -> (import path, class name, title). Start in this order, stop in reverse.
MODULES: dict[str, tuple[str, str, str]] = {
    "smtp": ("server.protocols.smtp.module", "SmtpModule", "SMTP"),
    "submission": (
        "server.protocols.smtp.submission",
        "SubmissionModule",
        "Submission",
    ),
    "pop3": ("server.protocols.pop3.module", "Pop3Module", "POP3"),
    "imap": ("server.protocols.imap.module", "ImapModule", "IMAP"),
    "managesieve": (
        "server.protocols.managesieve.module",
        "ManageSieveModule",
        "ManageSieve",
    ),
    "relay": ("server.delivery.relay", "RelayModule", "Relay (smart host)"),
    "mx": ("server.delivery.mx", "MxModule", "Direct MX delivery"),
}
