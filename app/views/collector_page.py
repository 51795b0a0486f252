"""The Collector tab: remote POP3/IMAP mailboxes the ``fetch`` module brings
mail in from (Mercury's MercuryD, hMailServer's external accounts), with
each account's last poll, count and error, "Check now", and an account
dialog that can test the connection and accept a self-signed certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.base import ValidatedDialog, error_label, exec_async
from app.dialogs.confirm import confirm
from app.tasks import spawn
from server.api import CoreApi, FetchAccount, FetchAccountView
from server.errors import ValidationError

SECURITY_TITLES = {
    "implicit": "SSL/TLS (995 / 993)",
    "starttls": "STARTTLS (110 / 143)",
    "none": "None: the password travels in clear text",
}
USUAL_PORTS = {
    ("pop3", "implicit"): 995,
    ("pop3", "starttls"): 110,
    ("pop3", "none"): 110,
    ("imap", "implicit"): 993,
    ("imap", "starttls"): 143,
    ("imap", "none"): 143,
}


class FetchAccountDialog(ValidatedDialog):
    """One account: where, how, whose mail, and what to leave on the server.
    "Test the connection" shows what the server said; a certificate it
    cannot check can be accepted by its fingerprint."""

    def __init__(
        self,
        bridge: CoreBridge,
        users: Sequence[str],
        account: FetchAccount | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._account = account
        self.offered_fingerprint = ""
        self.setWindowTitle("Edit account" if account else "Add account")
        self.setMinimumWidth(640)
        self.id_edit = QLineEdit(self)
        self.id_edit.setPlaceholderText("a short name, e.g. office")
        self.protocol_combo = QComboBox(self)
        self.protocol_combo.addItem("POP3", "pop3")
        self.protocol_combo.addItem("IMAP", "imap")
        self.server_edit = QLineEdit(self)
        self.server_edit.setPlaceholderText("pop.provider.example")
        self.security_combo = QComboBox(self)
        for key, title in SECURITY_TITLES.items():
            self.security_combo.addItem(title, key)
        self.port_spin = QSpinBox(self)
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(995)
        self.user_edit = QLineEdit(self)
        self.password_edit = QLineEdit(self)
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        if account is not None:
            self.password_edit.setPlaceholderText("unchanged")
        self.folder_edit = QLineEdit("INBOX", self)
        self.fingerprint_edit = QLineEdit(self)
        self.fingerprint_edit.setPlaceholderText(
            "empty: check the certificate as mail clients do"
        )
        self.interval_spin = QSpinBox(self)
        self.interval_spin.setRange(10, 86_400)
        self.interval_spin.setValue(300)
        self.interval_spin.setSuffix(" s")
        self.one_user = QRadioButton("&One user gets it all:", self)
        self.fan_out = QRadioButton("&Domain mailbox, the rest to:", self)
        self.fan_out.setToolTip(
            "A mailbox that catches a whole domain at the provider: each message "
            "goes to the local users it is addressed to; mail for nobody here "
            "goes to this user."
        )
        self.one_user.setChecked(True)
        self.user_combo = QComboBox(self)
        self.user_combo.addItems(list(users))
        self.default_combo = QComboBox(self)
        self.default_combo.addItems(list(users))
        bcc = QLabel(
            "A domain mailbox is read by the provider's Delivered-To / "
            "X-Original-To, else by To and Cc (a Bcc recipient is found only "
            "through the provider's headers).",
            self,
        )
        bcc.setWordWrap(True)
        self.leave_check = QCheckBox("Leave the mail on the server", self)
        self.days_spin = QSpinBox(self)
        self.days_spin.setRange(0, 3650)
        self.days_spin.setSpecialValueText("never")
        self.days_spin.setSuffix(" days")
        self.enabled_check = QCheckBox("Check this account", self)
        self.enabled_check.setChecked(True)
        self.test_button = QPushButton("&Test the connection", self)
        self.accept_button = QPushButton("Accept this certificate", self)
        self.accept_button.setVisible(False)
        self.report = QPlainTextEdit(self)
        self.report.setReadOnly(True)
        self.report.setMaximumHeight(130)
        self.report.setPlaceholderText("What the server says appears here.")

        form = QFormLayout()
        form.addRow("&Name:", self.id_edit)
        form.addRow("&Protocol:", self.protocol_combo)
        form.addRow("&Server:", self.server_edit)
        form.addRow("&Encryption:", self.security_combo)
        form.addRow("P&ort:", self.port_spin)
        form.addRow("&User name:", self.user_edit)
        form.addRow("Pass&word:", self.password_edit)
        form.addRow("&Folder (IMAP):", self.folder_edit)
        form.addRow("Accepted &certificate:", self.fingerprint_edit)
        form.addRow("Check &every:", self.interval_spin)
        form.addRow(self.one_user, self.user_combo)
        form.addRow(self.fan_out, self.default_combo)
        form.addRow(bcc)
        leave = QHBoxLayout()
        leave.addWidget(self.leave_check)
        leave.addWidget(QLabel("delete from the server after", self))
        leave.addWidget(self.days_spin)
        form.addRow(leave)
        form.addRow(self.enabled_check)
        tests = QHBoxLayout()
        tests.addWidget(self.test_button)
        tests.addWidget(self.accept_button)
        tests.addStretch(1)
        self.error_label = error_label(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
            parent=self,
        )
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(tests)
        layout.addWidget(self.report)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        if account is not None:
            self._show(account)
        for edit in (
            self.id_edit,
            self.server_edit,
            self.user_edit,
            self.password_edit,
        ):
            edit.textChanged.connect(self.on_field_changed)
        self.protocol_combo.currentIndexChanged.connect(self.on_kind_changed)
        self.security_combo.currentIndexChanged.connect(self.on_kind_changed)
        self.one_user.toggled.connect(self.on_field_changed)
        self.leave_check.toggled.connect(self.on_field_changed)
        self.test_button.clicked.connect(self.on_test_button_clicked)
        self.accept_button.clicked.connect(self.on_accept_button_clicked)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.validate()

    def _show(self, a: FetchAccount) -> None:
        self.id_edit.setText(a.id)
        self.id_edit.setReadOnly(True)
        self.protocol_combo.setCurrentIndex(self.protocol_combo.findData(a.protocol))
        self.server_edit.setText(a.server)
        self.security_combo.setCurrentIndex(self.security_combo.findData(a.security))
        self.port_spin.setValue(a.port)
        self.user_edit.setText(a.username)
        self.folder_edit.setText(a.folder)
        self.fingerprint_edit.setText(a.fingerprint)
        self.interval_spin.setValue(a.interval)
        self.fan_out.setChecked(a.fan_out)
        self.one_user.setChecked(not a.fan_out)
        if a.destination:
            self.user_combo.setCurrentText(a.destination)
        if a.default_user:
            self.default_combo.setCurrentText(a.default_user)
        self.leave_check.setChecked(a.leave_on_server)
        self.days_spin.setValue(a.delete_after_days)
        self.enabled_check.setChecked(a.enabled)

    def value(self) -> FetchAccount:
        fan = self.fan_out.isChecked()
        return FetchAccount(
            id=self.id_edit.text().strip(),
            server=self.server_edit.text().strip(),
            username=self.user_edit.text().strip(),
            protocol=str(self.protocol_combo.currentData()),
            port=self.port_spin.value(),
            security=str(self.security_combo.currentData()),
            fingerprint=self.fingerprint_edit.text().strip(),
            folder=self.folder_edit.text().strip() or "INBOX",
            interval=self.interval_spin.value(),
            enabled=self.enabled_check.isChecked(),
            destination="" if fan else self.user_combo.currentText(),
            default_user=self.default_combo.currentText() if fan else "",
            leave_on_server=self.leave_check.isChecked(),
            delete_after_days=self.days_spin.value()
            if self.leave_check.isChecked()
            else 0,
        )

    def password(self) -> str:
        return self.password_edit.text()

    def problem(self) -> str:
        if not self.id_edit.text().strip():
            return "Give the account a short name."
        if not self.server_edit.text().strip():
            return "Enter the server's name."
        if not self.user_edit.text().strip():
            return "Enter the user name for the server."
        if self.user_combo.count() == 0:
            return "Add a user first: collected mail goes to a local user."
        if self._account is None and not self.password_edit.text():
            return "Enter the password for the server."
        return ""

    def after_validate(self, problem: str) -> None:
        self.folder_edit.setEnabled(self.protocol_combo.currentData() == "imap")
        self.user_combo.setEnabled(self.one_user.isChecked())
        self.default_combo.setEnabled(self.fan_out.isChecked())
        self.days_spin.setEnabled(self.leave_check.isChecked())
        self.test_button.setEnabled(not problem or self._account is not None)

    # -- slots --------------------------------------------------------------------
    def on_kind_changed(self) -> None:
        key = (
            str(self.protocol_combo.currentData()),
            str(self.security_combo.currentData()),
        )
        if self.port_spin.value() in USUAL_PORTS.values():
            self.port_spin.setValue(USUAL_PORTS[key])
        self.validate()

    def on_test_button_clicked(self) -> None:
        spawn(self.test_connection())

    def on_accept_button_clicked(self) -> None:
        self.fingerprint_edit.setText(self.offered_fingerprint)
        self.accept_button.setVisible(False)
        self.report.appendPlainText(
            "Accepted: this certificate, and only this one, is trusted for the "
            "account. Test again, then OK."
        )

    async def test_connection(self) -> None:
        self.test_button.setEnabled(False)
        self.report.setPlainText("Connecting…")
        self.accept_button.setVisible(False)
        try:
            report = await self._bridge.run(
                CoreApi.test_fetch_account, self.value(), self.password() or None
            )
        except ValidationError as exc:
            self.report.setPlainText(str(exc))
        else:
            verdict = "It works." if report.ok else "It does not work yet."
            self.report.setPlainText("\n".join([*report.lines, verdict]))
            self.offered_fingerprint = report.fingerprint
            self.accept_button.setVisible(bool(report.fingerprint))
        finally:
            self.test_button.setEnabled(True)


def _when(stamp: float) -> str:
    if not stamp:
        return "never"
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


class CollectorPage(QWidget):
    """The accounts and what their polls did.

    Signals: none.
    """

    HEADERS = ["Account", "Server", "Goes to", "Last poll", "Count", "Last error"]

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.views: tuple[FetchAccountView, ...] = ()
        self.table = QTableWidget(0, len(self.HEADERS), self)
        self.table.setHorizontalHeaderLabels(self.HEADERS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.add_button = QPushButton("&Add…", self)
        self.edit_button = QPushButton("&Edit…", self)
        self.remove_button = QPushButton("&Remove…", self)
        self.check_button = QPushButton("&Check now", self)
        self.refresh_button = QPushButton("Re&fresh", self)
        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        note = QLabel(
            "Mail waiting in mailboxes at your provider is brought in here and "
            "goes through the same rules as mail received by SMTP. Tick the "
            "Collector module to check the accounts on their own; passwords "
            "are kept in the system keyring.",
            self,
        )
        note.setWordWrap(True)
        buttons = QVBoxLayout()
        for b in (
            self.add_button,
            self.edit_button,
            self.remove_button,
            self.check_button,
            self.refresh_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.table, 1)
        row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(row, 1)
        layout.addWidget(self.status_label)
        self.add_button.clicked.connect(self.on_add_button_clicked)
        self.edit_button.clicked.connect(self.on_edit_button_clicked)
        self.remove_button.clicked.connect(self.on_remove_button_clicked)
        self.check_button.clicked.connect(self.on_check_button_clicked)
        self.refresh_button.clicked.connect(self.on_refresh_button_clicked)
        self.table.itemSelectionChanged.connect(self.update_buttons)
        self.table.itemDoubleClicked.connect(self.on_edit_button_clicked)
        self.update_buttons()

    def selected(self) -> FetchAccountView | None:
        rows = self.table.selectionModel().selectedRows()
        row = rows[0].row() if rows else -1
        return self.views[row] if 0 <= row < len(self.views) else None

    def update_buttons(self) -> None:
        has = self.selected() is not None
        for b in (self.edit_button, self.remove_button, self.check_button):
            b.setEnabled(has)

    async def refresh(self) -> None:
        chosen = self.selected()
        self.views = await self._bridge.run(CoreApi.fetch_accounts)
        self.table.setRowCount(len(self.views))
        for r, v in enumerate(self.views):
            a, st = v.account, v.status
            where = a.destination or f"spread out (else {a.default_user})"
            cells = [
                a.id + ("" if a.enabled else " (off)"),
                f"{a.protocol.upper()} {a.username}@{a.server}:{a.port}",
                where,
                _when(st.last_poll),
                f"{st.last_count} (total {st.total})",
                st.last_error,
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(r, c, item)
            if chosen is not None and chosen.account.id == a.id:
                self.table.selectRow(r)
        self.update_buttons()

    async def _users(self) -> list[str]:
        users = await self._bridge.run(CoreApi.list_users)
        return [u.address for u in users]

    async def edit(self, account: FetchAccount | None) -> FetchAccount | None:
        dialog = FetchAccountDialog(self._bridge, await self._users(), account, self)
        try:
            while await exec_async(dialog) == QDialog.DialogCode.Accepted:
                try:
                    saved = await self._bridge.run(
                        CoreApi.save_fetch_account,
                        dialog.value(),
                        dialog.password() or None,
                    )
                except ValidationError as exc:
                    dialog.show_error(str(exc))
                    continue
                await self.refresh()
                self.status_label.setText(f"{saved.id} saved.")
                return saved
            return None
        finally:
            dialog.deleteLater()

    async def remove(self, a: FetchAccount) -> None:
        if not await confirm(
            self,
            "Remove account",
            f"Stop collecting from {a.username}@{a.server} and forget the "
            "account and its password?\nThe mail already collected stays.",
        ):
            return
        await self._bridge.run(CoreApi.remove_fetch_account, a.id)
        await self.refresh()
        self.status_label.setText(f"{a.id} removed.")

    async def check_now(self, a: FetchAccount) -> None:
        self.check_button.setEnabled(False)
        self.status_label.setText(f"Checking {a.id}…")
        try:
            result = await self._bridge.run(CoreApi.check_fetch_account, a.id)
            self.status_label.setText(
                f"{a.id}: {result.error}"
                if result.error
                else f"{a.id}: {result.collected} new message(s)."
            )
        finally:
            await self.refresh()

    # -- slots ---------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        spawn(self.refresh())

    def on_add_button_clicked(self) -> None:
        spawn(self.edit(None))

    def on_edit_button_clicked(self) -> None:
        v = self.selected()
        if v is not None:
            spawn(self.edit(v.account))

    def on_remove_button_clicked(self) -> None:
        v = self.selected()
        if v is not None:
            spawn(self.remove(v.account))

    def on_check_button_clicked(self) -> None:
        v = self.selected()
        if v is not None:
            spawn(self.check_now(v.account))

    def on_refresh_button_clicked(self) -> None:
        spawn(self.refresh())
