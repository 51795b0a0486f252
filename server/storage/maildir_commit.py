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

Deliveries made on an event loop's thread go to a helper process instead
where there is one (maildir_synchelper.py): the loop sends a round's request
and reads its answer itself, and the round's rules are the same (one round
at a time, what registers meanwhile forms the next, a failed sync takes the
round out). The committer thread stays for worker threads' deliveries, and
takes the loop's while the helper starts, after it left, or if it failed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from server.storage.maildir_format import Entry, Folder
from server.storage.maildir_synchelper import SyncHelper

log = logging.getLogger("quicksilver.storage")

IDLE_SECONDS = 5.0  # the committer thread ends after this long without work
# after a helper process failed, the thread serves alone this long
HELPER_PAUSE_SECONDS = 60.0


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
        helper_root: Path | None = None,
    ) -> None:
        """``helper_root``: a folder on the file system ``sync`` flushes, for
        a helper process's ``syncfs``; None: the thread does every round."""
        self._sync = sync
        self._rollback = rollback
        self._cv = threading.Condition(threading.Lock())
        self._pending: list[Pending] = []
        self._thread: threading.Thread | None = None
        # the helper's side, used on its loop's thread only
        self._helper_root = helper_root
        self._helper: SyncHelper | None = None
        self._helper_paused_until = 0.0
        self._loop_pending: list[Pending] = []
        self._loop_round: list[Pending] | None = None  # asked, not answered

    def register(self, pending: Pending) -> None:
        """Make ``pending`` durable in the next round; its waiter hears. The
        caller holds the folder lock and has written everything the round's
        ``syncfs`` must cover."""
        waiter = pending.waiter
        if isinstance(waiter, LoopWaiter) and self._helper_serves(waiter.loop):
            self._loop_pending.append(pending)
            if self._loop_round is None:
                self._ask_helper()
            return
        self._register_thread(pending)

    def _register_thread(self, pending: Pending) -> None:
        with self._cv:
            self._pending.append(pending)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="maildir-commit", daemon=True
                )
                self._thread.start()
            else:
                self._cv.notify()

    def _helper_serves(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether the helper process takes a delivery made on ``loop`` now;
        starts one when there is none (the thread serves meanwhile)."""
        helper = self._helper
        if helper is not None and helper.loop is not loop:
            if not helper.loop.is_closed():
                return False  # another loop's: one helper at a time
            helper.close()
            self._helper = helper = None
        if helper is None:
            if self._helper_root is None:
                return False
            if time.monotonic() < self._helper_paused_until:
                return False
            self._helper = SyncHelper(
                self._helper_root, loop, self._helper_replied, self._helper_gone
            )
            return False
        return helper.ready

    def _ask_helper(self) -> None:
        assert self._helper is not None
        self._loop_round, self._loop_pending = self._loop_pending, []
        try:
            self._helper.request()
        except OSError as exc:
            log.warning("the sync helper process failed: %s", exc)
            self._helper.close()
            self._helper_gone(False)

    def _helper_replied(self, err: int) -> None:
        """On the loop: the helper's ``syncfs`` for the round in flight."""
        batch, self._loop_round = self._loop_round or [], None
        failure: BaseException | None = None
        if err:
            failure = OSError(err, os.strerror(err))
            try:
                self._take_out(batch)
            except BaseException as exc:
                log.exception("group commit failed")
                failure = exc
        _settle(
            [(p.waiter, failure) for p in batch if isinstance(p.waiter, LoopWaiter)]
        )
        if self._loop_pending and self._helper is not None:
            self._ask_helper()

    def _helper_gone(self, quiet: bool) -> None:
        """The helper left (``quiet``: idle) or failed: the thread takes what
        it was asked and not answered, and what waits for it."""
        self._helper = None
        if not quiet:
            log.warning("the sync helper process stopped: syncing in a thread")
            self._helper_paused_until = time.monotonic() + HELPER_PAUSE_SECONDS
        left = (self._loop_round or []) + self._loop_pending
        self._loop_round, self._loop_pending = None, []
        for pending in left:
            self._register_thread(pending)

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
            self._take_out(batch)
            return exc
        return None

    def _take_out(self, batch: list[Pending]) -> None:
        """``rollback`` a failed round's deliveries, folder by folder."""
        folders: dict[int, tuple[Folder, threading.RLock, list[Entry]]] = {}
        for p in batch:
            folders.setdefault(id(p.folder), (p.folder, p.lock, []))[2].append(p.entry)
        for folder, lock, entries in folders.values():
            with lock:
                self._rollback(folder, entries)

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
