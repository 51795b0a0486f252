"""The Messages tab: capture mode for developers (Mailpit's job).

A tick turns capture mode on or off (``capture.enabled``); while it is on,
every message sent to this server is kept in the capture mailbox and
nothing is delivered (server/capture.py). The list follows new mail live
(from, to, subject, size, time, attachments); the viewer shows the HTML
rendered safely (``SafeBrowser``: no remote loads, no scripts, links not
followed), the plain text, the header, the raw source and the attachments
to save. "Release…" sends one message to a real address through the relay;
"Delete all" empties the mailbox.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import (
    QHideEvent,
    QImage,
    QShowEvent,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.bridge import CoreBridge
from app.dialogs.base import ask_save_path, exec_async
from app.dialogs.confirm import confirm
from app.formatting import human_size
from app.tasks import spawn
from app.views.domains_page import table_view
from server.api import (
    AttachmentData,
    CapturedMessage,
    CapturedRow,
    CaptureStatus,
    CoreApi,
)
from server.errors import MailError, ValidationError
from server.events import MessageAccepted

HEADERS = ("Received", "From", "To", "Subject", "Size", "Attachments")
REFRESH_DELAY_MS = 300  # new mail comes in bursts: one listing per burst
MAX_HTML_SHOWN = 512 * 1024  # characters handed to Qt's HTML layout


class SafeBrowser(QTextBrowser):
    """HTML without anything from outside: only the message's own inline
    images (``cid:``) load; links are shown, never followed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.images: dict[str, bytes] = {}
        self.refused: list[str] = []  # what the HTML asked for and did not get

    def loadResource(self, kind: int, url: QUrl | str) -> object:
        link = QUrl(url) if isinstance(url, str) else url
        if link.scheme().lower() == "cid":
            data = self.images.get(link.path())
            if data is not None:
                image = QImage()
                if image.loadFromData(data):
                    return image
        self.refused.append(link.toString()[:200])
        return None


async def _status(api: CoreApi) -> CaptureStatus:
    return await api.capture.status()


async def _rows(api: CoreApi) -> tuple[CapturedRow, ...]:
    return await api.capture.messages()


async def _message(api: CoreApi, uid: int) -> CapturedMessage:
    return await api.capture.message(uid)


async def _attachment(api: CoreApi, uid: int, index: int) -> AttachmentData:
    return await api.capture.attachment(uid, index)


async def _password(api: CoreApi) -> str:
    return await api.capture.password()


async def _delete(api: CoreApi, uids: tuple[int, ...]) -> int:
    return await api.capture.delete(uids)


async def _delete_all(api: CoreApi) -> int:
    return await api.capture.delete_all()


async def _release(api: CoreApi, uid: int, to: str) -> str:
    return await api.capture.release(uid, to)


async def _set_capture(api: CoreApi, on: bool) -> None:
    await api.update_settings("capture", {"enabled": on})


