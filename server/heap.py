"""The process's heap and the garbage collector: one call after start-up.

Everything runs in one process (the window, the core loop, its worker
threads), and CPython's cyclic collector stops all of them while it works.
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect once, then hide every object alive now from the collector.

    A full (generation 2) collection walks every tracked object while it holds
    the GIL, so it stalls the core loop, and with it every client of every
    protocol, for as long as the heap is big: 35-115 ms for 100,000-200,000
    objects on the 2-core test machine. Most of those objects are made at
    start-up and live for good (modules, classes, the window's Qt wrappers,
    the services just built). ``gc.freeze`` moves them to the permanent
    generation, so later full collections walk only what was made since.
    Call it once per process, when start-up is complete (the headless
    ``run`` and the window do); the ``collect`` first keeps start-up's
    garbage from being frozen with it.
    """
    gc.collect()
    gc.freeze()
