"""Large byte strings and the shared core loop.

Every client of every protocol is served from one event loop, so copying a
50 MB message there (``header + message``) stops them all for 25 ms, and a
few such copies in one step add up to a visible stall. ``join`` builds a
large result in a worker thread instead; small ones are built in place, where
a thread hop would cost more than the copy.

A worker thread is not enough by itself: a slice (``raw[a:b]``), ``+`` and
``bytes(memoryview)`` keep the interpreter lock for their whole copy (40 ms
for 50 MB on this machine), and no other thread runs meanwhile, the loop's
included. Only ``bytes.join`` of ``bytes`` items lets other threads run while
it copies (of memoryviews it does not). So a large range is copied by
``pieces`` and a join: ``slice_of``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TypeAlias

Buffer: TypeAlias = bytes | bytearray | memoryview

# Above this many octets a copy moves to a worker thread: about half a
# millisecond of memcpy, the price of the hop itself.
OFF_LOOP_COPY = 1024 * 1024
# The most a single copy takes while holding the interpreter lock (about
# a millisecond): what ``pieces`` cuts a large range into.
COPY_SLICE = 1024 * 1024


async def join(parts: Sequence[bytes]) -> bytes:
    """``b"".join(parts)``, off the core loop when the result is large."""
    if sum(len(p) for p in parts) < OFF_LOOP_COPY:
        return b"".join(parts)
    return await asyncio.to_thread(b"".join, parts)


def pieces(raw: Buffer, start: int = 0, end: int | None = None) -> list[bytes]:
    """``raw[start:end]`` (non-negative bounds) as ``bytes`` of at most
    COPY_SLICE octets each, for ``bytes.join``."""
    end = len(raw) if end is None else min(end, len(raw))
    return [
        bytes(raw[i : min(end, i + COPY_SLICE)]) for i in range(start, end, COPY_SLICE)
    ]


def slice_of(raw: Buffer, start: int = 0, end: int | None = None) -> bytes:
    """``bytes(raw[start:end])`` (non-negative bounds) without holding the
    interpreter lock for the copy of a large range (blocking: for worker
    threads, or on the loop for small ranges)."""
    end = len(raw) if end is None else min(end, len(raw))
    if isinstance(raw, bytes) and start == 0 and end == len(raw):
        return raw
    if end - start <= 2 * COPY_SLICE:
        return bytes(raw[start:end])
    return b"".join(pieces(raw, start, end))
