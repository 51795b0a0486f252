"""The IMAP session without a socket: whole commands in, responses out through
a plain writer, and the steps it asks of the connection (steps.py)."""

from __future__ import annotations

import base64
import ssl

from server.config.schema import GeneralSettings, ImapSettings, Settings
from server.protocols.imap import command as c
from server.protocols.imap import parser
from server.protocols.imap.cache import MetaCache
from server.protocols.imap.handlers import HANDLERS
from server.protocols.imap.selected import RecentRegistry
from server.protocols.imap.session import Services, Session, State
from server.protocols.imap.steps import Idling, ReadLine, StartTls
from server.storage.memory import MemoryStore
from tests.integration.imap.harness import FakeAuth, message

ALICE = "alice@example.test"


class Out:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None

    def take(self) -> list[bytes]:
        lines = [line + b"\r\n" for line in bytes(self.data).split(b"\r\n")[:-1]]
        self.data.clear()
        return lines


async def session(tls: ssl.SSLContext | None = None) -> tuple[Session, Out]:
    store = MemoryStore()
    await store.ensure_user(ALICE)
    await store.deliver(ALICE, message("x"))
    settings = Settings(general=GeneralSettings(), imap=ImapSettings())
    sv = Services(
        store=store,
        auth=FakeAuth(),
        settings=lambda: settings,
        tls_context=lambda: tls,
        cache=MetaCache(),
        recent=RecentRegistry(),
    )
    out = Out()
    return Session(out, sv, peer="127.0.0.1:1", peer_ip="127.0.0.1"), out


def _concrete(cls: type[c.Command]) -> set[type[c.Command]]:
    out = set()
    for sub in cls.__subclasses__():
        if sub.name:
            out.add(sub)
        out |= _concrete(sub)
    return out


def test_every_command_has_one_parser_and_one_handler() -> None:
    commands = _concrete(c.Command)
    assert set(HANDLERS) == commands
    assert {cls.name for cls in commands} == set(parser._PARSERS)


async def test_state_is_checked_by_command_class() -> None:
    s, out = await session()
    assert await s.handle(b"a FETCH 1 FLAGS\r\n") is None
    assert out.take() == [b"a BAD FETCH is not allowed now\r\n"]
    await s.handle(b"b LOGIN alice@example.test alice-pw\r\n")
    assert out.take()[-1].startswith(b"b OK [CAPABILITY IMAP4rev1")
    assert s.state is State.AUTH
    await s.handle(b"c LOGIN alice@example.test alice-pw\r\n")
    await s.handle(b"d CLOSE\r\n")
    assert out.take() == [
        b"c BAD LOGIN is not allowed now\r\n",
        b"d BAD CLOSE is not allowed now\r\n",
    ]
    await s.handle(b"e EXAMINE INBOX\r\n")
    assert out.take()[-1] == b"e OK [READ-ONLY] EXAMINE completed\r\n"
    await s.handle(b"f UID FETCH 1 (FLAGS RFC822.SIZE)\r\n")
    first, last = out.take()
    assert first.startswith(b"* 1 FETCH (UID 1 FLAGS (\\Recent) RFC822.SIZE ")
    assert last == b"f OK FETCH completed\r\n"
    await s.close()
    assert s.state is State.LOGOUT and s.selected is None


async def test_authenticate_asks_the_connection_for_a_line() -> None:
    s, out = await session()
    step = await s.handle(b"a AUTHENTICATE PLAIN\r\n")
    assert isinstance(step, ReadLine)
    assert out.take() == [b"+ \r\n"]
    response = base64.b64encode(b"\0alice@example.test\0alice-pw") + b"\r\n"
    assert await s.resume(step, response) is None
    assert out.take()[-1].startswith(b"a OK [CAPABILITY")
    assert s.user == ALICE


async def test_starttls_and_idle_are_steps() -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    s, out = await session(tls=ctx)
    step = await s.handle(b"a STARTTLS\r\n")
    assert step == StartTls(ctx)
    assert out.take() == [b"a OK Begin TLS negotiation now\r\n"]
    s.tls_started()
    await s.handle(b"b CAPABILITY\r\n")
    assert b"STARTTLS" not in out.take()[0]
    await s.handle(b"c LOGIN alice@example.test alice-pw\r\n")
    await s.handle(b"d SELECT INBOX\r\n")
    out.take()
    step = await s.handle(b"e IDLE\r\n")
    assert isinstance(step, Idling)
    assert out.take() == [b"+ idling\r\n"]
    assert await s.idle_update(step.cmd, keepalive=True)
    assert out.take() == [b"* OK Still here\r\n"]
    await s.idle_done(step.cmd, b"DONE\r\n")
    assert out.take() == [b"e OK IDLE terminated\r\n"]
