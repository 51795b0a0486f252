"""Content scoring by a running SpamAssassin (spamd) or rspamd, when one is
configured (``smtp.spam_filter``; none by default, nothing else needs one).

Two small clients, each one request per connection:

- ``SpamdClient`` speaks the spamc protocol (SPAMC/1.5, SpamAssassin's
  ``spamd/PROTOCOL``): ``SYMBOLS`` with ``Content-length``, the answer's
  ``Spam: True ; 7.3 / 5.0`` line and the rule names in its body. ``PING``
  answers ``PONG`` (the connection test).
- ``RspamdClient`` speaks rspamd's HTTP protocol: ``POST /checkv2`` with the
  envelope in ``IP``/``Helo``/``From``/``Rcpt`` fields and the message as the
  body; the JSON answer's ``score``, ``required_score`` and symbol names.
  ``GET /ping`` answers ``pong``.

Bounds: a message larger than ``MAX_SCAN_BYTES`` is not scanned (spamc's own
default limit is 500 KB: spam is small, and a big message would only hold the
SMTP client); the whole exchange has ``TIMEOUT`` seconds; an answer is read up
to ``MAX_ANSWER_BYTES``; at most ``MAX_SYMBOLS`` rule names are kept. A
scanner that is down, slow or answers nonsense gives no score (``None``):
mail is never refused or delayed because the scanner is unavailable. The
failure is logged once until the scanner answers again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from server.errors import ValidationError

log = logging.getLogger("quicksilver.smtp")

KINDS = ("", "spamd", "rspamd")
DEFAULT_PORTS = {"spamd": 783, "rspamd": 11333}
MAX_SCAN_BYTES = 512 * 1024
MAX_ANSWER_BYTES = 256 * 1024
MAX_SYMBOLS = 50
TIMEOUT = 15.0
PING_TIMEOUT = 5.0

_SPAM_LINE = re.compile(
    rb"^Spam:\s*(True|False|Yes|No)\s*;\s*(-?\d+(?:\.\d+)?)\s*/\s*(-?\d+(?:\.\d+)?)",
    re.IGNORECASE | re.MULTILINE,
)
_SYMBOL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Score:
    score: float
    required: float  # the scanner's own threshold, shown in X-Spam-Status
    symbols: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScanRequest:
    message: bytes
    ip: str
    helo: str
    sender: str
    recipients: Sequence[str]


class ScannerUnavailable(Exception):
    """The scanner could not be reached or gave no usable answer (a plain
    description, safe to show the administrator)."""


class Scanner(Protocol):
    kind: str

    async def score(self, request: ScanRequest) -> Score | None:
        """The message's score, or None when it was not scanned."""

    async def ping(self) -> str:
        """A short description of the scanner that answered; raises
        ``ScannerUnavailable`` saying why it did not."""


