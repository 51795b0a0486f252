"""The Collector tab against the real core: add an account in its dialog,
test the connection (our own POP3 module stands in for the provider), accept
its self-signed certificate, save, and "Check now" brings the mail in."""

from __future__ import annotations

import smtplib
from pathlib import Path
from typing import Any

import pytest

from app.bridge import CoreBridge
from app.views.collector_page import CollectorPage, FetchAccountDialog

from .admin_helpers import ALICE, ALICE_PW, add_user, close_dialog, open_child
from .helpers import DOMAIN

pytestmark = pytest.mark.gui

BOX = f"box@{DOMAIN}"


def inbox(core: Any, user: str) -> list[Path]:
    local, domain = user.split("@")
    md = Path(core.data_dir) / "mail" / domain / local
    return [p for sub in ("new", "cur") for p in (md / sub).glob("*")]


def test_add_test_accept_and_check_an_account(
    qtbot: Any, real_core: Any, bridge: CoreBridge, tmp_path: Path
) -> None:
    add_user(real_core)
    add_user(real_core, BOX)
    pop3 = real_core.run(real_core.api.set_module_enabled("pop3", True))
    smtp = real_core.run(real_core.api.set_module_enabled("smtp", True))
    tls_port = next(e.port for e in pop3.endpoints if e.security == "implicit")
    smtp_port = smtp.endpoints[0].port
    with smtplib.SMTP("127.0.0.1", smtp_port) as c:
        for i in range(2):
            c.sendmail(
                "carol@outside.test", [BOX], f"Subject: waiting {i}\r\n\r\nhi\r\n"
            )

    page = CollectorPage(bridge)
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    page.add_button.click()
    dialog = open_child(qtbot, page, FetchAccountDialog)
    assert not dialog.ok_button.isEnabled()
    qtbot.keyClicks(dialog.id_edit, "provider")
    qtbot.keyClicks(dialog.server_edit, "127.0.0.1")
    dialog.port_spin.setValue(tls_port)
    qtbot.keyClicks(dialog.user_edit, BOX)
    qtbot.keyClicks(dialog.password_edit, ALICE_PW)
    dialog.user_combo.setCurrentText(ALICE)
    assert dialog.ok_button.isEnabled()

    # the certificate is self-signed: refused, with its fingerprint offered
    dialog.test_button.click()
    qtbot.waitUntil(
        lambda: "It does not work yet." in dialog.report.toPlainText(), timeout=15000
    )
    assert "not trusted" in dialog.report.toPlainText()
    assert dialog.accept_button.isVisible()
    dialog.grab().save(str(tmp_path / "collector-dialog.png"))
    dialog.accept_button.click()
    assert dialog.fingerprint_edit.text() == dialog.offered_fingerprint
    dialog.test_button.click()
    qtbot.waitUntil(lambda: "It works." in dialog.report.toPlainText(), timeout=15000)
    assert "Logged in" in dialog.report.toPlainText()
    assert "2 message(s)" in dialog.report.toPlainText()
    close_dialog(qtbot, dialog, accept=True)
    qtbot.waitUntil(lambda: len(page.views) == 1)
    page.table.selectRow(0)
    page.check_button.click()
    qtbot.waitUntil(
        lambda: "2 new message(s)" in page.status_label.text(), timeout=15000
    )
    assert len(inbox(real_core, ALICE)) == 2 and inbox(real_core, BOX) == []
    # the table is read again after the check
    qtbot.waitUntil(lambda: page.table.item(0, 4).text().startswith("2 "))
    row = [page.table.item(0, c).text() for c in range(page.table.columnCount())]
    assert row[0] == "provider" and row[2] == ALICE and row[4].startswith("2 ")
    page.grab().save(str(tmp_path / "collector-page.png"))
