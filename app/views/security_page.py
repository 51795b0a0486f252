"""The Security tab: the TLS certificate, the banned addresses and the policy
(bans per address, locks per account; edited in the Security settings).

The certificate box shows ``api.certificate()`` and offers "Import…" (a PEM
certificate with its chain, then its key) and a new self-signed certificate.
The bans table shows ``api.bans()``, polled while the page is visible (the
core raises no event for a ban), with "Unban".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontDatabase, QGuiApplication, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.base import ERROR_STYLE, exec_async, notify
from app.dialogs.confirm import confirm
from app.models.bans_model import BansModel
from app.models.queue_model import span_text
from app.tasks import spawn
from server.api import Ban, CertificateInfo, CoreApi
from server.errors import ValidationError
from server.events import SettingsChanged

log = logging.getLogger("quicksilver.app")

BANS_POLL_MS = 5000
EXPIRY_WARNING_DAYS = 30
MAX_PEM_BYTES = 1024 * 1024  # a certificate chain or key is a few KB
PEM_FILTER = "PEM files (*.pem *.crt *.cer *.key);;All files (*)"


def day_text(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


def fingerprint_lines(sha256: str) -> str:
    """'AA:BB:…' (32 bytes) as two lines of 16, the way mail clients show it."""
    parts = sha256.split(":")
    if len(parts) < 2:
        return sha256
    half = (len(parts) + 1) // 2
    return ":".join(parts[:half]) + ":\n" + ":".join(parts[half:])


class SecurityPage(QWidget):
    """Certificate details and actions; bans and Unban.

    Signals: none.
    """

    def __init__(
        self,
        bridge: CoreBridge,
        parent: QWidget | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._clock = clock
        self.info: CertificateInfo | None = None
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

        # -- certificate -------------------------------------------------------
        self.cert_box = QGroupBox("TLS certificate (STARTTLS and the TLS ports)", self)
        self.subject_label = self._value_label()
        self.issuer_label = self._value_label()
        self.names_label = self._value_label()
        self.valid_from_label = self._value_label()
        self.valid_until_label = self._value_label()
        self.fingerprint_label = self._value_label()
        self.fingerprint_label.setFont(fixed)
        self.copy_button = QToolButton(self)
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy the fingerprint to the clipboard")
        fingerprint_row = QHBoxLayout()
        fingerprint_row.addWidget(self.fingerprint_label)
        fingerprint_row.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignTop)
        fingerprint_row.addStretch(1)
        self.cert_note = QLabel(self)
        self.cert_note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Subject:", self.subject_label)
        form.addRow("Issuer:", self.issuer_label)
        form.addRow("Names:", self.names_label)
        form.addRow("Valid from:", self.valid_from_label)
        form.addRow("Valid until:", self.valid_until_label)
        form.addRow("SHA-256 fingerprint:", fingerprint_row)
        self.import_button = QPushButton("&Import…", self)
        self.import_button.setToolTip(
            "Use a certificate from a certificate authority: choose the "
            "certificate (PEM, with its chain), then its private key"
        )
        self.regenerate_button = QPushButton(
            "Make a new &self-signed certificate", self
        )
        cert_buttons = QHBoxLayout()
        cert_buttons.addWidget(self.import_button)
        cert_buttons.addWidget(self.regenerate_button)
        cert_buttons.addStretch(1)
        cert_layout = QVBoxLayout(self.cert_box)
        cert_layout.addLayout(form)
        cert_layout.addWidget(self.cert_note)
        cert_layout.addLayout(cert_buttons)

        # -- bans ----------------------------------------------------------------
        self.bans_box = QGroupBox("Banned addresses", self)
        self.policy_label = QLabel(self)
        self.policy_label.setWordWrap(True)
        self.bans_model = BansModel(self, clock=clock)
        self.bans_table = QTableView(self)
        self.bans_table.setModel(self.bans_model)
        self.bans_table.setSelectionBehavior(
            QAbstractItemView.SelectionBehavior.SelectRows
        )
        self.bans_table.setSelectionMode(
            QAbstractItemView.SelectionMode.SingleSelection
        )
        self.bans_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.bans_table.verticalHeader().hide()
        self.bans_table.setAlternatingRowColors(True)
        self.bans_table.setShowGrid(False)
        header = self.bans_table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(
            BansModel.COL_IP, QHeaderView.ResizeMode.ResizeToContents
        )
        header.setSectionResizeMode(
            BansModel.COL_UNTIL, QHeaderView.ResizeMode.ResizeToContents
        )
        self.unban_button = QPushButton("&Unban", self)
        self.unban_button.setToolTip("Let this address connect and log in again")
        self.refresh_button = QPushButton("&Refresh", self)
        ban_buttons = QVBoxLayout()
        ban_buttons.addWidget(self.unban_button)
        ban_buttons.addWidget(self.refresh_button)
        ban_buttons.addStretch(1)
        ban_body = QHBoxLayout()
        ban_body.addWidget(self.bans_table, 1)
        ban_body.addLayout(ban_buttons)
        bans_layout = QVBoxLayout(self.bans_box)
        bans_layout.addWidget(self.policy_label)
        bans_layout.addLayout(ban_body)

        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        self.bans_table.setMinimumHeight(90)
        # A short window scrolls the page instead of squeezing its rows.
        content = QWidget(self)
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.addWidget(self.cert_box, 0)
        content_layout.addWidget(self.bans_box, 1)
        content_layout.addWidget(self.status_label)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)

        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(BANS_POLL_MS)
        self._poll_timer.timeout.connect(self.on_poll_timer_timeout)

        self.import_button.clicked.connect(self.on_import_button_clicked)
        self.regenerate_button.clicked.connect(self.on_regenerate_button_clicked)
        self.copy_button.clicked.connect(self.on_copy_button_clicked)
        self.unban_button.clicked.connect(self.on_unban_button_clicked)
        self.refresh_button.clicked.connect(self.on_refresh_button_clicked)
        self.bans_table.selectionModel().selectionChanged.connect(
            self.on_bans_selection_changed
        )
        self.bans_model.modelReset.connect(self.on_bans_selection_changed)
        bridge.settingsChanged.connect(self.on_bridge_settingsChanged)
        self.show_certificate(None)
        self.on_bans_selection_changed()

    def _value_label(self) -> QLabel:
        label = QLabel(self)  # no word wrap: it would squeeze the rows' height
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    # -- certificate ------------------------------------------------------------
    def show_certificate(self, info: CertificateInfo | None) -> None:
        self.info = info
        if info is None:
            for label in (
                self.subject_label,
                self.issuer_label,
                self.names_label,
                self.valid_from_label,
                self.valid_until_label,
                self.fingerprint_label,
            ):
                label.setText("—")
            self.copy_button.setEnabled(False)
            self.cert_note.setText("No certificate could be read.")
            self.cert_note.setStyleSheet(ERROR_STYLE)
            self.cert_note.setVisible(True)
            return
        self.subject_label.setText(info.subject)
        self.issuer_label.setText(
            f"{info.issuer} (self-signed)" if info.self_signed else info.issuer
        )
        names = ", ".join(info.names) or "—"
        self.names_label.setText(names if len(names) <= 90 else names[:88] + "…")
        self.names_label.setToolTip("\n".join(info.names))
        self.valid_from_label.setText(day_text(info.not_before))
        left = info.not_after - self._clock()
        until = day_text(info.not_after)
        if left <= 0:
            until += " — expired"
        elif left < EXPIRY_WARNING_DAYS * 86400:
            until += f" — expires in {span_text(left)}"
        self.valid_until_label.setText(until)
        self.valid_until_label.setStyleSheet(
            ERROR_STYLE if left < EXPIRY_WARNING_DAYS * 86400 else ""
        )
        self.fingerprint_label.setText(fingerprint_lines(info.sha256))
        self.copy_button.setEnabled(True)
        if info.error:
            self.cert_note.setText(info.error)
            self.cert_note.setStyleSheet(ERROR_STYLE)
        else:
            self.cert_note.setText("")
            self.cert_note.setStyleSheet("")
        self.cert_note.setVisible(bool(self.cert_note.text()))
        self.fingerprint_label.setToolTip(
            "Mail clients warn once about a self-signed certificate: compare this "
            "fingerprint with the one the client shows before accepting it."
            if info.self_signed
            else ""
        )

    async def refresh_certificate(self) -> None:
        self.show_certificate(await self._bridge.run(CoreApi.certificate))

    async def choose_file(self, title: str) -> str:
        """Ask for one existing file; '' when the person cancels."""
        dialog = QFileDialog(self, title, "", PEM_FILTER)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        try:
            if await exec_async(dialog) != QFileDialog.DialogCode.Accepted:
                return ""
            files = dialog.selectedFiles()
            return files[0] if files else ""
        finally:
            dialog.deleteLater()

    async def import_certificate(self) -> CertificateInfo | None:
        cert_path = await self.choose_file(
            "Choose the certificate (PEM, with its chain)"
        )
        if not cert_path:
            return None
        key_path = await self.choose_file("Choose the certificate's private key (PEM)")
        if not key_path:
            return None
        try:
            cert_pem, key_pem = (_read_small(cert_path), _read_small(key_path))
        except (OSError, ValueError) as exc:
            notify(self, "Import certificate", str(exc))
            return None
        try:
            info = await self._bridge.run(CoreApi.import_certificate, cert_pem, key_pem)
        except ValidationError as exc:
            notify(
                self, "Import certificate", f"The certificate was not imported.\n{exc}"
            )
            return None
        self.show_certificate(info)
        self.status_label.setText("Certificate imported: new connections use it.")
        return info

    async def regenerate_certificate(self) -> CertificateInfo | None:
        text = (
            "Replace the current certificate with a new self-signed one?\n"
            "Mail clients will warn about the new certificate until people "
            "accept it again."
        )
        if not await confirm(self, "New self-signed certificate", text):
            return None
        try:
            info = await self._bridge.run(CoreApi.regenerate_certificate)
        except (ValidationError, OSError) as exc:
            notify(self, "New self-signed certificate", str(exc))
            return None
        self.show_certificate(info)
        self.status_label.setText("A new self-signed certificate is in use.")
        return info

    # -- bans ------------------------------------------------------------------------
    async def refresh_bans(self) -> None:
        selected = self.selected_ban()
        self.bans_model.set_bans(await self._bridge.run(CoreApi.bans))
        if selected is not None:
            row = self.bans_model.row_of(selected.ip)
            if row >= 0:
                self.bans_table.selectRow(row)

    async def refresh_policy(self) -> None:
        settings = await self._bridge.run(CoreApi.settings)
        sec = settings.security
        self.policy_label.setText(
            f"An address is banned for {span_text(sec.ban_time)} after "
            f"{sec.max_failures} failed logins within {span_text(sec.failure_window)}"
            " (an IPv6 address with its /64 network)."
            " This computer (the window's own checks) is never banned."
            f" An account is locked for {span_text(sec.user_lock_time)} after "
            f"{sec.user_max_failures} failed logins from any addresses, however its "
            "name is spelled. Change these under Configuration → Security."
        )

    async def refresh(self) -> None:
        await self.refresh_certificate()
        await self.refresh_policy()
        await self.refresh_bans()

    def selected_ban(self) -> Ban | None:
        rows = self.bans_table.selectionModel().selectedRows()
        return self.bans_model.ban(rows[0].row()) if rows else None

    def select_ban(self, ip: str) -> None:
        row = self.bans_model.row_of(ip)
        if row >= 0:
            self.bans_table.selectRow(row)

    async def unban(self, ban: Ban) -> bool:
        was = bool(await self._bridge.run(CoreApi.unban, ban.ip))
        self.status_label.setText(
            f"{ban.ip} may connect again." if was else f"{ban.ip} was no longer banned."
        )
        await self.refresh_bans()
        return was

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._poll_timer.start()
        spawn(self.refresh())

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._poll_timer.stop()

    # -- slots ------------------------------------------------------------------------
    def on_import_button_clicked(self) -> None:
        spawn(self.import_certificate())

    def on_regenerate_button_clicked(self) -> None:
        spawn(self.regenerate_certificate())

    def on_copy_button_clicked(self) -> None:
        if self.info is not None:
            QGuiApplication.clipboard().setText(self.info.sha256)

    def on_unban_button_clicked(self) -> None:
        ban = self.selected_ban()
        if ban is not None:
            spawn(self.unban(ban))

    def on_refresh_button_clicked(self) -> None:
        spawn(self.refresh())

    def on_poll_timer_timeout(self) -> None:
        spawn(self.refresh_bans())

    def on_bans_selection_changed(self, *_args: object) -> None:
        self.unban_button.setEnabled(self.selected_ban() is not None)

    def on_bridge_settingsChanged(self, event: object) -> None:
        if not self.isVisible():
            return
        section = event.section if isinstance(event, SettingsChanged) else ""
        if section == "security":
            spawn(self.refresh_policy())
        elif section == "general":  # a new host name remakes our certificate
            spawn(self.refresh_certificate())


def _read_small(path: str) -> bytes:
    p = Path(path)
    if p.stat().st_size > MAX_PEM_BYTES:
        raise ValueError(f"{p.name} is too large to be a PEM certificate or key.")
    return p.read_bytes()
