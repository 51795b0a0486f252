"""Smart host (relay module) settings. Returns a ``RelayChange``.

The dialog never calls the core. The one exception the window needs, "Test
the connection", is a coroutine the caller hands in (``tester``): it gets the
values as typed and returns the core's ``ProbeResult``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.base import ValidatedDialog, buddy_label, error_label
from app.dialogs.validation import domain_problem
from app.tasks import spawn
from app.widgets.password_field import PasswordField
from server.api import ProbeResult
from server.config.schema import RelaySettings
from server.errors import ValidationError

SECURITY_CHOICES = (
    ("starttls", "STARTTLS (usually port 587)"),
    ("implicit", "TLS from the first byte (usually port 465)"),
    ("none", "None: plain text (only for a host on your own network)"),
)
USUAL_PORT = {"starttls": 587, "implicit": 465}
MIN_TIMEOUT, MAX_TIMEOUT = 30, 86400  # server.config.schema.validate_section
MAX_CONNECTIONS = 64
EDITED_FIELDS = (
    "host",
    "port",
    "security",
    "username",
    "verify_certificate",
    "max_connections",
    "timeout",
    "session_log",
)


@dataclass(frozen=True)
class RelayChange:
    """The changed ``relay`` keys, and the password to store.

    ``password`` is None to keep the stored one, '' to remove it.
    """

    settings: dict[str, Any]
    password: str | None = None


Tester = Callable[[RelayChange], Awaitable[ProbeResult]]


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_problem(host: str) -> str:
    host = host.strip()
    if not host:
        return "Enter the smart host, e.g. smtp.provider.example."
    try:
        ipaddress.ip_address(host)
        return ""
    except ValueError:
        pass
    return domain_problem(host, "smart host")


def probe_text(result: ProbeResult) -> str:
    """The probe's answers, one labelled line each."""
    lines = [result.summary]
    for label, text in (
        ("Banner", result.banner),
        ("EHLO", result.ehlo),
        ("TLS", result.tls),
        ("AUTH", result.auth),
    ):
        if text:
            lines.append(f"{label}: {text}")
    return "\n".join(lines)


