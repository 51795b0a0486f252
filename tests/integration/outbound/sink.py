"""A scriptable SMTP sink on 127.0.0.1 playing smart host or MX in tests.

Runs its own asyncio loop in a thread (the core has its own), speaks just
enough ESMTP (EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP,
QUIT) and can misbehave on purpose: 4xx for the first N messages, 5xx for
some recipients, drop the connection in the middle of DATA, require AUTH,
or hold the final reply (to kill the client while it waits).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Received:
    mail_from: str
    rcpts: list[str]
    data: bytes
    tls: bool
    auth: str


@dataclass
class Sink:
    tempfail_first: int = 0  # answer 451 to the first N DATA
    reject_rcpts: tuple[str, ...] = ()  # 550 5.1.1 for these
    reject_all: bool = False  # 554 5.7.1 after DATA
    drop_in_data_first: int = 0  # close mid-DATA for the first N messages
    require_auth: tuple[str, str] | None = None  # (user, password)
    tls_context: ssl.SSLContext | None = None  # offer STARTTLS
    hold_reply: float = 0.0  # seconds to wait before the final 250
    greeting_code: int = 220
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[Received] = field(default_factory=list)
    auth_seen: list[tuple[str, str]] = field(default_factory=list)
    in_flight: list[bytes] = field(default_factory=list)  # got "." but no reply
    connections: int = 0
    transactions_per_connection: list[int] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._data_count = 0
        self._lock = threading.Lock()

    # -- life ----------------------------------------------------------------
    def start(self) -> Sink:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        fut.result(5)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, self.host, self.port, limit=2**20
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._server is not None:
                await self._server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()

    def wait_messages(self, n: int, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.messages) >= n:
                return True
            time.sleep(0.02)
        return False

    # -- protocol --------------------------------------------------------------
    async def _client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        txn = 0
        tls = False
        authed = ""
        mail_from: str | None = None
        rcpts: list[str] = []

        async def send(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        try:
            await send(f"{self.greeting_code} sink.test ESMTP test sink")
            if self.greeting_code != 220:
                return
            while True:
                raw = await reader.readline()
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                self.commands.append(verb)
                arg = line[len(verb) :].strip()
                if verb in ("EHLO", "HELO"):
                    exts = ["8BITMIME", "SMTPUTF8", "SIZE 100000000", "PIPELINING"]
                    if self.tls_context is not None and not tls:
                        exts.append("STARTTLS")
                    if self.require_auth:
                        exts.append("AUTH PLAIN LOGIN")
                    lines = ["sink.test", *exts]
                    for i, x in enumerate(lines):
                        await send(f"250{'-' if i < len(lines) - 1 else ' '}{x}")
                    mail_from, rcpts = None, []
                elif verb == "STARTTLS" and self.tls_context is not None and not tls:
                    await send("220 2.0.0 go ahead")
                    await writer.start_tls(self.tls_context)
                    tls = True
                elif verb == "AUTH" and self.require_auth:
                    parts = arg.split()
                    mech = parts[0].upper()
                    if mech == "PLAIN":
                        if len(parts) > 1:
                            blob = parts[1]
                        else:
                            await send("334 ")
                            blob = (await reader.readline()).decode().strip()
                        _, user, pw = base64.b64decode(blob).decode().split("\0")
                    else:
                        if len(parts) > 1:
                            user = base64.b64decode(parts[1]).decode()
                        else:
                            await send("334 VXNlcm5hbWU6")
                            user = base64.b64decode(await reader.readline()).decode()
                        await send("334 UGFzc3dvcmQ6")
                        pw = base64.b64decode(await reader.readline()).decode()
                    self.auth_seen.append((user, pw))
                    if (user, pw) == self.require_auth:
                        authed = user
                        await send("235 2.7.0 ok")
                    else:
                        await send("535 5.7.8 bad credentials")
                elif verb == "MAIL":
                    if self.require_auth and not authed:
                        await send("530 5.7.0 Authentication required")
                        continue
                    mail_from = arg.split(":", 1)[1].split()[0].strip("<>")
                    rcpts = []
                    await send("250 2.1.0 ok")
                elif verb == "RCPT":
                    addr = arg.split(":", 1)[1].split()[0].strip("<>")
                    if mail_from is None:
                        await send("503 5.5.1 MAIL first")
                    elif addr in self.reject_rcpts:
                        await send("550 5.1.1 No such user here")
                    else:
                        rcpts.append(addr)
                        await send("250 2.1.5 ok")
                elif verb == "DATA":
                    if mail_from is None or not rcpts:
                        await send("503 5.5.1 need RCPT")
                        continue
                    await send("354 go ahead")
                    with self._lock:
                        self._data_count += 1
                        n = self._data_count
                    if n <= self.drop_in_data_first:
                        await reader.readline()  # a little of the message, then
                        writer.transport.abort()  # the line goes dead
                        return
                    chunks = []
                    while True:
                        ln = await reader.readline()
                        if not ln:
                            return
                        if ln == b".\r\n":
                            break
                        chunks.append(ln[1:] if ln.startswith(b".") else ln)
                    data = b"".join(chunks)
                    if n <= self.tempfail_first:
                        await send("451 4.3.0 try again later")
                    elif self.reject_all:
                        await send("554 5.7.1 message refused")
                    else:
                        if self.hold_reply:
                            self.in_flight.append(data)
                            await asyncio.sleep(self.hold_reply)
                        self.messages.append(
                            Received(mail_from, list(rcpts), data, tls, authed)
                        )
                        txn += 1
                        await send("250 2.0.0 queued")
                    mail_from, rcpts = None, []
                elif verb == "RSET":
                    mail_from, rcpts = None, []
                    await send("250 2.0.0 ok")
                elif verb == "NOOP":
                    await send("250 2.0.0 ok")
                elif verb == "QUIT":
                    await send("221 2.0.0 bye")
                    return
                else:
                    await send("502 5.5.1 not implemented")
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            return
        finally:
            self.transactions_per_connection.append(txn)
            if not writer.is_closing():
                writer.close()


def main() -> None:
    """Run a plain sink in its own process (the benchmark's remote side): print
    the port, serve until stdin closes, then print how many messages came."""
    import sys

    sink = Sink().start()
    print(sink.port, flush=True)
    sys.stdin.read()
    print(len(sink.messages), flush=True)
    sink.stop()


if __name__ == "__main__":
    main()
