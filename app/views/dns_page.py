"""Security → DNS records: for one mail domain, the records to publish so mail
reaches the big providers' inboxes and clients find the server (MX, SPF, the
DKIM keys, DMARC, client setup, MTA-STS and TLS-RPT when published), each
with a Copy button, and a "Check" that asks DNS and says, record by record,
what is missing or different (``CoreApi.internet.dns_records`` and
``dns_check``; the same as ``quicksilver-server dns``).
"""

from __future__ import annotations

from PySide6.QtGui import QBrush, QColor, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.base import ERROR_STYLE
from app.tasks import spawn
from server.api import CoreApi
from server.api_internet import DnsRecords, Finding, Record
from server.errors import ValidationError

STATUS_TEXT = {
    "ok": "OK",
    "missing": "Missing",
    "different": "Different",
    "unknown": "No answer",
}
STATUS_COLOR = {"ok": "#1b7f3b", "missing": "#b00020", "different": "#b26a00"}
COLUMNS = ("Name", "Type", "Value", "What it is for", "Check")


async def _records(api: CoreApi, domain: str) -> DnsRecords:
    return await api.internet.dns_records(domain)


async def _check(api: CoreApi, domain: str) -> tuple[Finding, ...]:
    return await api.internet.dns_check(domain)


def fill_domain_box(box: QComboBox, domains: list[str]) -> None:
    """Offer ``domains`` in ``box``, keeping the one chosen when it is still
    there, without a change signal for the refill."""
    current = box.currentText()
    box.blockSignals(True)
    box.clear()
    box.addItems(domains)
    if current in domains:
        box.setCurrentText(current)
    box.blockSignals(False)


async def domain_names(api: CoreApi) -> list[str]:
    return [d.name for d in await api.list_domains()]


def zone_line(record: Record) -> str:
    """The record as a zone file line (what the Copy buttons put on the
    clipboard: most DNS providers' forms take the parts of it)."""
    value = f'"{record.value}"' if record.type == "TXT" else record.value
    return f"{record.name}. {record.type} {value}"


class DnsPage(QWidget):
    """Signals: none."""

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.records: tuple[Record, ...] = ()
        self.domain_box = QComboBox(self)
        self.domain_box.setMinimumContentsLength(24)
        self.check_button = QPushButton("&Check DNS", self)
        self.check_button.setToolTip(
            "Ask DNS for each record and say what is missing or different"
        )
        self.copy_button = QPushButton("&Copy record", self)
        self.copy_all_button = QPushButton("Copy &all", self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Domain:", self))
        top.addWidget(self.domain_box)
        top.addWidget(self.check_button)
        top.addStretch(1)
        top.addWidget(self.copy_button)
        top.addWidget(self.copy_all_button)
        self.intro = QLabel(
            "Publish these records at your DNS provider. The DKIM keys are on the "
            "Mail authentication page; DMARC starts with p=none (reports only): "
            "tighten it once the reports show only your own mail.",
            self,
        )
        self.intro.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for col in (0, 1, 4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.notes = QLabel(self)
        self.notes.setWordWrap(True)
        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.notes)
        layout.addWidget(self.status_label)

        self.domain_box.currentTextChanged.connect(self.on_domain_box_changed)
        self.check_button.clicked.connect(self.on_check_button_clicked)
        self.copy_button.clicked.connect(self.on_copy_button_clicked)
        self.copy_all_button.clicked.connect(self.on_copy_all_button_clicked)
        self.table.itemSelectionChanged.connect(self.on_table_selection_changed)
        self.on_table_selection_changed()

    # -- data ----------------------------------------------------------------------
    async def refresh(self) -> None:
        fill_domain_box(self.domain_box, await self._bridge.run(domain_names))
        await self.show_domain(self.domain_box.currentText())

    async def show_domain(self, domain: str) -> None:
        self.status_label.setText("")
        self.status_label.setStyleSheet("")
        if not domain:
            self.show_records(DnsRecords((), ()))
            return
        try:
            found = await self._bridge.run(_records, domain)
        except ValidationError as exc:
            self.status_label.setText(str(exc))
            self.status_label.setStyleSheet(ERROR_STYLE)
            return
        self.show_records(found)

    def show_records(self, found: DnsRecords) -> None:
        self.records = found.records
        self.table.setRowCount(len(found.records))
        for row, rec in enumerate(found.records):
            for col, text in enumerate((rec.name, rec.type, rec.value, rec.why, "")):
                item = QTableWidgetItem(text)
                item.setToolTip(text if col != 2 else zone_line(rec))
                self.table.setItem(row, col, item)
        self.table.setColumnWidth(2, 360)
        self.notes.setText("\n".join(found.notes))
        self.notes.setVisible(bool(found.notes))
        self.check_button.setEnabled(bool(found.records))
        self.copy_all_button.setEnabled(bool(found.records))

    async def check(self) -> None:
        domain = self.domain_box.currentText()
        if not domain:
            return
        self.check_button.setEnabled(False)
        self.status_label.setText(f"Asking DNS about {domain}…")
        try:
            findings = await self._bridge.run(_check, domain)
        except ValidationError as exc:
            self.status_label.setText(str(exc))
            self.status_label.setStyleSheet(ERROR_STYLE)
            return
        finally:
            self.check_button.setEnabled(True)
        problems = 0
        for row, f in enumerate(findings[: self.table.rowCount()]):
            text = STATUS_TEXT.get(f.status, f.status)
            if f.found and f.status != "ok":
                text += f": {f.found}"
            item = QTableWidgetItem(text)
            item.setToolTip(f.found or text)
            color = STATUS_COLOR.get(f.status)
            if color:
                item.setForeground(QBrush(QColor(color)))
            self.table.setItem(row, 4, item)
            problems += f.status != "ok"
        self.status_label.setStyleSheet("")
        self.status_label.setText(
            "Every record is in place."
            if not problems
            else f"{problems} of {len(findings)} records need attention "
            "(changes at a DNS provider can take hours to show)."
        )

    def selected_record(self) -> Record | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.records):
            return None
        return self.records[rows[0].row()]

    # -- events --------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        spawn(self.refresh())

    def on_domain_box_changed(self, domain: str) -> None:
        spawn(self.show_domain(domain))

    def on_check_button_clicked(self) -> None:
        spawn(self.check())

    def on_copy_button_clicked(self) -> None:
        rec = self.selected_record()
        if rec is not None:
            QGuiApplication.clipboard().setText(zone_line(rec))
            self.status_label.setText(f"Copied the {rec.type} record of {rec.name}.")

    def on_copy_all_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(
            "\n".join(zone_line(r) for r in self.records) + "\n"
        )
        self.status_label.setText(f"Copied {len(self.records)} records.")

    def on_table_selection_changed(self) -> None:
        self.copy_button.setEnabled(self.selected_record() is not None)
