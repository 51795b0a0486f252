"""The Security tab against the real core: certificate and bans."""

from __future__ import annotations

import datetime
import poplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from app.bridge import CoreBridge
from app.views.security_page import SecurityPage, fingerprint_lines
from server.tls import CertificateInfo

from .admin_helpers import answer
from .helpers import wait_for

pytestmark = pytest.mark.gui


@pytest.fixture
def page(qtbot: Any, gui_loop: Any, real_core: Any) -> Iterator[SecurityPage]:
    bridge = CoreBridge(real_core)
    wait_for(qtbot, bridge.connect_core())
    p = SecurityPage(bridge)
    qtbot.addWidget(p)
    p.resize(900, 600)
    p.show()
    yield p
    p.hide()  # stops the bans poll
    bridge.disconnect_core()


def make_pair(tmp: Path, name: str, days: int = 90) -> tuple[Path, Path, str]:
    """A self-signed EC certificate and its key as PEM files; its SHA-256."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    sha = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return cert_path, key_path, sha


def choose(page: SecurityPage, monkeypatch: Any, *paths: Path) -> None:
    """The next file dialogs answer ``paths`` in order."""
    queue = [str(p) for p in paths]

    async def choose_file(_title: str) -> str:
        return queue.pop(0)

    monkeypatch.setattr(page, "choose_file", choose_file)


def test_shows_the_core_certificate(
    qtbot: Any, real_core: Any, page: SecurityPage
) -> None:
    info: CertificateInfo = real_core.run(real_core.api.certificate())
    qtbot.waitUntil(lambda: page.info is not None)
    assert page.fingerprint_label.text() == fingerprint_lines(info.sha256)
    assert page.fingerprint_label.text().replace(":\n", ":") == info.sha256
    assert "mail.example.test" in page.names_label.text()
    assert "(self-signed)" in page.issuer_label.text()
    assert page.valid_until_label.styleSheet() == ""  # far from expiry


def test_import_regenerate_and_mismatched_key(
    qtbot: Any, real_core: Any, page: SecurityPage, tmp_path: Path, monkeypatch: Any
) -> None:
    qtbot.waitUntil(lambda: page.info is not None)
    cert, key, sha = make_pair(tmp_path, "mx.example.test", days=20)
    _other_cert, other_key, _ = make_pair(tmp_path, "other.example.test")

    choose(page, monkeypatch, cert, other_key)
    page.import_button.click()
    text = answer(qtbot, page, QMessageBox.StandardButton.Ok)
    assert "does not belong to the certificate" in text
    assert page.info is not None and page.info.sha256 != sha

    choose(page, monkeypatch, cert, key)
    page.import_button.click()
    qtbot.waitUntil(lambda: page.info is not None and page.info.sha256 == sha)
    assert real_core.run(real_core.api.certificate()).sha256 == sha
    assert page.subject_label.text().endswith("mx.example.test")
    assert "expires in" in page.valid_until_label.text()
    assert "c62828" in page.valid_until_label.styleSheet()  # red: < 30 days
    assert "imported" in page.status_label.text()

    page.regenerate_button.click()
    answer(qtbot, page, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: page.info is not None and page.info.sha256 != sha)
    assert page.info is not None and page.info.self_signed


def test_policy_shows_the_account_lock_settings(
    qtbot: Any, real_core: Any, page: SecurityPage
) -> None:
    real_core.run(
        real_core.api.update_settings(
            "security", {"user_max_failures": 7, "user_lock_time": 120}
        )
    )
    qtbot.waitUntil(
        lambda: "locked for 2 min after 7 failed logins" in page.policy_label.text()
    )
    assert "/64" in page.policy_label.text()


def test_ban_appears_and_unban_removes_it(
    qtbot: Any, real_core: Any, page: SecurityPage
) -> None:
    api = real_core.api
    real_core.run(api.update_settings("security", {"max_failures": 2}))
    qtbot.waitUntil(lambda: "after 2 failed logins" in page.policy_label.text())
    status = real_core.run(api.set_module_enabled("pop3", True))
    port = next(e.port for e in status.endpoints if e.security != "implicit")
    for _ in range(2):  # real POP3 logins with a wrong password, from 127.0.0.1
        client = poplib.POP3("127.0.0.1", port, timeout=10)
        client.user("nobody@example.test")
        with pytest.raises(poplib.error_proto):
            client.pass_("wrong")
        client.close()
    page.refresh_button.click()
    qtbot.waitUntil(lambda: page.bans_model.ips() == ("127.0.0.1",))
    assert not page.unban_button.isEnabled()
    page.select_ban("127.0.0.1")
    assert page.unban_button.isEnabled()
    page.unban_button.click()
    qtbot.waitUntil(lambda: page.bans_model.ips() == ())
    assert "127.0.0.1 may connect again." in page.status_label.text()
    assert real_core.run(api.bans()) == ()
