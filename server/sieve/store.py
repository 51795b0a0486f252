"""Sieve scripts on disk: one folder per user, plain files a person can read.

Layout under the data folder's ``sieve/`` (backed up with it)::

    sieve/<domain>/<local>/<name>.sieve   a user's scripts (RFC 5804 names)
    sieve/<domain>/<local>/.active        the name of the active script, if any
    sieve/@global/before/*.sieve          run before every user's script
    sieve/@global/after/*.sieve           run after it (Pigeonhole's sieve_after)

``@`` cannot occur in a domain, so the global folder never meets a user's. A
script name becomes a file name by escaping (``%XX`` of its UTF-8 bytes) every
character that is not a letter, a digit or one of `` _-+=@,``; so ``vacation``
is ``vacation.sieve`` and no name can climb out of its folder, start with a dot
or be a Windows device. Two names that differ only in case would share a file
on Windows and macOS, so the second is refused as existing.

At most one script is active (RFC 5804 2.8). Writes are durable
(``fsutil.atomic_write``: tmp, fsync, rename, fsync dir) and a change is made
under one lock per store, so two sessions of one user cannot interleave a
rename with an activation. The store checks names, sizes and counts; it does
not parse scripts (callers compile first: ManageSieve's PUTSCRIPT refuses a
script with errors, RFC 5804 2.6). Calls do file I/O: run them off the core
loop.
"""

from __future__ import annotations

import itertools
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from server import fsutil
from server.storage.names import WINDOWS_DEVICE_NAMES, normalize_owner

SUFFIX = ".sieve"
ACTIVE_FILE = ".active"
GLOBAL_DIR = "@global"

# RFC 5804 1.6 leaves the limit to the server; Dovecot's default is 256 octets
# of UTF-8. Ours counts characters and stays well below file-name limits (255
# bytes) even when every character is escaped: 80 x up to 12 bytes.
MAX_NAME_CHARS = 80
# Dovecot's sieve_max_script_size default is 1 MiB; rules written in the window
# are a few KiB.
MAX_SCRIPT_BYTES = 1024 * 1024
# Dovecot's sieve_quota_max_scripts is unlimited by default; a person never
# needs hundreds, and listing stays cheap.
MAX_SCRIPTS = 64
# Dovecot's sieve_quota_max_storage is unlimited by default.
MAX_STORAGE_BYTES = 8 * 1024 * 1024
# Global scripts read per phase (before / after).
MAX_GLOBAL_SCRIPTS = 32

_FILE_SAFE = frozenset(" _-+=@,")

Phase = Literal["before", "after"]


# Every change made through any ScriptStore of this process bumps this
# count, so the delivery side (loading.ScriptFinder) sees it at once without
# a stat; a change made by hand or by another process (the CLI while the
# server runs) is seen within loading.RECHECK_SECONDS.
_changes = itertools.count(1)
_generation = 0


def generation() -> int:
    """How many script changes this process has made (any ScriptStore)."""
    return _generation


def _changed() -> None:
    global _generation
    _generation = next(_changes)


class ScriptStoreError(Exception):
    """A refused change. ``code`` is the ManageSieve response code (RFC 5804
    1.3): NONEXISTENT, ALREADYEXISTS, ACTIVE, QUOTA/MAXSCRIPTS, QUOTA/MAXSIZE
    or "" for a bad name; the message is safe to show a client."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ScriptInfo:
    name: str
    active: bool
    size: int


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid script name (RFC 5804 1.6), else raise.

    Refused: empty, too long, controls (C0, DEL, C1), the line and paragraph
    separators, and names not in Unicode NFC (the RFC's "SHOULD" made a rule,
    so one name has one spelling and one file).
    """
    if not name:
        raise ScriptStoreError("The script name is empty.")
    if len(name) > MAX_NAME_CHARS:
        raise ScriptStoreError(f"Script names are at most {MAX_NAME_CHARS} characters.")
    for ch in name:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code <= 0x9F or ch in "\u2028\u2029":
            raise ScriptStoreError("Script names cannot contain control characters.")
    if unicodedata.normalize("NFC", name) != name:
        raise ScriptStoreError("Script names must be in Unicode normal form C.")
    return name


