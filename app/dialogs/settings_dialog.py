"""A settings dialog built from one section's frozen dataclass.

int -> QSpinBox, float -> QDoubleSpinBox, bool -> QCheckBox, str with known
choices -> QComboBox, other str -> QLineEdit, tuple -> comma-separated
QLineEdit; message sizes are shown in MB. Each setting says what it means in
its tooltip (a choice also what that choice does).

OK sends only the changed keys to the ``apply`` coroutine the caller hands in
(the window passes ``api.update_settings`` through the bridge) and shows a
``ValidationError`` inline, next to the field it names, with the setting's
label instead of its key; the dialog closes only when the core accepted the
change. The dialog itself knows nothing about the core. Keys another page
edits (``ELSEWHERE``) are left out, with a note naming the page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.access_dialog import AccessRulesDialog
from app.dialogs.base import error_label, exec_async
from app.tasks import spawn
from server.config.schema import PLAINTEXT_POLICIES, SECURITY_MODES
from server.errors import ValidationError

log = logging.getLogger("quicksilver.app")

CHOICES: dict[str, tuple[str, ...]] = {
    "plaintext_login": PLAINTEXT_POLICIES,
    "security": SECURITY_MODES,
    "sender_policy": ("enforce", "any"),
}
LABELS = {
    "bind": "Listen on address",
    "tls_port": "TLS port",
    "timeout": "Idle timeout (s)",
    "plaintext_login": "Plain-text login",
    "max_message_size": "Max message size",
    "domain": "Mail domain",
    "hostname": "Host name",
    "sender_policy": "Sender policy",
    "banner": "Greeting text",
    "scheduled": "Back up on a schedule",
    "folder": "Backup folder",
    "every_hours": "Every (hours)",
    "keep": "Archives kept",
    "show_version": "Version in the greeting",
    "legacy_auth": "Legacy logins (APOP, CRAM-MD5)",
    "min_login_interval": "Seconds between logins (0: any)",
    "log_buffer": "Log lines kept",
    "lifetime": "Give up after (s)",
    "delay_notice_after": "Delay notice after (s)",
    "retry_schedule": "Retry schedule (s)",
    "ban_time": "Ban time (s)",
    "failure_window": "Failure window (s)",
    "user_max_failures": "Lock an account after (failures)",
    "user_lock_time": "Account lock time (s)",
    "allow_networks": "Allowed networks",
    "host": "Smart host",
    "access": "Access rules",
    "max_connections_per_ip": "Max connections per IP",
    "public_url": "Links start with",
}
# What a setting means, in words (tooltips; a choice's own tip per value)
HELP = {
    "sender_policy": "Which sender addresses a logged-in user may send from.",
    "plaintext_login": (
        "When a mail program may send its password over a connection that "
        "is not encrypted."
    ),
    "security": "How connections to the smart host are encrypted.",
    "bind": "0.0.0.0: every network address of this computer; 127.0.0.1: "
    "this computer only.",
    "max_message_size": "Larger messages are refused before they are sent.",
    "session_log": "Write every session in full to logs/<module>.log "
    "(passwords are never written).",
    "access": "Who may connect, as allow/deny rules; empty: the Security "
    "settings decide.",
    "banner": "What a client sees first, after the code and the host name. "
    "Empty: the usual greeting (Quicksilver ESMTP, …).",
    "show_version": "Name Quicksilver's version in the usual greeting.",
    "min_login_interval": "A user who logs in again sooner is turned away "
    "(POP3 LOGIN-DELAY, RFC 2449): for a mailbox too many programs check too "
    "often. 0: no limit.",
    "legacy_auth": "APOP and CRAM-MD5 logins, only for users given a legacy "
    "password (Users → Edit → Old mail programs). Leave off unless an old "
    "mail program needs it.",
    "folder": "Where the archives go: a full path outside the data folder "
    "(another disk is best). Restore one with quicksilver-server restore.",
    "keep": "Older archives in the folder are removed.",
}
CHOICE_HELP = {
    ("sender_policy", "enforce"): "Only the user's own addresses and aliases "
    "(others are refused with 553). Recommended.",
    ("sender_policy", "any"): "Any address: users can send in anyone's name.",
    ("plaintext_login", "never"): "Never: the mail program must use STARTTLS "
    "or the TLS port first.",
    ("plaintext_login", "loopback"): "Only from this computer (a program "
    "on this machine cannot be overheard); others must encrypt first.",
    ("plaintext_login", "always"): "Always: passwords can be read by anyone "
    "on the network. Only for old programs on a trusted network.",
    ("security", "none"): "No encryption (only for a smart host on this "
    "computer or a trusted network).",
    ("security", "starttls"): "STARTTLS on the smart host's port (usually 587).",
    ("security", "implicit"): "TLS from the first byte (usually port 465).",
}
MIB = 1024 * 1024
MEGABYTES = frozenset({"max_message_size"})  # kept in bytes, shown in MB
PLACEHOLDERS = {
    "banner": "empty: the usual greeting",
    "access": "empty: use the Security settings",
    "public_url": "empty: https://<host name>:<port>",
}
HIDDEN = frozenset({"enabled"})  # the tick in the modules table owns it
# keys another page edits (Security -> Mail authentication), with a note
# that says where
ELSEWHERE: dict[str, frozenset[str]] = {
    "smtp": frozenset(
        {
            "greylisting",
            "check_authentication",
            "dmarc_reject",
            "dnsbl_zones",
            "spam_filter",
            "spam_filter_host",
            "spam_filter_port",
            "spam_junk_score",
            "spam_reject_score",
            "junk_spam",
        }
    ),
    "web": frozenset({"mta_sts_mode"}),
}
ELSEWHERE_NOTE = (
    "Spam checks, greylisting, block lists and SPF/DKIM/DMARC: "
    "Security → Mail authentication."
)
INT_MAX = 2**31 - 1
FIELD_ERROR_STYLE = "border: 1px solid #c62828;"

ApplyFn = Callable[[str, dict[str, Any]], Awaitable[object]]


class AccessField(QWidget):
    """The access list in a settings dialog: a summary and Edit…, which opens
    ``AccessRulesDialog``. ``inherited``: the Security settings' rules that
    apply while a module's own list is empty (None for Security itself)."""

    def __init__(
        self,
        rules: tuple[str, ...],
        inherited: tuple[str, ...] | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.rules = rules
        self.inherited = inherited
        self.summary = QLabel(self)
        self.edit_button = QPushButton("&Edit…", self)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.summary, 1)
        row.addWidget(self.edit_button)
        self.edit_button.clicked.connect(lambda: spawn(self.edit()))
        self._show()

    def _show(self) -> None:
        n = len(self.rules)
        if n:
            self.summary.setText(f"{n} rule{'s' if n != 1 else ''}: {self.rules[0]}…")
        elif self.inherited is not None:
            self.summary.setText("the Security settings' rules")
        else:
            self.summary.setText("no rules: every client is refused")
        self.setToolTip("\n".join(self.rules))

    async def edit(self) -> None:
        dialog = AccessRulesDialog(self.rules, self.inherited, self)
        try:
            if await exec_async(dialog) == AccessRulesDialog.DialogCode.Accepted:
                self.rules = dialog.value()
                self._show()
        finally:
            dialog.deleteLater()


