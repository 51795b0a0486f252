"""Security → Mail authentication and DNS records against the real core:
DKIM keys made, rotated and switched from the page (read back from the key
store), the inbound settings saved (read back from the core's settings),
a bad list refused in words, the scanner's connection test, and the DNS
records page with its check against a table resolver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox

from app.bridge import CoreBridge
from app.views.admin_pages import admin_pages
from app.views.dns_page import DnsPage
from app.views.mail_auth_page import MailAuthPage
from tests.unit.antispam.dnsfake import TableResolver, mx, txt
from tests.unit.antispam.fakescanner import running

from .admin_helpers import answer

pytestmark = pytest.mark.gui


@pytest.fixture
def auth_page(qtbot: Any, bridge: CoreBridge) -> Iterator[MailAuthPage]:
    p = MailAuthPage(bridge)
    qtbot.addWidget(p)
    p.resize(1000, 800)
    p.show()
    qtbot.waitUntil(lambda: p.domain_box.currentText() == "example.test")
    # and the domain's keys are read (none yet: Generate is offered)
    qtbot.waitUntil(p.generate_button.isEnabled)
    yield p
    p.hide()


def key_states(core: Any) -> list[str]:
    """What the core's key store holds (not what the page shows)."""
    return sorted(k.state for k in core.services.dkim_keys.keys("example.test"))


def shown_states(page: MailAuthPage) -> list[str]:
    table = page.keys_table
    return sorted(table.item(r, 2).text() for r in range(table.rowCount()))


def test_security_holds_three_pages(qtbot: Any, bridge: CoreBridge) -> None:
    from PySide6.QtWidgets import QTabWidget, QWidget

    parent = QWidget()
    qtbot.addWidget(parent)
    security = dict(admin_pages(bridge, parent))["Security"]
    assert isinstance(security, QTabWidget)
    titles = [security.tabText(i) for i in range(security.count())]
    assert titles == ["Certificate and bans", "Mail authentication", "DNS records"]


def test_dkim_keys_from_the_page(
    qtbot: Any, auth_page: MailAuthPage, real_core: Any
) -> None:
    page = auth_page
    assert page.generate_button.isEnabled() and not page.rotate_button.isEnabled()
    page.generate_button.click()
    qtbot.waitUntil(lambda: page.keys_table.rowCount() == 2)
    assert key_states(real_core) == ["active", "active"]
    page.keys_table.selectRow(0)
    record = page.record_text.toPlainText()
    assert '._domainkey.example.test. TXT "v=DKIM1; k=' in record
    page.copy_record_button.click()
    assert QGuiApplication.clipboard().text() == record
    page.rotate_button.click()
    answer(qtbot, page, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: page.keys_table.rowCount() == 4)
    assert key_states(real_core) == ["active", "active", "published", "published"]
    assert page.activate_button.isEnabled()
    page.activate_button.click()
    qtbot.waitUntil(lambda: shown_states(page).count("retired") == 2)
    assert key_states(real_core) == ["active", "active", "retired", "retired"]
    retired = next(
        r for r in range(4) if page.keys_table.item(r, 2).text() == "retired"
    )
    page.keys_table.selectRow(retired)
    assert page.remove_button.isEnabled()
    page.remove_button.click()
    answer(qtbot, page, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: page.keys_table.rowCount() == 3)
    assert len(key_states(real_core)) == 3


def test_inbound_settings_are_saved_and_errors_are_plain(
    qtbot: Any, auth_page: MailAuthPage, real_core: Any
) -> None:
    page = auth_page
    page.auth_check.setChecked(True)
    page.greylist_check.setChecked(True)
    page.zone_suggestions.setCurrentIndex(4)  # list.dnswl.org=allow
    assert "DNSWL" in page.zone_terms.text()
    page.add_zone_button.click()
    page.filter_box.setCurrentIndex(2)  # rspamd
    page.junk_score.setValue(6.5)
    page.save_button.click()
    qtbot.waitUntil(lambda: "Saved" in page.status_label.text())
    smtp = real_core.run(real_core.api.settings()).smtp
    assert smtp.check_authentication and smtp.greylisting
    assert smtp.dnsbl_zones == ("list.dnswl.org=allow",)
    assert (smtp.spam_filter, smtp.spam_junk_score) == ("rspamd", 6.5)
    qtbot.waitUntil(lambda: "0 waiting" in page.greylist_counts.text())
    page.zones_edit.setPlainText("not a zone")
    page.save_button.click()
    qtbot.waitUntil(lambda: "not a DNS zone" in page.status_label.text())
    assert "smtp.dnsbl_zones" not in page.status_label.text()
    smtp = real_core.run(real_core.api.settings()).smtp
    assert smtp.dnsbl_zones == ("list.dnswl.org=allow",)  # nothing half-saved
    page.revert_button.click()
    assert page.zones_edit.toPlainText() == "list.dnswl.org=allow"


def test_the_scanner_test_button(
    qtbot: Any, auth_page: MailAuthPage, real_core: Any
) -> None:
    page = auth_page
    with running("spamd", lambda body: 0.0) as srv:
        page.filter_box.setCurrentIndex(1)  # spamd
        page.filter_port.setValue(srv.port)
        page.test_button.click()
        qtbot.waitUntil(lambda: "answers" in page.test_result.text())
    assert f"spamd at 127.0.0.1:{srv.port}" in page.test_result.text()


def test_dns_records_and_their_check(
    qtbot: Any, bridge: CoreBridge, real_core: Any
) -> None:
    table = {
        ("example.test", "MX"): mx("mail.example.test"),
        ("example.test", "TXT"): txt("v=spf1 mx ~all"),
    }
    real_core.services.make_resolver = lambda: TableResolver(table)
    page = DnsPage(bridge)
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    qtbot.waitUntil(lambda: page.table.rowCount() > 5)
    names = [page.table.item(r, 0).text() for r in range(page.table.rowCount())]
    assert names[0] == "example.test" and "_dmarc.example.test" in names
    page.table.selectRow(0)
    page.copy_button.click()
    assert (
        QGuiApplication.clipboard().text() == "example.test. MX 10 mail.example.test."
    )
    page.check_button.click()
    qtbot.waitUntil(lambda: page.table.item(0, 4).text() != "")
    assert page.table.item(0, 4).text() == "OK"
    dmarc = names.index("_dmarc.example.test")
    assert page.table.item(dmarc, 4).text() == "Missing"
    assert "need attention" in page.status_label.text()
    page.hide()


def test_settings_dialogs_leave_the_page_its_keys(qtbot: Any) -> None:
    from app.dialogs.settings_dialog import ELSEWHERE_NOTE, SettingsDialog
    from server.config.schema import SmtpSettings

    async def apply(section: str, changes: dict[str, Any]) -> None:
        seen.append(changes)

    seen: list[dict[str, Any]] = []
    dialog = SettingsDialog("smtp", SmtpSettings(), apply)
    qtbot.addWidget(dialog)
    assert "spam_junk_score" not in dialog.editors
    assert "dnsbl_zones" not in dialog.editors and "port" in dialog.editors
    from PySide6.QtWidgets import QLabel

    notes = [w.text() for w in dialog.findChildren(QLabel)]
    assert ELSEWHERE_NOTE in notes
    assert dialog.changed_values() == {}
