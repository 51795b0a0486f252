"""Large byte strings and the shared core loop.

Every client of every protocol is served from one event loop, so copying a
50 MB message there (``header + message``) stops them all for 25 ms, and a
few such copies in one step add up to a visible stall. ``join`` builds a
large result in a worker thread instead (``bytes.join`` also lets other
threads run while it copies); small ones are built in place, where a thread
hop would cost more than the copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

# Above this many octets a copy moves to a worker thread: about half a
# millisecond of memcpy, the price of the hop itself.
OFF_LOOP_COPY = 1024 * 1024


async def join(parts: Sequence[bytes]) -> bytes:
    """``b"".join(parts)``, off the core loop when the result is large."""
    if sum(len(p) for p in parts) < OFF_LOOP_COPY:
        return b"".join(parts)
    return await asyncio.to_thread(b"".join, parts)
