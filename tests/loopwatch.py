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
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import threading
from types import TracebackType


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

    # -- on the watched loop -------------------------------------------------
    def _arm(self) -> None:
        self._expected = self.loop.time() + self.interval
        self._handle = self.loop.call_at(self._expected, self._tick)

    def _tick(self) -> None:
        if not self._running:
            return
        self.lags.append(max(0.0, self.loop.time() - self._expected))
        self._arm()

    def _begin(self) -> None:
        self._running = True
        self._arm()
        self._started.set()

    def _end(self, done: threading.Event) -> None:
        self._running = False
        if self._handle is not None:
            self._handle.cancel()
        pending = self.loop.time() - self._expected
        if pending > 0:
            self.lags.append(pending)
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
            return
        self._stopped = True
        done = threading.Event()
        self.loop.call_soon_threadsafe(self._end, done)
        if not done.wait(timeout):
            raise AssertionError(f"the loop was still blocked after {timeout} s")

    def reset(self) -> None:
        """Forget what was measured so far (e.g. after a test's setup)."""
        self.loop.call_soon_threadsafe(self.lags.clear)

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
    def max_lag(self) -> float:
        return max(self.lags, default=0.0)

    def quantile(self, q: float) -> float:
        if not self.lags:
            return 0.0
        if len(self.lags) == 1:
            return self.lags[0]
        cuts = statistics.quantiles(self.lags, n=100, method="inclusive")
        return cuts[min(98, max(0, round(q * 100) - 1))]

    def summary(self) -> str:
        return (
            f"{len(self.lags)} ticks, p50 {self.quantile(0.5) * 1000:.1f} ms, "
            f"p99 {self.quantile(0.99) * 1000:.1f} ms, "
            f"max {self.max_lag * 1000:.1f} ms"
        )
