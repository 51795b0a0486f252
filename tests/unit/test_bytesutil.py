"""Copies of large byte strings (server/bytesutil.py): ``slice_of`` gives what
a slice gives, for bytes, bytearrays and memoryviews and any bounds, and while
it copies a large range other threads keep running (a plain slice holds the
interpreter lock for the whole copy: 40 ms for 50 MB, a stall of the loop
even from a worker thread)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

import pytest

from server import bytesutil, mailtext

S = bytesutil.COPY_SLICE
DATA = bytes(range(256)) * (3 * S // 256 + 77)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, None),
        (0, 0),
        (5, 5),
        (0, 10),
        (1, None),
        (S - 1, 2 * S + 3),
        (0, 2 * S),
        (0, 2 * S + 1),
        (7, len(DATA) - 7),
        (len(DATA), None),
        (len(DATA) + 5, None),
        (10, len(DATA) + 100),
        (3 * S, 2 * S),
    ],
)
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_slice_of_is_a_slice(
    start: int, end: int | None, kind: Callable[[bytes], bytesutil.Buffer]
) -> None:
    raw = kind(DATA)
    got = bytesutil.slice_of(raw, start, end)
    assert type(got) is bytes
    assert got == DATA[start:end]
    assert b"".join(bytesutil.pieces(raw, start, end)) == DATA[start:end]
    assert all(len(p) <= S for p in bytesutil.pieces(raw, start, end))


def test_the_whole_of_a_bytes_object_is_not_copied() -> None:
    assert bytesutil.slice_of(DATA) is DATA


def test_count_octet_is_count() -> None:
    raw = (b"a\nbb\n\n" * (S // 3)) + b"\n"
    for start, end in [(0, None), (1, 2 * S + 1), (S, S), (5, 3 * S), (0, 10**9)]:
        assert mailtext.count_octet(raw, b"\n", start, end) == raw.count(
            b"\n", start, end if end is not None else len(raw)
        )
    with pytest.raises(ValueError):
        mailtext.count_octet(raw, b"\r\n")


def longest_gap(work: Callable[[], object]) -> tuple[float, float]:
    """(the longest this thread waited for a 0.5 ms sleep, the shortest
    ``work`` took) while another thread ran ``work`` three times."""
    took: list[float] = []

    def run() -> None:
        for _ in range(3):
            start = time.perf_counter()
            work()
            took.append(time.perf_counter() - start)

    worker = threading.Thread(target=run)
    gaps: list[float] = []
    worker.start()
    while worker.is_alive():
        start = time.perf_counter()
        time.sleep(0.0005)
        gaps.append(time.perf_counter() - start)
    worker.join()
    return max(gaps), min(took)


def test_a_large_slice_of_lets_other_threads_run() -> None:
    big = b"m" * (64 * 1024 * 1024)
    view = memoryview(bytearray(big))
    for raw in (big, view):
        # Holding the lock, every gap would be at least a whole copy, in every
        # attempt. One stall of the machine (a busy neighbour on a shared CI
        # host) can make one long gap in any attempt, so the test asks for one
        # attempt in three without such a gap, not for all three.
        seen: list[tuple[float, float]] = []
        for _ in range(3):
            gap, took = longest_gap(functools.partial(bytesutil.slice_of, raw, 1))
            seen.append((gap, took))
            if gap < 0.5 * took:
                break
        else:
            pytest.fail(f"{type(raw).__name__}: (longest gap, copy) {seen}")