class Suggested(ValidationError):
    """A refusal that comes with a value that would do (a free port): the
    dialog offers it on a button next to the message."""

    def __init__(self, message: str, field: str, value: int) -> None:
        super().__init__(message, field=field)
        self.value = value


def field_label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


_KEY_PREFIX = re.compile(r"([a-z0-9_]+)\.([a-z0-9_]+): ")


def friendly(message: str) -> str:
    """The core names a setting by its key ("general.domain: ..."); a
    person sees its label ("Mail domain: ...")."""
    m = _KEY_PREFIX.match(message)
    if m is None:
        return message
    return f"{field_label(m.group(2))}: {message[m.end() :]}"


class SettingsDialog(QDialog):
    """Edit one settings section.

    Signals: the standard ``QDialog`` signals only.
    """

    def __init__(
        self,
        section: str,
        current: Any,
        apply: ApplyFn,
        parent: QWidget | None = None,
        title: str = "",
        inherited_access: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(parent)
        self.section = section
        self._inherited_access = inherited_access
        self._current = current
        self._apply = apply
        self._task: asyncio.Task[None] | None = None
        self._hints = typing.get_type_hints(type(current))
        self.editors: dict[str, QWidget] = {}
        self.result_value: object = None
        self.setWindowTitle(f"{title or section.title()} settings")
        self.setMinimumWidth(520)

        form = QFormLayout()
        elsewhere = ELSEWHERE.get(section, frozenset())
        for f in dataclasses.fields(current):
            if f.name in HIDDEN or f.name in elsewhere:
                continue
            editor = self._editor_for(f.name, getattr(current, f.name))
            editor.setObjectName(f.name)
            if f.name in HELP and not editor.toolTip():
                editor.setToolTip(HELP[f.name])
            self.editors[f.name] = editor
            form.addRow(field_label(f.name) + ":", editor)
        self.error_label = error_label(self)
        self.fix_button = QPushButton(self)  # "Use 2526": a suggested value
        self.fix_button.hide()
        self.fix_button.clicked.connect(self.on_fix_button_clicked)
        self._fix: tuple[str, int] | None = None
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
            parent=self,
        )
        layout = QVBoxLayout(self)
        if not self.editors:
            layout.addWidget(QLabel("This section has no settings.", self))
        layout.addLayout(form)
        if elsewhere:
            note = QLabel(ELSEWHERE_NOTE, self)
            note.setWordWrap(True)
            layout.addWidget(note)
        error_row = QHBoxLayout()
        error_row.addWidget(self.error_label, 1)
        error_row.addWidget(self.fix_button)
        layout.addLayout(error_row)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

    @property
    def ok_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    # -- values -----------------------------------------------------------------
    def changed_values(self) -> dict[str, Any]:
        """The keys whose editor differs from the current settings.

        Raises ``ValidationError`` for text the dialog cannot even parse.
        """
        out: dict[str, Any] = {}
        for name, editor in self.editors.items():
            value = self._read(name, editor)
            if value != getattr(self._current, name):
                out[name] = value
        return out

    def _editor_for(self, name: str, value: Any) -> QWidget:
        if name == "access" and isinstance(value, tuple):
            inherited = None if self.section == "security" else self._inherited_access
            return AccessField(value, inherited if inherited is not None else (), self)
        if isinstance(value, bool):
            box = QCheckBox(self)
            box.setChecked(value)
            return box
        if isinstance(value, float):
            real = QDoubleSpinBox(self)
            real.setRange(-1000.0, 1000.0)
            real.setDecimals(1)
            real.setValue(value)
            return real
        if isinstance(value, int) and name in MEGABYTES:
            mb = QDoubleSpinBox(self)
            mb.setDecimals(1)
            mb.setSuffix(" MB")
            if self.section == "fetch":  # 0: the general limit
                mb.setRange(0.0, 2048.0)
                mb.setSpecialValueText("The general limit")
            else:
                mb.setRange(0.1, 2048.0)
            mb.setValue(value / MIB)
            return mb
        if isinstance(value, int):
            spin = QSpinBox(self)
            spin.setRange(0, INT_MAX)
            spin.setGroupSeparatorShown(False)
            spin.setValue(value)
            return spin
        if isinstance(value, str) and name in CHOICES:
            combo = QComboBox(self)
            combo.addItems(list(CHOICES[name]))
            for i, choice in enumerate(CHOICES[name]):
                tip = CHOICE_HELP.get((name, choice))
                if tip:
                    combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
            combo.setCurrentText(value)
            self._tip_choice(combo, name)
            combo.currentTextChanged.connect(lambda _t: self._tip_choice(combo, name))
            return combo
        if isinstance(value, tuple):
            edit = QLineEdit(", ".join(str(v) for v in value), self)
            edit.setToolTip("Separate values with commas")
            if name in PLACEHOLDERS and self.section != "security":
                edit.setPlaceholderText(PLACEHOLDERS[name])
            return edit
        edit = QLineEdit(str(value), self)
        if name in PLACEHOLDERS:
            edit.setPlaceholderText(PLACEHOLDERS[name])
        return edit

    @staticmethod
    def _tip_choice(combo: QComboBox, name: str) -> None:
        """The combo's tooltip: what the setting is, and what this choice does."""
        tip = CHOICE_HELP.get((name, combo.currentText()), "")
        combo.setToolTip("\n\n".join(t for t in (HELP.get(name, ""), tip) if t))

    def _read(self, name: str, editor: QWidget) -> Any:
        if isinstance(editor, AccessField):
            return editor.rules
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if name in MEGABYTES and isinstance(editor, QDoubleSpinBox):
            current = getattr(self._current, name)
            if round(current / MIB, 1) == round(editor.value(), 1):
                return current  # shown rounded: unchanged
            return round(editor.value() * MIB)
        if isinstance(editor, QSpinBox | QDoubleSpinBox):
            return editor.value()
        if isinstance(editor, QComboBox):
            return editor.currentText()
        assert isinstance(editor, QLineEdit)
        text = editor.text().strip()
        if isinstance(getattr(self._current, name), tuple):
            items = [t.strip() for t in text.split(",") if t.strip()]
            if "int" in str(self._hints.get(name, "")):
                try:
                    return tuple(int(t) for t in items)
                except ValueError:
                    raise ValidationError(
                        f"{field_label(name)}: whole numbers separated by commas",
                        field=f"{self.section}.{name}",
                    ) from None
            return tuple(items)
        return text

    # -- errors -----------------------------------------------------------------
    def offer(self, field: str, value: int) -> None:
        """A button that puts ``value`` into the field's editor."""
        key = field.rpartition(".")[2]
        if not isinstance(self.editors.get(key), QSpinBox) or value <= 0:
            return
        self._fix = (key, value)
        self.fix_button.setText(f"Use {value}")
        self.fix_button.show()

    def on_fix_button_clicked(self) -> None:
        if self._fix is not None:
            key, value = self._fix
            editor = self.editors[key]
            assert isinstance(editor, QSpinBox)
            editor.setValue(value)
            self.show_error("")

    def show_error(self, message: str, field: str = "") -> None:
        self.fix_button.hide()
        self._fix = None
        self.error_label.setText(friendly(message))
        key = field.rpartition(".")[2]
        for name, editor in self.editors.items():
            editor.setStyleSheet(FIELD_ERROR_STYLE if name == key else "")
        if key in self.editors:
            self.editors[key].setFocus()

    # -- slots ------------------------------------------------------------------
    def on_buttons_accepted(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._submit())

    async def _submit(self) -> None:
        try:
            changes = self.changed_values()
        except ValidationError as exc:
            self.show_error(str(exc), exc.field)
            return
        if not changes:
            self.accept()
            return
        self.buttons.setEnabled(False)
        self.error_label.setText("Applying…")
        try:
            self.result_value = await self._apply(self.section, changes)
        except ValidationError as exc:
            self.show_error(str(exc), exc.field)
            if isinstance(exc, Suggested):
                self.offer(exc.field, exc.value)
        except Exception as exc:  # an edge: show it, keep the dialog open
            log.exception("applying %s settings failed", self.section)
            self.show_error(f"Could not apply the settings: {exc}")
        else:
            self.show_error("")
            self.accept()
        finally:
            self.buttons.setEnabled(True)
