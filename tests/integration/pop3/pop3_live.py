"""Helpers for the POP3 integration tests (server wrapper, TLS, client runner).

Everything listens on 127.0.0.1 port 0 (plain+STLS and implicit TLS). The TLS
certificate is self-signed and made here with ``cryptography``. The module runs
on the test's event loop, so clients run in threads (``poplib``) or as
asyncio subprocesses (``mpop``, ``fetchmail``, ``curl``): never block the loop.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from server.protocols.pop3.module import Pop3Module
from server.storage.maildir import MaildirStore
from server.tls import generate_self_signed

USER = "bob@example.org"
PASSWORD = "s3cret pw"  # a space: clients must send it verbatim


@dataclass(frozen=True)
class _User:
    address: str


class TinyAuth:
    def __init__(self, users: dict[str, str], domain: str = "example.org") -> None:
        self.users = users
        self.domain = domain
        self.logins: list[str] = []

    async def authenticate(
        self, username: str, password: str, *, peer: str, protocol: str
    ) -> _User | None:
        name = username.lower()
        address = name if "@" in name else f"{name}@{self.domain}"
        if self.users.get(address) == password:
            self.logins.append(address)
            return _User(address)
        return None

    def is_banned(self, peer_ip: str) -> bool:
        return False


class StaticTls:
    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.ctx = ctx

    def server_context(self) -> ssl.SSLContext | None:
        return self.ctx


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A fresh self-signed certificate for localhost and 127.0.0.1."""
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    generate_self_signed("localhost", cert_path, key_path)
    return cert_path, key_path


@dataclass
class Pop3Server:
    module: Pop3Module
    store: MaildirStore
    auth: TinyAuth
    tmp: Path
    cert: Path
    delivered: list[bytes] = field(default_factory=list)

    def port(self, security: str = "starttls") -> int:
        for ep in self.module.endpoints():
            if ep.security == security:
                return ep.port
        raise LookupError(security)

    @property
    def plain_port(self) -> int:
        return self.port("starttls")

    @property
    def tls_port(self) -> int:
        return self.port("implicit")

    async def deliver(self, message: bytes) -> None:
        await self.store.deliver(USER, message)
        self.delivered.append(message)

    async def inbox(self) -> list[bytes]:
        infos = await self.store.list_messages(USER, "INBOX")
        return [await self.store.read_message(USER, "INBOX", i.uid) for i in infos]


SAMPLES: list[bytes] = [
    b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: plain\r\n"
    b"Message-ID: <1@example.org>\r\n\r\nHello Bob.\r\n",
    b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: dots\r\n"
    b"Message-ID: <2@example.org>\r\n\r\n.leading dot\r\n.\r\n..\r\nend\r\n",
    b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: big\r\n"
    b"Message-ID: <3@example.org>\r\n\r\n"
    + b"".join(b"line %05d " % i + b"x" * 60 + b"\r\n" for i in range(3000)),
]


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed on this machine")
    return path


async def run(
    *argv: str,
    timeout: float = 30,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> tuple[int, bytes, bytes]:
    """Run a client without blocking the loop the server runs on."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE
        if stdin is not None
        else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out, err
