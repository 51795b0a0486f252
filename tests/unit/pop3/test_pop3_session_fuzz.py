"""Property: whatever lines a client sends, the session answers and never raises."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from server.protocols.pop3.session import MaildropLocks, Pop3Session, State
from server.storage.memory import MemoryStore

OWNER = "bob@example.org"


@dataclass(frozen=True)
class _User:
    address: str


class _Auth:
    async def authenticate(
        self, username: str, password: str, *, peer: str, protocol: str
    ) -> _User | None:
        return _User(OWNER) if password == "pw" else None

    def is_banned(self, peer_ip: str) -> bool:
        return False


_lines = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"USER bob",
            b"PASS pw",
            b"STAT",
            b"LIST",
            b"LIST 1",
            b"RETR 1",
            b"RETR 2",
            b"DELE 1",
            b"RSET",
            b"TOP 1 0",
            b"TOP 2 5",
            b"UIDL",
            b"UIDL 2",
            b"NOOP",
            b"CAPA",
            b"STLS",
            b"AUTH PLAIN",
            b"AUTH LOGIN",
            b"*",
            b"AGJvYgBwdw==",
            b"AUTH PLAIN AGJvYgBwdw==",
            b"QUIT",
            b"RETR 0",
            b"LIST 99999999999",
        ]
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_lines, max_size=25))
def test_session_survives_any_input(lines: list[bytes]) -> None:
    async def scenario() -> None:
        store = MemoryStore()
        await store.ensure_user(OWNER)
        await store.deliver(OWNER, b"Subject: a\r\n\r\n.dot\r\n")
        await store.deliver(OWNER, b"Subject: b\r\n\r\nbody\r\n")
        s = Pop3Session(
            store, _Auth(), MaildropLocks(), peer_ip="127.0.0.1", login_delay=0
        )
        for line in lines:
            reply = await s.handle_line(line + b"\r\n")
            if reply.close:
                assert s.state in (State.CLOSED, State.AUTHORIZATION, State.TRANSACTION)
                break
            assert reply.data.endswith(b"\r\n")
            assert reply.data[:1] in (b"+", b"-")
            assert b"Traceback" not in reply.data
        s.close()
        # nothing is deleted unless QUIT was answered in TRANSACTION
        if b"QUIT" not in lines:
            assert len(await store.list_messages(OWNER, "INBOX")) == 2

    asyncio.run(scenario())
