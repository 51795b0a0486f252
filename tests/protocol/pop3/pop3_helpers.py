"""Helpers for POP3 transcript tests (imported by conftest and the tests)."""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from server.protocols.pop3.session import Pop3Session
from server.protocols.session_io import Reply
from server.tls import generate_self_signed

BOB = "bob@example.org"
ALICE = "alice@example.org"


@dataclass(frozen=True)
class FakeUser:
    address: str


class FakeAuth:
    """Full address or bare local part (one domain), like the real AccountStore."""

    def __init__(self, users: dict[str, str], domain: str = "example.org") -> None:
        self.users = users
        self.domain = domain
        self.banned: set[str] = set()
        self.calls: list[tuple[str, str, str]] = []
        self.fail_with: BaseException | None = None

    async def authenticate(
        self, username: str, password: str, *, peer: str, protocol: str
    ) -> FakeUser | None:
        self.calls.append((username, peer, protocol))
        if self.fail_with is not None:
            raise self.fail_with
        name = username.lower()
        address = name if "@" in name else f"{name}@{self.domain}"
        if self.users.get(address) == password:
            return FakeUser(address)
        return None

    def is_banned(self, peer_ip: str) -> bool:
        return peer_ip in self.banned


def _pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in expected.split("*")))


async def play(session: Pop3Session, script: str) -> list[Reply]:
    """Run a transcript; assert every server line; return the replies."""
    steps: list[tuple[str, list[str]]] = []
    for raw in script.strip("\n").splitlines():
        line = raw.strip()
        if not line:
            continue
        tag, _, text = line.partition(":")
        text = text.removeprefix(" ")
        if tag == "C":
            steps.append((text, []))
        elif tag == "S":
            assert steps, "a transcript starts with a client line"
            steps[-1][1].append(text)
        else:
            raise ValueError(f"bad transcript line {raw!r}")
    replies = []
    for client, expected in steps:
        reply = await session.handle_line(client.encode() + b"\r\n")
        replies.append(reply)
        got = reply.data.decode("utf-8", "replace").split("\r\n")
        assert got[-1] == "", f"reply to {client!r} does not end in CRLF: {got!r}"
        got = got[:-1]
        assert len(got) == len(expected), f"{client!r}: {got!r} != {expected!r}"
        for g, e in zip(got, expected, strict=True):
            assert _pattern(e).fullmatch(g), f"{client!r}: {g!r} !~ {e!r}"
    return replies


def msg(subject: str, body: str = "Hello\r\n") -> bytes:
    return (
        f"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: {subject}\r\n"
        f"\r\n{body}"
    ).encode()


def make_tls_context(directory: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    cert, key = write_self_signed(directory)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def write_self_signed(directory: Path) -> tuple[Path, Path]:
    """A fresh self-signed certificate for localhost and 127.0.0.1."""
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    generate_self_signed("localhost", cert_path, key_path)
    return cert_path, key_path


class StaticTls:
    def __init__(self, ctx: ssl.SSLContext | None) -> None:
        self.ctx = ctx

    def server_context(self) -> ssl.SSLContext | None:
        return self.ctx


def client_tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Client:
    """A line-oriented test client; ``close_all`` runs at each test's end."""

    opened: list[Client] = []

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        Client.opened.append(self)

    @classmethod
    async def close_all(cls) -> None:
        while cls.opened:
            c = cls.opened.pop()
            c.writer.close()
            try:
                await asyncio.wait_for(c.writer.wait_closed(), 2)
            except (TimeoutError, OSError, ssl.SSLError):
                pass

    @classmethod
    async def connect(cls, port: int, ssl_ctx: ssl.SSLContext | None = None) -> Client:
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_ctx)
        return cls(r, w)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line(self) -> bytes:
        return await asyncio.wait_for(self.reader.readline(), 5)

    async def multiline(self) -> list[bytes]:
        first = await self.line()
        assert first.startswith(b"+OK"), first
        lines = [first]
        while True:
            ln = await self.line()
            lines.append(ln)
            if ln == b".\r\n" or not ln:
                return lines

    async def eof(self) -> bytes:
        return await asyncio.wait_for(self.reader.read(), 5)

    def close(self) -> None:
        self.writer.close()