def _symbols(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(n for n in names if _SYMBOL.match(n))[:MAX_SYMBOLS]


class _Client:
    kind = ""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port or DEFAULT_PORTS[self.kind]
        self._failing = False

    async def _exchange(self, request: bytes, timeout: float) -> bytes:
        async def run() -> bytes:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                writer.write(request)
                await writer.drain()
                if self.kind == "spamd" and hasattr(writer, "write_eof"):
                    writer.write_eof()  # spamd reads to the end of the body
                answer = await reader.read(MAX_ANSWER_BYTES + 1)
                chunks = [answer]
                total = len(answer)
                while answer and total <= MAX_ANSWER_BYTES:
                    answer = await reader.read(MAX_ANSWER_BYTES + 1 - total)
                    chunks.append(answer)
                    total += len(answer)
                if total > MAX_ANSWER_BYTES:
                    raise ScannerUnavailable("the answer is too long")
                return b"".join(chunks)
            finally:
                writer.close()

        try:
            return await asyncio.wait_for(run(), timeout)
        except TimeoutError:
            raise ScannerUnavailable(
                f"no answer from {self.host}:{self.port} within {timeout:.0f} s"
            ) from None
        except OSError as exc:
            raise ScannerUnavailable(
                f"cannot connect to {self.host}:{self.port} ({exc.strerror or exc})"
            ) from None

    async def score(self, request: ScanRequest) -> Score | None:
        if len(request.message) > MAX_SCAN_BYTES:
            return None
        try:
            result = self._parse(await self._exchange(self._request(request), TIMEOUT))
        except ScannerUnavailable as exc:
            if not self._failing:
                self._failing = True
                log.warning("%s: mail is not scored: %s", self.kind, exc)
            return None
        if self._failing:
            self._failing = False
            log.info("%s answers again", self.kind)
        return result

    def _request(self, request: ScanRequest) -> bytes:
        raise NotImplementedError

    def _parse(self, answer: bytes) -> Score:
        raise NotImplementedError


class SpamdClient(_Client):
    kind = "spamd"

    def _request(self, request: ScanRequest) -> bytes:
        head = (
            f"SYMBOLS SPAMC/1.5\r\nContent-length: {len(request.message)}\r\n\r\n"
        ).encode("ascii")
        return head + request.message

    def _parse(self, answer: bytes) -> Score:
        first, _, rest = answer.partition(b"\r\n")
        if not first.startswith(b"SPAMD/") or b" 0 " not in first + b" ":
            raise ScannerUnavailable(
                "spamd refused the request: " + first[:80].decode("ascii", "replace")
            )
        head, _, body = rest.partition(b"\r\n\r\n")
        m = _SPAM_LINE.search(head)
        if m is None:
            raise ScannerUnavailable("spamd gave no score")
        names = body.decode("ascii", "replace").strip().split(",")
        return Score(float(m.group(2)), float(m.group(3)), _symbols(names))

    async def ping(self) -> str:
        answer = await self._exchange(b"PING SPAMC/1.5\r\n\r\n", PING_TIMEOUT)
        first = answer.partition(b"\r\n")[0].decode("ascii", "replace")
        if not first.startswith("SPAMD/") or "PONG" not in first:
            raise ScannerUnavailable(
                f"{self.host}:{self.port} is not spamd (it said {first[:60]!r})"
            )
        return f"spamd at {self.host}:{self.port} answers ({first.split()[0]})"


class RspamdClient(_Client):
    kind = "rspamd"

    def _request(self, request: ScanRequest) -> bytes:
        def clean(value: str) -> str:
            return "".join(c for c in value if " " < c <= "~")[:255]

        fields = [
            "POST /checkv2 HTTP/1.0",
            f"Host: {clean(self.host)}",
            f"Content-Length: {len(request.message)}",
            "Pass: none",
        ]
        if request.ip:
            fields.append(f"IP: {clean(request.ip)}")
        if request.helo:
            fields.append(f"Helo: {clean(request.helo)}")
        fields.append(f"From: <{clean(request.sender)}>")
        fields.extend(f"Rcpt: <{clean(r)}>" for r in request.recipients[:100])
        head = "\r\n".join(fields) + "\r\n\r\n"
        return head.encode("ascii", "replace") + request.message

    def _parse(self, answer: bytes) -> Score:
        status, body = _http_answer(answer)
        if status != 200:
            raise ScannerUnavailable(f"rspamd answered HTTP {status}")
        try:
            data = json.loads(body)
            score = float(data["score"])
            required = float(data.get("required_score", 0.0))
            symbols = data.get("symbols", {})
        except (ValueError, KeyError, TypeError) as exc:
            raise ScannerUnavailable(f"rspamd's answer is not usable ({exc})") from None
        names = sorted(symbols) if isinstance(symbols, dict) else []
        return Score(score, required, _symbols([str(n) for n in names]))

    async def ping(self) -> str:
        answer = await self._exchange(
            f"GET /ping HTTP/1.0\r\nHost: {self.host}\r\n\r\n".encode("ascii"),
            PING_TIMEOUT,
        )
        status, body = _http_answer(answer)
        if status != 200 or not body.strip().lower().startswith(b"pong"):
            raise ScannerUnavailable(
                f"{self.host}:{self.port} is not rspamd (HTTP {status})"
            )
        return f"rspamd at {self.host}:{self.port} answers"


def _http_answer(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ScannerUnavailable("the answer is not HTTP")
    return int(parts[1]), body


def make_scanner(kind: str, host: str, port: int) -> Scanner | None:
    if kind == "spamd":
        return SpamdClient(host, port)
    if kind == "rspamd":
        return RspamdClient(host, port)
    return None


async def connection_test(kind: str, host: str, port: int) -> tuple[bool, str]:
    """The connection test of the configured scanner, for the window and the
    shell alike: (answered, a sentence saying what happened)."""
    scanner = make_scanner(kind, host, port)
    if scanner is None:
        raise ValidationError(
            "No spam filter is set (smtp.spam_filter: spamd or rspamd)."
        )
    try:
        return True, await scanner.ping()
    except ScannerUnavailable as exc:
        return False, f"The {kind} scanner does not answer: {exc}"
