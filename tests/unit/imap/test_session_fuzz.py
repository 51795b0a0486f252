"""The session never lets an exception escape and always answers a command,
whatever bytes arrive (hypothesis), using an in-memory connection."""

from __future__ import annotations

import asyncio
import ssl

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.config.schema import GeneralSettings, ImapSettings, Settings
from server.protocols.imap.cache import MetaCache
from server.protocols.imap.selected import RecentRegistry
from server.protocols.imap.session import ConnectionClosed, Services, Session
from server.storage.memory import MemoryStore
from tests.integration.imap.harness import FakeAuth, message


class FakeConn:
    peer = "127.0.0.1:1"
    peer_ip = "127.0.0.1"
    tls_active = False

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.out = bytearray()

    def write(self, data: bytes) -> None:
        self.out += data

    async def drain(self) -> None:
        return None

    async def readline(self, limit: int, timeout: float | None) -> bytes:
        from server.protocols.imap.session import LineTooLong

        idx = self.data.find(b"\n")
        if idx < 0:
            if len(self.data) > limit:
                raise LineTooLong
            raise ConnectionClosed
        if idx + 1 > limit:
            raise LineTooLong
        line = bytes(self.data[: idx + 1])
        del self.data[: idx + 1]
        return line

    async def readexactly(self, n: int, timeout: float | None) -> bytes:
        if len(self.data) < n:
            raise ConnectionClosed
        out = bytes(self.data[:n])
        del self.data[:n]
        return out

    async def discard(self, n: int, timeout: float | None) -> None:
        await self.readexactly(n, timeout)

    async def start_tls(
        self, context: ssl.SSLContext, handshake_timeout: float = 30.0
    ) -> None:
        raise ConnectionClosed

    def close(self) -> None:
        pass


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
    conn = FakeConn(data)
    session = Session(conn, sv)  # type: ignore[arg-type]
    await asyncio.wait_for(session.run(), 10)
    return bytes(conn.out)


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
