"""A watchdog for an asyncio event loop that runs in another thread.

The core serves every client from one loop (server/runtime.py), so a call that
holds it for 300 ms is a 300 ms stall for every user of every protocol.
``LoopWatch`` measures that from the outside: it keeps a callback ticking on
the watched loop every ``interval`` seconds and records how late each tick ran
(its *lag*). A loop that is never blocked shows lags of a millisecond or so; a
loop held by a 300 ms call shows one tick 300 ms late.

Usage (the ``core_lag`` fixture in tests/conftest.py wraps it for the core)::

    with LoopWatch(loop) as watch:
        ...heavy command...
    assert watch.max_lag < 0.1, watch.summary()

Time is ``loop.time()`` (the loop's monotonic clock) on both sides, and a tick
still pending when the watch stops counts with its lateness so far, so a loop
that is blocked at the very end is not missed.

A late tick is not always the loop's doing: when the whole machine stops
running programs for a while (a busy or paused virtual machine, another
program's burst on a 2-core box), every thread is late by that much. So the
watch also starts a ``MachineWatch``: a tiny separate process that sleeps
2 ms at a time and notes each stretch in which it could not run either.
``max_lag`` is the lateness the machine does not explain (each tick's late
stretch minus its overlap with those stretches); a loop held by our own code
(or by a thread of ours holding the GIL) stalls only our process, so it is
counted in full. ``summary()`` shows the raw figure beside it.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import subprocess
import sys
import threading
from types import TracebackType

# The outside ticker: wakes every INTERVAL s and prints each stretch
# "due now" (CLOCK_MONOTONIC, the clock asyncio's loop.time() reads) in which
# it woke more than THRESHOLD s late; exits when its parent is gone.
_TICKER = """
import os, sys, time
interval, threshold, parent = float(sys.argv[1]), float(sys.argv[2]), os.getppid()
print("ready", flush=True)
while os.getppid() == parent:
    due = time.monotonic() + interval
    time.sleep(interval)
    now = time.monotonic()
    if now - due > threshold:
        print(repr(due), repr(now), flush=True)
"""


class MachineWatch:
    """Stretches of time in which a separate, idle process could not run:
    what the machine, not the watched program, took from everyone."""

    def __init__(self, interval: float = 0.002, threshold: float = 0.005) -> None:
        self.stalls: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _TICKER, str(interval), str(threshold)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        if self._proc.stdout.readline().strip() != "ready":
            self._proc.kill()
            raise AssertionError("the machine watch's ticker did not start")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            due, now = (float(v) for v in line.split())
            with self._lock:
                self.stalls.append((due, now))

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
        self._proc.wait(10)
        self._reader.join(10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def overlap(self, start: float, end: float) -> float:
        """Seconds of [start, end] in which the machine was stalled."""
        with self._lock:
            spans = sorted(self.stalls)
        covered, reach = 0.0, start
        for a, b in spans:
            a, b = max(a, reach), min(b, end)
            if b > a:
                covered += b - a
                reach = b
        return covered


class LoopWatch:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, interval: float = 0.005
    ) -> None:
        self.loop = loop
        self.interval = interval
        self.lags: list[float] = []
        self._expected = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._running = False
        self._started = threading.Event()
        self._stopped = False
        # each tick's late stretch (when it was due, when it ran), beside lags
        self.windows: list[tuple[float, float]] = []
        self.machine: MachineWatch | None = None

    # -- on the watched loop -------------------------------------------------
    def _arm(self) -> None:
        self._expected = self.loop.time() + self.interval
        self._handle = self.loop.call_at(self._expected, self._tick)

    def _tick(self) -> None:
        if not self._running:
            return
        self._record(self.loop.time())
        self._arm()

    def _record(self, now: float) -> None:
        self.lags.append(max(0.0, now - self._expected))
        self.windows.append((self._expected, max(now, self._expected)))

    def _begin(self) -> None:
        self._running = True
        self._arm()
        self._started.set()

    def _end(self, done: threading.Event) -> None:
        self._running = False
        if self._handle is not None:
            self._handle.cancel()
        now = self.loop.time()
        if now > self._expected:
            self._record(now)
        done.set()

    # -- from the test's thread ----------------------------------------------
    def start(self, timeout: float = 10.0) -> LoopWatch:
        # The core runs inside the test process, whose heap holds what every
        # earlier test left: a full garbage collection of it (triggered by any
        # thread) can stop the core's thread for hundreds of milliseconds in a
        # long run, which a server's own process never carries. Collected now
        # and frozen out of later collections until stop().
        gc.collect()
        gc.freeze()
        self._froze = True
        self.machine = MachineWatch()
        self.loop.call_soon_threadsafe(self._begin)
        if not self._started.wait(timeout):
            raise AssertionError(f"the loop did not run the watchdog in {timeout} s")
        return self

    def stop(self, timeout: float = 120.0) -> None:
        """Stop ticking (idempotent); a tick still due counts as late so far."""
        if getattr(self, "_froze", False):
            self._froze = False
            gc.unfreeze()
        if not self._started.is_set() or self._stopped:
            if self.machine is not None:  # idempotent; ends its process
                self.machine.stop()
            return
        self._stopped = True
        done = threading.Event()
        self.loop.call_soon_threadsafe(self._end, done)
        blocked = not done.wait(timeout)
        if self.machine is not None:
            self.machine.stop()
        if blocked:
            raise AssertionError(f"the loop was still blocked after {timeout} s")

    def reset(self) -> None:
        """Forget what was measured so far (e.g. after a test's setup)."""

        def clear() -> None:
            self.lags.clear()
            self.windows.clear()

        self.loop.call_soon_threadsafe(clear)

    def __enter__(self) -> LoopWatch:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- results ---------------------------------------------------------------
    @property
    def own_lags(self) -> list[float]:
        """Each tick's lateness less what the machine stalled everyone for."""
        if self.machine is None:
            return list(self.lags)
        return [
            max(0.0, (end - due) - self.machine.overlap(due, end))
            for due, end in list(self.windows)
        ]

    @property
    def max_lag(self) -> float:
        """The worst lateness the loop itself is to blame for."""
        return max(self.own_lags, default=0.0)

    @property
    def raw_max_lag(self) -> float:
        return max(self.lags, default=0.0)

    def quantile(self, q: float) -> float:
        if not self.lags:
            return 0.0
        if len(self.lags) == 1:
            return self.lags[0]
        cuts = statistics.quantiles(self.lags, n=100, method="inclusive")
        return cuts[min(98, max(0, round(q * 100) - 1))]

    def summary(self) -> str:
        stalled = 0.0
        if self.machine is not None:
            stalled = sum(b - a for a, b in list(self.machine.stalls))
        return (
            f"{len(self.lags)} ticks, p50 {self.quantile(0.5) * 1000:.1f} ms, "
            f"p99 {self.quantile(0.99) * 1000:.1f} ms, "
            f"max {self.raw_max_lag * 1000:.1f} ms; "
            f"machine stalled {stalled * 1000:.1f} ms in all, "
            f"max not explained by it {self.max_lag * 1000:.1f} ms"
        )
