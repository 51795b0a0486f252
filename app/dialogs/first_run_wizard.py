"""The first-run wizard: a welcome page, then domain, host name, certificate,
who may connect, modules and ports, first user. Cancel or Esc asks before
it quits. It returns a ``FirstRunSetup``; the caller hands
it to the core in one call (``CoreApi.complete_first_run``), which starts each
chosen module once, on the chosen ports.

Every page validates as you type and keeps Next disabled until it is valid.
The "who may connect" page sets the listen address of every module (this
computer only: 127.0.0.1; and the local network: all addresses). The ports page
asks the core to check each chosen port (``CoreApi.check_ports`` binds it in a
worker thread; the window binds nothing) and, when one is in use or needs
administrator rights, offers a free alternative (2525, 2587, 2110, 2143…) with
one click.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from app.dialogs.base import buddy_label, error_label
from app.dialogs.user_dialog import generate_password
from app.dialogs.validation import domain_problem, local_part_problem, password_problem
from app.tasks import spawn
from app.widgets.password_field import PasswordField
from app.widgets.password_meter import PasswordMeter
from server.api import (
    LISTEN_ADDRESS,
    FirstRunSetup,
    ModuleSetup,
    NewUser,
    PortCheck,
    PortQuery,
)
from server.config.schema import Settings
from server.modules import registry


def offered_modules(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, title with a keyboard accelerator, tip) of each listening module
    with settings of its own, in registry order."""
    out: list[tuple[str, str, str]] = []
    used: set[str] = {"b", "n", "c"}  # the wizard's Back, Next, Cancel
    for m in registry.listeners():
        if getattr(settings, m.name, None) is None:
            continue
        title = m.title
        for i, ch in enumerate(title):
            if ch.isalnum() and ch.lower() not in used:
                used.add(ch.lower())
                title = f"{title[:i]}&{title[i:]}"
                break
        out.append((m.name, title, m.summary))
    return out


ALTERNATIVES = {
    ("smtp", "port"): 2525,
    ("submission", "port"): 2587,
    ("submission", "tls_port"): 2465,
    ("pop3", "port"): 2110,
    ("pop3", "tls_port"): 2995,
    ("imap", "port"): 2143,
    ("imap", "tls_port"): 2993,
}


# Ticked on the ports page whatever the settings say: Client setup sends mail
# programs to Submission for sending.
TICKED = frozenset({"submission"})


# The core's port probe (``CoreApi.check_ports``): the window binds nothing itself.
PortProbe = Callable[[tuple[PortQuery, ...]], Awaitable[tuple[PortCheck, ...]]]


# -- the value ---------------------------------------------------------------------
# ``value()`` is the facade's ``FirstRunSetup``: the caller hands it to
# ``CoreApi.complete_first_run`` as it is.


# -- pages -------------------------------------------------------------------------
class _Page(QWizardPage):
    """A page with an error label whose Next follows ``problem()``."""

    def __init__(self, title: str, subtitle: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.error_label = error_label(self)
        # A page whose fields start empty says nothing in red until the
        # person has typed in it (Next stays disabled meanwhile).
        self.touched = True

    def problem(self) -> str:
        return ""

    def isComplete(self) -> bool:
        return not self.problem()

    def validate_now(self, *_args: object) -> None:
        self.error_label.setText(self.problem() if self.touched else "")
        self.completeChanged.emit()

    def on_edited(self, *_args: object) -> None:
        self.touched = True
        self.validate_now()


class WelcomePage(_Page):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Welcome to Quicksilver",
            "A mail server for this computer or your local network.",
            parent,
        )
        self.text = text = QLabel(
            "<p>Five short steps set it up:</p><ol>"
            "<li><b>Mail domain</b>: the part after @ in your addresses.</li>"
            "<li><b>Certificate</b>: for encrypted connections (one is made for "
            "you if you have none).</li>"
            "<li><b>Who may connect</b>: this computer only, or your network.</li>"
            "<li><b>Modules and ports</b>: receiving (SMTP), sending from mail "
            "programs (Submission), and reading mail (POP3, IMAP).</li>"
            "<li><b>First user</b>: a mailbox to log in with.</li></ol>"
            "<p>Everything stays in a data folder on this computer; nothing is "
            "sent anywhere while you set up. You can change every choice later "
            "in the window.</p>",
            self,
        )
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addStretch(1)


