"""Queue throughput: N spooled messages delivered through ``relay`` to a local sink.

    /work/venv/bin/python tests/bench/queue_throughput.py [--count 5000]

For 1 and for 8 parallel connections it spools ``count`` messages with no
route on (so they wait, held), switches ``relay`` on and times until the queue
is empty and the sink has them all: delivered messages per second, including
the spool bookkeeping (read, state, fsynced removal). The baseline is a plain
``smtplib`` loop sending the same messages over one connection to the same sink.
Everything runs on 127.0.0.1; the sink is the test sink in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from server.delivery.base import Envelope  # noqa: E402
from tests.conftest import ALICE, start_core  # noqa: E402


class SinkProcess:
    """The test sink in its own process, so it does not share our GIL."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.outbound.sink"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def stop(self) -> int:
        """Stop it; return how many messages it received."""
        out, _ = self.proc.communicate(timeout=30)
        return int(out.strip())


def message(n: int) -> bytes:
    return (
        f"From: {ALICE}\r\nTo: r{n}@remote.test\r\nSubject: bench {n}\r\n"
        f"Message-ID: <bench-{n}@example.test>\r\n\r\n" + "a line of body text\r\n" * 40
    ).encode()


def run_queue(count: int, parallel: int) -> tuple[float, float]:
    sink = SinkProcess()
    with tempfile.TemporaryDirectory() as tmp:
        core = start_core(Path(tmp) / "data", enabled=())
        try:
            q = core.runtime.services.queue
            core.run(
                core.api.update_settings(
                    "queue",
                    {
                        "per_domain_concurrency": parallel,
                        "max_deliveries": parallel * 4,
                    },
                )
            )
            core.run(
                core.api.update_settings(
                    "relay",
                    {
                        "host": "127.0.0.1",
                        "port": sink.port,
                        "security": "none",
                        "max_connections": parallel,
                    },
                )
            )

            async def fill() -> None:
                for start in range(0, count, 200):
                    await asyncio.gather(
                        *(
                            q.accept(
                                Envelope(ALICE, (f"r{n}@remote.test",)), message(n)
                            )
                            for n in range(start, min(count, start + 200))
                        )
                    )

            t0 = time.perf_counter()
            core.runtime.run(fill(), 600)
            spool_s = time.perf_counter() - t0
            assert core.run(q.wait_idle(60))
            assert q.pending_count() == count
            t0 = time.perf_counter()
            core.run(core.api.set_module_enabled("relay", True))
            while q.pending_count():
                time.sleep(0.005)
                if time.perf_counter() - t0 > 600:
                    raise SystemExit("timed out")
            took = time.perf_counter() - t0
            st = {m.name: m for m in core.run(core.api.modules())}["relay"]
            assert dict(st.counters).get("delivered") == count, st
            return count / took, count / spool_s
        finally:
            core.runtime.stop()
            assert sink.stop() == count


def run_smtplib(count: int) -> float:
    sink = SinkProcess()
    try:
        msgs = [message(n) for n in range(count)]
        t0 = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", sink.port) as c:
            c.ehlo("bench.test")
            for n, m in enumerate(msgs):
                c.sendmail(ALICE, [f"r{n}@remote.test"], m)
        return count / (time.perf_counter() - t0)
    finally:
        assert sink.stop() == count


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=5000)
    args = p.parse_args()
    base = run_smtplib(args.count)
    print(f"smtplib loop, 1 connection:      {base:8.0f} msg/s")
    for parallel in (1, 8):
        rate, spool_rate = run_queue(args.count, parallel)
        print(
            f"queue + relay, {parallel} connection(s): {rate:8.0f} msg/s "
            f"({rate / base:.2f}x smtplib; spooling ran at {spool_rate:.0f} msg/s)"
        )


if __name__ == "__main__":
    main()
