"""The one list of modules: everything that needs to know which modules exist
reads it (the runtime, the CLI's choices, the window's panels, filters,
statistics, client setup and first-run wizard, the PyInstaller bundle through
the imports below). Adding a module is one ``ModuleInfo`` line here.

Modules start in this order and stop in reverse. The classes are imported
normally, so the type checker and PyInstaller see them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from server.delivery.mx import MxModule
from server.delivery.relay import RelayModule
from server.fetch.module import FetchModule
from server.modules.base import Module, ModuleContext
from server.protocols.imap.module import ImapModule
from server.protocols.managesieve.module import ManageSieveModule
from server.protocols.pop3.module import Pop3Module
from server.protocols.smtp.module import SmtpModule
from server.protocols.smtp.submission import SubmissionModule
from server.protocols.web.module import WebModule

LISTENER = "listener"  # opens ports; clients connect to it (sessions, ports)
ROUTE = "route"  # takes remote mail from the queue; listens on nothing
COLLECTOR = "collector"  # brings mail in from remote mailboxes; listens on nothing


@dataclass(frozen=True)
class ModuleInfo:
    name: str
    title: str
    factory: Callable[[ModuleContext], Module]
    kind: str  # LISTENER, ROUTE or COLLECTOR
    summary: str  # one line for people: what ticking it does
    # what the client setup page offers it as: "imap", "pop3", "smtp" (the
    # autoconfig kinds) with its title there; "" when clients don't use it
    client_kind: str = ""
    client_title: str = ""


_BUILT_IN: tuple[ModuleInfo, ...] = (
    ModuleInfo(
        "smtp",
        "SMTP",
        SmtpModule,
        LISTENER,
        "Receive mail for your domain from anyone",
    ),
    ModuleInfo(
        "submission",
        "Submission",
        SubmissionModule,
        LISTENER,
        "Your users send mail out (587 STARTTLS, 465 TLS)",
        client_kind="smtp",
        client_title="SMTP (outgoing)",
    ),
    ModuleInfo(
        "pop3",
        "POP3",
        Pop3Module,
        LISTENER,
        "Mail clients download mail",
        client_kind="pop3",
        client_title="POP3 (incoming)",
    ),
    ModuleInfo(
        "imap",
        "IMAP",
        ImapModule,
        LISTENER,
        "Mail clients read mail on the server",
        client_kind="imap",
        client_title="IMAP (incoming)",
    ),
    ModuleInfo(
        "managesieve",
        "ManageSieve",
        ManageSieveModule,
        LISTENER,
        "Mail clients edit their filtering rules (Sieve, port 4190)",
    ),
    ModuleInfo(
        "web",
        "Web (unsubscribe links)",
        WebModule,
        LISTENER,
        "One-click unsubscribe links in list mail (HTTPS, port 8443)",
    ),
    ModuleInfo(
        "relay",
        "Relay (smart host)",
        RelayModule,
        ROUTE,
        "Send mail out through your provider's server",
    ),
    ModuleInfo(
        "mx",
        "Direct MX delivery",
        MxModule,
        ROUTE,
        "Send mail out directly to each recipient's server",
    ),
    ModuleInfo(
        "fetch",
        "Collector",
        FetchModule,
        COLLECTOR,
        "Bring mail in from remote POP3 and IMAP mailboxes",
    ),
)

_modules: list[ModuleInfo] = list(_BUILT_IN)


def modules() -> tuple[ModuleInfo, ...]:
    """Every module, in start order."""
    return tuple(_modules)


def names() -> tuple[str, ...]:
    return tuple(m.name for m in _modules)


def info(name: str) -> ModuleInfo | None:
    return next((m for m in _modules if m.name == name), None)


def listeners() -> tuple[ModuleInfo, ...]:
    return tuple(m for m in _modules if m.kind == LISTENER)


def routes() -> tuple[ModuleInfo, ...]:
    return tuple(m for m in _modules if m.kind == ROUTE)


@contextmanager
def registered(extra: ModuleInfo) -> Iterator[ModuleInfo]:
    """Add ``extra`` for the duration of a ``with`` block (tests and plug-ins
    that live for one run); the list is restored afterwards."""
    if info(extra.name) is not None:
        raise ValueError(f"a module named {extra.name!r} exists")
    _modules.append(extra)
    try:
        yield extra
    finally:
        _modules.remove(extra)