class DomainPage(_Page):
    def __init__(self, hostname: str, parent: QWidget | None = None) -> None:
        super().__init__(
            "Mail domain",
            "The domain you receive mail for (the part after @ in your users' "
            "addresses) and the name this computer gives in greetings.",
            parent,
        )
        self.domain_edit = QLineEdit(self)
        self.domain_edit.setPlaceholderText("e.g. example.com")
        self.hostname_edit = QLineEdit(hostname, self)
        self.hostname_edit.setPlaceholderText("e.g. mail.example.com")
        form = QFormLayout()
        form.addRow(buddy_label("Mail &domain:", self.domain_edit), self.domain_edit)
        form.addRow(buddy_label("&Host name:", self.hostname_edit), self.hostname_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        self.domain_edit.textChanged.connect(self.on_edited)
        self.hostname_edit.textChanged.connect(self.on_edited)
        self.touched = False
        self.validate_now()

    def problem(self) -> str:
        return domain_problem(self.domain_edit.text()) or domain_problem(
            self.hostname_edit.text(), "host name"
        )

    def domain(self) -> str:
        return self.domain_edit.text().strip().rstrip(".").lower()

    def hostname(self) -> str:
        return self.hostname_edit.text().strip().rstrip(".").lower()


CERT_MARK = b"-----BEGIN CERTIFICATE-----"
KEY_MARK = b"PRIVATE KEY-----"


class CertificatePage(_Page):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Certificate",
            "Clients talk to the server over TLS. A self-signed certificate works "
            "at once (clients ask once to trust it); import one if you have it.",
            parent,
        )
        self.self_signed_radio = QRadioButton(
            "&Generate a self-signed certificate for the host name", self
        )
        self.import_radio = QRadioButton("&Import a PEM certificate and key", self)
        self.self_signed_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.self_signed_radio)
        group.addButton(self.import_radio)
        self.cert_edit = QLineEdit(self)
        self.cert_edit.setPlaceholderText("certificate (with chain), .pem")
        self.key_edit = QLineEdit(self)
        self.key_edit.setPlaceholderText("private key, .pem")
        self.cert_browse = QPushButton("Browse…", self)
        self.key_browse = QPushButton("Browse…", self)
        grid = QGridLayout()
        grid.addWidget(buddy_label("&Certificate:", self.cert_edit), 0, 0)
        grid.addWidget(self.cert_edit, 0, 1)
        grid.addWidget(self.cert_browse, 0, 2)
        grid.addWidget(buddy_label("&Key:", self.key_edit), 1, 0)
        grid.addWidget(self.key_edit, 1, 1)
        grid.addWidget(self.key_browse, 1, 2)
        self.files = QWidget(self)
        self.files.setLayout(grid)
        layout = QVBoxLayout(self)
        layout.addWidget(self.self_signed_radio)
        layout.addWidget(self.import_radio)
        layout.addWidget(self.files)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        self.import_radio.toggled.connect(self.validate_now)
        self.cert_edit.textChanged.connect(self.validate_now)
        self.key_edit.textChanged.connect(self.validate_now)
        self.cert_browse.clicked.connect(lambda: self._browse(self.cert_edit))
        self.key_browse.clicked.connect(lambda: self._browse(self.key_edit))
        self.validate_now()

    def validate_now(self, *_args: object) -> None:
        self.files.setEnabled(self.import_radio.isChecked())
        super().validate_now()

    def problem(self) -> str:
        if not self.import_radio.isChecked():
            return ""
        for edit, what, mark in (
            (self.cert_edit, "certificate", CERT_MARK),
            (self.key_edit, "key", KEY_MARK),
        ):
            path = edit.text().strip()
            if not path:
                return f"Choose the {what} file."
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                return f"Cannot read {path}: {exc.strerror or exc}"
            if mark not in data:
                return f"{Path(path).name} does not look like a PEM {what}."
        return ""

    def pair(self) -> tuple[bytes, bytes] | None:
        if not self.import_radio.isChecked():
            return None
        return (
            Path(self.cert_edit.text().strip()).read_bytes(),
            Path(self.key_edit.text().strip()).read_bytes(),
        )

    def _browse(self, edit: QLineEdit) -> None:
        dialog = QFileDialog(self, "Choose a PEM file")
        dialog.setNameFilter("PEM files (*.pem *.crt *.key);;All files (*)")
        dialog.fileSelected.connect(edit.setText)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()


