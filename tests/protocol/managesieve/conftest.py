"""Fixtures for ManageSieve transcripts: a running ``ManageSieveModule`` on
127.0.0.1 port 0 with a real ``ScriptStore`` in a temporary folder, the POP3
tests' fake authenticator and a fresh self-signed certificate, and an async
raw-socket client that reads whole responses (literals folded in)."""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from server.config.schema import ManageSieveSettings, Settings
from server.events import Event, EventBus
from server.modules.base import ModuleContext
from server.protocols.managesieve.module import ManageSieveModule
from server.sieve.store import ScriptStore
from tests.protocol.pop3.pop3_helpers import (
    ALICE,
    BOB,
    FakeAuth,
    StaticTls,
    make_tls_context,
)

_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")
_FINAL = (b"OK", b"NO", b"BYE")


class MsClient:
    """A ManageSieve client over a raw socket; ``close_all`` at each test end."""

    opened: list[MsClient] = []

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        MsClient.opened.append(self)

    @classmethod
    async def connect(cls, port: int) -> MsClient:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w)

    @classmethod
    async def close_all(cls) -> None:
        while cls.opened:
            c = cls.opened.pop()
            c.writer.close()
            try:
                await asyncio.wait_for(c.writer.wait_closed(), 2)
            except (TimeoutError, OSError, ssl.SSLError):
                pass

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line(self) -> bytes:
        """One response line with any literal it announces folded in."""
        line = await asyncio.wait_for(self.reader.readline(), 5)
        m = _LITERAL.search(line)
        if m is not None:
            n = int(m.group(1))
            body = await asyncio.wait_for(self.reader.readexactly(n), 5)
            line += body + await asyncio.wait_for(self.reader.readline(), 5)
        return line

    async def response(self) -> list[bytes]:
        """Lines up to and including the final OK / NO / BYE."""
        out = []
        while True:
            ln = await self.line()
            if not ln:
                raise EOFError(out)
            out.append(ln)
            if ln.split(b" ", 1)[0].rstrip(b"\r\n") in _FINAL:
                return out

    async def command(self, text: str | bytes) -> list[bytes]:
        raw = text.encode() if isinstance(text, str) else text
        await self.send(raw + b"\r\n")
        return await self.response()

    async def starttls(self, ctx: ssl.SSLContext) -> list[bytes]:
        """STARTTLS, the handshake, then the capabilities sent again."""
        assert (await self.command("STARTTLS"))[-1].startswith(b"OK")
        await self.writer.start_tls(ctx, server_hostname="localhost")
        return await self.response()

    async def eof(self) -> bytes:
        return await asyncio.wait_for(self.reader.read(), 5)


@dataclass
class Wire:
    module: ManageSieveModule
    scripts: ScriptStore
    auth: FakeAuth
    events: list[Event]
    root: Path

    @property
    def port(self) -> int:
        return self.module.endpoints()[0].port

    async def client(self) -> MsClient:
        c = await MsClient.connect(self.port)
        greeting = await c.response()
        assert greeting[-1].startswith(b"OK"), greeting
        return c

    async def login(self, user: str = BOB, password: str = "secret") -> MsClient:
        import base64

        c = await self.client()
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        r = await c.command(f'AUTHENTICATE "PLAIN" "{token}"')
        assert r == [b'OK "Logged in."\r\n'], r
        return c

    def user_dir(self, user: str = BOB) -> Path:
        return self.scripts.user_dir(user)


WireFactory = Callable[..., Awaitable[Wire]]


@pytest.fixture
async def start_wire(tmp_path: Path) -> AsyncIterator[WireFactory]:
    started: list[ManageSieveModule] = []
    tls_ctx = make_tls_context(tmp_path)

    async def factory(
        *,
        tls: bool = True,
        plaintext_login: str = "loopback",
        store: dict[str, int] | None = None,
        **kw: Any,
    ) -> Wire:
        events: list[Event] = []
        bus = EventBus()
        bus.subscribe(events.append)
        cfg = ManageSieveSettings(
            enabled=True, bind="127.0.0.1", port=0, plaintext_login=plaintext_login
        )
        scripts = ScriptStore(tmp_path / "sieve", **(store or {}))
        auth = FakeAuth({BOB: "secret", ALICE: "wonderland"})
        ctx = ModuleContext(
            events=bus,
            settings=lambda: Settings(managesieve=cfg),
            accounts=None,
            store=None,
            delivery=None,
            tls=StaticTls(tls_ctx if tls else None),
            auth=auth,
            scripts=scripts,
        )
        kw.setdefault("login_delay", 0)
        module = ManageSieveModule(ctx, **kw)
        await module.start()
        started.append(module)
        return Wire(module, scripts, auth, events, tmp_path / "sieve")

    yield factory
    for module in started:
        await module.stop()


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    await MsClient.close_all()