class MessagesPage(QWidget):
    """Signals: none."""

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.state: CaptureStatus | None = None
        self.rows: tuple[CapturedRow, ...] = ()
        self.shown: CapturedMessage | None = None
        self._loads = 0

        self.capture_box = QCheckBox(
            "&Capture mode: keep every message, deliver nothing"
        )
        self.capture_box.setToolTip(
            "SMTP and Submission take mail for any address (any login will do) "
            "and keep it here; nothing is delivered, not even to local users. "
            "For testing the mail an application sends."
        )
        self.login_label = QLabel(self)
        self.login_label.setWordWrap(True)
        self.login_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.password_button = QPushButton("Show &password", self)
        top = QHBoxLayout()
        top.addWidget(self.capture_box)
        top.addWidget(self.login_label, 1)
        top.addWidget(self.password_button)

        self.model = QStandardItemModel(0, len(HEADERS), self)
        self.model.setHorizontalHeaderLabels(list(HEADERS))
        self.table = table_view(self)
        self.table.setModel(self.model)
        self.table.setWordWrap(False)
        heads = self.table.horizontalHeader()
        heads.setStretchLastSection(False)
        # fixed widths for what has a known form: ResizeToContents kept the
        # header's width here (the rows come after the first layout)
        metrics = self.fontMetrics()
        widths = (
            metrics.horizontalAdvance("2026-12-31 23:59:59") + 16,
            metrics.horizontalAdvance("x") * 24,
            metrics.horizontalAdvance("x") * 24,
            0,  # Subject takes the rest
            metrics.horizontalAdvance("1023.9 MB") + 16,
            metrics.horizontalAdvance("x") * 16,
        )
        for col, width in enumerate(widths):
            if width:
                heads.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
                heads.resizeSection(col, width)
            else:
                heads.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)

        self.viewer = QTabWidget(self)
        self.html_view = SafeBrowser(self)
        self.text_view = self._plain()
        self.header_view = self._plain()
        self.source_view = self._plain()
        self.attachment_list = QListWidget(self)
        self.save_button = QPushButton("&Save attachment…", self)
        files = QWidget(self)
        flay = QVBoxLayout(files)
        flay.addWidget(self.attachment_list, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.save_button)
        flay.addLayout(row)
        self.viewer.addTab(self.html_view, "HTML")
        self.viewer.addTab(self.text_view, "Text")
        self.viewer.addTab(self.header_view, "Headers")
        self.viewer.addTab(self.source_view, "Source")
        self.viewer.addTab(files, "Attachments")

        self.release_button = QPushButton("&Release…", self)
        self.release_button.setToolTip(
            "Send this message to a real address through the relay (smart host)"
        )
        self.delete_button = QPushButton("&Delete", self)
        self.delete_all_button = QPushButton("Delete &all", self)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        for b in (self.release_button, self.delete_button, self.delete_all_button):
            buttons.addWidget(b)

        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.table)
        split.addWidget(self.viewer)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addLayout(buttons)

        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(REFRESH_DELAY_MS)
        self._refresh.timeout.connect(lambda: spawn(self.load()))
        self.capture_box.clicked.connect(lambda on: spawn(self.set_capture(on)))
        self.password_button.clicked.connect(lambda: spawn(self.show_password()))
        self.table.selectionModel().selectionChanged.connect(
            lambda *_: spawn(self.load_message())
        )
        self.save_button.clicked.connect(lambda: spawn(self.save_attachment()))
        self.attachment_list.itemDoubleClicked.connect(
            lambda *_: spawn(self.save_attachment())
        )
        self.release_button.clicked.connect(lambda: spawn(self.release_selected()))
        self.delete_button.clicked.connect(lambda: spawn(self.delete_selected()))
        self.delete_all_button.clicked.connect(lambda: spawn(self.delete_all()))
        bridge.moduleActivity.connect(self.on_bridge_moduleActivity)
        bridge.settingsChanged.connect(self.load_soon)
        bridge.accountsChanged.connect(self.load_soon)
        self._update_buttons()

    def _plain(self) -> QPlainTextEdit:
        view = QPlainTextEdit(self)
        view.setReadOnly(True)
        view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        return view

    # -- reading ---------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        spawn(self.load())

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._refresh.stop()

    def on_bridge_moduleActivity(self, event: object) -> None:
        if isinstance(event, MessageAccepted):
            self.load_soon()

    def load_soon(self, *_args: object) -> None:
        """Read the list again shortly, while the tab is shown (a burst of
        events is one listing)."""
        if self.isVisible() and not self._refresh.isActive():
            self._refresh.start()

    async def load(self) -> None:
        self._loads += 1
        mine = self._loads
        state = await self._bridge.run(_status)
        rows: tuple[CapturedRow, ...] = ()
        if state.exists:
            try:
                rows = await self._bridge.run(_rows)
            except (ValidationError, MailError) as exc:
                self.status.setText(str(exc))
        if mine != self._loads:
            return  # a newer load is under way: its answer counts
        self.state = state
        self.capture_box.setChecked(state.enabled)
        if state.enabled or state.exists:
            self.login_label.setText(
                f"Read them in a mail client too: IMAP or POP3, user {state.address}"
            )
        else:
            self.login_label.setText("")
        self.password_button.setVisible(state.exists)
        keep = set(self.selected_uids())
        self.rows = rows
        self.model.setRowCount(0)
        for m in rows:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m.received))
            to = ", ".join(m.recipients) or m.to
            files = ", ".join(m.attachments)
            items = [
                QStandardItem(t)
                for t in (when, m.from_ or m.sender, to, m.subject,
                          human_size(m.size), files)
            ]  # fmt: skip
            items[2].setToolTip(f"To: {m.to}\nEnvelope: {', '.join(m.recipients)}")
            self.model.appendRow(items)
        again = [i for i, m in enumerate(rows) if m.uid in keep]
        if again:
            self.table.selectRow(again[0])
        elif not rows or self.shown is not None:
            self.show_message(None)
        on = "on" if state.enabled else "off"
        self.status.setText(f"Capture mode is {on}. {len(rows)} message(s) kept.")
        self._update_buttons()

    def selected_uids(self) -> tuple[int, ...]:
        rows = self.table.selectionModel().selectedRows()
        return tuple(self.rows[r.row()].uid for r in rows if r.row() < len(self.rows))

    async def load_message(self) -> None:
        uids = self.selected_uids()
        self._update_buttons()
        if len(uids) != 1:
            self.show_message(None)
            return
        try:
            shown = await self._bridge.run(_message, uids[0])
        except (ValidationError, MailError) as exc:
            self.status.setText(str(exc))
            return
        if self.selected_uids() == uids:  # not chosen otherwise meanwhile
            self.show_message(shown)

    def show_message(self, shown: CapturedMessage | None) -> None:
        self.shown = shown
        self.html_view.images = dict(shown.images) if shown else {}
        self.html_view.refused.clear()
        if shown is None:
            for view in (self.text_view, self.header_view, self.source_view):
                view.clear()
            self.html_view.clear()
            self.attachment_list.clear()
            self._update_buttons()
            return
        if shown.html and len(shown.html) <= MAX_HTML_SHOWN:
            self.html_view.setHtml(shown.html)
        elif shown.html:
            self.html_view.setPlainText(
                "The HTML part is too large to show here; see Source."
            )
        else:
            self.html_view.setPlainText("(This message has no HTML part.)")
        self.text_view.setPlainText(shown.text or "(This message has no plain text.)")
        self.header_view.setPlainText(shown.header)
        more = "\n[… shown up to 2 MB]" if shown.truncated else ""
        self.source_view.setPlainText(shown.source + more)
        self.attachment_list.clear()
        for a in shown.attachments:
            self.attachment_list.addItem(
                f"{a.filename or '(no name)'}  ({a.content_type}, {human_size(a.size)})"
            )
        if shown.attachments:
            self.attachment_list.setCurrentRow(0)
        self.viewer.setTabText(4, f"Attachments ({len(shown.attachments)})")
        # HTML or Text, whichever the message has (Headers, Source stay chosen)
        if self.viewer.currentIndex() in (0, 1):
            self.viewer.setCurrentIndex(0 if shown.html or not shown.text else 1)
        self._update_buttons()

    def _update_buttons(self) -> None:
        one = len(self.selected_uids()) == 1
        self.release_button.setEnabled(one)
        self.delete_button.setEnabled(bool(self.selected_uids()))
        self.delete_all_button.setEnabled(bool(self.rows))
        self.save_button.setEnabled(
            self.shown is not None and bool(self.shown.attachments)
        )

    # -- acting ----------------------------------------------------------------------
    async def set_capture(self, on: bool) -> None:
        if on and not await confirm(
            self,
            "Capture mode",
            "Turn capture mode on? Mail sent to this server is then kept here "
            "for any address and delivered to nobody, not even to local users, "
            "until you turn it off.",
        ):
            self.capture_box.setChecked(False)
            return
        try:
            await self._bridge.run(_set_capture, on)
        except (ValidationError, MailError) as exc:
            self.status.setText(str(exc))
        await self.load()

    async def show_password(self) -> str:
        try:
            password = await self._bridge.run(_password)
        except (ValidationError, MailError) as exc:
            self.status.setText(str(exc))
            return ""
        address = self.state.address if self.state else ""
        if password:
            self.login_label.setText(
                f"IMAP or POP3: user {address}, password {password}"
            )
        else:
            self.login_label.setText(
                f"IMAP or POP3: user {address}, with the password you set for it "
                "(Users tab)"
            )
        return password

    async def save_attachment(self, path: str | None = None) -> str:
        shown = self.shown
        row = self.attachment_list.currentRow()
        if shown is None or not 0 <= row < len(shown.attachments):
            return ""
        info = shown.attachments[row]
        if path is None:
            path = await ask_save_path(
                self,
                "Save attachment",
                "All files (*)",
                Path(info.filename).name or f"attachment-{info.index}",
            )
            if not path:
                return ""
        try:
            data = await self._bridge.run(_attachment, shown.row.uid, info.index)
            Path(path).write_bytes(data.data)
        except (ValidationError, MailError, OSError) as exc:
            self.status.setText(f"Could not save the attachment: {exc}")
            return ""
        self.status.setText(f"Saved {info.filename} to {path}.")
        return path

    async def release_selected(self, to: str | None = None) -> str:
        uids = self.selected_uids()
        if len(uids) != 1:
            return ""
        if to is None:
            dialog = QInputDialog(self)
            dialog.setWindowTitle("Release message")
            dialog.setLabelText("Send this message through the relay (smart host) to:")
            try:
                if await exec_async(dialog) != QDialog.DialogCode.Accepted:
                    return ""
                to = dialog.textValue()
            finally:
                dialog.deleteLater()
            if not to.strip():
                return ""
        try:
            reply = await self._bridge.run(_release, uids[0], to.strip())
        except (ValidationError, MailError) as exc:
            self.status.setText(f"Not released: {exc}")
            return ""
        self.status.setText(f"Sent to {to.strip()}: {reply}")
        return reply

    async def delete_selected(self) -> int:
        uids = self.selected_uids()
        if not uids:
            return 0
        n = await self._bridge.run(_delete, uids)
        self.status.setText(f"Deleted {n} message(s).")
        await self.load()
        return n

    async def delete_all(self, ask: bool = True) -> int:
        if not self.rows or (
            ask
            and not await confirm(
                self,
                "Delete all",
                f"Delete all {len(self.rows)} captured message(s)?",
            )
        ):
            return 0
        n = await self._bridge.run(_delete_all)
        await self.load()
        self.status.setText(f"Deleted {n} message(s).")
        return n