def file_name(name: str) -> str:
    """The file name of script ``name`` (escaped, with the ``.sieve`` suffix)."""
    out: list[str] = []
    for ch in name:
        if ch.isalnum() or ch in _FILE_SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    text = "".join(out)
    if text.endswith(" "):  # Windows drops a trailing space
        text = text[:-1] + "%20"
    if text.split(".", 1)[0].lower() in WINDOWS_DEVICE_NAMES:
        text = "%" + f"{ord(text[0]):02X}" + text[1:]
    return text + SUFFIX


def script_name(filename: str) -> str | None:
    """The script name of a file in a user's folder, or None if not a script."""
    if not filename.endswith(SUFFIX) or filename.startswith("."):
        return None
    stem = filename[: -len(SUFFIX)]
    try:
        raw = bytearray()
        i = 0
        while i < len(stem):
            if stem[i] == "%":
                raw.append(int(stem[i + 1 : i + 3], 16))
                i += 3
            else:
                raw.extend(stem[i].encode("utf-8"))
                i += 1
        name = raw.decode("utf-8")
        check_name(name)
    except (ValueError, IndexError, ScriptStoreError):
        return None
    return name if file_name(name) == filename else None


class ScriptStore:
    """Every user's Sieve scripts and the global ones, under ``root``."""

    def __init__(
        self,
        root: Path,
        *,
        max_scripts: int = MAX_SCRIPTS,
        max_script_bytes: int = MAX_SCRIPT_BYTES,
        max_storage_bytes: int = MAX_STORAGE_BYTES,
    ) -> None:
        self.root = root
        self.max_scripts = max_scripts
        self.max_script_bytes = max_script_bytes
        self.max_storage_bytes = max_storage_bytes
        self._lock = threading.Lock()

    # -- where things are -------------------------------------------------

    def user_dir(self, user: str) -> Path:
        local, domain = normalize_owner(user)
        return self.root / domain / local

    def global_dir(self, phase: Phase) -> Path:
        return self.root / GLOBAL_DIR / phase

    # -- reading ----------------------------------------------------------

    def _scripts(self, folder: Path) -> dict[str, Path]:
        try:
            entries = list(folder.iterdir())
        except FileNotFoundError:
            return {}
        found: dict[str, Path] = {}
        for path in entries:
            name = script_name(path.name)
            if name is not None and path.is_file():
                found[name] = path
        return found

    def active_name(self, user: str) -> str | None:
        marker = self.user_dir(user) / ACTIVE_FILE
        try:
            name = marker.read_text("utf-8").strip("\r\n")
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        if not name or name not in self._scripts(self.user_dir(user)):
            return None  # a marker naming a deleted script means none is active
        return name

    def list_scripts(self, user: str) -> list[ScriptInfo]:
        """The user's scripts, sorted by name, the active one marked."""
        scripts = self._scripts(self.user_dir(user))
        active = self.active_name(user)
        return [
            ScriptInfo(name, name == active, path.stat().st_size)
            for name, path in sorted(scripts.items())
        ]

    def get(self, user: str, name: str) -> str:
        path = self._scripts(self.user_dir(user)).get(name)
        if path is None:
            raise ScriptStoreError("There is no script by that name.", "NONEXISTENT")
        return path.read_bytes().decode("utf-8", "replace")

    def active(self, user: str) -> tuple[str, str] | None:
        """``(name, text)`` of the user's active script, or None."""
        name = self.active_name(user)
        if name is None:
            return None
        try:
            return name, self.get(user, name)
        except (ScriptStoreError, FileNotFoundError):
            return None

    def global_scripts(self, phase: Phase) -> list[tuple[str, str]]:
        """``(name, text)`` of the global scripts of ``phase``, in name order."""
        scripts = sorted(self._scripts(self.global_dir(phase)).items())
        out: list[tuple[str, str]] = []
        for name, path in scripts[:MAX_GLOBAL_SCRIPTS]:
            try:
                out.append((name, path.read_bytes().decode("utf-8", "replace")))
            except FileNotFoundError:
                continue
        return out

    # -- space (RFC 5804 2.3 HAVESPACE) -----------------------------------

    def check_space(self, user: str, name: str, size: int) -> None:
        """Raise ``ScriptStoreError`` (QUOTA/...) if ``name`` of ``size`` bytes
        would not fit; replacing a script counts its old size as freed."""
        check_name(name)
        if size > self.max_script_bytes:
            raise ScriptStoreError(
                f"A script may be at most {self.max_script_bytes} bytes.",
                "QUOTA/MAXSIZE",
            )
        scripts = self._scripts(self.user_dir(user))
        existing = self._same_name(scripts, name)
        if existing is None and len(scripts) >= self.max_scripts:
            raise ScriptStoreError(
                f"At most {self.max_scripts} scripts are allowed.", "QUOTA/MAXSCRIPTS"
            )
        used = sum(p.stat().st_size for n, p in scripts.items() if n != existing)
        if used + size > self.max_storage_bytes:
            raise ScriptStoreError("Not enough space for this script.", "QUOTA/MAXSIZE")

    @staticmethod
    def _same_name(scripts: dict[str, Path], name: str) -> str | None:
        """The existing script ``name`` would overwrite: exact, or equal but
        for case (which shares a file on case-insensitive file systems)."""
        if name in scripts:
            return name
        folded = name.casefold()
        for other in scripts:
            if other.casefold() == folded:
                return other
        return None

    # -- changing ---------------------------------------------------------

    def put(self, user: str, name: str, text: str) -> None:
        """Store (create or replace) script ``name`` durably."""
        data = text.encode("utf-8")
        with self._lock:
            self.check_space(user, name, len(data))
            folder = self.user_dir(user)
            scripts = self._scripts(folder)
            same = self._same_name(scripts, name)
            if same is not None and same != name:
                raise ScriptStoreError(
                    "A script with that name in other case exists.", "ALREADYEXISTS"
                )
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fsutil.atomic_write(folder / file_name(name), data, mode=0o600)
            _changed()

    def put_global(self, phase: Phase, name: str, text: str) -> None:
        data = text.encode("utf-8")
        check_name(name)
        if len(data) > self.max_script_bytes:
            raise ScriptStoreError(
                f"A script may be at most {self.max_script_bytes} bytes.",
                "QUOTA/MAXSIZE",
            )
        with self._lock:
            folder = self.global_dir(phase)
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fsutil.atomic_write(folder / file_name(name), data, mode=0o600)
            _changed()

    def delete_global(self, phase: Phase, name: str) -> None:
        with self._lock:
            path = self._scripts(self.global_dir(phase)).get(name)
            if path is None:
                raise ScriptStoreError(
                    "There is no script by that name.", "NONEXISTENT"
                )
            path.unlink()
            fsutil.fsync_dir(path.parent)
            _changed()

    def delete(self, user: str, name: str) -> None:
        """Delete a script; the active one cannot be (RFC 5804 2.10)."""
        with self._lock:
            folder = self.user_dir(user)
            path = self._scripts(folder).get(name)
            if path is None:
                raise ScriptStoreError(
                    "There is no script by that name.", "NONEXISTENT"
                )
            if self.active_name(user) == name:
                raise ScriptStoreError("The active script cannot be deleted.", "ACTIVE")
            path.unlink()
            fsutil.fsync_dir(folder)
            _changed()

    def rename(self, user: str, old: str, new: str) -> None:
        """Rename a script, keeping it active if it was (RFC 5804 2.11.1)."""
        check_name(new)
        with self._lock:
            folder = self.user_dir(user)
            scripts = self._scripts(folder)
            path = scripts.get(old)
            if path is None:
                raise ScriptStoreError(
                    "There is no script by that name.", "NONEXISTENT"
                )
            same = self._same_name(scripts, new)
            if same is not None and same != old:
                raise ScriptStoreError("A script by that name exists.", "ALREADYEXISTS")
            was_active = self.active_name(user) == old
            target = folder / file_name(new)
            if was_active:
                # Write the new marker first: a crash between the two steps
                # leaves the marker naming a missing script (none active) for
                # a moment, never the old script active under a stale name.
                self._write_marker(folder, new)
            path.replace(target)
            fsutil.fsync_dir(folder)
            _changed()

    def set_active(self, user: str, name: str | None) -> None:
        """Make ``name`` the active script; None (the empty name) deactivates."""
        with self._lock:
            folder = self.user_dir(user)
            if name is None or name == "":
                try:
                    (folder / ACTIVE_FILE).unlink()
                    fsutil.fsync_dir(folder)
                except FileNotFoundError:
                    pass
                _changed()
                return
            if name not in self._scripts(folder):
                raise ScriptStoreError(
                    "There is no script by that name.", "NONEXISTENT"
                )
            self._write_marker(folder, name)
            _changed()

    @staticmethod
    def _write_marker(folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fsutil.atomic_write(
            folder / ACTIVE_FILE, name.encode("utf-8") + b"\n", mode=0o600
        )
