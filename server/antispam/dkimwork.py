"""DKIM and ARC verification of one message (dkimpy), and where it runs.

``verify`` is pure: the message, the key records its signatures name
(fetched by the caller, on the loop, beforehand) and how many signatures to
check; it never asks DNS. A key name the caller has no answer for counts as
having no key (``b""``); ``None`` means the question failed for now
(temperror).

``DkimPool`` runs it off the core loop. dkimpy is pure Python (body
canonicalization with regular expressions, RSA through Python integers):
about 0.45 ms per signature here, holding the interpreter lock, so in a
thread it slows every other session. On a machine with two or more cores it
runs in one worker process instead (``multiprocessing`` with "spawn": no fork
of a process that has threads and Qt), started at first use and stopped with
the smtp module; a worker that dies is replaced, and the message in hand is
verified in a thread meanwhile. With one core, or where no process can be
started, a worker thread does it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import pickle
import socket
import struct
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("quicksilver.smtp")
# dkimpy logs every bad signature at ERROR ("missing public key"): what a
# sender wrote is not our error, and the verdict says it already
logging.getLogger("dkimpy").setLevel(logging.CRITICAL)

# a message up to this size is pickled for the worker on the loop (a copy of
# a few hundred microseconds at most); a larger one in a worker thread
INLINE_PICKLE_BYTES = 1024 * 1024
# a request goes to the worker in pieces of this size, each written when the
# last has left: the transport copies what the socket does not take at once,
# and one 30 MB write was three 30 MB copies on the loop (40 ms)
SEND_CHUNK_BYTES = 256 * 1024

# (result, d=, s=) per signature, and the ARC chain's validation
Verdicts = tuple[tuple[tuple[str, str, str], ...], str]


class _Temporary(Exception):
    pass


def _token(raw: bytes) -> str:
    """A signature's d= or s= as it may appear in our header field: the
    characters of a domain name only (the sender wrote it), at most 253."""
    text = raw.decode("ascii", "replace")
    return "".join(c for c in text if c.isalnum() or c in ".-_")[:253]


def verify(
    message: bytes, keys: Mapping[str, bytes | None], count: int, has_arc: bool
) -> Verdicts:
    """Each of the first ``count`` DKIM signatures' verdict, and ARC's."""
    import dkim

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        value = keys.get(name.decode("ascii", "replace").rstrip(".").lower(), b"")
        if value is None:
            raise _Temporary()
        return value

    out = []
    for i in range(count):
        d = dkim.DKIM(message)
        try:
            result = "pass" if d.verify(idx=i, dnsfunc=dnsfunc) else "fail"
        except _Temporary:
            result = "temperror"
        except dkim.ValidationError:
            result = "fail"
        except Exception:
            result = "permerror"
        sig = getattr(d, "signature_fields", {}) or {}
        out.append(
            (result, _token(sig.get(b"d", b"")).lower(), _token(sig.get(b"s", b"")))
        )
    arc = "none"
    if has_arc:
        try:
            cv, _, _ = dkim.arc_verify(message, dnsfunc=dnsfunc)
            arc = {b"pass": "pass", b"fail": "fail"}.get(cv, "none")
        except _Temporary:
            arc = "temperror"
        except Exception:
            arc = "fail"
    return tuple(out), arc


def serve(conn: Any) -> None:
    """The worker process: requests in, verdicts out, until the core closes
    the connection. A request is a pickled ``(id, message, keys, count,
    has_arc)``; an answer ``(id, verdicts)``."""
    import dkim  # noqa: F401  (imported before the first message)

    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        ident, message, keys, count, has_arc = pickle.loads(data)
        try:
            answer: Verdicts | None = verify(message, keys, count, has_arc)
        except Exception:  # never seen: then the core verifies in a thread
            answer = None
        conn.send_bytes(pickle.dumps((ident, answer), pickle.HIGHEST_PROTOCOL))


class _Worker:
    """One worker process and the socket to it, read by the core loop (no
    helper threads: a thread in this process would wait for the interpreter
    lock, up to 5 ms per hand-over, behind the busy loop)."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        ours, theirs = ctx.Pipe(duplex=True)  # a socket pair on POSIX
        self.process = ctx.Process(
            target=serve, args=(theirs,), name="quicksilver-dkim", daemon=True
        )
        self.process.start()
        theirs.close()
        self._conn = ours
        self.writer: asyncio.StreamWriter | None = None
        self.reader: asyncio.StreamReader | None = None
        self.pending: dict[int, asyncio.Future[Verdicts | None]] = {}
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._sending = asyncio.Lock()  # one request's pieces at a time

    async def open(self) -> None:
        sock = socket.socket(fileno=os.dup(self._conn.fileno()))
        self._conn.close()
        self.reader, self.writer = await asyncio.open_connection(sock=sock)
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.reader is not None
        try:
            while True:
                (size,) = struct.unpack("!i", await self.reader.readexactly(4))
                if size == -1:
                    (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
                ident, answer = pickle.loads(await self.reader.readexactly(size))
                future = self.pending.pop(ident, None)
                if future is not None and not future.done():
                    future.set_result(answer)
        except (asyncio.IncompleteReadError, OSError, pickle.UnpicklingError):
            pass
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_result(None)
            self.pending.clear()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def verify(
        self,
        message: bytes,
        keys: Mapping[str, bytes | None],
        count: int,
        has_arc: bool,
    ) -> Verdicts | None:
        """The verdicts, or None when the worker is gone (or failed)."""
        assert self.writer is not None
        ident = next(self._ids)
        request = (ident, message, dict(keys), count, has_arc)
        if len(message) > INLINE_PICKLE_BYTES:  # a copy of a big message
            data = await asyncio.to_thread(
                pickle.dumps, request, pickle.HIGHEST_PROTOCOL
            )
        else:
            data = pickle.dumps(request, pickle.HIGHEST_PROTOCOL)
        if len(data) > 0x7FFFFFFF:
            head = struct.pack("!i", -1) + struct.pack("!Q", len(data))
        else:
            head = struct.pack("!i", len(data))
        future: asyncio.Future[Verdicts | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.pending[ident] = future
        try:
            async with self._sending:
                sent = False
                try:
                    self.writer.write(head)
                    view = memoryview(data)
                    for start in range(0, len(view), SEND_CHUNK_BYTES):
                        self.writer.write(view[start : start + SEND_CHUNK_BYTES])
                        await self.writer.drain()
                    sent = True
                finally:
                    if not sent:  # half a request would garble the next one
                        self.close()
            return await future
        except (ConnectionError, OSError):
            return None
        finally:
            self.pending.pop(ident, None)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self._task is not None:
            self._task.cancel()
        if self.process.is_alive():
            self.process.terminate()  # it may be in the middle of a message


class DkimPool:
    """Where ``verify`` runs: one worker process, or a thread."""

    def __init__(self, use_process: bool | None = None) -> None:
        if use_process is None:
            use_process = (os.cpu_count() or 1) > 1
        self.use_process = use_process
        self._worker: _Worker | None = None
        self._starting: asyncio.Task[_Worker | None] | None = None

    async def _start(self) -> _Worker | None:
        try:
            worker = _Worker()
            await worker.open()
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("DKIM checks run in a thread (no worker process: %s)", exc)
            self.use_process = False
            return None
        self._worker = worker
        return worker

    async def _get(self) -> _Worker | None:
        if not self.use_process:
            return None
        if self._worker is not None and self._worker.alive:
            return self._worker
        if self._worker is not None:
            log.warning("the DKIM worker process stopped: starting another")
            self._worker.close()
            self._worker = None
        self.start()
        assert self._starting is not None
        return await asyncio.shield(self._starting)

    def start(self) -> None:
        """Start the worker now (a module start, not the first message)."""
        idle = self._starting is None or self._starting.done()
        if self.use_process and self._worker is None and idle:
            self._starting = asyncio.get_running_loop().create_task(self._start())

    async def verify(
        self,
        message: bytes,
        keys: Mapping[str, bytes | None],
        count: int,
        has_arc: bool,
    ) -> Verdicts:
        worker = await self._get()
        if worker is not None:
            found = await worker.verify(message, keys, count, has_arc)
            if found is not None:
                return found
        return await asyncio.to_thread(verify, message, keys, count, has_arc)

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if self._starting is not None:
            self._starting.cancel()
            self._starting = None
        if worker is not None:
            worker.close()
