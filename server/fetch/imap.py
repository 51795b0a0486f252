"""A small asynchronous IMAP client (RFC 3501/9051) for the collector.

Why our own: ``aioimaplib`` (the maintained asyncio client) hands back
responses as raw line lists that the caller must parse anyway, and its
timeouts and literal limits are not ours to set; ``imaplib`` blocks. The
collector needs a handful of commands: CAPABILITY, STARTTLS, AUTHENTICATE
PLAIN or LOGIN, SELECT (UIDVALIDITY), UID SEARCH, UID FETCH (RFC822.SIZE,
BODY.PEEK[]), UID STORE \\Deleted, UID EXPUNGE/EXPUNGE, IDLE (RFC 2177),
LOGOUT.

Responses are read whole (a line and the literals it announces); a literal
above the caller's limit, a line above ``connect.READ_LIMIT`` or a silence
longer than the timeout is a ``FetchError`` and the connection is dropped.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from dataclasses import dataclass, field

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
_SECRET = re.compile(r"^(\S+ (?:LOGIN \S+|AUTHENTICATE PLAIN))\s.*$", re.IGNORECASE)
_LITERAL = re.compile(rb"\{(\d{1,10})\+?\}\r?\n$")
_CODE = re.compile(rb"\[([A-Z-]+)(?: ([^\]]*))?\]", re.IGNORECASE)
MAX_SMALL_LITERAL = 64 * 1024  # a literal in anything but a message body
MAX_UIDS = 200_000  # UIDs taken from one SEARCH answer
# bytes of untagged answers one command may bring (a message body's command
# is allowed its own size on top): a server cannot make us hold more
MAX_ANSWER_BYTES = 32 * 1024 * 1024


@dataclass
class Response:
    """One untagged or tagged response: its text with literals cut out and
    the literals in order."""

    line: bytes
    literals: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class Selected:
    uidvalidity: int
    exists: int


def _quote(text: str) -> str:
    if any(c in text for c in '\r\n"\\') or not text:
        raise ValueError("not quotable")
    return f'"{text}"'


def _parse_fetch(resp: Response) -> dict[str, int | bytes]:
    """UID, RFC822.SIZE and BODY[] of ``* n FETCH (...)``."""
    out: dict[str, int | bytes] = {}
    text = resp.line
    m = re.search(rb"\bUID (\d+)", text)
    if m:
        out["UID"] = int(m.group(1))
    m = re.search(rb"\bRFC822\.SIZE (\d+)", text)
    if m:
        out["SIZE"] = int(m.group(1))
    if re.search(rb"\bBODY\[\] \{\d+\}", text) and resp.literals:
        # the literal of BODY[] (the only literal we ask for)
        out["BODY"] = resp.literals[0]
    return out


class ImapClient:
    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.caps: set[str] = set()
        self.tls = False
        self.tag = 0
        self.transcript: list[str] = []

    # -- the wire ---------------------------------------------------------------
    async def _read_line(self, timeout: float | None = None) -> bytes:
        assert self.reader is not None
        return await read_line(
            self.reader, timeout or self.ep.timeout, "The IMAP server"
        )

    async def _read(self, limit: int, timeout: float | None = None) -> Response:
        assert self.reader is not None
        line = await self._read_line(timeout)
        resp = Response(b"")
        parts = [line]
        while (m := _LITERAL.search(line)) is not None:
            size = int(m.group(1))
            if size > limit:
                raise FetchError("The IMAP server sent more than was asked for.")
            try:
                data = await asyncio.wait_for(
                    self.reader.readexactly(size), self.ep.timeout
                )
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                raise FetchError("The connection broke in a message.") from None
            except TimeoutError:
                raise FetchError("The IMAP server stopped answering.") from None
            resp.literals.append(data)
            line = await self._read_line()
            parts.append(line)
        resp.line = b"".join(parts)
        if log.isEnabledFor(logging.DEBUG):
            first = parts[0][:200].decode("utf-8", "replace").rstrip()
            log.debug("[%s] S: %s", self.ep.host, first)
        return resp

    async def _send(self, data: str, secret: bool = False) -> None:
        assert self.writer is not None
        if log.isEnabledFor(logging.DEBUG):
            shown = "****" if secret else _SECRET.sub(r"\1 ****", data)
            log.debug("[%s] C: %s", self.ep.host, shown)
        await send_line(self.writer, data, self.ep.timeout)

    async def run(
        self,
        command: str,
        what: str,
        *,
        limit: int = MAX_SMALL_LITERAL,
        auth: bool = False,
    ) -> list[Response]:
        """Send ``command``; the untagged responses until its tagged OK."""
        self.tag += 1
        tag = f"Q{self.tag}"
        await self._send(f"{tag} {command}")
        got: list[Response] = []
        budget = MAX_ANSWER_BYTES + (limit if limit > MAX_SMALL_LITERAL else 0)
        while True:
            resp = await self._read(limit)
            budget -= len(resp.line) + sum(len(x) for x in resp.literals)
            if budget < 0:
                raise FetchError(f"{what}: the server sent far more than asked for.")
            if resp.line.startswith(tag.encode() + b" "):
                status = resp.line[len(tag) + 1 :].split(b" ", 1)[0].upper()
                if status == b"OK":
                    self._note_caps(resp.line)
                    return got
                text = resp.line.decode("utf-8", "replace").strip()[len(tag) + 1 :]
                self.transcript.append(f"{what}: {text[:200]}")
                raise FetchError(f"{what} refused: {text[:200]}", auth=auth)
            if resp.line.startswith(b"+"):
                raise FetchError(f"{what}: the server asked for more.")
            got.append(resp)
            self._note_caps(resp.line)
            if len(got) > MAX_UIDS:
                raise FetchError(f"{what}: too many answers.")

    def _note_caps(self, line: bytes) -> None:
        m = _CODE.search(line)
        if m and m.group(1).upper() == b"CAPABILITY" and m.group(2):
            self.caps = set(m.group(2).decode("ascii", "replace").upper().split())
        elif line.upper().startswith(b"* CAPABILITY "):
            self.caps = set(line[13:].decode("ascii", "replace").upper().split())

    # -- session ---------------------------------------------------------------
    async def connect(self) -> None:
        self.reader, self.writer = await open_stream(self.ep)
        self.tls = self.ep.security == "implicit"
        greeting = (await self._read(MAX_SMALL_LITERAL)).line
        self.transcript.append(greeting.decode("utf-8", "replace").strip()[:200])
        if not greeting.upper().startswith((b"* OK", b"* PREAUTH")):
            raise FetchError(
                "The IMAP server refused the connection: "
                + greeting.decode("utf-8", "replace").strip()[:200]
            )
        self._note_caps(greeting)
        if not self.caps:
            await self.run("CAPABILITY", "CAPABILITY")
        if self.ep.security == "starttls":
            await self.starttls()

    async def starttls(self, *, unchecked: bool = False) -> None:
        if "STARTTLS" not in self.caps:
            raise FetchError("The IMAP server does not offer STARTTLS.")
        await self.run("STARTTLS", "STARTTLS")
        assert self.writer is not None
        await upgrade(self.writer, self.ep, unchecked=unchecked)
        self.tls = True
        self.transcript.append("TLS started")
        self.caps = set()
        await self.run("CAPABILITY", "CAPABILITY")  # RFC 3501 6.2.1

    def fingerprint(self) -> str:
        return fingerprint_of(self.writer) if self.writer is not None else ""

    async def login(self, user: str, password: str) -> str:
        if "AUTH=PLAIN" in self.caps:
            token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            if "SASL-IR" in self.caps:
                await self.run(f"AUTHENTICATE PLAIN {token}", "The login", auth=True)
            else:
                self.tag += 1
                tag = f"Q{self.tag}"
                await self._send(f"{tag} AUTHENTICATE PLAIN")
                line = await self._read_line()
                if not line.startswith(b"+"):
                    raise FetchError("AUTHENTICATE PLAIN refused.", auth=True)
                await self._send(token, True)
                resp = await self._read(MAX_SMALL_LITERAL)
                while not resp.line.startswith(tag.encode()):
                    resp = await self._read(MAX_SMALL_LITERAL)
                if resp.line[len(tag) + 1 :].split(b" ", 1)[0].upper() != b"OK":
                    text = resp.line.decode("utf-8", "replace").strip()
                    raise FetchError(f"The login refused: {text[:200]}", auth=True)
                self._note_caps(resp.line)
            method = "AUTHENTICATE PLAIN"
        elif "LOGINDISABLED" in self.caps:
            raise FetchError("The IMAP server does not allow a login here (no TLS?).")
        else:
            try:
                command = f"LOGIN {_quote(user)} {_quote(password)}"
            except ValueError:
                raise FetchError(
                    "The user name or password has characters LOGIN cannot send.",
                    auth=True,
                ) from None
            await self.run(command, "The login", auth=True)
            method = "LOGIN"
        if not any(c.startswith("IMAP4") for c in self.caps):
            await self.run("CAPABILITY", "CAPABILITY")
        return method

    async def select(self, folder: str) -> Selected:
        try:
            name = _quote(folder)
        except ValueError:
            raise FetchError("The folder name cannot be sent.") from None
        answers = await self.run(f"SELECT {name}", f"Opening folder {folder}")
        uidvalidity, exists = 0, 0
        for resp in answers:
            m = _CODE.search(resp.line)
            if m and m.group(1).upper() == b"UIDVALIDITY" and m.group(2):
                uidvalidity = int(m.group(2).split()[0])
            m2 = re.match(rb"\* (\d+) EXISTS", resp.line)
            if m2:
                exists = int(m2.group(1))
        return Selected(uidvalidity, exists)

    async def uids(self) -> list[int]:
        found: list[int] = []
        for resp in await self.run("UID SEARCH ALL", "UID SEARCH"):
            if resp.line.upper().startswith(b"* SEARCH"):
                for word in resp.line[8:].split():
                    if word.isdigit() and len(found) < MAX_UIDS:
                        found.append(int(word))
        return sorted(found)

    async def sizes(self, uids: list[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for start in range(0, len(uids), 500):
            chunk = ",".join(str(u) for u in uids[start : start + 500])
            for resp in await self.run(f"UID FETCH {chunk} (RFC822.SIZE)", "FETCH"):
                got = _parse_fetch(resp)
                uid, size = got.get("UID"), got.get("SIZE")
                if isinstance(uid, int) and isinstance(size, int):
                    out[uid] = size
        return out

    async def body(self, uid: int, limit: int) -> bytes:
        for resp in await self.run(
            f"UID FETCH {uid} (UID BODY.PEEK[])", "FETCH", limit=limit
        ):
            got = _parse_fetch(resp)
            if got.get("UID") == uid and isinstance(got.get("BODY"), bytes):
                body = got["BODY"]
                assert isinstance(body, bytes)
                return body
        raise FetchError(f"The server did not send message UID {uid}.")

    async def delete(self, uids: list[int]) -> None:
        """Mark ``uids`` \\Deleted and expunge them (only them with UIDPLUS)."""
        if not uids:
            return
        chunk = ",".join(str(u) for u in uids)
        await self.run(f"UID STORE {chunk} +FLAGS.SILENT (\\Deleted)", "STORE")
        if "UIDPLUS" in self.caps:
            await self.run(f"UID EXPUNGE {chunk}", "UID EXPUNGE")
        else:
            await self.run("EXPUNGE", "EXPUNGE")

    async def idle(self, seconds: float) -> bool:
        """IDLE (RFC 2177) until the server reports new mail or ``seconds``
        pass; True when something arrived."""
        self.tag += 1
        tag = f"Q{self.tag}"
        await self._send(f"{tag} IDLE")
        first = await self._read_line()
        if not first.startswith(b"+"):
            raise FetchError("IDLE refused.")
        arrived = False
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while True:
            left = end - loop.time()
            if left <= 0:
                break
            try:
                assert self.reader is not None
                line = await asyncio.wait_for(self.reader.readline(), left)
            except TimeoutError:
                break
            except (ValueError, ConnectionError, OSError):
                raise FetchError("The connection broke while waiting.") from None
            if not line:
                raise FetchError("The IMAP server closed the connection.")
            if re.match(rb"\* \d+ (EXISTS|RECENT)", line):
                arrived = True
                break
        await self._send("DONE")
        while True:
            resp = await self._read(MAX_SMALL_LITERAL)
            if resp.line.startswith(tag.encode() + b" "):
                return arrived
            if re.match(rb"\* \d+ EXISTS", resp.line):
                arrived = True

    async def logout(self) -> None:
        try:
            await self.run("LOGOUT", "LOGOUT")
        finally:
            self.close()

    def close(self) -> None:
        if self.writer is not None:
            close(self.writer)
            self.writer = None
