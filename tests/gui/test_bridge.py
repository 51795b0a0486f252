"""The bridge: calls hop to the core loop and back; events arrive on the GUI thread."""

from __future__ import annotations

import asyncio
import gc
import threading
import types
import warnings
from typing import Any

import pytest

from app.bridge import CoreBridge
from server.api import CoreApi
from server.errors import ValidationError
from server.events import AccountsChanged, LogRecorded, ModuleStateChanged
from server.modules.base import ModuleState

from .helpers import wait_for
from .stubcore import StubRuntime


@pytest.fixture
def bridge(qtbot: Any, gui_loop: Any, stub_core: StubRuntime) -> Any:
    bridge = CoreBridge(stub_core)
    yield bridge
    bridge.disconnect_core()


def test_run_calls_the_facade_on_the_core_loop(
    qtbot: Any, bridge: CoreBridge, stub_core: StubRuntime
) -> None:
    seen: list[tuple[str, object, str]] = []

    async def where(api: CoreApi, word: str) -> str:
        seen.append((threading.current_thread().name, api, word))
        return f"ok {word}"

    assert wait_for(qtbot, bridge.run(where, "here")) == "ok here"
    core_thread = stub_core._thread.name if stub_core._thread else ""
    assert seen == [(core_thread, stub_core.api, "here")]
    snapshot = wait_for(qtbot, bridge.connect_core())
    assert [m.name for m in snapshot.modules] == ["smtp"]


def test_core_errors_come_back_to_the_caller(qtbot: Any, bridge: CoreBridge) -> None:
    with pytest.raises(ValidationError, match="no module"):
        wait_for(qtbot, bridge.run(CoreApi.set_module_enabled, "nope", True))


def test_events_are_re_emitted_on_the_gui_thread(
    qtbot: Any, bridge: CoreBridge, stub_core: StubRuntime
) -> None:
    wait_for(qtbot, bridge.connect_core())
    threads: list[threading.Thread] = []
    bridge.eventReceived.connect(lambda _e: threads.append(threading.current_thread()))
    with qtbot.waitSignal(bridge.accountsChanged) as blocker:
        stub_core.loop.call_soon_threadsafe(
            stub_core.events.publish, AccountsChanged("users")
        )
    assert isinstance(blocker.args[0], AccountsChanged)
    assert threads == [threading.main_thread()]

    with qtbot.waitSignal(bridge.moduleStateChanged) as blocker:
        status = wait_for(qtbot, bridge.run(CoreApi.set_module_enabled, "smtp", True))
    assert status.state is ModuleState.RUNNING
    assert isinstance(blocker.args[0], ModuleStateChanged)
    with qtbot.waitSignal(bridge.logRecorded) as blocker:
        wait_for(qtbot, bridge.run(CoreApi.set_module_enabled, "smtp", False))
    assert isinstance(blocker.args[0], LogRecorded)

    bridge.disconnect_core()
    with qtbot.assertNotEmitted(bridge.eventReceived, wait=100):
        stub_core.loop.call_soon_threadsafe(
            stub_core.events.publish, AccountsChanged("users")
        )


def test_a_burst_of_events_arrives_whole_in_order_in_few_batches(
    qtbot: Any, gui_loop: Any, stub_core: StubRuntime
) -> None:
    """Each entry of the GUI thread into Python waits for the interpreter lock
    while the core is busy: 3,000 events published at once come over in a
    few batches (not one queued call each), all of them, in order."""
    flushes: list[int] = []

    class Counting(CoreBridge):
        def flush(self) -> None:
            flushes.append(len(self._pending))
            super().flush()

    bridge = Counting(stub_core)
    try:
        wait_for(qtbot, bridge.connect_core())
        got: list[str] = []
        bridge.accountsChanged.connect(lambda e: got.append(e.what))
        names = [f"u{i}" for i in range(3000)]

        def burst() -> None:
            for name in names:
                stub_core.events.publish(AccountsChanged(name))

        stub_core.loop.call_soon_threadsafe(burst)
        qtbot.waitUntil(lambda: len(got) == len(names), timeout=5000)
        assert got == names
        assert len(flushes) <= 5, flushes
        assert bridge.dropped_log_records == 0
    finally:
        bridge.disconnect_core()


def test_cancelling_the_caller_cancels_the_call_on_the_core(
    qtbot: Any, bridge: CoreBridge, stub_core: StubRuntime
) -> None:
    started = threading.Event()
    outcome: list[str] = []

    async def forever(api: CoreApi) -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append(threading.current_thread().name)
            raise
        return "never"

    task = asyncio.ensure_future(bridge.run(forever))
    qtbot.waitUntil(started.is_set, timeout=5000)
    task.cancel()
    qtbot.waitUntil(lambda: bool(outcome), timeout=5000)
    assert task.cancelled()
    assert outcome == [stub_core._thread.name if stub_core._thread else ""]


def test_a_call_queued_as_the_core_stops_leaves_no_coroutine_behind(
    qtbot: Any, gui_loop: Any
) -> None:
    """A refresh that the window sent just before the core's loop ended is
    never run; it must not leave a coroutine that was never awaited (its
    RuntimeWarning surfaced in whichever test ran the next collection)."""
    core_loop = asyncio.new_event_loop()  # never runs: it "stopped" at once
    rt = types.SimpleNamespace(loop=core_loop, api=object(), events=None)
    called: list[object] = []

    async def request(api: object) -> str:
        called.append(api)
        return "ran"

    bridge = CoreBridge(rt)  # type: ignore[arg-type]
    task = asyncio.ensure_future(bridge.run(request))
    qtbot.waitUntil(lambda: len(core_loop._ready) == 1, timeout=5000)
    core_loop.close()  # drops the queued call, as Runtime.stop's close does
    task.cancel()
    qtbot.waitUntil(task.done, timeout=5000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del task
        gc.collect()
    assert [str(w.message) for w in caught] == []
    assert called == []
