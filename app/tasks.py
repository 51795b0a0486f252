"""Fire-and-forget asyncio tasks for Qt slots, kept alive and logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("quicksilver.app")

_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
    """Run ``coro`` on the GUI loop; a failure is logged, never lost.

    None when there is no GUI loop any more (a timer of a window that is
    closing fired after the loop ended): the coroutine is closed unrun."""
    try:
        task = asyncio.ensure_future(coro)
    except RuntimeError:  # no current event loop in this thread
        coro.close()
        log.debug("GUI task %r dropped: the event loop has ended", coro)
        return None
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("GUI task failed", exc_info=task.exception())


def pending() -> tuple[asyncio.Task[Any], ...]:
    return tuple(_running)
