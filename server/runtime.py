"""The core's thread and event loop, and the services it runs.

``Runtime`` starts a thread with its own asyncio loop (so a modal dialog or a
slow repaint never stalls a mail client), builds the services on it
(``CoreServices``: settings, accounts, mail store, TLS, authenticator, queue
manager and the protocol modules) and exposes the facade ``api``. Modules start
in registry order and stop in reverse; one that cannot start is FAILED with its
message while the others keep running. Headless mode and the window use the
same class; no Qt is imported here.

Settings have one rule for every writer (this core, another core, the
``quicksilver-server`` commands): a change is a patch applied under the lock of
``settings.toml`` (``server/config/store.py``). The core checks the file once a
second (``SETTINGS_POLL_INTERVAL``, in a worker thread) and whenever the facade
is asked for the settings; a change made by another writer is applied like one
made through the facade (modules concerned restart, ``SettingsChanged`` tells
the window). A file that is not valid is not applied: the settings in use
stay, and the log says why, once per version of the file.

At start the runtime also makes the process's limits fit what it serves: the
umask becomes 077 and an existing data folder loses group and other access
(``server.paths``); the soft open-files limit is raised to the hard one and the
connection total is capped by what it allows, and failed accepts are logged once
a minute rather than once per attempt (``server.descriptors``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from server import backup
from server.accounts.legacy import LegacySecrets
from server.accounts.sqlite import SqliteAccountStore
from server.accounts.validate import (
    normalize_domain,
)
from server.antispam.dnsq import Resolver, system_resolver
from server.api import CoreApi, FirstRunSetup
from server.auth import CoreAuthenticator
from server.capture import SECRET_KEY as CAPTURE_SECRET
from server.capture import CaptureSink, mailbox_address
from server.capture import new_password as capture_password
from server.config.schema import SECTIONS, Settings
from server.config.store import Patch, SettingsStore, apply_patch
from server.control import ControlDesk
from server.delivery.local import LocalDelivery
from server.descriptors import AcceptFailureLog, DescriptorLimit, raise_descriptor_limit
from server.dkim.keys import DkimKeys
from server.dkim.signer import DkimSigner
from server.errors import ValidationError
from server.events import AccountsChanged, EventBus, ModuleStateChanged, SettingsChanged
from server.fetch.store import FILE_NAME as FETCH_FILE
from server.fetch.store import FetchStore
from server.first_run import complete_first_run
from server.lists.service import ListService
from server.lists.store import FILE_NAME as LISTS_FILE
from server.lists.store import ListStore
from server.lists.tokens import KEY_FILE as UNSUBSCRIBE_KEY
from server.lists.tokens import UnsubscribeTokens, load_or_create_key
from server.logbuffer import LogBuffer, PrivateRotatingFileHandler
from server.modules import registry
from server.modules.base import (
    ConnectionBudget,
    Module,
    ModuleContext,
    ModuleStartError,
    ModuleState,
    ModuleStatus,
)
from server.paths import (
    PRIVATE_DIR_MODE,
    Tightened,
    hold_private_umask,
    release_private_umask,
    tighten_top,
    tighten_trees,
)
from server.protocols.web.module import WebModule
from server.queue.manager import QueueManager
from server.queue.spool import Spool
from server.secrets import SecretStore
from server.sieve.deliver import SieveDelivery
from server.sieve.loading import ScriptFinder
from server.sieve.seen import FILE_NAME as SIEVE_STATE_FILE
from server.sieve.seen import SieveStateStore
from server.sieve.store import ScriptStore
from server.storage.maildir import MaildirStore
from server.tls import FileTlsProvider

log = logging.getLogger("quicksilver.core")
T = TypeVar("T")

# Seconds between two looks at settings.toml for a change by another writer
# (a quicksilver-server command, a hand edit): one small read in a worker thread.
SETTINGS_POLL_INTERVAL = 1.0


class _BrokenModule:
    """Stands in for a module that could not be set up (its constructor raised)."""

    def __init__(self, name: str, title: str, error: str) -> None:
        self.name, self.title, self.error = name, title, error
        self.state = ModuleState.STOPPED  # never runs; status() says FAILED when on
        self.last_error = error

    def configure(self, settings: Settings) -> None:
        pass

    async def start(self) -> None:
        raise ModuleStartError(self.error)

    async def stop(self) -> None:
        pass

    def status(self, enabled: bool) -> ModuleStatus:
        return ModuleStatus(
            self.name,
            self.title,
            enabled,
            ModuleState.FAILED if enabled else ModuleState.STOPPED,
            last_error=self.error,
        )


class CoreServices:
    """Everything the core runs; lives on the core loop."""

    def __init__(
        self,
        data_dir: Path,
        events: EventBus,
        log_buffer: LogBuffer,
        fd_limit: DescriptorLimit | None = None,
        force_capture: bool = False,
    ) -> None:
        self.data_dir = data_dir
        # ``run --capture``: capture mode for this run, whatever the file says
        self.force_capture = force_capture
        self.events = events
        self.log_buffer = log_buffer
        self.settings_store = SettingsStore(data_dir / "settings.toml")
        loaded = self.settings_store.read()
        loaded = self.settings_store.create_if_missing(loaded.settings) or loaded
        self.settings: Settings = self._overridden(loaded.settings)
        # the bytes of the file these settings came from: another writer's
        # change shows as different bytes (reload_settings)
        self._settings_raw = loaded.raw
        self._bad_settings_raw: bytes | None = None  # logged once per version
        self._settings_lock = asyncio.Lock()  # one change at a time in this core
        self._watch_task: asyncio.Task[None] | None = None
        self._control_task: asyncio.Task[None] | None = None
        self._backup_task: asyncio.Task[None] | None = None
        # one total for every module, capped by what the descriptors allow
        self.connections = ConnectionBudget(
            lambda: self.settings.security.max_connections,
            fd_limit.ceiling if fd_limit is not None else None,
        )
        self.accounts = SqliteAccountStore(data_dir / "accounts.sqlite3")
        self.store = MaildirStore(
            data_dir / "mail", self.settings.general.hostname or "quicksilver"
        )
        self.tls = FileTlsProvider(data_dir / "tls", self.settings.general.hostname)
        # legacy passwords for APOP and CRAM-MD5 (server/accounts/legacy.py)
        self.legacy = LegacySecrets(data_dir)
        self.auth = CoreAuthenticator(
            self.accounts, lambda: self.settings, legacy=self.legacy
        )
        # one store of Sieve scripts: ManageSieve writes, local delivery reads.
        # Sieve at local delivery: its memory (vacation replies, side effects
        # queued) in one SQLite file; the queue takes what the scripts send.
        self.scripts = ScriptStore(data_dir / "sieve")
        self.sieve_state = SieveStateStore(
            data_dir / SIEVE_STATE_FILE, data_dir / "corrupt"
        )
        self.sieve = SieveDelivery(
            ScriptFinder(self.scripts),
            self.sieve_state,
            self.store,
            self.settings.general.hostname,
        )
        # distribution lists: their own SQLite file; posts go out through the queue
        self.list_store = ListStore(data_dir / LISTS_FILE)
        self.lists = ListService(
            self.list_store,
            self.accounts,
            UnsubscribeTokens(load_or_create_key(data_dir / UNSUBSCRIBE_KEY)),
        )
        # the collector's accounts: edited by the window and the shell, read
        # by the running fetch module
        self.fetch_store = FetchStore(data_dir / FETCH_FILE)
        self.local = LocalDelivery(
            self.accounts,
            self.store,
            self.settings.general.hostname,
            self.sieve,
            self.lists,
            junk_spam=lambda: self.settings.smtp.junk_spam,
        )
        self.queue = QueueManager(
            Spool(data_dir / "spool", data_dir / "corrupt"),
            self.accounts,
            self.local,
            events,
            lambda: self.settings,
        )
        # DKIM: keys per domain in dkim/, mail signed as it leaves
        self.dkim_keys = DkimKeys(data_dir / "dkim")
        self.queue.signer = DkimSigner(self.dkim_keys)
        # what the DNS helper's check asks (tests put a table here)
        self.make_resolver: Callable[[], Resolver] = system_resolver
        self.sieve.attach_outbox(self.queue)
        self.lists.attach_outbox(self.queue)
        # capture mode's target for smtp and submission (server/capture.py)
        self.capture = CaptureSink(self.store, self.accounts, lambda: self.settings)
        self.ctx = ModuleContext(
            events=events,
            settings=lambda: self.settings,
            accounts=self.accounts,
            store=self.store,
            delivery=self.queue,
            tls=self.tls,
            auth=self.auth,
            queue=self.queue,
            data_dir=data_dir,
            connections=self.connections,
            scripts=self.scripts,
            lists=self.lists,
            fetch=self.fetch_store,
            capture=self.capture,
        )
        self._tighten_task: asyncio.Task[None] | None = None
        self._stop_tightening = threading.Event()
        self.modules: dict[str, Module] = {}
        self._session_handlers: dict[str, logging.Handler] = {}
        self._module_locks: dict[str, asyncio.Lock] = {}
        for entry in registry.modules():
            try:
                self.modules[entry.name] = entry.factory(self.ctx)
            except Exception as exc:  # shown as FAILED, never silently missing
                log.exception("module %s could not be set up", entry.name)
                self.modules[entry.name] = _BrokenModule(
                    entry.name, entry.title, f"Cannot set up: {exc}"
                )
            self._module_locks[entry.name] = asyncio.Lock()
        web = self.modules.get("web")
        if isinstance(web, WebModule):  # one-click links while it answers them
            self.lists.unsubscribe_base = web.link_base
        self.api = CoreApi(self)

    # -- life --------------------------------------------------------------------
    async def start(self) -> None:
        (self.data_dir / "logs").mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        self.apply_session_logs()
        await asyncio.to_thread(self.tls.ensure)
        for user in self.accounts.list_users():
            await self.store.ensure_user(user.address)
        await self.queue.start()
        self._watch_task = asyncio.get_running_loop().create_task(
            self._watch_settings(), name="watch-settings"
        )
        # the shell's queue/sessions/ban commands (server/control.py), and
        # scheduled backups (server/backup.py)
        self._control_task = asyncio.get_running_loop().create_task(
            ControlDesk(self.data_dir, self.api).serve(), name="control-desk"
        )
        self._backup_task = asyncio.get_running_loop().create_task(
            backup.schedule(self.data_dir, lambda: self.settings.backup),
            name="backup-schedule",
        )
        if self.force_capture and not self.settings.general.domain:
            log.info("capture mode on a new data folder: mail domain localhost")
            await self.first_run("localhost", "localhost")
        await self.apply_capture()
        if not self.settings.general.domain:
            # A fresh data folder: nothing listens until the first-run settings
            # (mail domain, modules, ports) are given.
            log.info("no mail domain yet: modules start after the first-run setup")
            return
        await self.start_enabled()

    def _overridden(self, settings: Settings) -> Settings:
        if self.force_capture and not settings.capture.enabled:
            return dataclasses.replace(
                settings, capture=dataclasses.replace(settings.capture, enabled=True)
            )
        return settings

    async def apply_capture(self) -> None:
        """Capture mode on: the capture mailbox exists and the queue sends
        nothing out; off: the queue's remote route comes back."""
        on = self.settings.capture.enabled
        self.queue.suspend_remote(on)
        if not on:
            return
        owner = mailbox_address(self.settings, self.accounts)
        if self.accounts.get_user(owner) is not None:
            return
        if not self.accounts.is_local_domain(owner.rsplit("@", 1)[1]):
            return  # no mail domain yet: made with the first one
        password = capture_password()
        await asyncio.to_thread(
            SecretStore(self.data_dir).set, CAPTURE_SECRET, password
        )
        await asyncio.to_thread(
            self.accounts.add_user, owner, password, display_name="Captured mail"
        )
        await self.store.ensure_user(owner)
        self.accounts_changed("users")
        log.info(
            "capture mode: made the mailbox %s (its password: "
            "quicksilver-server capture password)",
            owner,
        )

    async def start_enabled(self) -> None:
        for name in self.modules:
            if (
                self.is_enabled(name)
                and self.modules[name].state is not ModuleState.RUNNING
            ):
                await self._start_module(name)

    def tighten_in_background(self, top: Tightened) -> None:
        """Finish the start-time tightening of the data folder (``server.paths``)
        while clients are served; log one line if anything was loose."""
        self._tighten_task = asyncio.get_running_loop().create_task(
            self._tighten(top), name="tighten-data-folder"
        )

    async def _tighten(self, result: Tightened) -> None:
        try:
            await asyncio.to_thread(
                tighten_trees, self.data_dir, result, self._stop_tightening
            )
        except Exception:  # an edge: the server runs on without it
            log.exception("could not check the modes in the data folder")
        if result.paths or result.failed:
            log.warning("%s", result.summary())

    async def stop(self) -> None:
        for task in (self._watch_task, self._control_task, self._backup_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._stop_tightening.set()
        if self._tighten_task is not None:
            await self._tighten_task
        for name in reversed(list(self.modules)):
            try:
                await self.modules[name].stop()
            except Exception:
                log.exception("module %s did not stop cleanly", name)
        await self.queue.stop()
        await asyncio.to_thread(self.sieve_state.close)
        await asyncio.to_thread(self.list_store.close)
        await asyncio.to_thread(self.fetch_store.close)
        await asyncio.to_thread(self.accounts.close)
        self.close_session_logs()

    def is_enabled(self, name: str) -> bool:
        section = getattr(self.settings, name, None)
        return bool(getattr(section, "enabled", False))

    async def _start_module(self, name: str) -> None:
        module = self.modules[name]
        try:
            module.configure(self.settings)
            await module.start()
        except ModuleStartError as exc:
            log.error("%s could not start: %s", name, exc)
        except ValidationError as exc:
            log.error("%s settings are not valid: %s", name, exc)
            self._force_failed(module, str(exc))
        except Exception as exc:
            log.exception("%s could not start", name)
            self._force_failed(module, f"Could not start: {exc}")

    def _force_failed(self, module: Module, message: str) -> None:
        module.state = ModuleState.FAILED
        module.last_error = message
        self.events.publish(ModuleStateChanged(module.name, "FAILED", message))

    # -- facade helpers -------------------------------------------------------------
    def apply_session_logs(self) -> None:
        """Mercury's session logging: a module with ``session_log`` on writes its
        DEBUG transcript lines to ``logs/<module>.log`` (rotating)."""
        for name in self.modules:
            logger = logging.getLogger(f"quicksilver.{name}")
            section = getattr(self.settings, name, None)
            on = bool(getattr(section, "session_log", False))
            handler = self._session_handlers.get(name)
            if on and handler is None:
                handler = PrivateRotatingFileHandler(
                    self.data_dir / "logs" / f"{name}.log"
                )
                handler.setLevel(logging.DEBUG)
                handler.setFormatter(
                    logging.Formatter("%(asctime)s %(levelname)s %(message)s")
                )
                logger.addHandler(handler)
                logger.setLevel(logging.DEBUG)
                self._session_handlers[name] = handler
            elif not on and handler is not None:
                logger.removeHandler(handler)
                handler.close()
                logger.setLevel(logging.NOTSET)
                del self._session_handlers[name]

    def close_session_logs(self) -> None:
        for name, handler in list(self._session_handlers.items()):
            logger = logging.getLogger(f"quicksilver.{name}")
            logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)
            handler.close()
        self._session_handlers.clear()

    def module_statuses(self) -> tuple[ModuleStatus, ...]:
        return tuple(m.status(self.is_enabled(n)) for n, m in self.modules.items())

    def _status(self, name: str) -> ModuleStatus:
        return self.modules[name].status(self.is_enabled(name))

    def _check_module(self, name: str) -> Module:
        module = self.modules.get(name)
        if module is None:
            raise ValidationError(f"There is no module {name!r}.", field="module")
        return module

    async def set_module_enabled(self, name: str, on: bool) -> ModuleStatus:
        """Save the tick, then start or stop the module. A tick on a module
        already on restarts it (a FAILED one gets another try)."""
        self._check_module(name)
        was = getattr(self.settings, name).enabled
        await self.update_settings({name: {"enabled": on}})
        if was == on:  # no change to apply: _apply_changes did not touch it
            await self.restart_module(name)
        return self._status(name)

    async def restart_module(self, name: str) -> ModuleStatus:
        module = self._check_module(name)
        async with self._module_locks[name]:
            await module.stop()
            if self.is_enabled(name):
                await self._start_module(name)
        return self._status(name)

    # -- settings ---------------------------------------------------------------------
    async def update_settings(self, patch: Patch) -> Settings:
        """Apply ``patch`` (only the keys that change) to the file under its
        lock, then apply to the running modules whatever differs from the
        settings in use: this patch and any change another writer made since
        the last look. Raises ``ValidationError`` naming a bad key."""
        async with self._settings_lock:
            result = await asyncio.to_thread(self.settings_store.patch, patch)
            if result.raw != self._settings_raw:
                await self._adopt(result.settings, result.raw)
        return self.settings

    async def reload_settings(self) -> Settings:
        """Adopt a change another writer made to ``settings.toml``; keep the
        settings in use (and log why, once) if the file is not valid, and
        write them back if the file was removed."""
        store = self.settings_store
        raw = await asyncio.to_thread(store.read_raw)
        if raw == self._settings_raw:
            return self.settings
        async with self._settings_lock:
            raw = await asyncio.to_thread(store.read_raw)  # a patch may have landed
            if raw is None:
                created = await asyncio.to_thread(
                    store.create_if_missing, self.settings
                )
                if created is not None:
                    self._settings_raw = created.raw
                    log.warning(
                        "%s was removed: written again from the settings in use",
                        store.path.name,
                    )
                return self.settings
            if raw == self._settings_raw or raw == self._bad_settings_raw:
                return self.settings
            try:
                new = await asyncio.to_thread(store.parse, raw)
            except ValidationError as exc:
                self._bad_settings_raw = raw
                log.error(
                    "%s was changed but is not valid (%s): the settings in use "
                    "stay until it is corrected",
                    store.path.name,
                    exc,
                )
                return self.settings
            self._bad_settings_raw = None
            log.info("%s was changed by another program: applying it", store.path.name)
            await self._adopt(new, raw)
        return self.settings

    async def _watch_settings(self) -> None:
        name = self.settings_store.path.name
        failed = ""  # the last failure logged: one line per new reason
        while True:
            await asyncio.sleep(SETTINGS_POLL_INTERVAL)
            try:
                await self.reload_settings()
            except asyncio.CancelledError:
                raise
            except (OSError, ValidationError) as exc:
                # no descriptor free, the lock held too long: the next look
                # tries again; no traceback, and no line a second
                if str(exc) != failed:
                    failed = str(exc)
                    log.warning("could not check %s for changes: %s", name, exc)
                continue
            except Exception:  # an edge: the next look tries again
                log.exception("could not check %s", name)
            failed = ""
            try:  # list posts approved from the shell (quicksilver-server list)
                await self.lists.process_approved()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not send the approved list posts")

    async def _adopt(self, new: Settings, raw: bytes) -> None:
        """Make ``new`` (the file's content, ``raw``) the settings in use and
        apply what changed. Called with the settings lock held."""
        new = self._overridden(new)
        old, self.settings, self._settings_raw = self.settings, new, raw
        changed = [n for n in SECTIONS if getattr(old, n) != getattr(new, n)]
        for name in changed:
            self.events.publish(SettingsChanged(name))
        await self._apply_changes(old, new, changed)

    async def _apply_changes(
        self, old: Settings, new: Settings, changed: list[str]
    ) -> None:
        """What the running core does when sections change: session logs on or
        off; a module restarts if it was running (or FAILED) or its tick
        changed; a new host name remakes the self-signed certificate and
        restarts every running module (each reads it at start); the first
        mail domain starts the enabled modules (``start``)."""
        if any(
            getattr(getattr(old, n), "session_log", None)
            != getattr(getattr(new, n), "session_log", None)
            for n in changed
        ):
            self.apply_session_logs()
        restarted: set[str] = set()
        for name in changed:
            module = self.modules.get(name)
            if module is None:
                continue
            running = module.state in (
                ModuleState.RUNNING,
                ModuleState.FAILED,
            )
            if running or getattr(old, name).enabled != getattr(new, name).enabled:
                await self.restart_module(name)
                restarted.add(name)
        if "general" in changed:
            await asyncio.to_thread(self.tls.hostname_changed, new.general.hostname)
            self.local.host = new.general.hostname or self.local.host
        if "capture" in changed or "general" in changed:
            # the capture mailbox follows the primary domain; every greeting
            # names capture mode, and smtp and submission change their target
            await self.apply_capture()
            for mod_name, module in self.modules.items():
                if mod_name not in restarted and module.state is ModuleState.RUNNING:
                    await self.restart_module(mod_name)
            if new.general.domain and not old.general.domain:
                await self.start_enabled()

    async def first_run(self, domain: str, hostname: str) -> Settings:
        dom = normalize_domain(domain)
        host = hostname.strip() or f"mail.{dom}"
        patch = {"general": {"domain": dom, "hostname": host}}
        apply_patch(self.settings, patch)  # refuse bad values before any change
        if not self.accounts.is_local_domain(dom):
            await asyncio.to_thread(self.accounts.add_domain, dom)
            self.accounts_changed("domains")
        had_domain = bool(self.settings.general.domain)
        settings = await self.update_settings(patch)
        if had_domain:  # else _apply_changes started them with the first domain
            await self.start_enabled()
        return settings

    async def complete_first_run(self, setup: FirstRunSetup) -> Settings:
        """The wizard's choices in one step (server/first_run.py)."""
        return await complete_first_run(self, setup)

    def accounts_changed(self, what: str) -> None:
        self.events.publish(AccountsChanged(what))


