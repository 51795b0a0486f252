"""Local delivery with Sieve scripts vs without, in the same run.

    .venv/bin/python tests/bench/sieve_delivery.py [--count 1500] [--rounds 6]

One core, one data folder. Each round delivers ``count`` messages to alice
through the queue's ``accept`` (the path SMTP's DATA takes: local recipients
are written straight into the Maildir), 8 at a time, twice: once with no
script anywhere, once with a 50-rule global "before" script and a 20-rule
active script for alice (no rule matches these messages, so both runs store
into INBOX and the difference is the cost of finding, caching and running the
scripts). Rounds alternate the two, and which one goes first swaps every
round (ABBA), so that a disk or CPU drift and the growing mailbox hit both
alike. It prints messages per second for each, the ratio (scripts / none)
of the medians and the median of each round's own ratio; the issue asks
for >= 0.8. Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from server.delivery.base import Envelope  # noqa: E402
from server.sieve import compile_script  # noqa: E402
from server.sieve.store import ScriptStore  # noqa: E402
from tests.conftest import ALICE, RunningCore, start_core  # noqa: E402

PARALLEL = 8


def global_script() -> str:
    rules = [
        'require ["fileinto", "mailbox", "imap4flags", "relational",'
        ' "comparator-i;ascii-numeric"];'
    ]
    for i in range(50):
        kind = i % 5
        if kind == 0:
            rules.append(
                f'if header :contains "subject" "lottery-{i}" '
                '{ fileinto :create "Junk"; stop; }'
            )
        elif kind == 1:
            rules.append(
                f'if address :domain :is "from" "spam{i}.invalid" '
                '{ fileinto :create "Junk"; stop; }'
            )
        elif kind == 2:
            rules.append(f'if size :over {10_000_000 + i} {{ addflag "$big{i}"; }}')
        elif kind == 3:
            rules.append(
                f'if header :value "gt" :comparator "i;ascii-numeric" '
                f'"x-spam-score" "{90 + i}" {{ fileinto :create "Junk"; stop; }}'
            )
        else:
            rules.append(
                f'if anyof (header :is "x-mailer" "massmail-{i}", '
                f'exists "x-campaign-{i}") {{ discard; stop; }}'
            )
    return "\n".join(rules) + "\n"


def user_script() -> str:
    rules = ['require ["fileinto", "mailbox", "copy"];']
    for i in range(20):
        if i % 2:
            rules.append(
                f'if address :is "from" "friend{i}@outside.test" '
                f'{{ fileinto :create "Friends{i}"; }}'
            )
        else:
            rules.append(
                f'if header :matches "subject" "*[project-{i}]*" '
                f'{{ fileinto :copy :create "Projects/{i}"; }}'
            )
    return "\n".join(rules) + "\n"


def message(n: int) -> bytes:
    return (
        f"From: Carol <carol@outside.test>\r\nTo: {ALICE}\r\nSubject: bench {n}\r\n"
        f"Message-ID: <sieve-bench-{n}@outside.test>\r\nX-Spam-Score: 3\r\n\r\n"
        + "a line of body text\r\n"
        * 40
    ).encode()


def deliver(core: RunningCore, count: int, start: int) -> tuple[float, float]:
    """(messages per second, CPU microseconds of this process per message)."""
    q = core.runtime.services.queue

    async def go() -> float:
        sem = asyncio.Semaphore(PARALLEL)

        async def one(n: int) -> None:
            async with sem:
                env = Envelope("carol@outside.test", (ALICE,))
                acc = await q.accept(env, message(n))
                assert acc.local_delivered == (ALICE,), acc

        t0 = time.perf_counter()
        await asyncio.gather(*(one(start + i) for i in range(count)))
        return time.perf_counter() - t0

    cpu = time.process_time()
    elapsed: float = core.run(go())
    return count / elapsed, (time.process_time() - cpu) / count * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    for text in (global_script(), user_script()):
        compile_script(text)  # a script that does not compile would not run
    with tempfile.TemporaryDirectory() as tmp:
        core = start_core(Path(tmp) / "data", enabled=())
        store = ScriptStore(core.data_dir / "sieve")
        store.put_global("before", "global-rules", global_script())
        store.put(ALICE, "rules", user_script())
        gdir = core.data_dir / "sieve" / "@global"
        off = core.data_dir / "sieve-off"
        try:
            # warm up: the first few thousand deliveries of a run are slow
            # whatever the mode (disk journal, caches, clock ramp); one
            # whole round of each, not counted
            deliver(core, args.count, 10_000_000)
            shutil.move(gdir, off)
            deliver(core, args.count, 20_000_000)
            shutil.move(off, gdir)
            none: list[tuple[float, float]] = []
            with_scripts: list[tuple[float, float]] = []
            n = 0
            for r in range(args.rounds):
                # ABBA: which one runs first swaps every round, so that the
                # mailbox growing (a bigger new/ folder) hits both alike
                for scripts_on in (False, True) if r % 2 == 0 else (True, False):
                    if scripts_on:
                        if off.exists():
                            shutil.move(off, gdir)
                        store.set_active(ALICE, "rules")
                        with_scripts.append(deliver(core, args.count, n))
                    else:
                        if gdir.exists():
                            shutil.move(gdir, off)
                        store.set_active(ALICE, None)
                        none.append(deliver(core, args.count, n))
                    n += args.count
            compiles = core.runtime.services.sieve.finder.cache.compiles
        finally:
            core.runtime.stop()
    a = statistics.median(r for r, _ in none)
    b = statistics.median(r for r, _ in with_scripts)
    ca = statistics.median(c for _, c in none)
    cb = statistics.median(c for _, c in with_scripts)
    print(f"messages per round: {args.count}, {PARALLEL} at a time")
    print("no script:      " + "  ".join(f"{r:6.0f}/s {c:5.0f}us" for r, c in none))
    print(
        "50 + 20 rules:  "
        + "  ".join(f"{r:6.0f}/s {c:5.0f}us" for r, c in with_scripts)
    )
    print(f"median ratio (scripts / none): {b / a:.2f}  (scripts compiled {compiles}x)")
    # each round's two runs sat next to each other: their ratio cancels the
    # drift between rounds (the first round also warms the disk and caches)
    pairs = [w[0] / n[0] for n, w in zip(none, with_scripts, strict=True)]
    print(
        "per-round ratios: "
        + " ".join(f"{p:.2f}" for p in pairs)
        + f"  median {statistics.median(pairs):.2f}"
    )
    print(f"CPU per message (all threads): {ca:.0f} us -> {cb:.0f} us ({ca / cb:.2f})")


if __name__ == "__main__":
    main()
