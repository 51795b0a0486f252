"""Fuzzing ``QuicksilverSMTP`` over a real loopback socket with hypothesis.

Random and mutated command lines must never make the server send a traceback
or an exception class name, never log an internal error, never kill it: after
every example a fresh client still gets its 220 and a 250 to NOOP.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.config.schema import Settings, SmtpSettings
from server.delivery.base import Accepted
from server.events import EventBus
from server.modules.base import ModuleContext
from server.protocols.smtp.module import SmtpModule

LEAK = re.compile(
    rb"Traceback|File \"|\b[A-Z][A-Za-z]+(Error|Exception)\b|0x[0-9a-f]{6,}"
)
VALID = [
    b"EHLO client.test",
    b"HELO client.test",
    b"MAIL FROM:<a@client.test>",
    b"MAIL FROM:<a@client.test> SIZE=100 BODY=8BITMIME SMTPUTF8",
    b"RCPT TO:<alice@example.test>",
    b"RCPT TO:<x@elsewhere.test>",
    b"DATA",
    b"RSET",
    b"NOOP",
    b"VRFY alice",
    b"EXPN list",
    b"HELP",
    b"STARTTLS",
    b"AUTH PLAIN AGEAYg==",
    b"BDAT 10 LAST",
    b"MAIL FROM:<>",
    b".",
    b"Subject: x",
    b"",
    b"QUIT",
]


class _Accounts:
    def is_local_domain(self, d: str) -> bool:
        return d.lower() == "example.test"

    def resolve(self, a: str) -> list[str] | None:
        return [a] if a.lower() == "alice@example.test" else None

    def get_user(self, a: str) -> None:
        return None

    def canonical_recipient(self, a: str) -> str:
        return a


class _Delivery:
    async def accept(self, env: Any, message: bytes) -> Accepted:
        return Accepted("fuzz1", local_delivered=tuple(env.recipients))


class _Auth:
    async def authenticate(self, *a: Any, **k: Any) -> None:
        return None

    def is_banned(self, ip: str) -> bool:
        return False


class _Tls:
    def server_context(self) -> None:
        return None


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Server:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        s = Settings(smtp=SmtpSettings(bind="127.0.0.1", port=0, timeout=2))
        ctx = ModuleContext(
            events=EventBus(),
            settings=lambda: s,
            accounts=_Accounts(),
            store=None,
            delivery=_Delivery(),
            tls=_Tls(),
            auth=_Auth(),
        )
        self.module = SmtpModule(ctx)
        self._call(self.module.start())
        self.port = self.module.endpoints()[0].port

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self) -> None:
        self._call(self.module.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    errors = _Errors()
    for name in ("quicksilver.smtp", "mail.log"):
        logging.getLogger(name).addHandler(errors)
    srv = Server()
    srv.errors = errors  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        srv.close()
        for name in ("quicksilver.smtp", "mail.log"):
            logging.getLogger(name).removeHandler(errors)


def _talk(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.settimeout(3)
        got = bytearray(s.recv(4096))
        # leave DATA if we are in it, then QUIT; read until the server hangs up
        s.sendall(payload + b"\r\n.\r\nQUIT\r\n")
        try:
            while chunk := s.recv(65536):
                got += chunk
        except (TimeoutError, ConnectionError):
            pass
        return bytes(got)


def _alive(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"220 ")
        s.sendall(b"NOOP\r\n")
        assert f.readline().startswith(b"250 ")
        f.close()


def _mutated(data: st.DataObject) -> bytes:
    line = bytearray(data.draw(st.sampled_from(VALID)))
    for _ in range(data.draw(st.integers(0, 4))):
        pos = data.draw(st.integers(0, len(line)))
        line[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    return bytes(line)


_line = st.one_of(
    st.sampled_from(VALID),
    st.binary(max_size=120),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(990, 1100).map(lambda n: b"MAIL FROM:<" + b"a" * n + b">"),
)

FUZZ = settings(
    max_examples=60,
    deadline=timedelta(seconds=4),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _check(server: Server, replies: bytes) -> None:
    assert not LEAK.search(replies), replies[-600:]
    for line in replies.split(b"\r\n"):
        if line[:1] in (b"4", b"5") and len(line) >= 3:
            assert line[:3].isdigit(), line
    errs = server.errors.records  # type: ignore[attr-defined]
    assert not errs, [r.getMessage() for r in errs]
    _alive(server.port)


@FUZZ
@given(st.lists(_line, min_size=1, max_size=10))
def test_smtp_random_command_lines_never_leak_or_kill_the_server(
    server: Server, lines: list[bytes]
) -> None:
    _check(server, _talk(server.port, b"\r\n".join(lines)))


@FUZZ
@given(st.data())
def test_smtp_mutated_command_lines_never_leak_or_kill_the_server(
    server: Server, data: st.DataObject
) -> None:
    lines = [_mutated(data) for _ in range(data.draw(st.integers(1, 8)))]
    _check(server, _talk(server.port, b"\r\n".join(lines)))


def test_smtp_sessions_are_all_released_after_the_fuzzing(server: Server) -> None:
    import time

    deadline = time.monotonic() + 3
    while server.module.status(True).sessions and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.module.status(True).sessions == 0
