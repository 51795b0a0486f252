"""POP3 RETR throughput: one poplib client downloads a 2,000-message mailbox.

Run: /work/venv/bin/python tests/bench/pop3_retr.py [messages] (default 2000)

Builds a MaildirStore mailbox of mixed sizes (mostly small, some large, like
real mail) in a temporary directory, starts ``Pop3Module`` on 127.0.0.1 port 0
in its own thread and event loop (as the runtime does), and runs the client in
a separate process (as a real mail client would be) that logs in and RETRs
every message. Prints MB/s and messages/s, then the rate of reading the same
files straight from disk in Python (``Path.read_bytes``), and the ratio.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from server.config.schema import Pop3Settings, Settings  # noqa: E402
from server.events import EventBus  # noqa: E402
from server.modules.base import ModuleContext  # noqa: E402
from server.protocols.pop3.module import Pop3Module  # noqa: E402
from server.storage.maildir import MaildirStore  # noqa: E402

OWNER = "bench@example.org"
PASSWORD = "bench-pw"

RAW_CLIENT = r"""
import json, socket, sys, time
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
f.readline()
s.sendall(f"USER {user}\r\nPASS {password}\r\nSTAT\r\n".encode())
f.readline(); f.readline()
count = int(f.readline().split()[1])
octets = 0
t = time.perf_counter()
for n in range(1, count + 1):
    s.sendall(b"RETR %d\r\n" % n)
    size = int(f.readline().split()[1])
    buf = bytearray()
    while not buf.endswith(b"\r\n.\r\n"):
        buf += f.read1(1 << 20)
    octets += size
dt = time.perf_counter() - t
s.sendall(b"QUIT\r\n"); f.readline(); s.close()
print(json.dumps({"count": count, "octets": octets, "seconds": dt}))
"""

CLIENT = r"""
import json, poplib, sys, time
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pop = poplib.POP3("127.0.0.1", port, timeout=60)
pop.user(user); pop.pass_(password)
count, _ = pop.stat()
octets = 0
t = time.perf_counter()
for n in range(1, count + 1):
    _resp, lines, size = pop.retr(n)
    octets += sum(len(x) + 2 for x in lines)
dt = time.perf_counter() - t
pop.quit()
print(json.dumps({"count": count, "octets": octets, "seconds": dt}))
"""


@dataclass(frozen=True)
class _User:
    address: str


class _Auth:
    async def authenticate(
        self, username: str, password: str, *, peer: str, protocol: str
    ) -> _User | None:
        return _User(OWNER) if password == PASSWORD else None

    def is_banned(self, peer_ip: str) -> bool:
        return False


class _NoTls:
    def server_context(self) -> ssl.SSLContext | None:
        return None


def _size(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.70:
        return rng.randint(1_000, 8_000)  # plain text mail
    if r < 0.95:
        return rng.randint(8_000, 100_000)  # HTML, small attachments
    return rng.randint(100_000, 2_000_000)  # attachments


def _message(i: int, size: int) -> bytes:
    head = (
        f"From: sender{i}@example.org\nTo: {OWNER}\nSubject: bench {i}\n"
        f"Message-ID: <{i}@bench>\n\n"
    ).encode()
    line = b"The quick brown fox jumps over the lazy dog 0123456789 abcdefghij\n"
    body = line * (max(size - len(head), 0) // len(line) + 1)
    body = body.replace(b"\nThe quick", b"\n.The quick", 1)  # one stuffed line
    return head + body[: max(size - len(head), 1)].rstrip(b"\n") + b"\n"


def build_mailbox(root: Path, count: int) -> list[Path]:
    """Write the files as another program would (Maildir new/ and cur/)."""
    rng = random.Random(1939)
    udir = root / "example.org" / "bench"
    paths = []
    for i in range(count):
        data = _message(i, _size(rng))
        crlf = len(data) + data.count(b"\n")
        name = f"{1700000000 + i}.M{i}P1Q{i}.bench,S={len(data)},W={crlf}"
        sub, info = ("cur", ":2,S") if i % 3 else ("new", "")
        path = udir / sub / (name + info)
        path.write_bytes(data)
        paths.append(path)
    return paths


class ServerThread:
    def __init__(self, store: MaildirStore) -> None:
        self.loop = asyncio.new_event_loop()
        ctx = ModuleContext(
            events=EventBus(),
            settings=lambda: Settings(
                pop3=Pop3Settings(bind="127.0.0.1", port=0, tls_port=0)
            ),
            accounts=None,
            store=store,
            delivery=None,
            tls=_NoTls(),
            auth=_Auth(),
        )
        self.module = Pop3Module(ctx)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> int:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.module.start(), self.loop).result(10)
        return self.module.endpoints()[0].port

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.module.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _client(code: str, port: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", code, str(port), OWNER, PASSWORD],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def main(count: int) -> None:
    logging.getLogger("quicksilver").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "mail"
        store = MaildirStore(root, hostname="bench")
        asyncio.run(store.ensure_user(OWNER))
        t = time.perf_counter()
        paths = build_mailbox(root, count)
        disk_bytes = sum(p.stat().st_size for p in paths)
        print(
            f"mailbox: {count} messages, {disk_bytes / 1e6:.1f} MB on disk "
            f"(built in {time.perf_counter() - t:.1f}s)"
        )
        server = ServerThread(store)
        port = server.start()
        try:
            res = _client(CLIENT, port)
            raw = _client(RAW_CLIENT, port)
        finally:
            server.stop()
        assert res["count"] == raw["count"] == count, (res, raw)
        pop_mbs = res["octets"] / 1e6 / res["seconds"]
        pop_mps = count / res["seconds"]
        print(
            f"POP3 RETR (poplib, one connection): {res['octets'] / 1e6:.1f} MB in "
            f"{res['seconds']:.2f}s = {pop_mbs:.1f} MB/s, {pop_mps:.0f} messages/s"
        )
        raw_mbs = raw["octets"] / 1e6 / raw["seconds"]
        print(
            f"POP3 RETR (raw socket client, same server): {raw['seconds']:.2f}s = "
            f"{raw_mbs:.1f} MB/s, {count / raw['seconds']:.0f} messages/s"
        )
        # the same files read straight from disk (warm page cache, like above)
        t = time.perf_counter()
        total = 0
        for p in sorted(root.glob("example.org/bench/*/*")):
            if p.is_file() and ".bench," in p.name:
                total += len(p.read_bytes())
        dt = time.perf_counter() - t
        disk_mbs, disk_mps = total / 1e6 / dt, count / dt
        print(
            f"direct read (Path.read_bytes): {total / 1e6:.1f} MB in {dt:.2f}s = "
            f"{disk_mbs:.1f} MB/s, {disk_mps:.0f} messages/s"
        )
        print(
            f"ratio POP3/disk: {pop_mbs / disk_mbs:.3f} (MB/s), "
            f"{pop_mps / disk_mps:.3f} (messages/s)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
