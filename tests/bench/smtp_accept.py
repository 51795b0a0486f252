"""Benchmark: durable accept-and-deliver rate of the smtp module.

8 concurrent SMTP connections send 4 KB messages to one local user for a fixed
time. Prints messages per second for Quicksilver (each message fsynced into the
user's Maildir before the 250) and, in the same run, for a bare aiosmtpd server
whose handler discards the message, and the ratio. Each server's CPU time
per message (all its threads, from /proc) is printed too, with the ratio of
the two: it moves far less than the rates when the VM's neighbours are busy,
so it is the figure to compare two versions of the code by.

    python tests/bench/smtp_accept.py [--seconds 10] [--connections 8] [--imap]
                                      [--rounds 1] [--client smtp-source]

``--client smtp-source`` sends with Postfix's C load generator (the postfix
package's ``smtp-source``) instead of aiosmtplib: aiosmtplib spends about as
much CPU per message as the server does, and on a 2-core machine client and
server share the cores, so a lighter client shows more of what the server
can take.

``--rounds N`` alternates the two servers N times and prints the median
ratio: the VMs these run on swing by half between minutes, so one pair of
figures says little. Leave half a minute between runs: on an ext4 without a
journal, files created within 30 s of a mass deletion (the previous run's
data folder) take ten times as long to create (``recently_deleted`` in the
kernel's inode allocator).

``--imap`` runs the IMAP module too, as a desktop install does: every
delivery then also makes the message's IMAP metadata record.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

BARE = r"""
import asyncio, sys
from aiosmtpd.smtp import SMTP
class Discard:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(
        lambda: SMTP(Discard(), hostname="bench", decode_data=False, loop=loop),
        "127.0.0.1", 0)
    print("PORT", srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def message(n: int) -> bytes:
    head = (
        f"From: bench@outside.test\r\nTo: alice@example.test\r\nSubject: bench {n}\r\n"
        f"Message-ID: <bench-{n}@outside.test>\r\n\r\n"
    )
    body = ("0123456789abcdef" * 4 + "0123456789abcd\r\n") * 52
    return (head + body).encode()[:4096]


async def load(port: int, seconds: float, connections: int) -> int:
    sent = 0
    stop_at = time.monotonic() + seconds
    counter = 0

    async def worker() -> None:
        nonlocal sent, counter
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, timeout=30, start_tls=False
        )
        await client.connect()
        await client.ehlo(hostname="bench.test")
        while time.monotonic() < stop_at:
            counter += 1
            await client.sendmail(
                "bench@outside.test", ["alice@example.test"], message(counter)
            )
            sent += 1
        await client.quit()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return sent


SMTP_SOURCE = "/usr/sbin/smtp-source"
CHUNK = 50  # messages per connection per smtp-source run


def source_load(port: int, seconds: float, connections: int) -> int:
    """``load`` with smtp-source: runs of ``CHUNK`` messages per connection
    (smtp-source sends a count, not for a time) until ``seconds`` passed.
    The message is ``message(0)``'s bytes; smtp-source stops with an error
    on any reply but a 2xx, and so does this."""
    path = shutil.which("smtp-source") or SMTP_SOURCE
    with tempfile.NamedTemporaryFile("wb", suffix=".eml") as f:
        # smtp-source adds CRLF after each line of the file
        f.write(message(0).replace(b"\r\n", b"\n"))
        f.flush()
        sent = 0
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at:
            n = CHUNK * connections
            subprocess.run(
                [
                    path,
                    "-d",
                    "-s",
                    str(connections),
                    "-m",
                    str(n),
                    "-F",
                    f.name,
                    "-M",
                    "bench.test",
                    "-f",
                    "bench@outside.test",
                    "-t",
                    "alice@example.test",
                    f"127.0.0.1:{port}",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                timeout=300,
            )
            sent += n
    return sent


def run_load(port: int, seconds: float, connections: int, client: str) -> int:
    """Messages sent to ``port`` in about ``seconds`` by ``client``."""
    if client == "smtp-source":
        return source_load(port, seconds, connections)
    return asyncio.run(load(port, seconds, connections))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far.

    Steadier than a rate on these VMs: what a message costs the server,
    whatever the neighbours took from the machine meanwhile."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(after_name[11]), int(after_name[12])  # fields 14 and 15
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def start(cmd: list[str], pattern: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"server did not start: {cmd}")
        m = re.search(pattern, line)
        if m:
            return proc, int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument(
        "--imap",
        action="store_true",
        help="IMAP on too: each delivery also makes its metadata record",
    )
    ap.add_argument(
        "--client",
        choices=("aiosmtplib", "smtp-source"),
        default="aiosmtplib",
        help="the load generator (smtp-source: the postfix package's, in C)",
    )
    args = ap.parse_args()
    from tests.conftest import start_core

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        c = start_core(data, ("smtp", "imap") if args.imap else ("smtp",))
        c.runtime.stop()
        qs, qs_port = start(
            [sys.executable, "-m", "server", "--data-dir", str(data), "run"],
            r"smtp: RUNNING 127\.0\.0\.1:(\d+)",
        )
        bare, bare_port = start([sys.executable, "-c", BARE], r"PORT (\d+)")
        pairs: list[tuple[float, float]] = []
        cpu: list[tuple[float, float]] = []  # ms of server CPU per message
        try:
            run_load(bare_port, 1, args.connections, args.client)  # warm-up
            run_load(qs_port, 1, args.connections, args.client)
            for _ in range(args.rounds):
                t0, c0 = time.monotonic(), cpu_seconds(bare.pid)
                n_bare = run_load(
                    bare_port, args.seconds, args.connections, args.client
                )
                bare_rate = n_bare / (time.monotonic() - t0)
                bare_cpu = (cpu_seconds(bare.pid) - c0) * 1000 / max(n_bare, 1)
                t0, c0 = time.monotonic(), cpu_seconds(qs.pid)
                n_qs = run_load(qs_port, args.seconds, args.connections, args.client)
                pairs.append((bare_rate, n_qs / (time.monotonic() - t0)))
                cpu.append((bare_cpu, (cpu_seconds(qs.pid) - c0) * 1000 / max(n_qs, 1)))
        finally:
            for p in (qs, bare):
                p.terminate()
                p.wait(30)
                if p.stdout:
                    p.stdout.close()
        delivered = sum(
            1
            for sub in ("new", "cur")
            for _ in (data / "mail/example.test/alice" / sub).iterdir()
        )
    print(
        f"connections: {args.connections}, message size: 4096 bytes, "
        f"{args.seconds:.0f} s each, client: {args.client}"
    )
    for (bare_rate, qs_rate), (bare_ms, qs_ms) in zip(pairs, cpu, strict=True):
        print(
            f"bare aiosmtpd (discard):          {bare_rate:8.1f} msg/s"
            f"  {bare_ms:.3f} ms CPU/msg"
        )
        print(
            f"Quicksilver (fsync into Maildir): {qs_rate:8.1f} msg/s"
            f"  {qs_ms:.3f} ms CPU/msg"
        )
    print(f"files delivered: {delivered}")
    cpu_ratios = sorted(bare / qs for bare, qs in cpu)
    print(f"CPU per message, bare / Quicksilver: {statistics.median(cpu_ratios):5.2f}")
    ratios = sorted(qs / bare for bare, qs in pairs)
    print(f"ratio Quicksilver / bare:         {statistics.median(ratios):8.2f}")


if __name__ == "__main__":
    main()