class _ModuleRow:
    """One module's widgets on the ports page."""

    def __init__(
        self, page: ModulesPage, name: str, title: str, section: object, row: int
    ) -> None:
        self.name = name
        self.bind = LISTEN_ADDRESS["local"]  # the reach page decides
        self.check = QCheckBox(title, page)
        enabled = bool(getattr(section, "enabled", False))
        self.check.setChecked(enabled or name in TICKED)
        self.spins: dict[str, QSpinBox] = {}
        grid = page.grid
        grid.addWidget(self.check, row, 0)
        for col, key in ((1, "port"), (2, "tls_port")):
            if not hasattr(section, key):
                continue
            spin = QSpinBox(page)
            spin.setRange(0, 65535)
            spin.setValue(int(getattr(section, key)))
            spin.setAccessibleName(f"{name} {key.replace('_', ' ')}")
            spin.setToolTip("TLS port (implicit TLS)" if key == "tls_port" else "Port")
            self.spins[key] = spin
            grid.addWidget(spin, row, col)
        self.status = QLabel(page)
        self.fix_button = QPushButton(page)
        self.fix_button.hide()
        grid.addWidget(self.status, row, 3)
        grid.addWidget(self.fix_button, row, 4)
        self.checks: dict[str, PortCheck | None] = dict.fromkeys(self.spins)

    def ports(self) -> tuple[tuple[str, int], ...]:
        return tuple((k, s.value()) for k, s in self.spins.items())


class ReachPage(_Page):
    """Who may connect: the listen address of every module follows the answer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Who may connect",
            "Choose who can reach this mail server. You can change it later in "
            "each module's settings.",
            parent,
        )
        self.local_radio = QRadioButton("&This computer only", self)
        self.lan_radio = QRadioButton(
            "This computer and the &local network (other computers, phones)", self
        )
        self.local_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.local_radio)
        group.addButton(self.lan_radio)
        note = QLabel(
            "Mail from the internet needs more than this: the router must forward "
            "the ports, and the access list (Security) must allow it.",
            self,
        )
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.local_radio)
        layout.addWidget(self.lan_radio)
        layout.addSpacing(self.fontMetrics().lineSpacing())
        layout.addWidget(note)
        layout.addWidget(self.error_label)
        layout.addStretch(1)

    def reach(self) -> str:
        """A key of ``LISTEN_ADDRESS``: "local" or "lan"."""
        return "lan" if self.lan_radio.isChecked() else "local"


class ModulesPage(_Page):
    """Which modules to start, on which ports; checks each port as you type.

    Signals:
        checksFinished(): every pending port check has an answer.
    """

    checksFinished = Signal()

    def __init__(
        self, settings: Settings, probe: PortProbe, parent: QWidget | None = None
    ) -> None:
        super().__init__(
            "Modules and ports",
            "Tick what to start. Ports below 1024 need administrator rights on "
            "Linux and macOS; a port another program uses cannot be shared.",
            parent,
        )
        self.grid = QGridLayout()
        for col, text in enumerate(("Module", "Port", "TLS port", "", "")):
            self.grid.addWidget(QLabel(f"<b>{text}</b>" if text else "", self), 0, col)
        self.rows: list[_ModuleRow] = []
        for i, (name, title, tip) in enumerate(offered_modules(settings), start=1):
            row = _ModuleRow(self, name, title, settings.section(name), i)
            row.check.setToolTip(tip)
            self.rows.append(row)
            row.check.toggled.connect(self.on_ports_changed)
            for spin in row.spins.values():
                spin.valueChanged.connect(self.on_ports_changed)
            row.fix_button.clicked.connect(
                lambda _c=False, r=row: self.apply_suggestion(r)
            )
        self.grid.setColumnStretch(3, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(self.grid)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        self._probe = probe
        self._generation = 0
        self._pending = 0
        self._shown = False  # no probe runs before the page is shown

    def initializePage(self) -> None:
        wizard = self.wizard()
        if isinstance(wizard, FirstRunWizard):
            self.set_bind(LISTEN_ADDRESS[wizard.reach_page.reach()])
        self._shown = True
        self.on_ports_changed()

    def set_bind(self, bind: str) -> None:
        for row in self.rows:
            row.bind = bind

    def row(self, name: str) -> _ModuleRow:
        return next(r for r in self.rows if r.name == name)

    def checking(self) -> bool:
        return self._pending > 0

    def problem(self) -> str:
        used: dict[int, str] = {}
        ticked = [r for r in self.rows if r.check.isChecked()]
        for row in ticked:
            for _key, port in row.ports():
                if port and port in used:
                    return f"{row.name} and {used[port]} cannot share port {port}."
                if port:
                    used[port] = row.name
        for row in ticked:
            for key, _port in row.ports():
                check = row.checks.get(key)
                if check is None:
                    return "Checking the ports…"
                if check.problem:
                    return f"{row.name}: {check.problem}"
        if not ticked:
            return "Tick at least one module (you can change this later)."
        return ""

    def choices(self) -> tuple[ModuleSetup, ...]:
        return tuple(
            ModuleSetup(r.name, r.check.isChecked(), r.ports()) for r in self.rows
        )

    def on_ports_changed(self, *_args: object) -> None:
        """Re-check every ticked module's ports (the core probes them)."""
        if not self._shown:
            return
        self._generation += 1
        generation = self._generation
        taken = frozenset(
            port
            for r in self.rows
            if r.check.isChecked()
            for _k, port in r.ports()
            if port
        )
        jobs: list[tuple[_ModuleRow, str]] = []
        queries: list[PortQuery] = []
        for row in self.rows:
            for key in row.spins:
                row.checks[key] = None
            if not row.check.isChecked():
                row.checks = dict.fromkeys(row.spins, PortCheck(""))
                self._show(row)
                continue
            self._show(row)
            for key, port in row.ports():
                preferred = ALTERNATIVES.get((row.name, key), port + 2000)
                jobs.append((row, key))
                queries.append(PortQuery(row.bind, port, preferred, taken))
        self._pending = len(jobs)
        self.validate_now()
        if not jobs:
            self.checksFinished.emit()
            return
        spawn(self._check_all(generation, jobs, tuple(queries)))

    async def _check_all(
        self,
        generation: int,
        jobs: list[tuple[_ModuleRow, str]],
        queries: tuple[PortQuery, ...],
    ) -> None:
        try:
            results = await self._probe(queries)
        except Exception as exc:  # the core could not check: say so, allow a retry
            results = tuple(PortCheck(f"Could not check the port: {exc}") for _ in jobs)
        for (row, key), result in zip(jobs, results, strict=True):
            self._checked(generation, row, key, result)

    def _checked(
        self, generation: int, row: _ModuleRow, key: str, result: PortCheck
    ) -> None:
        if generation != self._generation:
            return  # the ports changed meanwhile: a newer check is on its way
        row.checks[key] = result
        self._pending -= 1
        self._show(row)
        self.validate_now()
        if self._pending == 0:
            self.checksFinished.emit()

    def _show(self, row: _ModuleRow) -> None:
        if not row.check.isChecked():
            row.status.setText("not started")
            row.fix_button.hide()
            return
        checks = [row.checks.get(k) for k in row.spins]
        if any(c is None for c in checks):
            row.status.setText("checking…")
            row.fix_button.hide()
            return
        problems = [c for c in checks if c is not None and c.problem]
        if not problems:
            row.status.setText("✓ free")
            row.fix_button.hide()
            return
        row.status.setText(
            "✗ needs administrator rights"
            if all("administrator" in c.problem for c in problems)
            else "✗ in use"
            if all("in use" in c.problem for c in problems)
            else "✗ cannot listen"
        )
        row.status.setToolTip(" ".join(c.problem for c in problems))
        suggestions = self.suggestions(row)
        if suggestions:
            text = " and ".join(str(p) for p in suggestions.values())
            row.fix_button.setText(f"Use {text}")
            row.fix_button.show()
        else:
            row.fix_button.hide()

    def suggestions(self, row: _ModuleRow) -> dict[str, int]:
        return {
            k: c.suggestion
            for k, c in row.checks.items()
            if c is not None and c.problem and c.suggestion
        }

    def apply_suggestion(self, row: _ModuleRow) -> None:
        for key, port in self.suggestions(row).items():
            row.spins[key].setValue(port)


