"""A running ``Pop3Module`` over a real ``MaildirStore`` for real POP3 clients.

Everything listens on 127.0.0.1 port 0 (plain+STLS and implicit TLS). The TLS
certificate is self-signed and made with ``cryptography``. The module runs on
the test's event loop, so clients run in threads (``poplib``) or as asyncio
subprocesses (``mpop``, ``fetchmail``, ``curl``): never block the loop.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.config.schema import Pop3Settings, Settings
from server.events import EventBus
from server.modules.base import ModuleContext
from server.protocols.pop3.module import Pop3Module
from server.storage.maildir import MaildirStore
from tests.integration.pop3.pop3_live import (
    PASSWORD,
    USER,
    Pop3Server,
    StaticTls,
    TinyAuth,
    self_signed,
)


@pytest.fixture
async def pop3_server(tmp_path: Path) -> AsyncIterator[Pop3Server]:
    cert, key = self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    store = MaildirStore(tmp_path / "mail", "test.host")
    await store.ensure_user(USER)
    auth = TinyAuth({USER: PASSWORD})
    ctx = ModuleContext(
        events=EventBus(),
        settings=lambda: Settings(
            pop3=Pop3Settings(bind="127.0.0.1", port=0, tls_port=0)
        ),
        accounts=None,
        store=store,
        delivery=None,
        tls=StaticTls(tls),
        auth=auth,
    )
    module = Pop3Module(ctx, login_delay=0.05)
    await module.start()
    server = Pop3Server(module, store, auth, tmp_path, cert)
    try:
        yield server
    finally:
        await module.stop()
