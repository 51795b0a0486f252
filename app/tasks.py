"""Fire-and-forget asyncio tasks for Qt slots, kept alive and logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("quicksilver.app")

_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run ``coro`` on the GUI loop; a failure is logged, never lost."""
    task = asyncio.ensure_future(coro)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("GUI task failed", exc_info=task.exception())


def pending() -> tuple[asyncio.Task[Any], ...]:
    return tuple(_running)
