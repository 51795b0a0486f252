"""Finding and compiling the scripts of one delivery: the user's active script
and the global before/after scripts (``ScriptFinder``), compiled once per
change and kept in a bounded cache (``ScriptCache``). File I/O: called in a
worker thread by ``deliver.py``.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from server.errors import MailError
from server.sieve.compiler import CompiledScript, Node, compile_script
from server.sieve.errors import SieveSyntaxError
from server.sieve.fast import cheap
from server.sieve.store import (
    ACTIVE_FILE,
    MAX_GLOBAL_SCRIPTS,
    MAX_SCRIPT_BYTES,
    Phase,
    ScriptStore,
    file_name,
    script_name,
)
from server.sieve.store import (
    generation as store_generation,
)

log = logging.getLogger("quicksilver.sieve")

PHASES: tuple[Phase, Phase] = ("before", "after")
# Compiled scripts kept: every user with an active script plus the global ones
# for a small office; the source size stands in for the compiled size.
MAX_CACHED_SCRIPTS = 512
MAX_CACHED_SOURCE_BYTES = 16 * 1024 * 1024
# A folder listing is trusted as "no global script" only when taken this long
# after the folder last changed: file times are coarse (a few ms on Linux,
# 2 s on FAT), so a script written in the same tick as the listing would not
# change the folder's time again.
RACY_SECONDS = 2.0
# How long load_cached trusts its answer without a stat when no ScriptStore
# of this process changed anything (a change by hand or by another process
# shows within this time; the settings file is polled as often).
RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class LoadedScript:
    """A compiled script; ``needs_folders``: it asks RFC 5490's
    ``mailboxexists``, so the run needs the user's folder list; ``cheap``:
    it may run on the core loop for a small message (fast.cheap)."""

    script: CompiledScript
    needs_folders: bool
    cheap: bool = False


Signature = tuple[int, int, int]  # inode, mtime_ns, size
_Seen = tuple[str, Signature | None]  # a path and its stat (None: absent)


def _signature(st: os.stat_result) -> Signature:
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _stat(path: str) -> Signature | None:
    try:
        return _signature(os.stat(path))
    except OSError:
        return None


@dataclass(slots=True)
class _Memo:
    """One ``load_cached`` answer: the paths it rests on with their stats,
    the scripts, and the store generation and time it was last checked."""

    seen: tuple[_Seen, ...]
    loaded: list[LoadedScript]
    generation: int
    checked: float


class _NeedsIO(Exception):
    """``load_cached``: the answer needs more than a stat (a listing, a
    read, a compilation)."""


@dataclass
class _Cached:
    signature: tuple[int, int, int]  # inode, mtime_ns, size
    loaded: LoadedScript | None  # None: does not compile
    size: int


def _uses_test(nodes: Sequence[Node], name: str) -> bool:
    for n in nodes:
        if n.name == name or _uses_test(n.tests, name) or _uses_test(n.block, name):
            return True
        for test, block in n.branches:
            if _uses_test((test,), name) or _uses_test(block, name):
                return True
        if n.else_block is not None and _uses_test(n.else_block, name):
            return True
    return False


class ScriptCache:
    """Compiled scripts by path, recompiled when the file changes.

    Keyed by (path, inode, mtime_ns, size): the store replaces a script by
    renaming a new file over it (a new inode), so an edit is seen even within
    one tick of the file system's clock. Least recently used entries go when
    ``max_scripts`` or ``max_bytes`` (source size) is passed. Thread-safe;
    ``load`` does file I/O (call it in a worker thread).
    """

    def __init__(
        self,
        max_scripts: int = MAX_CACHED_SCRIPTS,
        max_bytes: int = MAX_CACHED_SOURCE_BYTES,
    ) -> None:
        self.max_scripts = max_scripts
        self.max_bytes = max_bytes
        self._entries: collections.OrderedDict[str, _Cached] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._compile_lock = threading.Lock()
        self.compiles = 0  # how many compilations ran (tests, bench)

    def __len__(self) -> int:
        return len(self._entries)

    def load(
        self,
        path: Path,
        label: str,
        cached_only: bool = False,
        record: list[_Seen] | None = None,
    ) -> LoadedScript | None:
        """The compiled script at ``path``; None if absent or broken.
        ``cached_only``: raise ``_NeedsIO`` rather than read and compile;
        ``record`` gets the path and what its stat said."""
        key = str(path)
        try:
            st = os.stat(key)
        except (FileNotFoundError, NotADirectoryError):
            if record is not None:
                record.append((key, None))
            return None
        except OSError as exc:
            log.warning("sieve script %s cannot be read: %s", label, exc.strerror)
            return None
        if record is not None:
            record.append((key, _signature(st)))
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit.signature == (
                st.st_ino,
                st.st_mtime_ns,
                st.st_size,
            ):
                self._entries.move_to_end(key)
                return hit.loaded
        if cached_only:
            raise _NeedsIO
        with self._compile_lock:  # one compilation per change, not one per thread
            return self._compile(path, key, label)

    def _compile(self, path: Path, key: str, label: str) -> LoadedScript | None:
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                sig = (st.st_ino, st.st_mtime_ns, st.st_size)
                with self._lock:
                    hit = self._entries.get(key)
                    if hit is not None and hit.signature == sig:
                        return hit.loaded  # another thread compiled it
                if st.st_size > MAX_SCRIPT_BYTES:
                    log.warning(
                        "sieve script %s is larger than %d bytes: ignored",
                        label,
                        MAX_SCRIPT_BYTES,
                    )
                    self._put(key, _Cached(sig, None, 0))
                    return None
                text = f.read(MAX_SCRIPT_BYTES + 1)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            log.warning("sieve script %s cannot be read: %s", label, exc.strerror)
            return None
        loaded: LoadedScript | None
        try:
            script = compile_script(text.decode("utf-8", "replace"), label)
            loaded = LoadedScript(
                script,
                "mailbox" in script.extensions
                and _uses_test(script.commands, "mailboxexists"),
                cheap(script),
            )
        except SieveSyntaxError as exc:
            log.warning(
                "sieve script %s does not compile (line %d: %s): ignored, mail is kept",
                label,
                exc.line,
                exc.message,
            )
            loaded = None
        except Exception:  # a defect of the compiler must not stop delivery
            log.exception("sieve script %s: compiler failure; ignored", label)
            loaded = None
        self.compiles += 1
        self._put(key, _Cached(sig, loaded, len(text)))
        return loaded

    def _put(self, key: str, entry: _Cached) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._entries[key] = entry
            self._bytes += entry.size
            while self._entries and (
                len(self._entries) > self.max_scripts or self._bytes > self.max_bytes
            ):
                _, gone = self._entries.popitem(last=False)
                self._bytes -= gone.size


class ScriptFinder:
    """Which scripts run for a user, from the ``ScriptStore`` layout."""

    def __init__(
        self,
        store: ScriptStore,
        cache: ScriptCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.cache = cache or ScriptCache()
        # phase -> ((inode, mtime_ns) of the folder, script paths in order)
        self._globals: dict[str, tuple[tuple[int, int], tuple[Path, ...]]] = {}
        # marker path -> ((inode, mtime_ns, size), active script name)
        self._markers: dict[str, tuple[tuple[int, int, int], str]] = {}
        self._memo: dict[str, _Memo] = {}  # load_cached's answers by user
        self._clock = clock

    def probe(self, user: str) -> bool:
        """False when surely no script runs for ``user`` (stats only: safe on
        the loop). True means "look in a worker thread"."""
        for phase in PHASES:
            try:
                st = os.stat(self.store.global_dir(phase))
            except OSError:
                continue
            known = self._globals.get(phase)
            if known is None or known[0] != (st.st_ino, st.st_mtime_ns) or known[1]:
                return True
        try:
            os.stat(self.store.user_dir(user) / ACTIVE_FILE)
        except (OSError, MailError):
            return False
        return True

    def _global_paths(
        self, phase: Phase, cached_only: bool, record: list[_Seen] | None
    ) -> tuple[Path, ...]:
        folder = self.store.global_dir(phase)
        try:
            st = os.stat(folder)
        except OSError:
            self._globals.pop(phase, None)
            if record is not None:
                record.append((str(folder), None))
            return ()
        if record is not None:
            record.append((str(folder), _signature(st)))
        sig = (st.st_ino, st.st_mtime_ns)
        known = self._globals.get(phase)
        if known is not None and known[0] == sig:
            return known[1]
        if cached_only:
            raise _NeedsIO
        listed_at = time.time()
        try:
            names = os.listdir(folder)
        except OSError:
            return ()
        found = sorted(
            (n, folder / f) for f in names if (n := script_name(f)) is not None
        )
        paths = tuple(p for _, p in found[:MAX_GLOBAL_SCRIPTS])
        if listed_at - st.st_mtime_ns / 1e9 > RACY_SECONDS:
            self._globals[phase] = (sig, paths)
        else:
            self._globals.pop(phase, None)
        return paths

    def load(
        self,
        user: str,
        cached_only: bool = False,
        record: list[_Seen] | None = None,
    ) -> list[LoadedScript]:
        """Blocking: the compiled scripts to run for ``user``, in order.
        ``cached_only``: raise ``_NeedsIO`` when more than stats are needed;
        ``record`` gets every path looked at and what its stat said."""
        before = self._phase("before", cached_only, record)
        mine: list[LoadedScript] = []
        try:
            folder = self.store.user_dir(user)
            marker = self._active_name(folder / ACTIVE_FILE, cached_only, record)
        except MailError:
            marker = ""
        if marker:
            script = self.cache.load(
                folder / file_name(marker), marker, cached_only, record
            )
            if script is not None:
                mine.append(script)
        return before + mine + self._phase("after", cached_only, record)

    def load_cached(self, user: str) -> list[LoadedScript] | None:
        """The scripts for ``user`` if every one is known and unchanged, else
        None. Stats only, as ``probe``: fine on the core loop.

        The answer is remembered with the stat of every path it rests on.
        While no ScriptStore of this process changed anything
        (``store.generation``), it is trusted for ``RECHECK_SECONDS``, then
        those stats are taken again: a script edited by hand or by another
        process is seen within that time, one changed here at once."""
        generation = store_generation()
        now = self._clock()
        memo = self._memo.get(user)
        if memo is not None:
            if memo.generation == generation and now - memo.checked < RECHECK_SECONDS:
                return memo.loaded
            if all(_stat(path) == sig for path, sig in memo.seen):
                memo.generation, memo.checked = generation, now
                return memo.loaded
        record: list[_Seen] = []
        try:
            loaded = self.load(user, cached_only=True, record=record)
        except _NeedsIO:
            return None
        if len(self._memo) >= MAX_CACHED_SCRIPTS:
            self._memo.clear()
        self._memo[user] = _Memo(tuple(record), loaded, generation, now)
        return loaded

    def _active_name(
        self, path: Path, cached_only: bool, record: list[_Seen] | None
    ) -> str:
        """The name in a user's ``.active`` marker ("" if none), re-read only
        when the marker file changes (the store replaces it by rename)."""
        key = str(path)
        try:
            st = os.stat(key)
        except OSError:
            if record is not None:
                record.append((key, None))
            return ""
        sig = _signature(st)
        if record is not None:
            record.append((key, sig))
        known = self._markers.get(key)
        if known is not None and known[0] == sig:
            return known[1]
        if cached_only:
            raise _NeedsIO
        try:
            name = path.read_text("utf-8").strip("\r\n")
        except (OSError, UnicodeDecodeError):
            return ""
        if len(self._markers) >= MAX_CACHED_SCRIPTS:
            self._markers.clear()
        self._markers[key] = (sig, name)
        return name

    def _phase(
        self, phase: Phase, cached_only: bool, record: list[_Seen] | None
    ) -> list[LoadedScript]:
        out: list[LoadedScript] = []
        for path in self._global_paths(phase, cached_only, record):
            name = script_name(path.name) or path.name
            label = f"@global/{phase}/{name}"
            script = self.cache.load(path, label, cached_only, record)
            if script is not None:
                out.append(script)
        return out


# -- one delivery --------------------------------------------------------------------
