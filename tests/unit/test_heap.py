"""server/heap.py: start-up's heap is collected, then frozen out of the GC's walk."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from server.heap import settle_heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


@pytest.fixture
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("thawed")
def test_garbage_is_collected_and_the_living_are_frozen() -> None:
    """Garbage from start-up is freed, not frozen for good; what lives is
    moved to the permanent generation, which full collections skip."""
    gc.unfreeze()
    alive = Node()
    dead = Node()
    gone = weakref.ref(dead)
    del dead
    later = Node()  # frozen alive, dropped afterwards
    dropped = weakref.ref(later)
    settle_heap()
    assert gone() is None
    assert gc.get_freeze_count() > 0
    assert gc.is_tracked(alive)
    del later  # now a garbage cycle, but in the permanent generation
    gc.collect()
    # a full collection leaves frozen objects be: it neither walks nor frees
    # them. (Not the freeze count: another thread that ends meanwhile, such
    # as a store's idle committer, frees frozen objects of its own.)
    assert dropped() is not None
    assert not any(o is alive for o in gc.get_objects())  # not in any generation
