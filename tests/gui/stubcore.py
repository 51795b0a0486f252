"""A small stand-in core with the real one's shape, for fast GUI tests.

Same surface as ``server.runtime.Runtime`` (``start``/``stop``/``loop``/``api``/
``events``): a thread with its own asyncio loop, the real ``CoreApi`` facade over
in-memory services, the real ``EventBus`` and ``LogBuffer``. Its one module,
``smtp``, is a real listener that greets and logs each line, so "ticked means
listening" can be checked without the mail core.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import threading
from pathlib import Path
from typing import Any

from server.accounts.base import Alias, Domain, User
from server.api import CoreApi, QueueJobView
from server.config.schema import Settings
from server.config.store import Patch, apply_patch
from server.errors import ValidationError
from server.events import AccountsChanged, EventBus, SettingsChanged
from server.logbuffer import LogBuffer
from server.modules.base import Listener, ListenerModule, ModuleStartError, ModuleStatus
from server.storage.memory import MemoryStore

log = logging.getLogger("quicksilver.smtp")


class _LineProtocol(asyncio.Protocol):
    def __init__(self, module: StubSmtpModule) -> None:
        self._module = module
        self._peer = "?"
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        host, port = transport.get_extra_info("peername")[:2]
        self._peer = f"{host}:{port}"
        self._module.session_opened(id(self), self._peer, transport)
        log.info("[%s] connected", self._peer)
        transport.write(b"220 stub ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        for line in data.decode("ascii", "replace").splitlines():
            log.info("[%s] %s", self._peer, line)
            if self.transport is not None:
                self.transport.write(b"250 OK\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        self._module.session_closed(id(self))
        log.info("[%s] disconnected", self._peer)


class StubSmtpModule(ListenerModule):
    name = "smtp"
    title = "SMTP"

    def __init__(self, events: EventBus, settings: Any) -> None:
        super().__init__(events, log)
        self._settings = settings

    def configure(self, cfg: Any) -> None:
        pass

    def listeners(self) -> list[Listener]:
        cfg = self._settings().smtp
        return [Listener(cfg.bind, cfg.port, "none", lambda: _LineProtocol(self))]


class StubAccounts:
    """In-memory domains and users; passwords kept as given (tests only)."""

    def __init__(self) -> None:
        self.domains: dict[str, Domain] = {}
        self.users: dict[str, User] = {}
        self.passwords: dict[str, str] = {}
        self.primary = ""

    def list_domains(self) -> list[Domain]:
        return list(self.domains.values())

    def add_domain(self, name: str) -> Domain:
        d = Domain(name.lower(), name.lower())
        self.domains[d.name] = d
        return d

    def set_primary_domain(self, name: str) -> None:
        self.primary = name.lower()

    def list_aliases(self) -> list[Alias]:
        return []

    def list_users(self) -> list[User]:
        return list(self.users.values())

    def get_user(self, address: str) -> User | None:
        return self.users.get(address.lower())

    def add_user(self, address: str, password: str, **kw: Any) -> User:
        address = address.lower()
        local, _, domain = address.partition("@")
        if domain not in self.domains:
            raise ValidationError(f"{domain} is not one of this server's domains")
        if address in self.users:
            raise ValidationError(f"{address} already exists", field="address")
        user = User(address, local, domain, **kw)
        self.users[address] = user
        self.passwords[address] = password
        return user

    def update_user(self, address: str, **kw: Any) -> User:
        changes = {k: v for k, v in kw.items() if v is not None}
        user = dataclasses.replace(self.users[address], **changes)
        self.users[address] = user
        return user

    def set_password(self, address: str, password: str) -> None:
        self.passwords[address] = password

    def delete_user(self, address: str) -> None:
        self.users.pop(address, None)
        self.passwords.pop(address, None)


class StubAuth:
    def __init__(self, accounts: StubAccounts) -> None:
        self._accounts = accounts

    async def authenticate(
        self, username: str, password: str, *, peer: str, protocol: str
    ) -> User | None:
        user = self._accounts.get_user(username)
        ok = user is not None and self._accounts.passwords.get(user.address) == password
        return user if ok else None


class StubQueue:
    async def views(self) -> tuple[QueueJobView, ...]:
        return ()


class StubServices:
    """What ``CoreApi`` expects of ``CoreServices``, in memory."""

    def __init__(self, data_dir: Path, events: EventBus, log_buffer: LogBuffer) -> None:
        self.data_dir = data_dir
        self.events = events
        self.log_buffer = log_buffer
        self.settings = Settings()
        self.settings = self.settings.replace_section(
            "smtp",
            dataclasses.replace(
                self.settings.smtp, enabled=False, bind="127.0.0.1", port=0
            ),
        )
        self.accounts = StubAccounts()
        self.store = MemoryStore()
        self.auth = StubAuth(self.accounts)
        self.queue = StubQueue()
        self.modules = {"smtp": StubSmtpModule(events, lambda: self.settings)}
        self.api = CoreApi(self)  # type: ignore[arg-type]

    def module_statuses(self) -> tuple[ModuleStatus, ...]:
        return tuple(
            m.status(self.settings.section(n).enabled) for n, m in self.modules.items()
        )

    async def set_module_enabled(self, name: str, on: bool) -> ModuleStatus:
        if name not in self.modules:
            raise ValidationError(f"There is no module {name!r}.", field="module")
        section = self.settings.section(name)
        self.settings = self.settings.replace_section(
            name, dataclasses.replace(section, enabled=on)
        )
        self.events.publish(SettingsChanged(name))
        return await self.restart_module(name)

    async def restart_module(self, name: str) -> ModuleStatus:
        module = self.modules[name]
        await module.stop()
        if self.settings.section(name).enabled:
            try:
                await module.start()
            except ModuleStartError:
                pass
        return module.status(self.settings.section(name).enabled)

    async def update_settings(self, patch: Patch) -> Settings:
        self.settings = apply_patch(self.settings, patch)
        for name in patch:
            self.events.publish(SettingsChanged(name))
            if name in self.modules:
                await self.restart_module(name)
        return self.settings

    async def reload_settings(self) -> Settings:
        return self.settings  # no file: no other writer

    async def first_run(self, domain: str, hostname: str) -> Settings:
        self.accounts.add_domain(domain)
        self.accounts_changed("domains")
        return await self.update_settings(
            {"general": {"domain": domain, "hostname": hostname}}
        )

    def accounts_changed(self, what: str) -> None:
        self.events.publish(AccountsChanged(what))

    async def stop(self) -> None:
        for module in self.modules.values():
            await module.stop()


class StubRuntime:
    """``Runtime``'s shape: ``start()``, ``loop``, ``api``, ``events``, ``stop()``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.events = EventBus()
        self.loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._services: StubServices | None = None
        self._buffer = LogBuffer(self.events)

    @property
    def services(self) -> StubServices:
        assert self._services is not None
        return self._services

    @property
    def api(self) -> CoreApi:
        return self.services.api

    def start(self) -> None:
        logging.getLogger("quicksilver").addHandler(self._buffer)
        logging.getLogger("quicksilver").setLevel(logging.INFO)
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self._services = StubServices(self.data_dir, self.events, self._buffer)
            self.loop.call_soon(ready.set_result, None)
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, name="stub-core", daemon=True)
        self._thread.start()
        ready.result(10)

    def run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self._thread is None:
            return
        self.run(self.services.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self._thread = None
        self.loop.close()
        logging.getLogger("quicksilver").removeHandler(self._buffer)
