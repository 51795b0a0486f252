"""The core's thread and event loop, and the services it runs.

``Runtime`` starts a thread with its own asyncio loop (so a modal dialog or a
slow repaint never stalls a mail client), builds the services on it
(``CoreServices``: settings, accounts, mail store, TLS, authenticator, queue
manager and the protocol modules) and exposes the facade ``api``. Modules start
in registry order and stop in reverse; one that cannot start is FAILED with its
message while the others keep running. Headless mode and the window use the
same class; no Qt is imported here.

At start the runtime also makes the process's limits fit what it serves: the
umask becomes 077 and an existing data folder loses group and other access
(``server.paths``); the soft open-files limit is raised to the hard one and the
connection total is capped by what it allows, and failed accepts are logged once
a minute rather than once per attempt (``server.descriptors``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import importlib
import logging
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from server.accounts.sqlite import SqliteAccountStore
from server.accounts.validate import normalize_domain
from server.api import CoreApi
from server.auth import CoreAuthenticator
from server.config.schema import Settings, validate_section
from server.config.store import SettingsStore
from server.delivery.local import LocalDelivery
from server.descriptors import AcceptFailureLog, DescriptorLimit, raise_descriptor_limit
from server.errors import ValidationError
from server.events import AccountsChanged, EventBus, ModuleStateChanged, SettingsChanged
from server.logbuffer import LogBuffer, PrivateRotatingFileHandler
from server.modules.base import (
    ConnectionBudget,
    Module,
    ModuleContext,
    ModuleStartError,
    ModuleState,
    ModuleStatus,
)
from server.modules.registry import MODULES
from server.paths import (
    PRIVATE_DIR_MODE,
    Tightened,
    hold_private_umask,
    release_private_umask,
    tighten_top,
    tighten_trees,
)
from server.queue.manager import QueueManager
from server.queue.spool import Spool
from server.sieve.deliver import ScriptFinder, SieveDelivery
from server.sieve.seen import FILE_NAME as SIEVE_STATE_FILE
from server.sieve.seen import SieveStateStore
from server.sieve.store import ScriptStore
from server.storage.maildir import MaildirStore
from server.tls import FileTlsProvider

log = logging.getLogger("quicksilver.core")
T = TypeVar("T")


class _BrokenModule:
    """Stands in for a module whose code could not be imported."""

    def __init__(self, name: str, title: str, error: str) -> None:
        self.name, self.title, self.error = name, title, error

    def configure(self, cfg: Any) -> None:
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
    ) -> None:
        self.data_dir = data_dir
        self.events = events
        self.log_buffer = log_buffer
        self.settings_store = SettingsStore(data_dir / "settings.toml")
        self.settings: Settings = self.settings_store.load()
        if not self.settings_store.path.exists():
            self.settings_store.save(self.settings)
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
        self.auth = CoreAuthenticator(self.accounts, lambda: self.settings)
        # Sieve at local delivery: scripts under sieve/, its memory (vacation
        # replies, side effects queued) in one SQLite file; the queue takes
        # what the scripts send.
        self.sieve_state = SieveStateStore(
            data_dir / SIEVE_STATE_FILE, data_dir / "corrupt"
        )
        self.sieve = SieveDelivery(
            ScriptFinder(ScriptStore(data_dir / "sieve")),
            self.sieve_state,
            self.store,
            self.settings.general.hostname,
        )
        self.local = LocalDelivery(
            self.accounts, self.store, self.settings.general.hostname, self.sieve
        )
        self.queue = QueueManager(
            Spool(data_dir / "spool", data_dir / "corrupt"),
            self.accounts,
            self.local,
            events,
            lambda: self.settings,
        )
        self.sieve.attach_outbox(self.queue)
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
        )
        self._tighten_task: asyncio.Task[None] | None = None
        self._stop_tightening = threading.Event()
        self.modules: dict[str, Module] = {}
        self._session_handlers: dict[str, logging.Handler] = {}
        self._module_locks: dict[str, asyncio.Lock] = {}
        for name, (path, cls_name, title) in MODULES.items():
            try:
                cls = getattr(importlib.import_module(path), cls_name)
                self.modules[name] = cls(self.ctx)
            except Exception as exc:  # shown as FAILED, never silently missing
                log.exception("module %s could not be loaded", name)
                self.modules[name] = _BrokenModule(name, title, f"Cannot load: {exc}")
            self._module_locks[name] = asyncio.Lock()
        self.api = CoreApi(self)

    # -- life --------------------------------------------------------------------
    async def start(self) -> None:
        (self.data_dir / "logs").mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        self.apply_session_logs()
        await asyncio.to_thread(self.tls.ensure)
        for user in self.accounts.list_users():
            await self.store.ensure_user(user.address)
        await self.queue.start()
        if not self.settings.general.domain:
            # A fresh data folder: nothing listens until the first-run settings
            # (mail domain, modules, ports) are given.
            log.info("no mail domain yet: modules start after the first-run setup")
            return
        await self.start_enabled()

    async def start_enabled(self) -> None:
        for name in self.modules:
            if (
                self.is_enabled(name)
                and getattr(self.modules[name], "state", None)
                is not ModuleState.RUNNING
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
        await asyncio.to_thread(self.accounts.close)
        self.close_session_logs()

    def is_enabled(self, name: str) -> bool:
        section = getattr(self.settings, name, None)
        return bool(getattr(section, "enabled", False))

    async def _start_module(self, name: str) -> None:
        module = self.modules[name]
        try:
            section = getattr(self.settings, name, None)
            if section is not None:
                module.configure(section)
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
        if hasattr(module, "state"):
            setattr(module, "state", ModuleState.FAILED)  # noqa: B010
            setattr(module, "last_error", message)  # noqa: B010
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
        module = self._check_module(name)
        async with self._module_locks[name]:
            section = getattr(self.settings, name)
            if section.enabled != on:
                await self._save(name, dataclasses.replace(section, enabled=on))
            if on:
                await module.stop()
                await self._start_module(name)
            else:
                await module.stop()
        return self._status(name)

    async def restart_module(self, name: str) -> ModuleStatus:
        module = self._check_module(name)
        async with self._module_locks[name]:
            await module.stop()
            if self.is_enabled(name):
                await self._start_module(name)
        return self._status(name)

    async def _save(self, name: str, section: Any) -> None:
        new = self.settings.replace_section(name, section)
        await asyncio.to_thread(self.settings_store.save, new)
        self.settings = new
        self.events.publish(SettingsChanged(name))

    async def apply_section(self, name: str, section: Any) -> Settings:
        validate_section(name, section)
        old = getattr(self.settings, name)
        await self._save(name, section)
        if getattr(old, "session_log", None) != getattr(section, "session_log", None):
            self.apply_session_logs()
        if name in self.modules and old != section:
            module = self.modules[name]
            running = getattr(module, "state", None) in (
                ModuleState.RUNNING,
                ModuleState.FAILED,
            )
            if running or section.enabled != old.enabled:
                await self.restart_module(name)
        if name == "general" and old != section:
            await asyncio.to_thread(self.tls.hostname_changed, section.hostname)
            self.local.host = section.hostname or self.local.host
            # every listening module reads hostname and size limit at start
            for mod_name, module in self.modules.items():
                if getattr(module, "state", None) is ModuleState.RUNNING:
                    await self.restart_module(mod_name)
        return self.settings

    async def first_run(self, domain: str, hostname: str) -> Settings:
        dom = normalize_domain(domain)
        host = hostname.strip() or f"mail.{dom}"
        general = dataclasses.replace(self.settings.general, domain=dom, hostname=host)
        validate_section("general", general)
        if not self.accounts.is_local_domain(dom):
            await asyncio.to_thread(self.accounts.add_domain, dom)
            self.accounts_changed("domains")
        settings = await self.apply_section("general", general)
        await self.start_enabled()
        return settings

    def accounts_changed(self, what: str) -> None:
        self.events.publish(AccountsChanged(what))


class Runtime:
    """Runs ``CoreServices`` on a dedicated thread and loop."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.events = EventBus()
        self.loop: asyncio.AbstractEventLoop = asyncio.new_event_loop()
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
            self._services = CoreServices(self.data_dir, self.events, buf, fd_limit)
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


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False
