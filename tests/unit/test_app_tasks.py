"""``app.tasks.spawn`` when the GUI loop has ended: a window's timer that
fires during shutdown must not raise out of a Qt slot, and the coroutine is
closed (no "never awaited" warning)."""

from __future__ import annotations

import asyncio
import threading
import warnings

from app.tasks import spawn


def test_spawn_without_a_loop_drops_the_coroutine() -> None:
    ran: list[str] = []
    result: list[object] = []

    async def job() -> None:
        ran.append("ran")

    def in_thread() -> None:
        asyncio.set_event_loop(None)  # as after the GUI loop ended
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            coro = job()
            result.append(spawn(coro))
            result.append(coro.cr_frame)  # None once closed

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    assert result == [None, None]
    assert ran == []


def test_spawn_runs_on_the_loop() -> None:
    async def main() -> str:
        async def job() -> str:
            return "done"

        task = spawn(job())
        assert task is not None
        return await task

    assert asyncio.run(main()) == "done"
