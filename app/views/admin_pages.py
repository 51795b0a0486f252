"""The administration pages the main window shows as tabs after "Users".

``admin_pages`` builds them; the main window only adds what it returns, so a
page is added here without touching ``main_window.py``. Each page fetches its
own data through the bridge when first shown and follows core events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QTabWidget, QWidget

if TYPE_CHECKING:
    from app.bridge import CoreBridge


def admin_pages(bridge: CoreBridge, parent: QWidget) -> list[tuple[str, QWidget]]:
    """(tab title, page) pairs, in tab order."""
    from app.views.aliases_page import AliasesPage
    from app.views.collector_page import CollectorPage
    from app.views.dns_page import DnsPage
    from app.views.domains_page import DomainsPage
    from app.views.lists_page import ListsPage
    from app.views.mail_auth_page import MailAuthPage
    from app.views.mailboxes_page import MailboxesPage
    from app.views.messages_page import MessagesPage
    from app.views.queue_page import QueuePage
    from app.views.rules_page import RulesPage
    from app.views.security_page import SecurityPage
    from app.views.sessions_page import SessionsPage

    # Security holds three pages of its own: the certificate and bans, mail
    # authentication (DKIM, spam checks, TLS policies) and the DNS records
    security = QTabWidget(parent)
    security.setDocumentMode(True)
    security.addTab(SecurityPage(bridge, security), "Certificate and bans")
    security.addTab(MailAuthPage(bridge, security), "Mail authentication")
    security.addTab(DnsPage(bridge, security), "DNS records")
    return [
        ("Mailboxes", MailboxesPage(bridge, parent)),
        ("Messages", MessagesPage(bridge, parent)),
        ("Queue", QueuePage(bridge, parent)),
        ("Sessions", SessionsPage(bridge, parent)),
        ("Domains", DomainsPage(bridge, parent)),
        ("Aliases", AliasesPage(bridge, parent)),
        ("Rules", RulesPage(bridge, parent)),
        ("Lists", ListsPage(bridge, parent)),
        ("Collector", CollectorPage(bridge, parent)),
        ("Security", security),
    ]
