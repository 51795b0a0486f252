"""Security → Mail authentication: what makes mail from this server welcome at
the big providers, and what keeps spam out of the users' inboxes.

- DKIM keys per domain (``CoreApi.internet.dkim_*``): generate, rotate (new
  keys published first), switch to the new keys, remove a retired one, and
  each key's DNS record to copy.
- Incoming mail (``[smtp]``): SPF/DKIM/DMARC checks and the DMARC reject
  policy, greylisting with its counts, DNS block and allow lists (with
  suggestions and their usage terms), a spam scanner (spamd or rspamd) with
  a connection test and the score thresholds, and Junk filing.
- Outgoing mail: the MTA-STS policy we publish (``web.mta_sts_mode``), and
  the TLS-RPT counts of what DANE and MTA-STS did to our deliveries.

Per-message verdicts (one line per message: SPF/DKIM/DMARC, and the spam
reasons) are in the log console. Changes are saved together with "Save".
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.base import ERROR_STYLE
from app.dialogs.confirm import confirm
from app.tasks import spawn
from app.views.dns_page import domain_names, fill_domain_box
from server.api import CoreApi
from server.api_internet import Count, DkimKeyView, GreylistCounts
from server.config.schema import Settings
from server.errors import ValidationError

# (zone as written in smtp.dnsbl_zones, what to tell the administrator)
SUGGESTED_ZONES: tuple[tuple[str, str], ...] = (
    (
        "zen.spamhaus.org",
        "Spamhaus ZEN: free for small, non-commercial use; queries must come "
        "from your own resolver, not a public one (8.8.8.8 is refused).",
    ),
    (
        "bl.spamcop.net",
        "SpamCop: free; lists sources of reported spam, entries expire fast.",
    ),
    (
        "b.barracudacentral.org",
        "Barracuda: free after registering the resolver's address.",
    ),
    (
        "list.dnswl.org=allow",
        "DNSWL (allow list): free for low volumes; listed senders skip "
        "greylisting and the block lists.",
    ),
)
FILTERS = (("", "None"), ("spamd", "SpamAssassin (spamd)"), ("rspamd", "rspamd"))
STS_MODES = (
    ("", "Not published"),
    ("testing", "Testing (senders report, deliver anyway)"),
    ("enforce", "Enforce (senders must use verified TLS)"),
)
KEY_COLUMNS = ("Selector", "Algorithm", "State", "Created")
TLS_COLUMNS = ("Day", "Domain", "Policy", "Result", "Count")


async def _keys(api: CoreApi, domain: str) -> tuple[DkimKeyView, ...]:
    return await api.internet.dkim_keys(domain)


async def _key_action(
    api: CoreApi, action: str, domain: str
) -> tuple[DkimKeyView, ...]:
    net = api.internet
    if action == "generate":
        return await net.dkim_generate(domain)
    if action == "rotate":
        return await net.dkim_rotate(domain)
    return await net.dkim_activate(domain)


async def _remove_key(
    api: CoreApi, domain: str, selector: str
) -> tuple[DkimKeyView, ...]:
    return await api.internet.dkim_remove(domain, selector)


async def _greylist(api: CoreApi) -> GreylistCounts:
    return await api.internet.greylist_counts()


async def _tls(api: CoreApi) -> tuple[Count, ...]:
    return await api.internet.tls_report()


async def _spam_test(api: CoreApi) -> str:
    return await api.internet.spam_filter_check()


class _WheelGuard(QObject):
    """A combo box or spin box in a scrolling page takes the mouse wheel only
    once it has focus: scrolling past it must not change a setting."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        wheel = event.type() == QEvent.Type.Wheel
        if wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            event.ignore()
            return True
        return False


def _group(title: str, parent: QWidget) -> tuple[QGroupBox, QVBoxLayout]:
    box = QGroupBox(title, parent)
    return box, QVBoxLayout(box)


def _table(columns: tuple[str, ...], parent: QWidget) -> QTableWidget:
    table = QTableWidget(0, len(columns), parent)
    table.setHorizontalHeaderLabels(columns)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    table.setMinimumHeight(110)
    return table