class UserPage(_Page):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "First user",
            "A mailbox to log in with from a mail client. You can add more users "
            "later in the Users tab.",
            parent,
        )
        self.create_check = QCheckBox("&Create a mailbox user now", self)
        self.create_check.setChecked(True)
        self.local_edit = QLineEdit(self)
        self.local_edit.setPlaceholderText("mailbox name, e.g. alice")
        self.domain_label = QLabel(self)
        self.password = PasswordField(self)
        self.confirm = QLineEdit(self)
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.generate_button = QPushButton("&Generate", self)
        self.generate_button.setToolTip("Fill in a random password and show it")
        address = QHBoxLayout()
        address.addWidget(self.local_edit, 1)
        address.addWidget(self.domain_label)
        password = QHBoxLayout()
        password.addWidget(self.password, 1)
        password.addWidget(self.generate_button)
        self.meter = PasswordMeter(self)
        form = QFormLayout()
        form.addRow(buddy_label("&Address:", self.local_edit), address)
        form.addRow(buddy_label("&Password:", self.password.edit), password)
        form.addRow("Strength:", self.meter)
        form.addRow(buddy_label("Con&firm:", self.confirm), self.confirm)
        self.fields = QWidget(self)
        self.fields.setLayout(form)
        self.core_error = error_label(self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.create_check)
        layout.addWidget(self.fields)
        layout.addWidget(self.error_label)
        layout.addWidget(self.core_error)
        layout.addStretch(1)
        self.domain = ""
        self.create_check.toggled.connect(self.validate_now)
        self.local_edit.textChanged.connect(self.on_edited)
        self.password.textChanged.connect(self.on_edited)
        self.confirm.textChanged.connect(self.on_edited)
        self.touched = False
        self.password.toggle.toggled.connect(self.on_password_toggled)
        self.generate_button.clicked.connect(self.on_generate_button_clicked)
        # Tab goes name, password, confirm, then Show and Generate (Confirm
        # came after both buttons and the wizard's Back, where Enter goes back)
        for first, second in (
            (self.local_edit, self.password.edit),
            (self.password.edit, self.confirm),
            (self.confirm, self.password.toggle),
            (self.password.toggle, self.generate_button),
        ):
            QWidget.setTabOrder(first, second)
        self.validate_now()

    def initializePage(self) -> None:
        wizard = self.wizard()
        if isinstance(wizard, FirstRunWizard):
            self.domain = wizard.domain_page.domain()
        self.domain_label.setText(f"@{self.domain}")
        # typing right after Next goes into the name, not the tick above it
        QTimer.singleShot(0, self.local_edit.setFocus)

    def validate_now(self, *_args: object) -> None:
        self.fields.setEnabled(self.create_check.isChecked())
        super().validate_now()

    def problem(self) -> str:
        if not self.create_check.isChecked():
            return ""
        local = self.local_edit.text().strip().lower()
        assessed = self.meter.assess(self.password.text(), (f"{local}@{self.domain}",))
        return (
            local_part_problem(self.local_edit.text())
            or (
                "Enter a password (or press Generate)."
                if not self.password.text()
                else password_problem(self.password.text())
            )
            or (assessed.problem if assessed is not None else "")
            or (
                "The passwords do not match."
                if self.password.text() != self.confirm.text()
                else ""
            )
        )

    def user(self) -> NewUser | None:
        if not self.create_check.isChecked():
            return None
        local = self.local_edit.text().strip().lower()
        return NewUser(f"{local}@{self.domain}", self.password.text())

    def on_password_toggled(self, on: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password
        self.confirm.setEchoMode(mode)

    def on_generate_button_clicked(self) -> None:
        pw = generate_password()
        self.password.setText(pw)
        self.confirm.setText(pw)
        self.password.set_revealed(True)


def ask_quit(parent: QWidget) -> bool:
    """Does the person really want to leave the setup (and Quicksilver)?"""
    answer = QMessageBox.question(
        parent,
        "Quit the setup?",
        "Quicksilver is not set up yet, so it will quit. Nothing has been "
        "saved; the setup starts again next time.\n\nQuit now?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


class FirstRunWizard(QWizard):
    """Welcome to Quicksilver: returns a ``FirstRunSetup`` from ``value()``.

    Signals: the standard ``QWizard`` signals only.
    """

    def __init__(
        self,
        settings: Settings,
        default_hostname: str,
        probe: PortProbe,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        # asked before Cancel/Esc closes the wizard (None: close at once)
        self.confirm_quit: Callable[[QWidget], bool] | None = ask_quit
        self.setWindowTitle("Welcome to Quicksilver")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage)
        fm = self.fontMetrics()
        self.setMinimumSize(fm.horizontalAdvance("x") * 100, fm.lineSpacing() * 26)
        self.welcome_page = WelcomePage(self)
        self.domain_page = DomainPage(default_hostname, self)
        self.certificate_page = CertificatePage(self)
        self.reach_page = ReachPage(self)
        self.modules_page = ModulesPage(settings, probe, self)
        self.user_page = UserPage(self)
        for page in (
            self.welcome_page,
            self.domain_page,
            self.certificate_page,
            self.reach_page,
            self.modules_page,
            self.user_page,
        ):
            self.addPage(page)

    def reject(self) -> None:
        """Cancel or Esc: leaving quits Quicksilver, so ask first."""
        if self.confirm_quit is None or self.confirm_quit(self):
            super().reject()

    def cancel(self) -> None:
        """Close without asking (SIGTERM, a logout: nobody to answer)."""
        super().reject()

    def show_error(self, message: str) -> None:
        """An error the core reported when applying the choices."""
        self.user_page.core_error.setText(message)

    def value(self) -> FirstRunSetup:
        return FirstRunSetup(
            domain=self.domain_page.domain(),
            hostname=self.domain_page.hostname(),
            reach=self.reach_page.reach(),
            modules=self.modules_page.choices(),
            user=self.user_page.user(),
            certificate=self.certificate_page.pair(),
        )
