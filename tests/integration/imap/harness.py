"""A private IMAP server for tests: ``ImapModule`` on 127.0.0.1 port 0 with a
``MemoryStore`` (or ``MaildirStore``), a tiny authenticator and a self-signed
certificate, running on its own loop in a thread so that blocking clients
(imaplib, curl, mbsync) and raw-socket transcripts can talk to it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import re
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.config.schema import GeneralSettings, ImapSettings, Settings
from server.events import EventBus
from server.modules.base import ModuleContext
from server.protocols.imap.module import ImapModule

T = TypeVar("T")
DOMAIN = "example.test"
USERS = {"alice@example.test": "alice-pw", "bob@example.test": "bob-pw"}


def make_cert(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass(frozen=True)
class FakeUser:
    address: str


class FakeAuth:
    def __init__(self) -> None:
        self.attempts = 0

    async def authenticate(
        self, username: str, password: str, *, peer: str, protocol: str
    ) -> FakeUser | None:
        self.attempts += 1
        name = username.lower()
        if "@" not in name:
            name = f"{name}@{DOMAIN}"
        if USERS.get(name) == password:
            return FakeUser(name)
        return None

    def is_banned(self, peer_ip: str) -> bool:
        return False


class FakeTls:
    def __init__(self, cert: Path, key: Path) -> None:
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert, key)

    def server_context(self) -> ssl.SSLContext | None:
        return self.ctx


class ImapTestServer:
    def __init__(self, tmp: Path, store_kind: str = "memory", **imap: Any) -> None:
        self.tmp = tmp
        self.cert, self.key = make_cert(tmp)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.settings = Settings(
            general=GeneralSettings(
                domain=DOMAIN, hostname="mail.example.test", max_message_size=1 << 20
            ),
            imap=ImapSettings(bind="127.0.0.1", port=0, tls_port=0, **imap),
        )
        self.store_kind = store_kind
        self.store: Any = None
        self.module: ImapModule | None = None
        self.auth = FakeAuth()

    def set_imap(self, **changes: Any) -> None:
        self.settings = dataclasses.replace(
            self.settings, imap=dataclasses.replace(self.settings.imap, **changes)
        )

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrap() -> T:
            return fn()

        return self.run(wrap())

    def start(self) -> ImapTestServer:
        self.thread.start()

        async def build() -> None:
            if self.store_kind == "maildir":
                from server.storage.maildir import MaildirStore

                self.store = MaildirStore(self.tmp / "mail", "mail.example.test")
            else:
                from server.storage.memory import MemoryStore

                self.store = MemoryStore()
            for user in USERS:
                await self.store.ensure_user(user)
            ctx = ModuleContext(
                events=EventBus(),
                settings=lambda: self.settings,
                accounts=None,
                store=self.store,
                delivery=None,
                tls=FakeTls(self.cert, self.key),
                auth=self.auth,
            )
            self.module = ImapModule(ctx)
            self.module.configure(self.settings)
            await self.module.start()

        self.run(build())
        return self

    @property
    def port(self) -> int:
        assert self.module is not None
        return next(e.port for e in self.module.endpoints() if e.security != "implicit")

    @property
    def tls_port(self) -> int:
        assert self.module is not None
        return next(e.port for e in self.module.endpoints() if e.security == "implicit")

    def deliver(self, owner: str, message: bytes, **kw: Any) -> Any:
        return self.run(self.store.deliver(owner, message, **kw))

    def stop(self) -> None:
        if self.module is not None:
            self.run(self.module.stop())

        async def drain() -> None:
            await asyncio.sleep(0.05)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(drain())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def message(
    subject: str = "Hello", body: str = "Hi there.\r\n", **headers: str
) -> bytes:
    lines = [
        "From: Bob <bob@example.test>",
        "To: alice@example.test",
        f"Subject: {subject}",
        "Date: Mon, 7 Feb 1994 21:52:25 -0800",
        "Message-ID: <" + re.sub(r"\W", "", subject) + "@example.test>",
    ] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


class Client:
    """A raw-socket IMAP client for transcript tests."""

    def __init__(self, port: int, tls: bool = False, timeout: float = 10) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock)
        self.sock = sock
        self.buf = b""
        self.greeting = self.readline()

    def starttls(self) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def readline(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line + b"\r\n"

    def read_response_line(self) -> bytes:
        """One response line with its literals folded in."""
        line = self.readline()
        while (m := re.search(rb"\{(\d+)\}\r\n$", line)) is not None:
            n = int(m.group(1))
            while len(self.buf) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError
                self.buf += chunk
            line += self.buf[:n]
            self.buf = self.buf[n:]
            line += self.readline()
        return line

    def command(self, tag: str, text: str | bytes) -> list[bytes]:
        """Send ``tag text`` and collect the lines up to the tagged response."""
        raw = text.encode() if isinstance(text, str) else text
        self.send(tag.encode() + b" " + raw + b"\r\n")
        return self.until(tag)

    def until(self, tag: str) -> list[bytes]:
        out = []
        while True:
            line = self.read_response_line()
            out.append(line)
            if line.startswith(tag.encode() + b" "):
                return out

    def login(self, user: str = "alice@example.test", pw: str = "alice-pw") -> None:
        resp = self.command("L0", f'LOGIN "{user}" "{pw}"')
        assert resp[-1].startswith(b"L0 OK"), resp

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


@contextlib.contextmanager
def logged_in_clients(
    server: ImapTestServer, *, select: str | None = None
) -> Iterator[Callable[[], Client]]:
    """A maker of logged-in clients of ``server`` (each with ``select``
    selected, if given), all closed when the block ends."""
    made: list[Client] = []

    def make() -> Client:
        c = Client(server.port)
        made.append(c)
        c.login()
        if select is not None:
            c.command("s", f"SELECT {select}")
        return c

    try:
        yield make
    finally:
        for c in made:
            c.close()