class MailAuthPage(QWidget):
    """Signals: none."""

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.keys: tuple[DkimKeyView, ...] = ()
        self.settings: Settings | None = None

        # -- DKIM ------------------------------------------------------------------
        dkim_box, dkim = _group("DKIM signing keys", self)
        self.domain_box = QComboBox(self)
        self.domain_box.setMinimumContentsLength(24)
        self.generate_button = QPushButton("&Generate keys", self)
        self.generate_button.setToolTip(
            "Make an RSA-2048 and an Ed25519 key; mail is signed with them at once"
        )
        self.rotate_button = QPushButton("&Rotate…", self)
        self.rotate_button.setToolTip(
            "Make new keys and publish them first; switch once DNS has them"
        )
        self.activate_button = QPushButton("&Switch to new keys", self)
        self.remove_button = QPushButton("Remove key", self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Domain:", self))
        row.addWidget(self.domain_box)
        for b in (
            self.generate_button,
            self.rotate_button,
            self.activate_button,
            self.remove_button,
        ):
            row.addWidget(b)
        row.addStretch(1)
        self.keys_table = _table(KEY_COLUMNS, self)
        self.record_text = QPlainTextEdit(self)
        self.record_text.setReadOnly(True)
        self.record_text.setMaximumHeight(64)
        self.record_text.setPlaceholderText("Select a key to see its DNS record.")
        self.copy_record_button = QPushButton("&Copy record", self)
        record_row = QHBoxLayout()
        record_row.addWidget(self.record_text, 1)
        record_row.addWidget(self.copy_record_button)
        dkim.addLayout(row)
        dkim.addWidget(self.keys_table)
        dkim.addLayout(record_row)

        # -- incoming ----------------------------------------------------------------
        inbound_box, inbound = _group("Incoming mail (the SMTP module)", self)
        self.auth_check = QCheckBox(
            "Check SPF, DKIM and DMARC, and record them in Authentication-Results",
            self,
        )
        self.dmarc_reject_check = QCheckBox(
            "Refuse mail whose sender domain's DMARC policy says reject "
            "(otherwise it goes to Junk)",
            self,
        )
        self.greylist_check = QCheckBox(
            "Greylisting: ask unknown senders to retry after 5 minutes", self
        )
        self.greylist_counts = QLabel(self)
        self.junk_check = QCheckBox(
            "File mail marked as spam in the user's Junk folder", self
        )
        grey_row = QHBoxLayout()
        grey_row.addWidget(self.greylist_check)
        grey_row.addWidget(self.greylist_counts)
        grey_row.addStretch(1)
        self.zones_edit = QPlainTextEdit(self)
        self.zones_edit.setMaximumHeight(72)
        self.zones_edit.setPlaceholderText(
            "One list per line: zone (refuse), zone=tag (Junk) or zone=allow"
        )
        self.zone_suggestions = QComboBox(self)
        self.zone_suggestions.addItem("Suggested lists…", "")
        for zone, terms in SUGGESTED_ZONES:
            self.zone_suggestions.addItem(zone, zone)
            self.zone_suggestions.setItemData(
                self.zone_suggestions.count() - 1,
                terms,
                3,  # ToolTipRole
            )
        self.add_zone_button = QPushButton("Add", self)
        self.zone_terms = QLabel(self)
        self.zone_terms.setWordWrap(True)
        zone_row = QHBoxLayout()
        zone_row.addWidget(self.zone_suggestions)
        zone_row.addWidget(self.add_zone_button)
        zone_row.addStretch(1)
        inbound.addWidget(self.auth_check)
        inbound.addWidget(self.dmarc_reject_check)
        inbound.addLayout(grey_row)
        inbound.addWidget(self.junk_check)
        inbound.addWidget(QLabel("DNS block and allow lists (asked at RCPT):", self))
        inbound.addWidget(self.zones_edit)
        inbound.addLayout(zone_row)
        inbound.addWidget(self.zone_terms)

        # -- spam scanner ------------------------------------------------------------
        spam_box, spam = _group("Spam scanner (optional)", self)
        self.filter_box = QComboBox(self)
        for value, title in FILTERS:
            self.filter_box.addItem(title, value)
        self.filter_host = QLineEdit(self)
        self.filter_port = QSpinBox(self)
        self.filter_port.setRange(0, 65535)
        self.filter_port.setSpecialValueText("usual port")
        self.junk_score = QDoubleSpinBox(self)
        self.junk_score.setRange(-100.0, 1000.0)
        self.junk_score.setDecimals(1)
        self.junk_score.setToolTip("At or above this score a message goes to Junk")
        self.reject_score = QDoubleSpinBox(self)
        self.reject_score.setRange(0.0, 1000.0)
        self.reject_score.setDecimals(1)
        self.reject_score.setSpecialValueText("never")
        self.reject_score.setToolTip(
            "At or above this score a message is refused (550) while the sender "
            "waits; 0: never refuse, only Junk"
        )
        self.test_button = QPushButton("&Test connection", self)
        self.test_result = QLabel(self)
        self.test_result.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Scanner:", self.filter_box)
        form.addRow("Host:", self.filter_host)
        form.addRow("Port:", self.filter_port)
        form.addRow("Junk from score:", self.junk_score)
        form.addRow("Refuse from score:", self.reject_score)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        spam.addLayout(form)
        spam.addLayout(test_row)

        # -- outgoing ------------------------------------------------------------------
        out_box, out = _group("Outgoing mail: TLS", self)
        self.sts_box = QComboBox(self)
        for value, title in STS_MODES:
            self.sts_box.addItem(title, value)
        sts_row = QHBoxLayout()
        sts_row.addWidget(QLabel("Our MTA-STS policy:", self))
        sts_row.addWidget(self.sts_box)
        sts_row.addStretch(1)
        self.tls_table = _table(TLS_COLUMNS, self)
        tls_note = QLabel(
            "Deliveries under a recipient domain's DANE or MTA-STS policy, per "
            "day (TLS-RPT). A failure means the mail waited instead of going "
            "out unprotected.",
            self,
        )
        tls_note.setWordWrap(True)
        out.addLayout(sts_row)
        out.addWidget(tls_note)
        out.addWidget(self.tls_table)

        # -- save -------------------------------------------------------------------
        self.save_button = QPushButton("&Save", self)
        self.revert_button = QPushButton("Revert", self)
        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        save_row = QHBoxLayout()
        save_row.addWidget(self.status_label, 1)
        save_row.addWidget(self.revert_button)
        save_row.addWidget(self.save_button)

        content = QWidget(self)
        content_layout = QVBoxLayout(content)
        for box in (dkim_box, inbound_box, spam_box, out_box):
            content_layout.addWidget(box)
        content_layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addLayout(save_row)

        self._wheel_guard = _WheelGuard(self)
        for w in (
            self.domain_box,
            self.zone_suggestions,
            self.filter_box,
            self.filter_port,
            self.junk_score,
            self.reject_score,
            self.sts_box,
        ):
            w.installEventFilter(self._wheel_guard)
            w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        for wide in (self.filter_box, self.filter_host, self.sts_box):
            wide.setMaximumWidth(320)
        for narrow in (self.filter_port, self.junk_score, self.reject_score):
            narrow.setMaximumWidth(140)
        self.keys_table.setMaximumHeight(150)
        self.tls_table.setMaximumHeight(200)

        self.domain_box.currentTextChanged.connect(self.on_domain_box_changed)
        self.generate_button.clicked.connect(self.on_generate_button_clicked)
        self.rotate_button.clicked.connect(self.on_rotate_button_clicked)
        self.activate_button.clicked.connect(self.on_activate_button_clicked)
        self.remove_button.clicked.connect(self.on_remove_button_clicked)
        self.copy_record_button.clicked.connect(self.on_copy_record_button_clicked)
        self.keys_table.itemSelectionChanged.connect(self.on_keys_selection_changed)
        self.add_zone_button.clicked.connect(self.on_add_zone_button_clicked)
        self.zone_suggestions.currentIndexChanged.connect(self.on_zone_suggestion)
        self.filter_box.currentIndexChanged.connect(self.on_filter_changed)
        self.test_button.clicked.connect(self.on_test_button_clicked)
        self.save_button.clicked.connect(self.on_save_button_clicked)
        self.revert_button.clicked.connect(self.on_revert_button_clicked)
        self.show_keys(())

    # -- reading -------------------------------------------------------------------
    async def refresh(self) -> None:
        self.settings = await self._bridge.run(CoreApi.settings)
        self.show_settings(self.settings)
        fill_domain_box(self.domain_box, await self._bridge.run(domain_names))
        await self.load_keys(self.domain_box.currentText())
        await self.refresh_counts()

    async def refresh_counts(self) -> None:
        grey = await self._bridge.run(_greylist)
        self.greylist_counts.setText(
            f"({grey.waiting} waiting, {grey.passed} passed)"
            if grey.enabled or grey.waiting or grey.passed
            else ""
        )
        counts = await self._bridge.run(_tls)
        self.tls_table.setRowCount(len(counts))
        for r, c in enumerate(counts):
            for col, text in enumerate(
                (c.day, c.domain, c.policy, c.result, str(c.count))
            ):
                self.tls_table.setItem(r, col, QTableWidgetItem(text))

    def show_settings(self, settings: Settings) -> None:
        smtp = settings.smtp
        self.auth_check.setChecked(smtp.check_authentication)
        self.dmarc_reject_check.setChecked(smtp.dmarc_reject)
        self.greylist_check.setChecked(smtp.greylisting)
        self.junk_check.setChecked(smtp.junk_spam)
        self.zones_edit.setPlainText("\n".join(smtp.dnsbl_zones))
        index = max(0, self.filter_box.findData(smtp.spam_filter))
        self.filter_box.setCurrentIndex(index)
        self.filter_host.setText(smtp.spam_filter_host)
        self.filter_port.setValue(smtp.spam_filter_port)
        self.junk_score.setValue(smtp.spam_junk_score)
        self.reject_score.setValue(smtp.spam_reject_score)
        self.sts_box.setCurrentIndex(
            max(0, self.sts_box.findData(settings.web.mta_sts_mode))
        )
        self.on_filter_changed()

    def smtp_changes(self) -> dict[str, Any]:
        zones = tuple(
            z.strip() for z in self.zones_edit.toPlainText().splitlines() if z.strip()
        )
        return {
            "check_authentication": self.auth_check.isChecked(),
            "dmarc_reject": self.dmarc_reject_check.isChecked(),
            "greylisting": self.greylist_check.isChecked(),
            "junk_spam": self.junk_check.isChecked(),
            "dnsbl_zones": zones,
            "spam_filter": str(self.filter_box.currentData() or ""),
            "spam_filter_host": self.filter_host.text().strip(),
            "spam_filter_port": self.filter_port.value(),
            "spam_junk_score": round(self.junk_score.value(), 1),
            "spam_reject_score": round(self.reject_score.value(), 1),
        }

    # -- keys ----------------------------------------------------------------------
    async def load_keys(self, domain: str) -> None:
        if not domain:
            self.show_keys(())
            return
        try:
            self.show_keys(await self._bridge.run(_keys, domain))
        except ValidationError as exc:
            self.show_error(str(exc))

    def show_keys(self, keys: tuple[DkimKeyView, ...]) -> None:
        self.keys = keys
        self.keys_table.setRowCount(len(keys))
        for r, v in enumerate(keys):
            made = time.strftime("%Y-%m-%d", time.localtime(v.key.created))
            for col, text in enumerate(
                (v.key.selector, v.key.algorithm, v.key.state, made)
            ):
                self.keys_table.setItem(r, col, QTableWidgetItem(text))
        has = bool(keys)
        self.generate_button.setEnabled(not has and bool(self.domain_box.currentText()))
        self.rotate_button.setEnabled(has)
        self.activate_button.setEnabled(any(v.key.state == "published" for v in keys))
        self.on_keys_selection_changed()

    def selected_key(self) -> DkimKeyView | None:
        rows = self.keys_table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.keys):
            return None
        return self.keys[rows[0].row()]

    async def key_action(self, action: str) -> None:
        domain = self.domain_box.currentText()
        if action == "rotate" and not await confirm(
            self,
            "Rotate DKIM keys",
            f"Make new keys for {domain}? They are published first: add their "
            "records to DNS, wait until they resolve (hours), then choose "
            '"Switch to new keys". The old keys sign until then.',
        ):
            return
        try:
            self.show_keys(await self._bridge.run(_key_action, action, domain))
        except ValidationError as exc:
            self.show_error(str(exc))
            return
        done = {
            "generate": "Keys made: publish their records (DNS records page).",
            "rotate": "New keys made and waiting: publish their records first.",
            "activate": "The new keys sign from now on; the old ones are retired.",
        }
        self.show_status(done[action])

    async def remove_key(self, view: DkimKeyView) -> None:
        domain = self.domain_box.currentText()
        if not await confirm(
            self,
            "Remove DKIM key",
            f"Remove the key {view.key.selector} of {domain}? Remove its DNS "
            "record too, once mail signed with it has been read.",
        ):
            return
        try:
            self.show_keys(
                await self._bridge.run(_remove_key, domain, view.key.selector)
            )
        except ValidationError as exc:
            self.show_error(str(exc))
            return
        self.show_status(f"Removed {view.key.selector}.")

    # -- saving --------------------------------------------------------------------
    async def save(self) -> bool:
        try:
            await self._bridge.run(CoreApi.update_settings, "smtp", self.smtp_changes())
            mode = str(self.sts_box.currentData() or "")
            if self.settings is None or self.settings.web.mta_sts_mode != mode:
                await self._bridge.run(
                    CoreApi.update_settings, "web", {"mta_sts_mode": mode}
                )
        except ValidationError as exc:
            self.show_error(_plain(str(exc)))
            return False
        self.settings = await self._bridge.run(CoreApi.settings)
        await self.refresh_counts()
        self.show_status("Saved: the SMTP module uses the new settings now.")
        return True

    async def test_scanner(self) -> None:
        self.test_result.setText("Asking…")
        if not await self.save():
            self.test_result.setText("")
            return
        try:
            self.test_result.setText(await self._bridge.run(_spam_test))
        except ValidationError as exc:
            self.test_result.setText(str(exc))

    def show_status(self, text: str) -> None:
        self.status_label.setStyleSheet("")
        self.status_label.setText(text)

    def show_error(self, text: str) -> None:
        self.status_label.setStyleSheet(ERROR_STYLE)
        self.status_label.setText(text)

    # -- events --------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        spawn(self.refresh())

    def on_domain_box_changed(self, domain: str) -> None:
        spawn(self.load_keys(domain))

    def on_generate_button_clicked(self) -> None:
        spawn(self.key_action("generate"))

    def on_rotate_button_clicked(self) -> None:
        spawn(self.key_action("rotate"))

    def on_activate_button_clicked(self) -> None:
        spawn(self.key_action("activate"))

    def on_remove_button_clicked(self) -> None:
        view = self.selected_key()
        if view is not None:
            spawn(self.remove_key(view))

    def on_keys_selection_changed(self) -> None:
        view = self.selected_key()
        self.record_text.setPlainText(
            f'{view.key.record_name}. TXT "{view.record}"' if view else ""
        )
        self.copy_record_button.setEnabled(view is not None)
        self.remove_button.setEnabled(view is not None and view.key.state == "retired")

    def on_copy_record_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.record_text.toPlainText())
        self.show_status("DNS record copied.")

    def on_zone_suggestion(self, index: int) -> None:
        terms = self.zone_suggestions.itemData(index, 3)
        self.zone_terms.setText(str(terms) if terms else "")

    def on_add_zone_button_clicked(self) -> None:
        zone = str(self.zone_suggestions.currentData() or "")
        lines = [z.strip() for z in self.zones_edit.toPlainText().splitlines()]
        if zone and zone not in lines:
            lines.append(zone)
            self.zones_edit.setPlainText("\n".join(x for x in lines if x))

    def on_filter_changed(self, *_args: object) -> None:
        on = bool(self.filter_box.currentData())
        for w in (self.filter_host, self.filter_port, self.junk_score):
            w.setEnabled(on)
        self.reject_score.setEnabled(on)
        self.test_button.setEnabled(on)

    def on_test_button_clicked(self) -> None:
        spawn(self.test_scanner())

    def on_save_button_clicked(self) -> None:
        spawn(self.save())

    def on_revert_button_clicked(self) -> None:
        if self.settings is not None:
            self.show_settings(self.settings)
            self.show_status("")


def _plain(message: str) -> str:
    """A settings error without its internal key ("smtp.dnsbl_zones: ...")."""
    head, sep, rest = message.partition(": ")
    if sep and "." in head and " " not in head:
        return rest[:1].upper() + rest[1:]
    return message