class Runtime:
    """Runs ``CoreServices`` on a dedicated thread and loop."""

    def __init__(self, data_dir: Path, capture: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.capture = capture  # ``run --capture``
        self.events = EventBus()
        # asyncio's own loop, whatever loop policy the process has: under
        # the window qasync's policy would hand out a Qt loop, which cannot
        # run on the core's thread
        self.loop: asyncio.AbstractEventLoop = (
            asyncio.DefaultEventLoopPolicy().new_event_loop()
        )
        self._thread: threading.Thread | None = None
        self._services: CoreServices | None = None
        self._log_handlers: list[logging.Handler] = []
        self._private = False  # holds the private umask (server.paths)

    @property
    def services(self) -> CoreServices:
        assert self._services is not None, "Runtime.start() first"
        return self._services

    @property
    def api(self) -> CoreApi:
        return self.services.api

    def _install_logging(self) -> LogBuffer:
        # No format here shows the process id, and reading it for every
        # record is a system call (two per message a busy SMTP server takes).
        logging.logProcesses = False
        root = logging.getLogger("quicksilver")
        root.setLevel(logging.INFO)
        buf = LogBuffer(self.events)
        root.addHandler(buf)
        logs = self.data_dir / "logs"
        logs.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        fh = PrivateRotatingFileHandler(logs / "quicksilver.log")
        fh.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        )
        root.addHandler(fh)
        self._log_handlers = [buf, fh]
        return buf

    def start(self, timeout: float = 60.0) -> None:
        """Start the core thread, build the services, start enabled modules."""
        if not self._private:
            hold_private_umask()
            self._private = True
        fd_limit = raise_descriptor_limit()
        try:
            self.data_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
            buf = self._install_logging()
        except BaseException:
            self._release_umask()
            raise
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        async def boot() -> None:
            # the folder and its top before anything is opened, the rest after
            tightened = await asyncio.to_thread(tighten_top, self.data_dir)
            self._services = CoreServices(
                self.data_dir, self.events, buf, fd_limit, self.capture
            )
            _log_connection_limit(fd_limit, self._services.connections)
            await self._services.start()
            self._services.tighten_in_background(tightened)

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.set_exception_handler(AcceptFailureLog())
            # Disk work runs here (asyncio.to_thread). The default pool has
            # cpu+4 threads; deliveries wait in a group commit while holding
            # one, so a small pool would cap concurrent SMTP clients.
            self.loop.set_default_executor(
                concurrent.futures.ThreadPoolExecutor(
                    max_workers=32, thread_name_prefix="quicksilver-io"
                )
            )
            try:
                self.loop.run_until_complete(boot())
            except BaseException as exc:
                ready.set_exception(exc)
                return
            ready.set_result(None)
            self.loop.run_forever()

        self._thread = threading.Thread(
            target=run, name="quicksilver-core", daemon=True
        )
        self._thread.start()
        try:
            ready.result(timeout)
        except BaseException:
            self._remove_logging()
            self._release_umask()
            raise
        log.info("core started in %s", self.data_dir)

    def call(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the core loop from any other thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return self.call(coro).result(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop modules in reverse order, close sessions, end the loop."""
        if self._thread is None:
            return
        if self._services is not None and self.loop.is_running():
            try:
                self.run(self._services.stop(), timeout)
            except Exception:
                log.exception("core did not stop cleanly")
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        self._thread = None
        if not self.loop.is_running():
            self.loop.close()
        log.info("core stopped")
        self._remove_logging()
        self._release_umask()

    def _release_umask(self) -> None:
        if self._private:
            self._private = False
            release_private_umask()

    def _remove_logging(self) -> None:
        root = logging.getLogger("quicksilver")
        for h in self._log_handlers:
            root.removeHandler(h)
            h.close()
        self._log_handlers = []


def _log_connection_limit(
    fd_limit: DescriptorLimit | None, budget: ConnectionBudget
) -> None:
    if fd_limit is None:  # Windows: only the configured total applies
        return
    raised = f" (raised from {fd_limit.was})" if fd_limit.was != fd_limit.soft else ""
    if fd_limit.ceiling < budget.configured:
        log.warning(
            "open-files limit %d%s leaves room for %d client connections, fewer "
            "than security.max_connections (%d): clients past %d are refused; "
            "raise the limit (ulimit -n) to serve more",
            fd_limit.soft,
            raised,
            fd_limit.ceiling,
            budget.configured,
            fd_limit.ceiling,
        )
    else:
        log.info(
            "open-files limit %d%s: room for %d client connections "
            "(security.max_connections: %d)",
            fd_limit.soft,
            raised,
            fd_limit.ceiling,
            budget.configured,
        )


def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False
