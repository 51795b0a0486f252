"""The group commit of a Maildir store: one thread makes batches of
deliveries durable with one ``syncfs`` each.

A delivery writes its file without fsync, renames it in, appends its index
line and registers here (``register``), all under the folder lock. The
committer thread runs rounds: each takes every registered delivery, calls
``syncfs`` once (files, renames and index lines are durable together) and
answers: a worker thread's ``concurrent.futures.Future``, and the coroutines
of an event loop all in a single ``call_soon_threadsafe``. Deliveries
registered while a round runs form the next one. When ``syncfs`` fails, the
round's deliveries are taken out again (``rollback``), so a client told "no"
leaves no message behind.

Why one thread that only syncs: a thread hop costs an SMTP session about a
quarter of a millisecond here (a wake-up, a GIL handover, a self-pipe
write), and every system call a second thread makes while the loop runs
Python waits for the GIL on its way back (0.1 ms and more under load). Small
deliveries are therefore written on the loop's own thread
(``MaildirStore.deliver``), where the calls take microseconds, and the
committer's work per round is one system call and one hop back, shared by
the batch.

The thread starts with the first delivery and ends after ``IDLE_SECONDS``
without one; a delivery registered later starts a new one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from server.storage.maildir_format import Entry, Folder

log = logging.getLogger("quicksilver.storage")

IDLE_SECONDS = 5.0  # the committer thread ends after this long without work


@dataclass
class LoopWaiter:
    """A coroutine's wait: ``future`` is resolved on ``loop``, after
    ``then()`` ran there for a durable delivery (also when the waiting
    coroutine was cancelled: the delivery happened, watchers must hear)."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    then: Callable[[], None]


Waiter = LoopWaiter | concurrent.futures.Future[None]


@dataclass(frozen=True)
class Pending:
    """A delivery placed and indexed, waiting for the next ``syncfs``."""

    entry: Entry
    folder: Folder
    lock: threading.RLock
    waiter: Waiter


def _settle(answers: list[tuple[LoopWaiter, BaseException | None]]) -> None:
    """On the waiters' loop: run each durable delivery's ``then``, resolve."""
    for waiter, exc in answers:
        if exc is None:
            try:
                waiter.then()
            except Exception:  # a watcher's fault is not the delivery's
                log.exception("after a delivery")
        if waiter.future.done():
            continue
        if exc is None:
            waiter.future.set_result(None)
        else:
            waiter.future.set_exception(exc)


class GroupCommitter:
    """Runs ``sync`` in its own thread whenever deliveries wait, and
    ``rollback`` for each folder's deliveries when it fails."""

    def __init__(
        self,
        sync: Callable[[], None],
        rollback: Callable[[Folder, list[Entry]], None],
    ) -> None:
        self._sync = sync
        self._rollback = rollback
        self._cv = threading.Condition(threading.Lock())
        self._pending: list[Pending] = []
        self._thread: threading.Thread | None = None

    def register(self, pending: Pending) -> None:
        """Make ``pending`` durable in the next round; its waiter hears. The
        caller holds the folder lock and has written everything the round's
        ``syncfs`` must cover."""
        with self._cv:
            self._pending.append(pending)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="maildir-commit", daemon=True
                )
                self._thread.start()
            else:
                self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                if not self._pending:
                    self._cv.wait(IDLE_SECONDS)
                    if not self._pending:
                        self._thread = None
                        return
                batch, self._pending = self._pending, []
            # the thread must outlive any fault: deliveries would wait for
            # ever on a dead committer
            try:
                failure = self._round(batch)
            except BaseException as exc:  # a rollback that failed: answer
                log.exception("group commit failed")
                failure = exc
            try:
                self._answer(batch, failure)
            except BaseException:
                log.exception("answering a group commit failed")

    def _round(self, batch: list[Pending]) -> BaseException | None:
        try:
            self._sync()
        except BaseException as exc:
            folders: dict[int, tuple[Folder, threading.RLock, list[Entry]]] = {}
            for p in batch:
                folders.setdefault(id(p.folder), (p.folder, p.lock, []))[2].append(
                    p.entry
                )
            for folder, lock, entries in folders.values():
                with lock:
                    self._rollback(folder, entries)
            return exc
        return None

    @staticmethod
    def _answer(batch: list[Pending], exc: BaseException | None) -> None:
        by_loop: dict[
            asyncio.AbstractEventLoop, list[tuple[LoopWaiter, BaseException | None]]
        ] = {}
        for p in batch:
            waiter = p.waiter
            if isinstance(waiter, LoopWaiter):
                by_loop.setdefault(waiter.loop, []).append((waiter, exc))
            elif exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, answers)
            except RuntimeError:  # the loop closed: nobody waits any more
                log.debug("a delivery's loop closed before its commit")