class RelayDialog(ValidatedDialog):
    """Host, port, security, login, certificate check and limits.

    Validates as you type; OK stays disabled until the values are usable.
    ``storage_text`` says where the password is kept (from
    ``api.secrets_backend()``).

    Signals: the standard ``QDialog`` signals only.
    """

    def __init__(
        self,
        settings: RelaySettings,
        storage_text: str = "",
        tester: Tester | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self._tester = tester
        self.setWindowTitle("Relay settings (smart host)")
        self.setMinimumWidth(600)

        intro = QLabel(
            "Mail for other domains goes through this server (your provider's or "
            "company's outgoing mail server) when the relay module is on.",
            self,
        )
        intro.setWordWrap(True)

        self.host_edit = QLineEdit(self)
        self.host_edit.setPlaceholderText("e.g. smtp.provider.example")
        self.port_spin = QSpinBox(self)
        self.port_spin.setRange(1, 65535)
        self.port_spin.setMinimumWidth(90)
        host_row = QHBoxLayout()
        host_row.addWidget(self.host_edit, 1)
        port_label = QLabel("P&ort:", self)
        port_label.setBuddy(self.port_spin)
        host_row.addWidget(port_label)
        host_row.addWidget(self.port_spin)

        self.security_combo = QComboBox(self)
        for key, text in SECURITY_CHOICES:
            self.security_combo.addItem(text, key)
        self.verify_check = QCheckBox(
            "&Check the server's certificate (turn off only for a self-signed one)",
            self,
        )
        self.username_edit = QLineEdit(self)
        self.username_edit.setPlaceholderText("empty: send without logging in")
        self.password = PasswordField(self)
        self.password.edit.setPlaceholderText("unchanged")
        self.forget_check = QCheckBox("&Forget the stored password", self)
        # One line, no word wrap: a wrapped label in a form row gets cut off.
        self.storage_label = QLabel(self)
        self.storage_label.setEnabled(False)  # greyed: a note
        self.set_storage_text(storage_text)

        self.connections_spin = QSpinBox(self)
        self.connections_spin.setRange(1, MAX_CONNECTIONS)
        self.connections_spin.setMaximumWidth(120)
        self.timeout_spin = QSpinBox(self)
        self.timeout_spin.setRange(MIN_TIMEOUT, MAX_TIMEOUT)
        self.timeout_spin.setSuffix(" s")
        self.timeout_spin.setMaximumWidth(120)
        self.session_log_check = QCheckBox(
            "Write full session transcripts to logs/relay.log", self
        )

        server_box = QGroupBox("Server", self)
        server_form = QFormLayout(server_box)
        server_form.addRow(buddy_label("Smart &host:", self.host_edit), host_row)
        server_form.addRow(
            buddy_label("&Security:", self.security_combo), self.security_combo
        )
        server_form.addRow("", self.verify_check)
        login_box = QGroupBox("Login", self)
        login_form = QFormLayout(login_box)
        login_form.addRow(
            buddy_label("&User name:", self.username_edit), self.username_edit
        )
        login_form.addRow(buddy_label("&Password:", self.password.edit), self.password)
        login_form.addRow("", self.forget_check)
        login_form.addRow("", self.storage_label)
        limits_box = QGroupBox("Limits", self)
        limits_form = QFormLayout(limits_box)
        limits_form.addRow(
            buddy_label("Parallel &connections:", self.connections_spin),
            self.connections_spin,
        )
        limits_form.addRow(
            buddy_label("Command &timeout:", self.timeout_spin), self.timeout_spin
        )
        limits_form.addRow("", self.session_log_check)

        self.test_button = QPushButton("&Test the connection", self)
        self.test_button.setToolTip(
            "Saves these settings, then connects to the smart host: greeting, "
            "EHLO, TLS and login. No mail is sent."
        )
        self.test_button.setVisible(tester is not None)
        self.test_output = QPlainTextEdit(self)
        self.test_output.setReadOnly(True)
        self.test_output.setFont(
            QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        )
        self.test_output.setPlaceholderText(
            "Test the connection to see what the smart host answers. "
            "(Testing saves these settings first.)"
        )
        lines = self.test_output.fontMetrics().lineSpacing() * 6
        self.test_output.setFixedHeight(lines + 2 * self.test_output.frameWidth() + 8)
        self.test_output.setVisible(tester is not None)

        self.hint_label = QLabel(self)
        self.hint_label.setWordWrap(True)
        self.error_label = error_label(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
            parent=self,
        )
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(server_box)
        layout.addWidget(login_box)
        layout.addWidget(limits_box)
        layout.addLayout(test_row)
        layout.addWidget(self.test_output)
        layout.addWidget(self.hint_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        self._load(settings)
        for signal in (
            self.host_edit.textChanged,
            self.username_edit.textChanged,
            self.password.textChanged,
        ):
            signal.connect(self.on_field_changed)
        self.port_spin.valueChanged.connect(self.on_field_changed)
        self.security_combo.currentIndexChanged.connect(
            self.on_security_combo_currentIndexChanged
        )
        self.forget_check.toggled.connect(self.on_forget_check_toggled)
        self.test_button.clicked.connect(self.on_test_button_clicked)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.validate()

    def security(self) -> str:
        return str(self.security_combo.currentData())

    def set_tester(self, tester: Tester | None) -> None:
        """Show "Test the connection" and run ``tester`` when it is pressed."""
        self._tester = tester
        self.test_button.setVisible(tester is not None)
        self.test_output.setVisible(tester is not None)

    def set_storage_text(self, text: str, detail: str = "") -> None:
        """Where the password is kept (one short line); ``detail`` as tooltip."""
        self.storage_label.setText(text)
        self.storage_label.setToolTip(detail)

    # -- checks ----------------------------------------------------------------
    def after_validate(self, problem: str) -> None:
        hint = "" if problem else self.hint()
        self.hint_label.setText(hint)
        self.hint_label.setVisible(bool(hint))
        self.test_button.setEnabled(not problem)

    def problem(self) -> str:
        """The first thing that makes the values unusable, or ''."""
        problem = host_problem(self.host_edit.text())
        if problem:
            return problem
        username = self.username_edit.text()
        if username != username.strip() or any(ord(c) < 0x20 for c in username):
            return (
                "The user name cannot start or end with a space or contain "
                "control characters."
            )
        if self.password.text() and not username.strip():
            return "Enter the user name that goes with the password."
        return ""

    def hint(self) -> str:
        """Something probably wrong that does not block OK, or ''."""
        security, port = self.security(), self.port_spin.value()
        if security == "implicit" and port in (25, 587):
            return f"Port {port} usually expects STARTTLS, not TLS from the first byte."
        if security == "starttls" and port == 465:
            return "Port 465 usually expects TLS from the first byte, not STARTTLS."
        host = self.host_edit.text().strip()
        if security == "none" and self.username_edit.text() and not _is_loopback(host):
            return (
                "Without TLS the password is never sent to a host that is not this "
                "computer: the login will be skipped."
            )
        return ""

    # -- value -----------------------------------------------------------------
    def settings_values(self) -> dict[str, Any]:
        return {
            "host": self.host_edit.text().strip(),
            "port": self.port_spin.value(),
            "security": self.security(),
            "username": self.username_edit.text(),
            "verify_certificate": self.verify_check.isChecked(),
            "max_connections": self.connections_spin.value(),
            "timeout": self.timeout_spin.value(),
            "session_log": self.session_log_check.isChecked(),
        }

    def value(self) -> RelayChange:
        current = dataclasses.asdict(self._settings)
        changed = {k: v for k, v in self.settings_values().items() if current[k] != v}
        if self.forget_check.isChecked():
            password: str | None = ""
        else:
            password = self.password.text() or None
        return RelayChange(changed, password)

    def saved(self, settings: RelaySettings) -> None:
        """The caller saved ``settings`` (after a test): changes now count from
        there, and a typed password was stored."""
        self._settings = settings
        self.password.setText("")
        self.forget_check.setChecked(False)

    def _load(self, s: RelaySettings) -> None:
        self.host_edit.setText(s.host)
        self.port_spin.setValue(s.port)
        index = self.security_combo.findData(s.security)
        self.security_combo.setCurrentIndex(max(0, index))
        self.verify_check.setChecked(s.verify_certificate)
        self.username_edit.setText(s.username)
        self.connections_spin.setValue(s.max_connections)
        self.timeout_spin.setValue(s.timeout)
        self.session_log_check.setChecked(s.session_log)

    # -- testing ---------------------------------------------------------------
    async def run_test(self) -> ProbeResult | None:
        """Hand the values to the caller's tester and show what came back."""
        if self._tester is None or not self.validate():
            return None
        self.test_button.setEnabled(False)
        self.test_output.setPlainText(
            f"Connecting to {self.host_edit.text().strip()}:{self.port_spin.value()}…"
        )
        try:
            result = await self._tester(self.value())
        except ValidationError as exc:
            self.test_output.setPlainText(f"Not tested: {exc}")
            return None
        finally:
            self.test_button.setEnabled(self.problem() == "")
        self.test_output.setPlainText(probe_text(result))
        return result

    # -- slots -----------------------------------------------------------------
    def on_security_combo_currentIndexChanged(self, _index: int) -> None:
        # Follow the usual port while the person has not chosen another one.
        port = self.port_spin.value()
        usual = USUAL_PORT.get(self.security())
        if usual is not None and port in USUAL_PORT.values():
            self.port_spin.setValue(usual)
        self.validate()

    def on_forget_check_toggled(self, on: bool) -> None:
        self.password.setEnabled(not on)
        if on:
            self.password.setText("")
        self.validate()

    def on_test_button_clicked(self) -> None:
        spawn(self.run_test())
