"""The first-run wizard: validation per page, port checks, and the whole path
into the real core (settings, certificate, user, modules on the chosen ports)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget, QWizard

from app.__main__ import run_session
from app.dialogs import first_run_wizard as wiz
from app.dialogs.first_run_wizard import FirstRunWizard
from app.views.main_window import MainWindow
from server.api import CoreApi
from server.config.schema import Settings

from .helpers import (
    DOMAIN,
    HOSTNAME,
    core_probe,
    fill_wizard,
    wait_for,
    write_test_settings,
)
from .test_lifecycle import top_level
from .test_main_window import listening

pytestmark = pytest.mark.gui


def loopback_settings() -> Settings:
    settings = Settings()
    for name in ("smtp", "submission", "pop3", "imap"):
        section = dataclasses.replace(
            settings.section(name), bind="127.0.0.1", enabled=False
        )
        settings = settings.replace_section(name, section)
    # Submission is ticked on the ports page whatever the settings say: on
    # free ports, so a mail server on this machine's 587 changes nothing here
    port, tls_port = free_ports(2)
    submission = dataclasses.replace(settings.submission, port=port, tls_port=tls_port)
    return settings.replace_section("submission", submission)


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture
def wizard(qtbot: Any, gui_loop: Any) -> FirstRunWizard:
    w = FirstRunWizard(loopback_settings(), "", core_probe)
    w.confirm_quit = None  # closed by the test harness: no question
    qtbot.addWidget(w)
    w.show()
    return w


def next_button(w: FirstRunWizard) -> Any:
    return w.button(QWizard.WizardButton.NextButton)


@pytest.mark.parametrize(
    ("domain", "host", "message"),
    [
        ("", "mail.example.com", "Enter the mail domain."),
        ("exa mple.com", "mail.example.com", "The domain 'exa mple.com' contains"),
        ("-bad.com", "mail.example.com", "The domain '-bad.com' is not a valid"),
        ("example.com", "", "Enter the host name."),
        ("example.com", "mail_1.example", "The host name 'mail_1.example' is not"),
    ],
)
def test_domain_page_validates_as_you_type(
    qtbot: Any, wizard: FirstRunWizard, domain: str, host: str, message: str
) -> None:
    wizard.next()  # past the welcome page
    page = wizard.domain_page
    qtbot.keyClicks(page.domain_edit, domain)
    qtbot.keyClicks(page.hostname_edit, host)
    assert message in page.error_label.text()
    assert not next_button(wizard).isEnabled()
    page.domain_edit.setText("Example.COM.")
    page.hostname_edit.setText("mail.example.com")
    assert page.error_label.text() == ""
    assert next_button(wizard).isEnabled()
    assert (page.domain(), page.hostname()) == ("example.com", "mail.example.com")
    page.domain_edit.setText("bücher.example")  # IDN is fine
    assert next_button(wizard).isEnabled()


def test_certificate_page_checks_the_files(
    qtbot: Any, wizard: FirstRunWizard, tmp_path: Path
) -> None:
    wizard.next()  # past the welcome page
    wizard.domain_page.domain_edit.setText(DOMAIN)
    wizard.domain_page.hostname_edit.setText(HOSTNAME)
    wizard.next()
    page = wizard.certificate_page
    assert page.self_signed_radio.isChecked() and page.isComplete()
    assert not page.files.isEnabled()
    page.import_radio.setChecked(True)
    assert "Choose the certificate file." in page.error_label.text()
    assert not next_button(wizard).isEnabled()
    bogus = tmp_path / "cert.pem"
    bogus.write_text("hello")
    page.cert_edit.setText(str(bogus))
    assert "does not look like a PEM certificate" in page.error_label.text()
    page.cert_edit.setText(str(tmp_path / "missing.pem"))
    assert "Cannot read" in page.error_label.text()
    page.self_signed_radio.setChecked(True)
    assert next_button(wizard).isEnabled() and page.pair() is None


def go_to_ports(wizard: FirstRunWizard) -> wiz.ModulesPage:
    wizard.next()  # past the welcome page
    wizard.domain_page.domain_edit.setText(DOMAIN)
    wizard.domain_page.hostname_edit.setText(HOSTNAME)
    wizard.next()
    wizard.next()
    wizard.next()
    assert wizard.currentPage() is wizard.modules_page
    return wizard.modules_page


def test_port_in_use_is_found_and_fixed_in_one_click(
    qtbot: Any, wizard: FirstRunWizard
) -> None:
    page = go_to_ports(wizard)
    row = page.row("smtp")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        row.check.setChecked(True)
        row.spins["port"].setValue(busy)
        qtbot.waitUntil(lambda: not page.checking())
        assert "in use" in row.status.text() and str(busy) in row.status.toolTip()
        assert f"Port {busy} is in use" in page.error_label.text()
        assert not next_button(wizard).isEnabled()
        assert row.fix_button.isVisible()
        suggested = page.suggestions(row)["port"]
        assert suggested >= 2525 and suggested != busy
        assert row.fix_button.text() == f"Use {suggested}"
        row.fix_button.click()
        assert row.spins["port"].value() == suggested
        qtbot.waitUntil(lambda: not page.checking())
        assert page.isComplete(), page.error_label.text()
        assert next_button(wizard).isEnabled() and not row.fix_button.isVisible()


def test_privileged_port_and_shared_port(
    qtbot: Any, wizard: FirstRunWizard, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.name != "posix":
        pytest.skip("privileged ports are a POSIX rule")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    page = go_to_ports(wizard)
    page.row("submission").check.setChecked(False)  # ticked by default
    row = page.row("smtp")
    row.check.setChecked(True)
    row.spins["port"].setValue(25)
    qtbot.waitUntil(lambda: not page.checking())
    assert "administrator rights" in row.status.text()
    assert page.suggestions(row)["port"] >= 2525
    row.fix_button.click()
    qtbot.waitUntil(lambda: not page.checking())
    assert page.isComplete()
    # two modules on one port
    pop3 = page.row("pop3")
    pop3.check.setChecked(True)
    pop3.spins["port"].setValue(row.spins["port"].value())
    pop3.spins["tls_port"].setValue(0)
    qtbot.waitUntil(lambda: not page.checking())
    assert "cannot share port" in page.error_label.text()
    assert not page.isComplete()
    for r in page.rows:
        r.check.setChecked(False)
    qtbot.waitUntil(lambda: not page.checking())
    assert "Tick at least one module" in page.error_label.text()


def test_user_page_validates(qtbot: Any, wizard: FirstRunWizard) -> None:
    page = go_to_ports(wizard)
    page.row("smtp").check.setChecked(True)
    qtbot.waitUntil(lambda: not page.checking() and page.isComplete())
    wizard.next()
    users = wizard.user_page
    assert users.domain_label.text() == f"@{DOMAIN}"
    # nothing typed yet: no red text, but no Finish either (issue 17)
    assert users.error_label.text() == "" and not users.isComplete()
    qtbot.waitUntil(lambda: users.local_edit.hasFocus())  # typing goes there
    qtbot.keyClicks(users.local_edit, "bad name")
    assert "may only contain" in users.error_label.text()
    users.local_edit.setText("alice")
    assert "Enter a password" in users.error_label.text()
    users.password.setText("abc")  # issue 10: "abc" was accepted here
    users.confirm.setText("abc")
    assert "at least 8 characters" in users.error_label.text()
    assert not users.isComplete() and users.meter.word.text() == "weak"
    users.password.setText("Alice2024")
    users.confirm.setText("Alice2024")
    assert "too easy to guess" in users.error_label.text()
    users.generate_button.click()
    assert users.isComplete() and users.password.is_revealed()
    assert users.meter.word.text() == "strong"
    users.confirm.setText("other")
    assert "do not match" in users.error_label.text()
    finish = wizard.button(QWizard.WizardButton.FinishButton)
    assert not finish.isEnabled()
    users.create_check.setChecked(False)
    assert finish.isEnabled() and users.user() is None


def test_wizard_sets_up_the_core(qtbot: Any, gui_loop: Any, tmp_path: Path) -> None:
    """Domain, host, imported certificate, three modules on chosen ports and a
    first user: the core has them all when the main window opens."""
    from server.runtime import Runtime
    from server.tls import generate_self_signed

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    generate_self_signed("imported.example.test", cert, key)
    data = tmp_path / "data"
    write_test_settings(data)
    runtime = Runtime(data)
    windows: list[MainWindow] = []
    task = asyncio.ensure_future(run_session(runtime, on_window=windows.append))
    qtbot.waitUntil(lambda: top_level(FirstRunWizard) is not None)
    wizard = top_level(FirstRunWizard)
    wizard.certificate_page.import_radio.setChecked(True)
    wizard.certificate_page.cert_edit.setText(str(cert))
    wizard.certificate_page.key_edit.setText(str(key))
    smtp, pop3, pop3s, imap, imaps = free_ports(5)
    chosen = {
        "smtp": {"port": smtp},
        "pop3": {"port": pop3, "tls_port": pop3s},
        "imap": {"port": imap, "tls_port": imaps},
    }
    fill_wizard(qtbot, wizard, chosen, ("alice", "first-pass-1"))
    qtbot.waitUntil(lambda: bool(windows), timeout=10_000)
    window = windows[0]
    bridge = window.bridge
    settings = wait_for(qtbot, bridge.run(CoreApi.settings))
    assert (settings.general.domain, settings.general.hostname) == (DOMAIN, HOSTNAME)
    assert settings.smtp.port == smtp and settings.smtp.enabled
    assert (settings.pop3.port, settings.pop3.tls_port) == (pop3, pop3s)
    assert (settings.imap.port, settings.imap.tls_port) == (imap, imaps)
    assert not settings.submission.enabled
    assert wait_for(
        qtbot, bridge.run(CoreApi.check_login, f"alice@{DOMAIN}", "first-pass-1")
    )
    info = wait_for(qtbot, bridge.run(CoreApi.certificate))
    assert "imported.example.test" in info.subject or "imported.example.test" in (
        info.names
    )
    for port in (smtp, pop3, pop3s, imap, imaps):
        assert listening(port), port
    model = window.modules_model
    # let the core see the probes' disconnects before it stops
    qtbot.waitUntil(lambda: all(s.sessions == 0 for s in model.statuses()))
    qtbot.wait(100)
    window.quit()
    qtbot.waitUntil(task.done, timeout=10_000)
    assert task.result() == 0
    assert not listening(smtp)


def test_core_error_keeps_the_wizard_open(
    qtbot: Any, gui_loop: Any, tmp_path: Path
) -> None:
    """A certificate the core refuses: the wizard says why and stays open."""
    from server.runtime import Runtime
    from server.tls import generate_self_signed

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    generate_self_signed("one.test", a / "cert.pem", a / "key.pem")
    generate_self_signed("two.test", b / "cert.pem", b / "key.pem")
    data = tmp_path / "data"
    write_test_settings(data)
    task = asyncio.ensure_future(run_session(Runtime(data)))
    qtbot.waitUntil(lambda: top_level(FirstRunWizard) is not None)
    wizard = top_level(FirstRunWizard)
    wizard.certificate_page.import_radio.setChecked(True)
    wizard.certificate_page.cert_edit.setText(str(a / "cert.pem"))
    wizard.certificate_page.key_edit.setText(str(b / "key.pem"))  # not its key
    fill_wizard(qtbot, wizard, {"smtp": {"port": 0}}, None)
    qtbot.waitUntil(lambda: wizard.user_page.core_error.text() != "")
    assert wizard.isVisible()
    wizard.confirm_quit = lambda _parent: True  # "Quit the setup?" Yes
    wizard.reject()
    qtbot.waitUntil(task.done, timeout=10_000)
    assert task.result() == 0


def test_the_wizard_opens_with_a_welcome_and_says_nothing_red(
    qtbot: Any, wizard: FirstRunWizard
) -> None:
    """Issue 17: a welcome page says what will happen; the domain page shows
    no error before anything is typed; Submission is ticked."""
    assert wizard.currentPage() is wizard.welcome_page
    assert "Five short steps" in wizard.welcome_page.text.text()
    wizard.next()
    page = wizard.domain_page
    assert wizard.currentPage() is page
    assert page.error_label.text() == "" and not next_button(wizard).isEnabled()
    qtbot.keyClicks(page.hostname_edit, "mail.example.com")
    assert page.error_label.text() == "Enter the mail domain."
    assert wizard.modules_page.row("submission").check.isChecked()


def test_cancel_asks_before_quitting(qtbot: Any, wizard: FirstRunWizard) -> None:
    answers: list[bool] = [False]
    asked: list[bool] = []

    def confirm(_parent: Any) -> bool:
        asked.append(True)
        return answers.pop(0)

    wizard.confirm_quit = confirm
    qtbot.keyClick(wizard, Qt.Key.Key_Escape)
    assert asked == [True] and wizard.isVisible()  # "No": still setting up
    answers.append(True)
    wizard.button(QWizard.WizardButton.CancelButton).click()
    assert asked == [True, True] and not wizard.isVisible()


def test_the_quit_question_defaults_to_no(qtbot: Any, gui_loop: Any) -> None:
    """``ask_quit`` is a real question whose default answer keeps the setup."""
    parent = QWidget()
    qtbot.addWidget(parent)
    seen: list[str] = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen.append(box.text())
        qtbot.keyClick(box, Qt.Key.Key_Return)  # the default button

    QTimer.singleShot(0, answer)
    assert wiz.ask_quit(parent) is False
    assert "will quit" in seen[0]
