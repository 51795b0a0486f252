"""The session never lets an exception escape and always answers a command,
whatever bytes arrive (hypothesis): the real conversation loop and reader,
over an in-memory transport."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.config.schema import GeneralSettings, ImapSettings, Settings
from server.protocols.imap.cache import MetaCache
from server.protocols.imap.connection import converse
from server.protocols.imap.selected import RecentRegistry
from server.protocols.imap.session import Services, Session
from server.protocols.linereader import LineReader
from server.storage.memory import MemoryStore
from tests.integration.imap.harness import FakeAuth, message


class Transport(asyncio.Transport):
    """Collects what the server writes; the client's bytes are fed to the
    reader directly (data_received, then eof_received)."""

    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out += data

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


async def run_session(data: bytes) -> bytes:
    store = MemoryStore()
    await store.ensure_user("alice@example.test")
    await store.deliver("alice@example.test", message("x"))
    settings_obj = Settings(
        general=GeneralSettings(max_message_size=4096), imap=ImapSettings()
    )
    sv = Services(
        store=store,
        auth=FakeAuth(),
        settings=lambda: settings_obj,
        tls_context=lambda: None,
        cache=MetaCache(),
        recent=RecentRegistry(),
    )
    reader = LineReader()
    transport = Transport()
    reader.connection_made(transport)
    reader.data_received(data)
    reader.eof_received()
    session = Session(reader, sv, peer="127.0.0.1:1", peer_ip="127.0.0.1")
    await asyncio.wait_for(converse(reader, session), 10)
    return bytes(transport.out)


PRELUDE = b"a LOGIN alice@example.test alice-pw\r\nb SELECT INBOX\r\n"
COMMANDS = [
    b"FETCH 1 (BODY[1.MIME] ENVELOPE BODYSTRUCTURE)",
    b"UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From)]<0.5>)",
    b"SEARCH OR FROM x (NOT SEEN) 1:*",
    b"STORE 1 +FLAGS (\\Seen)",
    b'LIST "" "*"',
    b"APPEND INBOX {3+}\r\nabc",
    b"UID MOVE 1 Trash",
    b"EXPUNGE",
    b"STATUS INBOX (MESSAGES)",
    b'CREATE "x/y"',
    b"RENAME x z",
    b"IDLE\r\nDONE",
]


def _tagged_ok(out: bytes) -> bool:
    return b"a OK" in out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(COMMANDS), st.integers(0, 60), st.binary(max_size=4)),
        max_size=8,
    )
)
def test_mutated_sessions(cmds: list[tuple[bytes, int, bytes]]) -> None:
    data = bytearray(PRELUDE)
    for i, (cmd, pos, junk) in enumerate(cmds):
        pos = min(pos, len(cmd))
        data += b"t%d " % i + cmd[:pos] + junk + cmd[pos:] + b"\r\n"
    out = asyncio.run(run_session(bytes(data)))
    assert _tagged_ok(out)
    assert b"SERVERBUG" not in out, out


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_after_login(junk: bytes) -> None:
    out = asyncio.run(run_session(PRELUDE + junk + b"\r\nz NOOP\r\n"))
    assert b"SERVERBUG" not in out, out
    assert out.startswith(b"* OK")


def test_all_commands_answered() -> None:
    data = PRELUDE + b"".join(b"t%d " % i + c + b"\r\n" for i, c in enumerate(COMMANDS))
    out = asyncio.run(run_session(data))
    for i in range(len(COMMANDS)):
        assert b"\r\nt%d OK" % i in out, (i, out[-500:])
