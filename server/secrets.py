"""Secrets the core must replay: the smart host password (and later fetch).

What it does
- Stores and reads passwords in the operating system's keyring through the
  ``keyring`` package, with the backend chosen *explicitly*: the platform's own
  secure store (Windows Credential Locker, macOS Keychain, Secret Service /
  KWallet on a Linux desktop) when ``keyring`` finds one that works.
- Where there is none (headless Linux: ``keyring`` then picks ``fail.Keyring``,
  whose every call raises ``NoKeyringError``), or a backend that would prompt on
  a terminal (``keyrings.cryptfile``) or store plain text anyway
  (``keyrings.alt``), it falls back to ``secrets.json`` in the data folder, mode
  0600, written atomically. ``backend_description()`` says which, in words the
  window can show ("stored in a file because no keyring is available").

What it does not do: encrypt the fallback file (a key stored next to it would
add nothing), or ever log a secret. Every call blocks (keyring backends talk
D-Bus or the OS): call it through ``asyncio.to_thread``.

``keyring`` is imported lazily: it costs ~45 ms to import and ~50 ms on first use.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.fsutil import atomic_write

log = logging.getLogger("quicksilver.secrets")

SERVICE = "Quicksilver"
FILE_NAME = "secrets.json"

# Backends we never use even when ``keyring`` would pick them.
_UNSUITABLE = ("keyring.backends.fail", "keyring.backends.null", "keyrings.cryptfile")
_PLAINTEXT = ("keyrings.alt",)


@dataclass(frozen=True)
class SecretsBackend:
    """Where secrets are stored, for the window."""

    description: str
    uses_file: bool


def relay_key(host: str, username: str) -> str:
    """The secret's name for a smart host login."""
    return f"relay:{username}@{host.lower()}"


class SecretStore:
    """Password storage with an explicit backend and a 0600 file fallback."""

    def __init__(self, data_dir: Path, backend: Any = None) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self._backend = backend
        self._chosen = backend is not None
        self._lock = threading.Lock()
        self._reason = ""

    # -- backend choice ---------------------------------------------------------
    def _choose(self) -> Any:
        """The keyring backend to use, or None for the file."""
        if self._chosen:
            return self._backend
        self._chosen = True
        try:
            import keyring
            from keyring.backends import chainer

            kr = keyring.get_keyring()
            candidates = (
                list(kr.backends) if isinstance(kr, chainer.ChainerBackend) else [kr]
            )
        except Exception as exc:  # a broken keyring install must not stop us
            self._reason = f"the keyring could not be loaded ({type(exc).__name__})"
            log.warning("keyring unavailable, using %s: %s", FILE_NAME, exc)
            return None
        for be in candidates:
            mod = type(be).__module__
            if mod.startswith(_UNSUITABLE) or mod.startswith(_PLAINTEXT):
                continue
            self._backend = be
            return be
        self._reason = "no keyring is available"
        return None

    def backend_description(self) -> str:
        """Where secrets go, in words for the window."""
        be = self._choose()
        if be is None:
            return (
                f"Passwords are stored in a file ({self.path.name}, readable only by "
                f"you) because {self._reason or 'no keyring is available'}."
            )
        name = getattr(be, "name", None) or type(be).__name__
        return f"Passwords are stored in the system keyring ({name})."

    @property
    def uses_file(self) -> bool:
        return self._choose() is None

    # -- file fallback ----------------------------------------------------------
    def _read_file(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("cannot read %s: %s", self.path.name, type(exc).__name__)
            return {}
        return (
            {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        )

    def _write_file(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(data, indent=1).encode(), mode=0o600)
        os.chmod(self.path, 0o600)

    # -- API ----------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        be = self._choose()
        if be is not None:
            from keyring.errors import KeyringError

            try:
                value = be.get_password(SERVICE, key)
                return None if value is None else str(value)
            except KeyringError as exc:
                log.warning("keyring read failed (%s); trying %s", exc, FILE_NAME)
        with self._lock:
            return self._read_file().get(key)

    def set(self, key: str, value: str) -> None:
        be = self._choose()
        if be is not None:
            from keyring.errors import KeyringError

            try:
                be.set_password(SERVICE, key, value)
                return
            except KeyringError as exc:
                log.warning("keyring write failed (%s); using %s", exc, FILE_NAME)
        with self._lock:
            data = self._read_file()
            data[key] = value
            self._write_file(data)

    def delete(self, key: str) -> None:
        be = self._choose()
        if be is not None:
            from keyring.errors import KeyringError, PasswordDeleteError

            try:
                be.delete_password(SERVICE, key)
            except PasswordDeleteError:
                pass
            except KeyringError as exc:
                log.warning("keyring delete failed: %s", exc)
        with self._lock:
            data = self._read_file()
            if key in data:
                del data[key]
                self._write_file(data)
