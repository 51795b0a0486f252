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
from collections.abc import Sequence
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


@dataclass(frozen=True)
class LoadedScript:
    """A compiled script; ``needs_folders``: it asks RFC 5490's
    ``mailboxexists``, so the run needs the user's folder list; ``cheap``:
    it may run on the core loop for a small message (fast.cheap)."""

    script: CompiledScript
    needs_folders: bool
    cheap: bool = False


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
        self, path: Path, label: str, cached_only: bool = False
    ) -> LoadedScript | None:
        """The compiled script at ``path``; None if absent or broken.
        ``cached_only``: raise ``_NeedsIO`` rather than read and compile."""
        key = str(path)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            log.warning("sieve script %s cannot be read: %s", label, exc.strerror)
            return None
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

    def __init__(self, store: ScriptStore, cache: ScriptCache | None = None) -> None:
        self.store = store
        self.cache = cache or ScriptCache()
        # phase -> ((inode, mtime_ns) of the folder, script paths in order)
        self._globals: dict[str, tuple[tuple[int, int], tuple[Path, ...]]] = {}
        # marker path -> ((inode, mtime_ns, size), active script name)
        self._markers: dict[str, tuple[tuple[int, int, int], str]] = {}

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

    def _global_paths(self, phase: Phase, cached_only: bool) -> tuple[Path, ...]:
        folder = self.store.global_dir(phase)
        try:
            st = os.stat(folder)
        except OSError:
            self._globals.pop(phase, None)
            return ()
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

    def load(self, user: str, cached_only: bool = False) -> list[LoadedScript]:
        """Blocking: the compiled scripts to run for ``user``, in order.
        ``cached_only``: raise ``_NeedsIO`` when more than stats are needed."""
        before = self._phase("before", cached_only)
        mine: list[LoadedScript] = []
        try:
            folder = self.store.user_dir(user)
            marker = self._active_name(folder / ACTIVE_FILE, cached_only)
        except MailError:
            marker = ""
        if marker:
            script = self.cache.load(folder / file_name(marker), marker, cached_only)
            if script is not None:
                mine.append(script)
        return before + mine + self._phase("after", cached_only)

    def load_cached(self, user: str) -> list[LoadedScript] | None:
        """The scripts for ``user`` if every one is known and unchanged (a
        few stats, as ``probe``: fine on the core loop), else None."""
        try:
            return self.load(user, cached_only=True)
        except _NeedsIO:
            return None

    def _active_name(self, path: Path, cached_only: bool) -> str:
        """The name in a user's ``.active`` marker ("" if none), re-read only
        when the marker file changes (the store replaces it by rename)."""
        try:
            st = os.stat(path)
        except OSError:
            return ""
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        key = str(path)
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

    def _phase(self, phase: Phase, cached_only: bool) -> list[LoadedScript]:
        out: list[LoadedScript] = []
        for path in self._global_paths(phase, cached_only):
            name = script_name(path.name) or path.name
            script = self.cache.load(path, f"@global/{phase}/{name}", cached_only)
            if script is not None:
                out.append(script)
        return out


# -- one delivery --------------------------------------------------------------------
