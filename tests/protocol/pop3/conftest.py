"""Fixtures for POP3 transcript tests: a store, a fake authenticator, a session.

Transcripts are written as the conversation reads (``C:`` client line, ``S:``
server line; ``*`` in an ``S:`` line matches anything).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from server.config.schema import Pop3Settings, Settings
from server.events import Event, EventBus
from server.modules.base import ModuleContext
from server.protocols.pop3.module import Pop3Module
from server.protocols.pop3.session import MaildropLocks, Pop3Session
from server.storage.memory import MemoryStore
from tests.protocol.pop3.pop3_helpers import (
    ALICE,
    BOB,
    Client,
    FakeAuth,
    StaticTls,
    make_tls_context,
)

SessionFactory = Callable[..., Awaitable[Pop3Session]]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def auth() -> FakeAuth:
    return FakeAuth({BOB: "secret", ALICE: "wonderland"})


@pytest.fixture
def locks() -> MaildropLocks:
    return MaildropLocks()


@pytest.fixture
def make_session(
    store: MemoryStore, auth: FakeAuth, locks: MaildropLocks
) -> SessionFactory:
    async def factory(**kw: Any) -> Pop3Session:
        await store.ensure_user(BOB)
        await store.ensure_user(ALICE)
        options: dict[str, Any] = {
            "peer": "127.0.0.1:5000",
            "peer_ip": "127.0.0.1",
            "login_delay": 0,
            "tls_available": True,
        }
        options.update(kw)
        return Pop3Session(
            options.pop("store", store), auth, options.pop("locks", locks), **options
        )

    return factory


@dataclass
class Wire:
    """A running ``Pop3Module`` on 127.0.0.1 port 0 with a MemoryStore."""

    module: Pop3Module
    store: MemoryStore
    auth: FakeAuth
    events: list[Event]

    def port(self, security: str = "starttls") -> int:
        for ep in self.module.endpoints():
            if ep.security == security:
                return ep.port
        raise LookupError(security)


WireFactory = Callable[..., Awaitable[Wire]]


@pytest.fixture
async def start_wire(
    tmp_path: Path, store: MemoryStore, auth: FakeAuth
) -> AsyncIterator[WireFactory]:
    started: list[Pop3Module] = []
    tls_ctx = make_tls_context(tmp_path)

    async def factory(*, tls: bool = True, **kw: Any) -> Wire:
        await store.ensure_user(BOB)
        await store.ensure_user(ALICE)
        events: list[Event] = []
        bus = EventBus()
        bus.subscribe(events.append)
        pop3 = Pop3Settings(bind="127.0.0.1", port=0, tls_port=0)
        ctx = ModuleContext(
            events=bus,
            settings=lambda: Settings(pop3=pop3),
            accounts=None,
            store=store,
            delivery=None,
            tls=StaticTls(tls_ctx if tls else None),
            auth=auth,
        )
        kw.setdefault("login_delay", 0)
        module = Pop3Module(ctx, **kw)
        await module.start()
        started.append(module)
        return Wire(module, store, auth, events)

    yield factory
    for module in started:
        await module.stop()


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    await Client.close_all()
