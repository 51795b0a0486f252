"""The facade: the only door from the window (or any other front end) to the core.

Every method is a coroutine that runs on the core loop; the window calls them
through ``asyncio.run_coroutine_threadsafe`` from ``app/bridge.py``. Every
argument and result is a plain frozen dataclass, an enum or a tuple of them.
Bad input raises ``ValidationError`` with a message fit for a dialog.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server import backup
from server.accounts.base import Alias, Domain, User
from server.accounts.strength import PasswordEstimate
from server.accounts.strength import estimate as password_estimate
from server.api_capture import CaptureApi
from server.api_capture import CaptureStatus as CaptureStatus
from server.api_internet import InternetApi
from server.api_mailboxes import FolderView as FolderView
from server.api_mailboxes import MailboxesApi
from server.api_mailboxes import MessageRow as MessageRow
from server.api_mailboxes import MessageSource as MessageSource
from server.auth import Ban, peer_address
from server.backup import BackupResult
from server.backup import RestoreResult as RestoreResult
from server.capture import AttachmentData as AttachmentData
from server.capture import AttachmentInfo as AttachmentInfo
from server.capture import CapturedMessage as CapturedMessage
from server.capture import CapturedRow as CapturedRow
from server.config.schema import Settings
from server.delivery.relay import RelayModule
from server.delivery.smtp_client import ProbeResult
from server.errors import PermanentError, ValidationError
from server.events import LogRecorded
from server.export import ExportResult as ExportResult
from server.export import export_postfix_dovecot
from server.fetch.module import FetchModule, PollResult, ProbeReport, check_destination
from server.fetch.module import fetch_key as fetch_key
from server.fetch.store import AccountStatus, check_account
from server.fetch.store import FetchAccount as FetchAccount
from server.lists.service import check_list_address
from server.lists.store import HeldMessage as HeldMessage
from server.lists.store import ListMember as ListMember
from server.lists.store import MailList as MailList
from server.modules.base import ModuleState, ModuleStatus, SessionInfo
from server.netcontrol import first_match as first_match
from server.netcontrol import parse_rule as parse_rule
from server.netcontrol import parse_rules as parse_rules
from server.ports import PortCheck, PortQuery, check_ports
from server.queue.admin import ADMIN_HELD, JobHeaders, QueueActionResult
from server.queue.spool import QueueJobView
from server.secrets import SecretsBackend, relay_key
from server.sieve import userrules
from server.sieve.rules import ACTION_TITLES as ACTION_TITLES
from server.sieve.rules import FIELD_TITLES as FIELD_TITLES
from server.sieve.rules import TEST_TITLES as TEST_TITLES
from server.sieve.rules import AutoReply as AutoReply
from server.sieve.rules import Forwarding as Forwarding
from server.sieve.rules import Rule as Rule
from server.sieve.rules import RuleSet as RuleSet
from server.sieve.rules import check_rule as check_rule
from server.sieve.rules import check_rules as check_rules
from server.sieve.userrules import RulesView as RulesView
from server.testmessage import (
    TestMessage,
    TestMessageFailed,
    TestMessageSent,
    default_test_sender,
    send_test_message,
)
from server.tls import CertificateInfo

if TYPE_CHECKING:
    from server.runtime import CoreServices

# The value types of the facade, importable from here by front ends (the window
# may import server.api but not the internals that define them); and the pure
# password rule, so a dialog refuses what the core would (a meter per keystroke
# needs no round trip to the core).
__all__ = [
    "ADMIN_HELD",
    "Alias",
    "BackupResult",
    "Ban",
    "CertificateInfo",
    "CoreApi",
    "Domain",
    "FirstRunSetup",
    "JobHeaders",
    "LogRecorded",
    "ModuleSetup",
    "ModuleStatus",
    "NewUser",
    "PasswordEstimate",
    "PortCheck",
    "PortQuery",
    "ProbeResult",
    "QueueActionResult",
    "QueueJobView",
    "SecretsBackend",
    "SessionInfo",
    "Settings",
    "Snapshot",
    "TestMessage",
    "TestMessageFailed",
    "TestMessageSent",
    "UserChange",
    "UserView",
    "default_test_sender",
    "password_estimate",
]


NEED_PASSWORD = "Enter the password for the server."


@dataclass(frozen=True)
class FetchAccountView:
    """A collector account and how its polls went (the Collector page)."""

    account: FetchAccount
    status: AccountStatus


@dataclass(frozen=True)
class UserView:
    address: str
    display_name: str
    enabled: bool
    quota_bytes: int
    usage_bytes: int
    legacy_password: bool = False  # has one for APOP and CRAM-MD5


@dataclass(frozen=True)
class NewUser:
    address: str
    password: str
    display_name: str = ""
    quota_bytes: int = 0
    enabled: bool = True


@dataclass(frozen=True)
class UserChange:
    address: str
    display_name: str | None = None
    quota_bytes: int | None = None
    enabled: bool | None = None
    password: str | None = None  # None = unchanged


# Who may connect, asked by the first-run wizard, and the listen address each
# answer gives every listening module: this computer only (loopback), or this
# computer and the local network (every address; the access list still refuses
# the internet until the administrator allows it).
LISTEN_ADDRESS = {"local": "127.0.0.1", "lan": "0.0.0.0"}


@dataclass(frozen=True)
class ModuleSetup:
    name: str
    enabled: bool
    ports: tuple[tuple[str, int], ...] = ()  # ("port", 25), ("tls_port", 465)


@dataclass(frozen=True)
class FirstRunSetup:
    """Everything the first run decides, applied by one facade call."""

    domain: str
    hostname: str
    reach: str = "local"  # a key of LISTEN_ADDRESS
    modules: tuple[ModuleSetup, ...] = ()
    user: NewUser | None = None
    certificate: tuple[bytes, bytes] | None = None  # (cert PEM, key PEM); None: ours


@dataclass(frozen=True)
class Snapshot:
    data_dir: str
    settings: Settings
    modules: tuple[ModuleStatus, ...]
    users: tuple[UserView, ...]
    domains: tuple[Domain, ...]
    aliases: tuple[Alias, ...]
    logs: tuple[LogRecorded, ...]
    queue: tuple[QueueJobView, ...]
    needs_first_run: bool


def check_backup_archive(archive: str) -> int:
    """How many files a backup archive holds, after checking each against
    its manifest; ``ValidationError`` saying what is wrong (blocking: call
    it in a worker thread)."""
    try:
        return backup.check_archive(Path(archive))
    except OSError as exc:
        raise ValidationError(f"The archive cannot be read: {exc.strerror}") from None


def restore_backup_archive(archive: str, data_dir: str) -> RestoreResult:
    """Make ``data_dir`` the archive's data folder (the one there is moved
    aside, never deleted). Only while no core runs on it (the window stops
    its core first); blocking."""
    try:
        return backup.restore(Path(archive), Path(data_dir))
    except OSError as exc:
        raise ValidationError(f"The backup was not restored: {exc.strerror}") from None


class CoreApi:
    """The facade over the running core's services."""

    def __init__(self, services: CoreServices) -> None:
        self._s = services
        # DKIM, DNS records, spam filter, greylisting and TLS counts
        self.internet = InternetApi(services)
        self.mailboxes = MailboxesApi(services)
        self.capture: CaptureApi = CaptureApi(services)

    # -- whole picture -------------------------------------------------------
    async def snapshot(self) -> Snapshot:
        s = self._s
        settings = await s.reload_settings()
        return Snapshot(
            data_dir=str(s.data_dir),
            settings=settings,
            modules=s.module_statuses(),
            users=await self.list_users(),
            domains=tuple(s.accounts.list_domains()),
            aliases=tuple(s.accounts.list_aliases()),
            logs=s.log_buffer.records(),
            queue=await self.queue_jobs(),
            needs_first_run=not settings.general.domain,
        )

    # -- modules ---------------------------------------------------------------
    async def modules(self) -> tuple[ModuleStatus, ...]:
        return self._s.module_statuses()

    async def set_module_enabled(self, name: str, on: bool) -> ModuleStatus:
        """Tick or untick a module: saves the setting, then starts or stops it.

        A module that cannot start is left FAILED with its message (no raise):
        the tick stays on so the person sees what is wrong and can fix it.
        """
        return await self._s.set_module_enabled(name, on)

    async def restart_module(self, name: str) -> ModuleStatus:
        return await self._s.restart_module(name)

    # -- settings --------------------------------------------------------------
    async def settings(self) -> Settings:
        """The settings in use, after a look for a change by another writer
        (a ``quicksilver-server`` command), so a dialog opens on fresh values."""
        return await self._s.reload_settings()

    async def update_settings(self, section: str, values: dict[str, Any]) -> Settings:
        """Change some keys of one section (send only the keys the person
        changed: a change another writer made to the others stays); a running
        module restarts itself."""
        return await self._s.update_settings({section: values})

    async def first_run(self, domain: str, hostname: str) -> Settings:
        """Set the mail domain and host name and create the domain (the primary
        one: bare login names and ``<postmaster>`` belong to it)."""
        settings = await self._s.first_run(domain, hostname)
        await asyncio.to_thread(self._s.accounts.set_primary_domain, domain)
        return settings

    async def complete_first_run(self, setup: FirstRunSetup) -> Settings:
        """Apply the first-run choices at once: domain and host name, the
        certificate (imported, or ours made for the host name), the first user,
        every module's ports and listen address in one settings write; then
        start each enabled module once, on what was chosen.

        Everything is checked before anything is changed; a refused choice
        raises ``ValidationError`` and may be retried.
        """
        return await self._s.complete_first_run(setup)

    async def backup(self, dest: str) -> BackupResult:
        """Write a consistent archive of the data folder to ``dest`` while
        everything runs (``server/backup.py``), in a worker thread."""
        return await asyncio.to_thread(backup.backup, self._s.data_dir, Path(dest))

    async def check_ports(
        self, queries: tuple[PortQuery, ...]
    ) -> tuple[PortCheck, ...]:
        """Is each port free to listen on? A port one of our running modules
        uses is named as such; for a port that is not free a free one is
        suggested. Probes run in a worker thread."""
        ours: dict[int, str] = {}
        for status in self._s.module_statuses():
            for endpoint in status.endpoints:
                ours[endpoint.port] = status.title
        return await asyncio.to_thread(check_ports, queries, ours)

    # -- accounts --------------------------------------------------------------
    async def list_users(self) -> tuple[UserView, ...]:
        s = self._s
        users = s.accounts.list_users()
        out = []
        for u in users:
            try:
                used = await s.store.usage(u.address)
            except Exception:
                used = 0
            out.append(
                UserView(
                    u.address,
                    u.display_name,
                    u.enabled,
                    u.quota_bytes,
                    used,
                    s.legacy.has(u.address),
                )
            )
        return tuple(out)

    async def add_user(self, new: NewUser) -> UserView:
        user: User = await asyncio.to_thread(
            self._s.accounts.add_user,
            new.address,
            new.password,
            display_name=new.display_name,
            quota_bytes=new.quota_bytes,
            enabled=new.enabled,
        )
        await self._s.store.ensure_user(user.address)
        self._s.accounts_changed("users")
        return UserView(
            user.address, user.display_name, user.enabled, user.quota_bytes, 0
        )

    async def deleted_mail(self, address: str) -> str:
        """When ``address`` was deleted with its mail kept in ``deleted/``
        (the newest copy, as "YYYY-MM-DD HH:MM"); "" when there is none."""
        copies = await self._s.store.deleted_copies(address)
        if not copies:
            return ""
        stamp = copies[-1].name[len(address.partition("@")[0]) + 1 :]
        return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"

    async def restore_deleted_mail(self, address: str) -> str:
        """Bring the mail a deleted ``address`` left behind back into its
        account made again (which must have none yet); the folder it came
        from, for the record."""
        user = self._s.accounts.get_user(address)
        if user is None:
            raise ValidationError(f"There is no user {address}: add it first.")
        try:
            source = await self._s.store.restore_deleted(user.address)
        except PermanentError as exc:
            raise ValidationError(str(exc)) from None
        if source is None:
            raise ValidationError(f"No mail of a deleted {address} is kept.")
        await self._s.store.ensure_user(user.address)
        self._s.accounts_changed("users")
        return source.name

    async def update_user(self, change: UserChange) -> UserView:
        acc = self._s.accounts
        if change.password is not None:  # first: a weak one refuses the whole change
            await asyncio.to_thread(acc.set_password, change.address, change.password)
        user: User = await asyncio.to_thread(
            acc.update_user,
            change.address,
            display_name=change.display_name,
            quota_bytes=change.quota_bytes,
            enabled=change.enabled,
        )
        self._s.accounts_changed("users")
        used = await self._s.store.usage(user.address)
        return UserView(
            user.address,
            user.display_name,
            user.enabled,
            user.quota_bytes,
            used,
            self._s.legacy.has(user.address),
        )

    async def set_legacy_password(self, address: str, on: bool) -> str:
        """Give ``address`` a new legacy password for APOP and CRAM-MD5
        (returned, to show once) or take it away (""). Its normal password
        stays as it is, and never serves those two."""
        user = self._s.accounts.get_user(address)
        if user is None:
            raise ValidationError(f"There is no user {address}.")
        if on:
            return await asyncio.to_thread(self._s.legacy.create, user.address)
        await asyncio.to_thread(self._s.legacy.remove, user.address)
        return ""

    async def delete_user(self, address: str) -> None:
        user = self._s.accounts.get_user(address)
        await asyncio.to_thread(self._s.accounts.delete_user, address)
        if user is not None:
            await asyncio.to_thread(self._s.legacy.remove, user.address)
            await self._s.store.delete_user(user.address)
        self._s.accounts_changed("users")

    async def check_login(self, username: str, password: str) -> bool:
        """Does this login succeed at the core's authenticator? (the GUI's check)."""
        user = await self._s.auth.authenticate(
            username, password, peer="local-ui", protocol="ui"
        )
        return user is not None

    async def list_domains(self) -> tuple[Domain, ...]:
        return tuple(self._s.accounts.list_domains())

    async def add_domain(self, name: str) -> Domain:
        d: Domain = await asyncio.to_thread(self._s.accounts.add_domain, name)
        self._s.accounts_changed("domains")
        return d

    async def remove_domain(self, name: str) -> None:
        await asyncio.to_thread(self._s.accounts.remove_domain, name)
        self._s.accounts_changed("domains")

    async def list_aliases(self) -> tuple[Alias, ...]:
        return tuple(self._s.accounts.list_aliases())

    async def set_alias(self, address: str, targets: tuple[str, ...]) -> Alias:
        a: Alias = await asyncio.to_thread(
            self._s.accounts.set_alias, address, list(targets)
        )
        self._s.accounts_changed("aliases")
        return a

    async def remove_alias(self, address: str) -> None:
        await asyncio.to_thread(self._s.accounts.remove_alias, address)
        self._s.accounts_changed("aliases")

    # -- security ---------------------------------------------------------------
    async def certificate(self) -> CertificateInfo | None:
        return await asyncio.to_thread(self._s.tls.info)

    async def import_certificate(
        self, cert_pem: bytes, key_pem: bytes
    ) -> CertificateInfo:
        """Install a PEM certificate (chain checked, key matched); no restart."""
        return await asyncio.to_thread(self._s.tls.import_pair, cert_pem, key_pem)

    async def reload_certificate(self) -> CertificateInfo | None:
        """Load the pair in ``tls/`` again (the shell replaced it)."""
        await asyncio.to_thread(self._s.tls.reload)
        return await asyncio.to_thread(self._s.tls.info)

    async def regenerate_certificate(self) -> CertificateInfo | None:
        return await asyncio.to_thread(self._s.tls.regenerate)

    async def bans(self) -> tuple[Ban, ...]:
        return tuple(self._s.auth.bans())

    async def unban(self, ip: str) -> bool:
        return self._s.auth.unban(ip)

    async def ban(self, ip: str) -> Ban:
        """Ban an address by hand for ``security.ban_time``."""
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ValidationError(f"{ip!r} is not an IP address") from None
        ban = self._s.auth.ban(ip, "banned by the administrator")
        if ban is None:
            raise ValidationError(f"{ip} cannot be banned")
        return ban

    # -- who is connected --------------------------------------------------------
    async def sessions(self) -> tuple[SessionInfo, ...]:
        """Every client connected now, module by module (oldest first)."""
        out: list[SessionInfo] = []
        for module in self._s.modules.values():
            listing = getattr(module, "sessions", None)
            if callable(listing):
                out.extend(listing())
        return tuple(sorted(out, key=lambda x: (x.module, x.since)))

    async def disconnect(self, module: str, key: int, ban: bool = False) -> str:
        """Close one session (and with ``ban``, ban its address for
        ``security.ban_time``); what was done, in words."""
        target = self._s.modules.get(module)
        close = getattr(target, "disconnect", None)
        if not callable(close):
            raise ValidationError(f"{module} has no sessions")
        peer = close(key)
        if not isinstance(peer, str):
            raise ValidationError("That session has already ended.")
        if not ban:
            return f"Disconnected {peer}."
        banned = self._s.auth.ban(peer_address(peer), "banned from the window")
        if banned is None:
            return f"Disconnected {peer}; its address cannot be banned."
        return f"Disconnected {peer} and banned {banned.ip}."

    # -- logs and queue --------------------------------------------------------
    async def recent_logs(
        self, limit: int = 1000, module: str | None = None
    ) -> tuple[LogRecorded, ...]:
        recs = self._s.log_buffer.records()
        if module:
            recs = tuple(r for r in recs if r.module == module)
        return recs[-limit:]

    async def queue_jobs(self) -> tuple[QueueJobView, ...]:
        return await self._s.queue.views()

    # -- outbound (queue actions, relay) ------------------------------------------
    async def hold_job(self, job_id: str) -> QueueActionResult:
        """Keep a queued message from being tried until released."""
        return await self._s.queue.hold(job_id)

    async def release_job(self, job_id: str) -> QueueActionResult:
        return await self._s.queue.release(job_id)

    async def retry_job(self, job_id: str) -> QueueActionResult:
        """Try a queued message's waiting recipients now."""
        return await self._s.queue.retry(job_id)

    async def delete_job(self, job_id: str) -> QueueActionResult:
        """Remove a queued message, telling no one (the window asks first)."""
        return await self._s.queue.delete(job_id)

    async def bounce_job(self, job_id: str) -> QueueActionResult:
        """Give up on a queued message now and send its sender a DSN."""
        return await self._s.queue.bounce(job_id)

    async def job_headers(self, job_id: str) -> JobHeaders:
        return await self._s.queue.headers(job_id)

    def _relay(self) -> RelayModule:
        relay = self._s.modules.get("relay")
        if not isinstance(relay, RelayModule):
            raise ValidationError("The relay module is not available.", field="relay")
        return relay

    async def relay_set_password(self, password: str) -> SecretsBackend:
        """Store the smart host password (keyring, or a 0600 file without one).

        An empty password removes it. Restart the relay module to use a new one
        for connections already open.
        """
        relay = self._relay()
        text = await relay.set_password(password)
        return SecretsBackend(text, bool(relay.secrets.uses_file))

    async def relay_test_connection(self) -> ProbeResult:
        """Connect to the smart host from the relay settings and report, in plain
        words, its banner, EHLO, TLS and AUTH answers. Sends no mail."""
        result: ProbeResult = await self._relay().test_connection()
        return result

    async def relay_has_password(self) -> bool:
        """Is a smart host password stored for the current host and user?"""
        relay = self._relay()
        cfg = self._s.settings.relay
        if not cfg.host or not cfg.username:
            return False
        key = relay_key(cfg.host, cfg.username)
        return await asyncio.to_thread(relay.secrets.get, key) is not None

    async def user_locks(self) -> tuple[tuple[str, float], ...]:
        """Login names locked after repeated failures, with the lock's end."""
        return tuple(self._s.auth.locked_users())

    async def unlock_user(self, username: str) -> bool:
        return self._s.auth.unlock_user(username)

    async def secrets_backend(self) -> SecretsBackend:
        """Where stored passwords live, for the window to say so."""
        relay = self._relay()
        text = await asyncio.to_thread(relay.secrets.backend_description)
        return SecretsBackend(text, bool(relay.secrets.uses_file))

    # -- tools -------------------------------------------------------------------
    async def send_test_message(self, message: TestMessage) -> TestMessageSent:
        """Send ``message`` through the running ``smtp`` module, as a mail client
        would (``server/testmessage.py``), and return the server's reply to DATA.

        Raises ``TestMessageFailed`` (a ``ValidationError``) when the module is not
        running or the message is refused, with the reason in plain words.
        """
        status = next((m for m in self._s.module_statuses() if m.name == "smtp"), None)
        if status is None or status.state is not ModuleState.RUNNING:
            raise TestMessageFailed(
                "The SMTP module is not running: switch it on (or fix its error), "
                "then send again.",
                field="smtp",
            )
        # the first listener that starts in plain text (STARTTLS is offered, not
        # required, on port 25: RFC 3207 4); an implicit-TLS one would need TLS
        plain = [e for e in status.endpoints if e.security != "implicit"]
        if not plain:
            raise TestMessageFailed(
                "The SMTP module has no plain-text listener.", field="smtp"
            )
        return await send_test_message(plain[0].host, plain[0].port, message)

    # -- rules, out of office, forwarding (server/sieve/userrules.py) -------------
    def _rules_user(self, address: str) -> str:
        user = self._s.accounts.get_user(address.strip())
        if user is None:
            raise ValidationError(f"There is no user {address}.", field="user")
        return user.address

    async def user_rules(self, address: str) -> RulesView:
        """The user's rules, out-of-office reply and forwarding, or the text
        of a script written elsewhere (not editable)."""
        user = self._rules_user(address)
        return await asyncio.to_thread(userrules.load_user, self._s.scripts, user)

    async def set_user_rules(self, address: str, rules: RuleSet) -> RulesView:
        """Save them as the user's active Sieve script (ValidationError when
        the rules are wrong or the active script was written elsewhere)."""
        user = self._rules_user(address)
        return await asyncio.to_thread(
            userrules.save_user, self._s.scripts, user, rules
        )

    async def global_rules(self) -> RulesView:
        return await asyncio.to_thread(userrules.load_global, self._s.scripts)

    async def set_global_rules(self, rules: RuleSet) -> RulesView:
        """Save the rules that run for every user before their own."""
        return await asyncio.to_thread(userrules.save_global, self._s.scripts, rules)

    async def try_rules(
        self, address: str | None, rules: RuleSet, message: str
    ) -> tuple[str, ...]:
        """What ``rules`` would do with the pasted ``message`` for ``address``
        (the postmaster for the global rules): one line per action."""
        user = (
            self._rules_user(address)
            if address
            else f"postmaster@{self._s.accounts.primary_domain() or 'localhost'}"
        )
        return await asyncio.to_thread(userrules.try_rules, rules, message, user)

    # -- distribution lists (server/lists/) ---------------------------------------
    async def list_lists(self) -> tuple[MailList, ...]:
        return tuple(await asyncio.to_thread(self._s.list_store.lists))

    async def save_list(self, ml: MailList) -> MailList:
        """Create or change a list. Its address is on a local domain and is
        not a user's or an alias."""
        address = check_list_address(ml.address, self._s.accounts)
        saved: MailList = await asyncio.to_thread(
            self._s.list_store.save, dataclasses.replace(ml, address=address)
        )
        self._s.accounts_changed("lists")
        return saved

    async def remove_list(self, address: str) -> None:
        await asyncio.to_thread(self._s.list_store.remove, address)
        self._s.accounts_changed("lists")

    async def list_members(self, address: str) -> tuple[ListMember, ...]:
        return tuple(await asyncio.to_thread(self._s.list_store.members, address))

    async def add_list_member(self, address: str, member: str) -> ListMember:
        return await asyncio.to_thread(self._s.list_store.add_member, address, member)

    async def remove_list_member(self, address: str, member: str) -> bool:
        return await asyncio.to_thread(
            self._s.list_store.remove_member, address, member
        )

    async def list_moderators(self, address: str) -> tuple[str, ...]:
        return tuple(await asyncio.to_thread(self._s.list_store.moderators, address))

    async def set_list_moderators(
        self, address: str, moderators: tuple[str, ...]
    ) -> tuple[str, ...]:
        return tuple(
            await asyncio.to_thread(
                self._s.list_store.set_moderators, address, list(moderators)
            )
        )

    async def export_postfix_dovecot(
        self, folder: str, relay_password: bool = False
    ) -> ExportResult:
        """File > Export for Postfix and Dovecot: the configuration tree in
        ``folder`` (server/export/), read-only on the data folder, so every
        module keeps running; ``relay_password``: write the smart host's."""
        return await asyncio.to_thread(
            export_postfix_dovecot,
            self._s.data_dir,
            Path(folder),
            relay_password=relay_password,
        )

    async def held_posts(self) -> tuple[HeldMessage, ...]:
        """Posts waiting for a moderator, oldest first, every list."""
        return tuple(await asyncio.to_thread(self._s.list_store.held))

    async def approve_post(self, held_id: str) -> int:
        """Send a held post to the list; how many members it went to."""
        return await self._s.lists.approve(held_id)

    async def reject_post(self, held_id: str, notify: bool = False) -> None:
        """Drop a held post (``notify``: tell its sender)."""
        await self._s.lists.reject(held_id, notify)

    # -- the collector (server/fetch/) ----------------------------------------------
    def _fetch(self) -> FetchModule:
        fetch = self._s.modules.get("fetch")
        if not isinstance(fetch, FetchModule):
            raise ValidationError("The collector module is not available.")
        return fetch

    async def fetch_accounts(self) -> tuple[FetchAccountView, ...]:
        """Every collector account with how its polls went."""
        store = self._s.fetch_store
        accounts = await asyncio.to_thread(store.accounts)
        statuses = await asyncio.to_thread(store.statuses)
        return tuple(
            FetchAccountView(a, statuses.get(a.id, AccountStatus(a.id)))
            for a in accounts
        )

    async def save_fetch_account(
        self, account: FetchAccount, password: str | None = None
    ) -> FetchAccount:
        """Create or change an account; ``password`` (when given) goes to the
        keyring. A new account needs one."""
        checked = check_account(account)
        await asyncio.to_thread(check_destination, checked, self._s.accounts)
        store = self._s.fetch_store
        old = await asyncio.to_thread(store.get, checked.id)
        fetch = self._fetch()
        key = fetch_key(checked.id)
        if password:
            await asyncio.to_thread(fetch.secrets.set, key, password)
        elif old is None and not await asyncio.to_thread(fetch.secrets.get, key):
            raise ValidationError(
                "Enter the password for the server.", field="password"
            )
        saved: FetchAccount = await asyncio.to_thread(store.save, checked)
        return saved

    async def remove_fetch_account(self, ident: str) -> bool:
        """Remove the account, what it remembers and its password (the mail
        it collected stays)."""
        removed = await asyncio.to_thread(self._s.fetch_store.remove, ident)
        await asyncio.to_thread(self._fetch().secrets.delete, fetch_key(ident.lower()))
        return bool(removed)

    async def check_fetch_account(self, ident: str) -> PollResult:
        """Poll the account now (also while the module is off) and wait."""
        account = await asyncio.to_thread(self._s.fetch_store.get, ident)
        if account is None:
            raise ValidationError(f"There is no collector account {ident!r}.")
        return await self._fetch().poll(account)

    async def test_fetch_account(
        self, account: FetchAccount, password: str | None = None
    ) -> ProbeReport:
        """Connect and log in (``password`` or the stored one) and say what
        the server said; stores and collects nothing."""
        checked = check_account(account)
        fetch = self._fetch()
        if not password:
            password = await asyncio.to_thread(fetch.secrets.get, fetch_key(checked.id))
        if not password:
            raise ValidationError(
                "Enter the password for the server.", field="password"
            )
        return await fetch.probe(checked, password)
