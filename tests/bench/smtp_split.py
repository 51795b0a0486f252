"""SMTP's protocol work in a worker process, the rest in the core: measured.

Issue 12 suggests moving protocol work to worker processes to use a second
core. smtp_processes.py measures the ceiling of that (whole servers sharing
nothing); this measures the split a real design would have: a worker
process runs the SMTP sessions (aiosmtpd with Quicksilver's own session
class: command loop, replies, DATA read in bulk), and forwards each
EHLO/HELO, MAIL, RCPT and DATA to the core over one Unix socket, where the
SMTP module's real handler and the real delivery (Maildir, group commit)
answer it. Requests and replies are framed (length + marshal) and written
once per loop turn, so a busy channel carries many in one system call.
Connection admission, STARTTLS, AUTH and the Sessions view are left out:
a real design would pay for those too, so this is the split's best case.

In the same run, alternating: the same load on the core's own SMTP port
(one process, as Quicksilver runs). For each round: msg/s, the core loop's
and the worker's CPU per message, and how many of the machine's cores were
busy (from /proc/stat). The last line is the ratio split / one process.

    .venv/bin/python tests/bench/smtp_split.py [--seconds 10] [--rounds 3]
                                               [--connections 8]

The load is smtp-source (see smtp_accept.py). Not run by CI. Leave half a
minute between runs (see smtp_accept.py).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import marshal
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.smtp_accept import cpu_seconds, run_load, start  # noqa: E402

FRAME = struct.Struct("!I")


class Channel(asyncio.Protocol):
    """Length-prefixed marshal frames; what is sent in one loop turn goes
    out in one write."""

    def __init__(self, on_frame: Callable[[Any], None]) -> None:
        self.on_frame = on_frame
        self.transport: asyncio.Transport | None = None
        self._in = bytearray()
        self._out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self._in
        buf += data
        pos = 0
        while len(buf) - pos >= FRAME.size:
            (size,) = FRAME.unpack_from(buf, pos)
            end = pos + FRAME.size + size
            if end > len(buf):
                break
            self.on_frame(marshal.loads(bytes(buf[pos + FRAME.size : end])))
            pos = end
        del buf[:pos]

    def send(self, obj: Any) -> None:
        body = marshal.dumps(obj)
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out += (FRAME.pack(len(body)), body)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.transport is not None:
            self.transport.write(b"".join(out))


# -- the worker process ---------------------------------------------------------


def worker(path: str) -> None:
    from server.protocols.smtp.protocol import QuicksilverSMTP

    waiting: dict[int, asyncio.Future[str]] = {}
    ids = itertools.count(1)
    chan = Channel(lambda f: waiting.pop(f[0]).set_result(f[1]))

    async def ask(kind: str, session: int, *args: Any) -> str:
        rid = next(ids)
        waiting[rid] = asyncio.get_running_loop().create_future()
        chan.send((rid, kind, session, args))
        return await waiting[rid]

    class Forward:
        """aiosmtpd hooks that ask the core and keep its answer's state."""

        async def handle_EHLO(
            self, server: Any, session: Any, envelope: Any, name: str, responses: Any
        ) -> Any:
            session.host_name = name
            await ask("helo", id(server), name)
            return responses

        async def handle_MAIL(
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            reply = await ask("mail", id(server), address, options)
            if reply.startswith("250"):
                envelope.mail_from = address
                envelope.mail_options.extend(options)
            return reply

        async def handle_RCPT(
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            reply = await ask("rcpt", id(server), address, options)
            if reply.startswith("250"):
                envelope.rcpt_tos.append(address)
            return reply

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return await ask("data", id(server), envelope.original_content)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_unix_connection(lambda: chan, path)
        forward, log = Forward(), logging.getLogger("bench.worker")
        srv = await loop.create_server(
            lambda: QuicksilverSMTP(
                forward,
                hostname="bench",
                decode_data=False,
                enable_SMTPUTF8=True,
                loop=loop,
                qlog=log,
            ),
            "127.0.0.1",
            0,
        )
        print("PORT", srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the core's side ------------------------------------------------------------


class _Server:
    """What the handler reads of aiosmtpd's SMTP object: no TLS here."""

    _tls_protocol = None
    implicit_tls = False


async def serve_worker(module: Any, path: str) -> asyncio.AbstractServer:
    """Answer the worker's requests with the handler the SMTP ``module``
    gives its sessions."""
    from aiosmtpd.smtp import Envelope, Session

    loop = asyncio.get_running_loop()
    handler = module.listeners()[0].factory().event_handler
    sessions: dict[int, tuple[Session, list[Envelope]]] = {}
    chan: Channel

    async def answer(rid: int, kind: str, sid: int, args: tuple[Any, ...]) -> None:
        if sid not in sessions:
            session = Session(loop)
            session.peer = ("127.0.0.1", 0)
            session.extended_smtp = True
            sessions[sid] = (session, [Envelope()])
        session, env = sessions[sid]
        server = _Server()
        if kind == "helo":
            session.host_name = args[0]
            reply = "250 OK"
        elif kind == "mail":
            env[0] = Envelope()
            reply = await handler.handle_MAIL(server, session, env[0], *args)
        elif kind == "rcpt":
            reply = await handler.handle_RCPT(server, session, env[0], *args)
        else:
            env[0].original_content = args[0]
            reply = await handler.handle_DATA(server, session, env[0])
        chan.send((rid, reply))

    tasks: set[asyncio.Task[None]] = set()

    def on_frame(frame: Any) -> None:
        task = loop.create_task(answer(*frame))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    chan = Channel(on_frame)
    return await loop.create_unix_server(lambda: chan, path)


def busy_cores() -> Callable[[], float]:
    """Start counting; the returned function says how many cores were busy
    (not idle, not waiting for the disk) on average since."""

    def read() -> list[int]:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:9]]

    before = read()

    def since() -> float:
        d = [b - a for a, b in zip(before, read(), strict=True)]
        return (os.cpu_count() or 1) * (1 - (d[3] + d[4]) / max(1, sum(d)))

    return since


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return
    from tests.conftest import start_core

    with tempfile.TemporaryDirectory() as tmp:
        c = start_core(Path(tmp) / "data")
        proc: subprocess.Popen[str] | None = None
        try:
            sock = str(Path(tmp) / "worker.sock")
            c.runtime.run(serve_worker(c.runtime.services.modules["smtp"], sock))
            proc, worker_port = start(
                [sys.executable, __file__, "--worker", sock], r"PORT (\d+)"
            )
            core_port = c.endpoint("smtp")[1]
            tid = c.runtime.run(_loop_thread_id())
            rates: dict[str, list[float]] = {"split": [], "one process": []}
            for port in (worker_port, core_port):  # warm-up
                run_load(port, 1, args.connections, "smtp-source")
            for _ in range(args.rounds):
                for name, port in (("split", worker_port), ("one process", core_port)):
                    busy = busy_cores()
                    loop0, work0 = thread_cpu(tid), cpu_seconds(proc.pid)
                    t0 = time.monotonic()
                    n = run_load(port, args.seconds, args.connections, "smtp-source")
                    rate = n / (time.monotonic() - t0)
                    loop_ms = (thread_cpu(tid) - loop0) * 1000 / n
                    work_ms = (cpu_seconds(proc.pid) - work0) * 1000 / n
                    rates[name].append(rate)
                    print(
                        f"{name:12} {rate:7.0f} msg/s   core loop {loop_ms:.3f} ms/msg"
                        f"   worker {work_ms:.3f} ms/msg   busy cores {busy():.2f}",
                        flush=True,
                    )
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(30)
                if proc.stdout:
                    proc.stdout.close()
            c.runtime.stop()
    ratio = statistics.median(rates["split"]) / statistics.median(rates["one process"])
    print(f"connections: {args.connections}, client: smtp-source")
    print(f"ratio split / one process (median msg/s): {ratio:.2f}")


async def _loop_thread_id() -> int:
    return threading.get_native_id()


def thread_cpu(tid: int) -> float:
    """User + system CPU seconds of thread ``tid`` of this process."""
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
