"""The group commit's ``syncfs`` in a helper process, for the event loop.

A committer thread in this process (maildir_commit.py) costs every round two
hand-overs of the interpreter lock with the busy loop and a self-pipe write
to wake it: about 0.2 ms of CPU per message at 800 messages a second, more
than the ``syncfs`` itself. A child process has no interpreter lock to share:
the loop writes one byte to its pipe, the child calls ``syncfs`` on a folder
of the store's file system and answers with one line, which the loop reads
with ``add_reader``. Measured under smtp-source (8 connections, 4 KB
messages, 8 alternating rounds of 2,000): the core process's CPU per message
1.26 -> 0.98 ms, its loop thread's 1.07 -> 0.98 ms, 807 -> 915 msg/s.

The child is a few lines of Python (``CHILD``) run with ``-I`` by this
interpreter: it imports nothing of ours, so it starts in tens of
milliseconds, off the loop (a worker thread waits for the ``exec``). It
answers ``ready`` once it holds the folder open (a write-back error is
reported to descriptors open when it happened, as with the thread's kept
descriptor), then ``ok`` or ``err <errno>`` per request, and ``idle`` before
it leaves after ``IDLE_SECONDS`` without one. It also leaves when this
process goes (its pipe ends). Whatever it was asked and did not answer goes
back to the committer thread, whose own ``syncfs`` covers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

log = logging.getLogger("quicksilver.storage")

IDLE_SECONDS = 5.0  # the child leaves after this long without a request
MAX_REPLY_LINE = 64  # bytes; a longer line is not from our child
REAP_SECONDS = 1.0  # a child that has not left this long after its pipe's end

CHILD = r"""
import ctypes, os, select, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
os.write(1, b"ready\n")
while select.select([0], [], [], float(sys.argv[2]))[0]:
    if not os.read(0, 64):
        break
    if libc.syncfs(fd) == 0:
        os.write(1, b"ok\n")
    else:
        os.write(1, b"err %d\n" % (ctypes.get_errno() or 5))
else:
    os.write(1, b"idle\n")
"""


def wanted() -> bool:
    """Whether a store should sync through a helper process: where there is
    ``syncfs``, a second core for the child, and an interpreter to run it
    (not in a frozen bundle, whose executable is the application).
    ``QUICKSILVER_SYNC_HELPER=0`` keeps the committer thread."""
    from server import fsutil

    return (
        fsutil.syncfs_available()
        and not getattr(sys, "frozen", False)
        and (os.cpu_count() or 1) > 1
        and os.environ.get("QUICKSILVER_SYNC_HELPER") != "0"
    )


class SyncHelper:
    """One child process calling ``syncfs`` for one event loop.

    Made on ``loop``'s thread and used only there. ``on_reply(errno)``
    (0: synced) answers each ``request``; ``on_gone(quiet)`` says the child
    went, ``quiet`` when it left because it was idle (or was closed), not
    because it failed. After ``on_gone`` nothing more is called."""

    command: ClassVar[str] = CHILD  # what the child runs (tests replace it)

    def __init__(
        self,
        root: Path,
        loop: asyncio.AbstractEventLoop,
        on_reply: Callable[[int], None],
        on_gone: Callable[[bool], None],
    ) -> None:
        self.loop = loop
        self.ready = False
        self._on_reply = on_reply
        self._on_gone = on_gone
        self._proc: subprocess.Popen[bytes] | None = None
        self._finish: weakref.finalize[[subprocess.Popen[bytes]], SyncHelper] | None = (
            None
        )
        self._buffer = b""
        self._gone = False
        started = loop.run_in_executor(None, self._spawn, root)
        started.add_done_callback(self._spawned)

    def _spawn(self, root: Path) -> subprocess.Popen[bytes]:
        """In a worker thread: start the child. Its pipes are closed and it
        is waited for by ``_finish``, at ``close`` or when this object goes
        (also when the loop closed before it heard of the child)."""
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", self.command, str(root), str(IDLE_SECONDS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self._finish = weakref.finalize(self, _finish, proc)
        self._proc = proc
        return proc

    def _spawned(self, started: asyncio.Future[subprocess.Popen[bytes]]) -> None:
        if started.cancelled() or started.exception() is not None:
            log.warning(
                "syncs run in a thread (no helper process: %s)",
                started.exception() if not started.cancelled() else "cancelled",
            )
            self._end(quiet=False)
            return
        proc = started.result()
        if self._gone:  # closed while it started
            self._stop_child()
            return
        assert proc.stdout is not None
        try:
            os.set_blocking(proc.stdout.fileno(), False)
            self.loop.add_reader(proc.stdout.fileno(), self._readable)
        except (NotImplementedError, OSError, RuntimeError) as exc:
            log.warning("syncs run in a thread (helper not readable: %s)", exc)
            self._end(quiet=False)

    def request(self) -> None:
        """Ask for one ``syncfs``; its answer comes to ``on_reply``. Raises
        ``OSError`` when the child is gone (the caller's batch then needs
        another way)."""
        if self._proc is None or self._proc.stdin is None or not self.ready:
            raise OSError("the sync helper is not running")
        os.write(self._proc.stdin.fileno(), b"s")

    def _readable(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            data = os.read(self._proc.stdout.fileno(), 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._end(quiet=False)
            return
        self._buffer += data
        while b"\n" in self._buffer and not self._gone:
            line, self._buffer = self._buffer.split(b"\n", 1)
            self._line(line)
        if len(self._buffer) > MAX_REPLY_LINE:
            self._end(quiet=False)

    def _line(self, line: bytes) -> None:
        if line == b"ready":
            self.ready = True
        elif line == b"ok":
            self._on_reply(0)
        elif line.startswith(b"err ") and line[4:].isdigit():
            self._on_reply(int(line[4:]) or 5)
        elif line == b"idle":
            self._end(quiet=True)
        else:
            self._end(quiet=False)

    def close(self) -> None:
        """Stop the child (it leaves when its pipe ends); no more calls."""
        if not self._gone:
            self._gone = True
            self.ready = False
            self._stop_child()

    def _end(self, quiet: bool) -> None:
        if self._gone:
            return
        self.close()
        self._on_gone(quiet)

    def _stop_child(self) -> None:
        proc = self._proc
        if proc is None or self._finish is None or not self._finish.alive:
            return  # not started yet (``_spawned`` comes back), or done
        if proc.stdout is not None and not self.loop.is_closed():
            self.loop.remove_reader(proc.stdout.fileno())
        self._finish()


def _finish(proc: subprocess.Popen[bytes]) -> None:
    """Close the child's pipes and wait for it: it is reading, sees the end
    and leaves within milliseconds. One still in a ``syncfs`` of a stuck
    disk after ``REAP_SECONDS`` is killed, and not waited for longer."""
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()
    try:
        proc.wait(REAP_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(REAP_SECONDS)
