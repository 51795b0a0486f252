"""The "Client setup" tab: what to type into a mail client, per user.

Pick a user; the page shows the server name (``general.hostname``), the user
name (the full address), and the IMAP, POP3 and SMTP submission ports with
their security, each with a Copy button, and saves a Thunderbird autoconfig
file (``config-v1.1.xml``). Ports come from the running modules' endpoints
(the real port, even when the settings say 0) or else from the settings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.autoconfig import ServerEntry, autoconfig_xml
from app.dialogs.base import ask_save_path, notify
from app.tasks import spawn
from server.config.schema import Settings
from server.modules import registry
from server.modules.base import ModuleState, ModuleStatus
from server.paths import write_user_text

log = logging.getLogger("quicksilver.app")


def client_protocols() -> tuple[tuple[str, str, str], ...]:
    """(kind, module, title) of what mail clients use, from the registry:
    incoming (IMAP, POP3) first, then outgoing, as setup guides list them."""
    entries = [m for m in registry.modules() if m.client_kind]
    entries.sort(key=lambda m: (m.client_kind == "smtp", m.client_kind != "imap"))
    return tuple((m.client_kind, m.name, m.client_title) for m in entries)


@dataclass(frozen=True)
class Access:
    """How a client reaches one protocol."""

    kind: str
    module: str
    title: str
    entries: tuple[ServerEntry, ...]
    running: bool
    enabled: bool

    def text(self) -> str:
        if not self.entries:
            return "not configured"
        parts = [
            f"port {e.port} ({'SSL/TLS' if e.socket_type == 'SSL' else e.socket_type})"
            for e in self.entries
        ]
        return " or ".join(parts)


def access_for(
    settings: Settings, statuses: Sequence[ModuleStatus]
) -> tuple[Access, ...]:
    """Ports and security per protocol, from live endpoints or settings."""
    by_name = {s.name: s for s in statuses}
    out = []
    for kind, module, title in client_protocols():
        section = settings.section(module)
        status = by_name.get(module)
        running = status is not None and status.state is ModuleState.RUNNING
        entries: list[ServerEntry] = []
        if running and status is not None and status.endpoints:
            for ep in status.endpoints:
                socket_type = "SSL" if ep.security == "implicit" else "STARTTLS"
                entries.append(ServerEntry(kind, ep.port, socket_type))
        else:
            for port, socket_type in (
                (getattr(section, "port", 0), "STARTTLS"),
                (getattr(section, "tls_port", 0), "SSL"),
            ):
                if port:
                    entries.append(ServerEntry(kind, port, socket_type))
        # outgoing: 587 STARTTLS first; incoming: implicit TLS first
        entries.sort(key=lambda e: (e.socket_type == "SSL") == (kind == "smtp"))
        enabled = bool(getattr(section, "enabled", False))  # a module's section
        out.append(Access(kind, module, title, tuple(entries), running, enabled))
    return tuple(out)


class ClientSetupPage(QWidget):
    """Mail client settings for one user, with copy buttons and autoconfig.

    Signals: none.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings: Settings | None = None
        self.statuses: tuple[ModuleStatus, ...] = ()

        self.user_combo = QComboBox(self)
        self.user_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.user_combo.setPlaceholderText("no users yet: add one in Users")
        user_label = QLabel("&User:", self)
        user_label.setBuddy(self.user_combo)
        top = QHBoxLayout()
        top.addWidget(user_label)
        top.addWidget(self.user_combo)
        top.addStretch(1)

        box = QGroupBox("Type these into the mail client", self)
        self.grid = QGridLayout(box)
        self.value_labels: dict[str, QLabel] = {}
        self.state_labels: dict[str, QLabel] = {}
        self.copy_buttons: dict[str, QPushButton] = {}
        rows = [
            ("server", "Server name:"),
            ("username", "User name:"),
            ("password", "Password:"),
        ] + [(kind, f"{title}:") for kind, _m, title in client_protocols()]
        for row, (key, title) in enumerate(rows):
            value = QLabel(self)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            state = QLabel(self)
            self.value_labels[key] = value
            self.state_labels[key] = state
            self.grid.addWidget(QLabel(title, self), row, 0)
            self.grid.addWidget(value, row, 1)
            self.grid.addWidget(state, row, 2)
            if key != "password":
                button = QPushButton("Copy", self)
                button.setToolTip(f"Copy the {title.rstrip(':').lower()}")
                button.clicked.connect(
                    lambda _c=False, k=key: self.on_copy_button_clicked(k)
                )
                self.copy_buttons[key] = button
                self.grid.addWidget(button, row, 3)
        self.grid.setColumnStretch(1, 1)
        self.value_labels["password"].setText("the user's own password")

        self.note_label = QLabel(self)
        self.note_label.setWordWrap(True)
        self.save_button = QPushButton("Save &Thunderbird autoconfig…", self)
        self.save_button.setToolTip(
            "Write config-v1.1.xml: serve it at http://autoconfig.<domain>/mail/"
            "config-v1.1.xml or copy it into Thunderbird's isp folder"
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(box)
        layout.addWidget(self.note_label)
        layout.addLayout(buttons)
        layout.addStretch(1)

        self.user_combo.currentIndexChanged.connect(self.on_user_combo_changed)
        self.save_button.clicked.connect(self.on_save_button_clicked)
        self.refresh()

    # -- feeding ------------------------------------------------------------
    def set_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.refresh()

    def set_modules(self, statuses: Sequence[ModuleStatus]) -> None:
        statuses = tuple(statuses)
        if statuses != self.statuses:
            self.statuses = statuses
            self.refresh()

    def set_users(self, addresses: Sequence[str]) -> None:
        current = self.user_combo.currentText()
        addresses = list(addresses)
        if addresses == [
            self.user_combo.itemText(i) for i in range(self.user_combo.count())
        ]:
            return
        self.user_combo.blockSignals(True)
        self.user_combo.clear()
        self.user_combo.addItems(addresses)
        if current in addresses:
            self.user_combo.setCurrentText(current)
        elif addresses:
            self.user_combo.setCurrentIndex(0)
        self.user_combo.blockSignals(False)
        self.refresh()

    def select_user(self, address: str) -> None:
        self.user_combo.setCurrentText(address)

    # -- reading ------------------------------------------------------------
    def user(self) -> str:
        return self.user_combo.currentText()

    def hostname(self) -> str:
        if self.settings is None:
            return ""
        return self.settings.general.hostname or self.settings.general.domain

    def access(self) -> tuple[Access, ...]:
        if self.settings is None:
            return ()
        return access_for(self.settings, self.statuses)

    def autoconfig(self) -> str:
        """The autoconfig XML for the selected user's domain."""
        user = self.user()
        domain = user.partition("@")[2] or (
            self.settings.general.domain if self.settings else ""
        )
        # incoming: the ticked protocols (all of them when none is ticked yet)
        incoming = [a for a in self.access() if a.kind != "smtp"]
        wanted = [a for a in incoming if a.enabled] or incoming
        wanted += [a for a in self.access() if a.kind == "smtp"]
        servers = [entry for a in wanted for entry in a.entries]
        return autoconfig_xml(domain, self.hostname(), servers)

    def write_autoconfig(self, path: str | Path) -> Path:
        path = Path(path)
        write_user_text(path, self.autoconfig())  # the person's file, not the server's
        return path

    # -- slots --------------------------------------------------------------
    def refresh(self) -> None:
        self.value_labels["server"].setText(self.hostname())
        self.value_labels["username"].setText(self.user())
        notes = []
        for a in self.access():
            self.value_labels[a.kind].setText(a.text())
            state = self.state_labels[a.kind]
            if a.running:
                state.setText("running")
            elif a.enabled:
                state.setText("ticked, not running")
            else:
                state.setText("off")
                notes.append(
                    f"The {a.module} module is off: tick it in the modules panel "
                    "so clients can use it."
                )
        notes.append(
            "Log in with the full address and the user's password. The server's "
            "certificate is self-signed unless you imported one: clients ask once "
            "to trust it."
        )
        self.note_label.setText("\n".join(notes))
        has_user = bool(self.user())
        self.save_button.setEnabled(has_user and self.settings is not None)
        self.copy_buttons["username"].setEnabled(has_user)

    def on_user_combo_changed(self, _index: int) -> None:
        self.refresh()

    def on_copy_button_clicked(self, key: str) -> None:
        QGuiApplication.clipboard().setText(self.value_labels[key].text())

    def on_save_button_clicked(self) -> None:
        spawn(self.save_autoconfig())

    async def save_autoconfig(self) -> Path | None:
        path = await ask_save_path(
            self,
            "Save Thunderbird autoconfig",
            "Autoconfig XML (*.xml)",
            "config-v1.1.xml",
        )
        if path is None:
            return None
        try:
            return self.write_autoconfig(path)
        except OSError as exc:
            notify(self, "Save autoconfig", f"Could not save {path}: {exc}")
            return None
