"""A small asynchronous POP3 client (RFC 1939, CAPA RFC 2449, STLS RFC
2595, AUTH RFC 5034) for the collector.

Why our own: the standard library's ``poplib`` blocks (a thread per
account, and no clean cancel on shutdown), and no maintained asyncio POP3
client exists on PyPI (aiopop3 was last released in 2017). POP3 is a handful
of commands; this is the part the collector needs: login (AUTH PLAIN, AUTH
LOGIN, APOP, USER/PASS), UIDL, LIST, RETR with a size limit, DELE, QUIT.

Every read has the account's timeout; a line is at most
``connect.READ_LIMIT`` bytes; a message read is cut off (and the
connection dropped) past its limit. Passwords never reach a log or an error
text.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re

from server.fetch.connect import (
    Endpoint,
    FetchError,
    close,
    fingerprint_of,
    open_stream,
    read_line,
    send_line,
    upgrade,
)

log = logging.getLogger("quicksilver.fetch")  # DEBUG: the session log
_SECRET = re.compile(r"^(PASS|APOP \S+|AUTH PLAIN)\s.*$", re.IGNORECASE)
_TIMESTAMP = re.compile(rb"<[^<>\s]{1,200}@[^<>\s]{1,200}>")
MAX_LISTING = 100_000  # UIDL/LIST lines read from one mailbox


class Pop3Client:
    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.greeting = b""
        self.caps: set[str] = set()
        self.sasl: set[str] = set()
        self.tls = False
        self.transcript: list[str] = []  # what the server said, for "test"

    # -- the wire -------------------------------------------------------------
    async def _line(self) -> bytes:
        assert self.reader is not None
        return await read_line(self.reader, self.ep.timeout, "The POP3 server")

    async def _send(self, command: str, secret: bool = False) -> None:
        assert self.writer is not None
        if log.isEnabledFor(logging.DEBUG):
            shown = "****" if secret else _SECRET.sub(r"\1 ****", command)
            log.debug("[%s] C: %s", self.ep.host, shown)
        await send_line(self.writer, command, self.ep.timeout)

    async def _status(self, what: str, *, auth: bool = False) -> bytes:
        line = await self._line()
        log.debug(
            "[%s] S: %s", self.ep.host, line[:200].decode("utf-8", "replace").rstrip()
        )
        if line.startswith(b"+OK"):
            return line
        text = line.decode("utf-8", "replace").strip()
        self.transcript.append(f"{what}: {text[:200]}")
        raise FetchError(f"{what} refused: {text[:200]}", auth=auth)

    async def command(self, command: str, what: str, *, auth: bool = False) -> bytes:
        await self._send(command)
        return await self._status(what, auth=auth)

    async def _multiline(self, limit: int) -> bytes:
        """The body of a multi-line answer, dot-unstuffed; FetchError past
        ``limit`` bytes (the connection is unusable then: caller closes)."""
        parts: list[bytes] = []
        size = 0
        while True:
            line = await self._line()
            if line in (b".\r\n", b".\n"):
                return b"".join(parts)
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size > limit:
                raise FetchError("The message is larger than announced.")
            parts.append(line)

    # -- session --------------------------------------------------------------
    async def connect(self) -> None:
        self.reader, self.writer = await open_stream(self.ep)
        self.tls = self.ep.security == "implicit"
        self.greeting = await self._status("The greeting")
        self.transcript.append(self.greeting.decode("utf-8", "replace").strip()[:200])
        await self.capa()
        if self.ep.security == "starttls":
            await self.stls()

    async def capa(self) -> None:
        await self._send("CAPA")
        line = await self._line()
        if not line.startswith(b"+OK"):
            self.caps, self.sasl = set(), set()
            return
        body = await self._multiline(64 * 1024)
        self.caps = set()
        for raw in body.splitlines()[:200]:
            words = raw.decode("ascii", "replace").split()
            if not words:
                continue
            self.caps.add(words[0].upper())
            if words[0].upper() == "SASL":
                self.sasl = {w.upper() for w in words[1:]}

    async def stls(self, *, unchecked: bool = False) -> None:
        if "STLS" not in self.caps:
            raise FetchError("The POP3 server does not offer STLS (STARTTLS).")
        await self.command("STLS", "STLS")
        assert self.writer is not None
        await upgrade(self.writer, self.ep, unchecked=unchecked)
        self.tls = True
        self.transcript.append("TLS started")
        await self.capa()  # RFC 2595 4: ask again after the upgrade

    def fingerprint(self) -> str:
        return fingerprint_of(self.writer) if self.writer is not None else ""

    async def login(self, user: str, password: str) -> str:
        """Log in the safest way offered; the method used."""
        timestamp = _TIMESTAMP.search(self.greeting)
        if not self.tls and timestamp is not None:
            digest = hashlib.md5(timestamp.group(0) + password.encode()).hexdigest()
            await self.command(f"APOP {user} {digest}", "APOP login", auth=True)
            return "APOP"
        if "PLAIN" in self.sasl:
            token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            await self.command(f"AUTH PLAIN {token}", "AUTH PLAIN login", auth=True)
            return "AUTH PLAIN"
        if "LOGIN" in self.sasl:
            await self._send("AUTH LOGIN")
            for value in (user, password):
                line = await self._line()
                if not line.startswith(b"+ "):
                    raise FetchError("AUTH LOGIN refused.", auth=True)
                await self._send(base64.b64encode(value.encode()).decode(), True)
            await self._status("AUTH LOGIN login", auth=True)
            return "AUTH LOGIN"
        if timestamp is not None:
            digest = hashlib.md5(timestamp.group(0) + password.encode()).hexdigest()
            await self.command(f"APOP {user} {digest}", "APOP login", auth=True)
            return "APOP"
        await self.command(f"USER {user}", "USER", auth=True)
        await self.command(f"PASS {password}", "The login", auth=True)
        return "USER/PASS"

    async def uidl(self) -> list[tuple[int, str]]:
        """(message number, unique id) of every message."""
        await self.command("UIDL", "UIDL")
        out: list[tuple[int, str]] = []
        for raw in (await self._multiline(64 * MAX_LISTING)).splitlines():
            parts = raw.decode("ascii", "replace").split()
            if len(parts) >= 2 and parts[0].isdigit() and len(out) < MAX_LISTING:
                out.append((int(parts[0]), parts[1][:70]))
        return out

    async def sizes(self) -> dict[int, int]:
        await self.command("LIST", "LIST")
        out: dict[int, int] = {}
        for raw in (await self._multiline(32 * MAX_LISTING)).splitlines():
            parts = raw.split()
            if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
                out[int(parts[0])] = int(parts[1])
        return out

    async def retr(self, number: int, limit: int) -> bytes:
        await self.command(f"RETR {number}", "RETR")
        return await self._multiline(limit)

    async def dele(self, number: int) -> None:
        await self.command(f"DELE {number}", "DELE")

    async def quit(self) -> None:
        """QUIT: the server commits the deletions (RFC 1939 6)."""
        await self.command("QUIT", "QUIT")
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            close(self.writer)
            self.writer = None
