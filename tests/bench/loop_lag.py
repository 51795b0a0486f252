"""Core loop lag under a mixed load (issue 10).

Run: ``PYTHONPATH=. python tests/bench/loop_lag.py [--seconds 30] [--imap 4]
[--smtp 2]``

The server (the real core, tests/heavymail.py: a 2,000-message folder and
1,000 folders) runs in its own process with a LoopWatch (tests/loopwatch.py)
ticking on its loop every 5 ms. This process runs the load in threads:
IMAP clients cycling through heavy commands (full-text SEARCH, FETCH of every
envelope and body structure, LIST over all folders and a wildcard pattern,
FETCH of whole bodies, APPEND of a 5 MB message, BODYSTRUCTURE of a message
with 2.4 million parts) and SMTP senders (ordinary mail, a 20 MB message now
and then). At the end it prints how late the ticks ran (p50, p99, max) and
what the clients got done.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.connection
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import ALICE
from tests.heavymail import (
    ARCHIVE,
    heavy_core,
    large,
    ordinary,
    part_bomb,
    smtp,
)
from tests.loopwatch import LoopWatch
from tests.rawclients import RawImap, RawSmtp, smtp_payload


def serve(data: str, pipe: multiprocessing.connection.Connection) -> None:
    """The server process: start the core, watch its loop until told to stop."""
    core = heavy_core(Path(data))
    try:
        bomb = smtp(core)
        reply = bomb.send_mail(
            "a@example.org", [ALICE], smtp_payload(part_bomb(2_400_000))
        )
        assert reply.startswith(b"250"), reply
        bomb.close()
        pipe.send(
            {"imap": core.endpoint("imap", "starttls"), "smtp": core.endpoint("smtp")}
        )
        watch = LoopWatch(core.runtime.loop).start()
        pipe.recv()  # "stop"
        watch.stop()
        pipe.send(
            {
                "ticks": len(watch.lags),
                "p50": watch.quantile(0.5),
                "p99": watch.quantile(0.99),
                "max": watch.max_lag,
            }
        )
    finally:
        core.runtime.stop()


class Load:
    def __init__(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []

    def timed(self, name: str, fn: Callable[..., object], *args: object) -> None:
        started = time.perf_counter()
        fn(*args)
        with self.lock:
            self.times[name].append(time.perf_counter() - started)

    def running(self) -> bool:
        return time.monotonic() < self.until


def ok(lines: list[bytes], tag: str) -> list[bytes]:
    if not lines[-1].startswith(f"{tag} OK".encode()):
        raise RuntimeError(lines[-1][:200].decode("utf-8", "replace"))
    return lines


def imap_worker(load: Load, host: str, port: int, n: int) -> None:
    from tests.conftest import ALICE_PW

    c = RawImap(host, port)
    c.login(ALICE, ALICE_PW)
    append = c.append_command("ap", f"Load{n}", large(5 * 1024 * 1024, f"load {n}"))
    ok(c.command("cr", f"CREATE Load{n}"), "cr")
    steps = [
        ("SELECT", lambda: ok(c.command("s", f"SELECT {ARCHIVE}"), "s")),
        ("SEARCH TEXT", lambda: ok(c.command("a", "SEARCH TEXT needle"), "a")),
        (
            "FETCH 1:* ENVELOPE BODYSTRUCTURE",
            lambda: ok(c.command("b", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)"), "b"),
        ),
        ("LIST *", lambda: ok(c.command("c", 'LIST "" "*"'), "c")),
        ("LIST *%*%*%x", lambda: ok(c.command("d", 'LIST "" "*%*%*%*%*%x"'), "d")),
        (
            "FETCH 1:300 BODY[]",
            lambda: ok(c.command("e", "FETCH 1:300 (BODY.PEEK[])"), "e"),
        ),
        ("APPEND 5 MB", lambda: (c.send(append), ok(c.until("ap"), "ap"))),
        ("SELECT INBOX", lambda: ok(c.command("i", "SELECT INBOX"), "i")),
        (
            "BODYSTRUCTURE bomb",
            lambda: ok(c.command("f", "FETCH 1 (BODYSTRUCTURE)"), "f"),
        ),
    ]
    try:
        while load.running():
            for name, step in steps:
                if not load.running():
                    break
                load.timed(name, step)
    except Exception as exc:  # report and stop this client
        load.errors.append(f"imap {n}: {exc!r}")
    finally:
        c.close()


def smtp_worker(load: Load, host: str, port: int, n: int) -> None:
    small = [smtp_payload(ordinary(i).replace(b"\n", b"\r\n")) for i in range(20)]
    big = smtp_payload(large(20 * 1024 * 1024, f"big {n}"))
    i = 0
    try:
        while load.running():
            s = RawSmtp(host, port)
            payload, name = (
                (big, "DATA 20 MB") if i % 25 == 24 else (small[i % 20], "DATA 3 KB")
            )
            load.timed(name, s.send_mail, "a@example.org", [ALICE], payload)
            s.close()
            i += 1
    except Exception as exc:
        load.errors.append(f"smtp {n}: {exc!r}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--imap", type=int, default=4)
    ap.add_argument("--smtp", type=int, default=2)
    args = ap.parse_args()
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as d:
        mine, theirs = ctx.Pipe()
        server = ctx.Process(target=serve, args=(str(Path(d) / "data"), theirs))
        server.start()
        ends = mine.recv()
        load = Load(args.seconds)
        threads = [
            threading.Thread(target=imap_worker, args=(load, *ends["imap"], n))
            for n in range(args.imap)
        ] + [
            threading.Thread(target=smtp_worker, args=(load, *ends["smtp"], n))
            for n in range(args.smtp)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        mine.send("stop")
        lag = mine.recv()
        server.join(60)
    print(
        f"{args.imap} IMAP + {args.smtp} SMTP clients for {args.seconds:.0f} s; "
        f"core loop lag over {lag['ticks']} ticks of 5 ms: "
        f"p50 {lag['p50'] * 1000:.1f} ms, p99 {lag['p99'] * 1000:.1f} ms, "
        f"max {lag['max'] * 1000:.1f} ms"
    )
    width = max((len(k) for k in load.times), default=10)
    print(f"{'command':<{width}}  {'count':>5}  {'median':>9}  {'max':>9}")
    for name, times in load.times.items():
        print(
            f"{name:<{width}}  {len(times):5d}  "
            f"{statistics.median(times) * 1000:7.0f}ms  {max(times) * 1000:7.0f}ms"
        )
    for e in load.errors:
        print("error:", e)


if __name__ == "__main__":
    main()
