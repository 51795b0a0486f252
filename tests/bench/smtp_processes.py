"""What SMTP worker processes could give at best, against Postfix, in one run.

Issue 12 asks for SMTP into Maildir at >= 1.5x Postfix and suggests moving
protocol work to worker processes. This measures the ceiling of that idea
on this machine: ``--processes`` whole Quicksilver servers, each headless in
its own process with its own data folder, so they share nothing at all (no
index, no lock, no hand-over: more than any real worker design could
have), are loaded at the same time, the connections split between them.
In the same run: one of those servers alone with all the connections, and
a private Postfix (as in smtp_vs_postfix.py) with all of them.

    .venv/bin/python tests/bench/smtp_processes.py [--seconds 10]
                                                   [--processes 2]

The load is Postfix's C generator, smtp-source (aiosmtplib spends about as
much CPU per message as the server and would take a core from it; see
smtp_accept.py). Each server's CPU time per message is printed too. The
last line has both ratios to Postfix. Needs root and the postfix package.
Not run by CI. Leave half a minute between runs (see smtp_accept.py).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.smtp_accept import cpu_seconds, run_load, start  # noqa: E402
from tests.bench.smtp_vs_postfix import postfix  # noqa: E402

CLIENT = "smtp-source"


def server(data: Path) -> tuple[subprocess.Popen[str], int]:
    from tests.conftest import start_core

    c = start_core(data)
    c.runtime.stop()
    return start(
        [sys.executable, "-m", "server", "--data-dir", str(data), "run"],
        r"smtp: RUNNING 127\.0\.0\.1:(\d+)",
    )


def together(
    servers: list[tuple[subprocess.Popen[str], int]], seconds: float, connections: int
) -> tuple[float, float]:
    """(msg/s, ms of CPU per message summed over the servers) with
    ``connections`` split between the servers, all loaded at once."""
    share = max(1, connections // len(servers))
    sent = [0] * len(servers)

    def one(i: int, port: int) -> None:
        sent[i] = run_load(port, seconds, share, CLIENT)

    cpu0 = [cpu_seconds(p.pid) for p, _ in servers]
    t0 = time.monotonic()
    threads = [
        threading.Thread(target=one, args=(i, port))
        for i, (_, port) in enumerate(servers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    total = sum(sent)
    cpu = sum(cpu_seconds(p.pid) - c for (p, _), c in zip(servers, cpu0, strict=True))
    return total / elapsed, cpu * 1000 / max(total, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    with (
        tempfile.TemporaryDirectory() as ours,
        tempfile.TemporaryDirectory(prefix="qs-bench-postfix-") as theirs,
    ):
        servers = [
            server(Path(ours) / f"data{i}") for i in range(max(1, args.processes))
        ]
        try:
            for _, port in servers:
                run_load(port, 1, args.connections, CLIENT)  # warm-up
            one = together(servers[:1], args.seconds, args.connections)
            time.sleep(5)
            many = together(servers[: args.processes], args.seconds, args.connections)
        finally:
            for p, _ in servers:
                p.terminate()
                p.wait(30)
                if p.stdout:
                    p.stdout.close()
        time.sleep(5)
        pf = postfix(Path(theirs), args.seconds, args.connections, CLIENT)
    print(f"client: {CLIENT}, {args.connections} connections, 4 KB messages")
    print(f"one process:         {one[0]:7.0f} msg/s  {one[1]:.3f} ms CPU/msg")
    print(
        f"{args.processes} processes:         {many[0]:7.0f} msg/s  "
        f"{many[1]:.3f} ms CPU/msg, nothing shared"
    )
    if pf is None:
        print("Postfix could not run here (needs root and the postfix package)")
        return
    print(f"Postfix:             {pf[1]:7.0f} msg/s accepted and delivered")
    print(
        f"ratio / Postfix: one process {one[0] / pf[1]:.2f}, "
        f"{args.processes} processes {many[0] / pf[1]:.2f}"
    )


if __name__ == "__main__":
    main()
