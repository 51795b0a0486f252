"""Legacy client passwords: the secret APOP (RFC 1939 7) and CRAM-MD5
(RFC 2195) need, which the server must be able to read back.

A user's normal password is kept only as an Argon2id hash, which these two
mechanisms cannot check. A user may therefore get a *separate* legacy
password: generated here (``LEGACY_LENGTH`` letters and digits, shown once),
stored encrypted (AES-256-GCM, the address as associated data, so a record
cannot be moved to another user) in ``legacy-secrets.json`` (0600) in the
data folder, with the key in the secrets store (the OS keyring, or the 0600
``secrets.json`` where only keyring's fail backend exists). The normal
password never becomes recoverable, and a legacy password logs in only
through APOP and CRAM-MD5.

Every call blocks (the keyring, the file): call through ``asyncio.to_thread``,
except ``has_any``, which reads what is in memory (the file is read again
when another process changed it, at most every ``RELOAD_SECONDS``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import string
import threading
import time
from collections.abc import Callable
from pathlib import Path

from server.fsutil import atomic_write
from server.secrets import SecretStore

log = logging.getLogger("quicksilver.accounts")

FILE_NAME = "legacy-secrets.json"
KEY_NAME = "legacy-secrets-key"
LEGACY_LENGTH = 20
RELOAD_SECONDS = 1.0
MAX_RECORD = 512  # bytes of one stored record (base64); larger is damage


class LegacySecrets:
    def __init__(self, data_dir: Path, store: SecretStore | None = None) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self._store = store or SecretStore(Path(data_dir))
        self._lock = threading.Lock()
        self._records: dict[str, str] = {}
        self._mtime: float | None = None
        self._looked = 0.0
        self._key: bytes | None = None
        self._reload(force=True)

    # -- the file --------------------------------------------------------------
    def _reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._looked < RELOAD_SECONDS:
            return
        self._looked = now
        try:
            mtime = os.stat(self.path).st_mtime
        except FileNotFoundError:
            self._records, self._mtime = {}, None
            return
        if mtime == self._mtime and not force:
            return
        try:
            data = json.loads(self.path.read_bytes())
            users = data.get("users", {}) if isinstance(data, dict) else {}
            self._records = {
                str(k).lower(): str(v)
                for k, v in users.items()
                if isinstance(v, str) and len(v) <= MAX_RECORD
            }
        except (OSError, ValueError) as exc:
            log.error("%s cannot be read (%s): no legacy logins", self.path.name, exc)
            self._records = {}
        self._mtime = mtime

    def _write(self) -> None:
        body = json.dumps({"version": 1, "users": self._records}, indent=1)
        atomic_write(self.path, body.encode(), mode=0o600)
        self._mtime = os.stat(self.path).st_mtime

    def _cipher_key(self, create: bool) -> bytes | None:
        if self._key is not None:
            return self._key
        stored = self._store.get(KEY_NAME)
        if stored:
            self._key = base64.b64decode(stored)
        elif create:
            key = secrets.token_bytes(32)
            self._store.set(KEY_NAME, base64.b64encode(key).decode())
            self._key = key
        return self._key

    # -- API ---------------------------------------------------------------------
    def has_any(self) -> bool:
        """Whether some user has a legacy password (cheap: for greetings)."""
        with self._lock:
            self._reload()
            return bool(self._records)

    def has(self, address: str) -> bool:
        with self._lock:
            self._reload()
            return address.lower() in self._records

    def create(self, address: str) -> str:
        """A new legacy password for ``address`` (replacing any), to show once."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        alphabet = string.ascii_letters + string.digits
        secret = "".join(secrets.choice(alphabet) for _ in range(LEGACY_LENGTH))
        addr = address.lower()
        with self._lock:
            self._reload(force=True)
            key = self._cipher_key(create=True)
            assert key is not None
            nonce = secrets.token_bytes(12)
            sealed = AESGCM(key).encrypt(nonce, secret.encode(), addr.encode())
            self._records[addr] = base64.b64encode(nonce + sealed).decode()
            self._write()
        log.info("legacy password made for %s", addr)
        return secret

    def get(self, address: str) -> str | None:
        """The legacy password of ``address``; None when it has none (or the
        record cannot be opened: a key that changed, a damaged file)."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        addr = address.lower()
        with self._lock:
            self._reload()
            record = self._records.get(addr)
            if record is None:
                return None
            key = self._cipher_key(create=False)
        if key is None:
            log.error("the legacy password key is missing: no legacy login")
            return None
        try:
            raw = base64.b64decode(record, validate=True)
            plain = AESGCM(key).decrypt(raw[:12], raw[12:], addr.encode())
        except (InvalidTag, ValueError):
            log.error("the legacy password of %s cannot be opened", addr)
            return None
        return plain.decode()

    def remove(self, address: str) -> bool:
        addr = address.lower()
        with self._lock:
            self._reload(force=True)
            if self._records.pop(addr, None) is None:
                return False
            self._write()
        log.info("legacy password removed for %s", addr)
        return True


def cram_md5_check(challenge: str, digest: str) -> Callable[[str], bool]:
    """RFC 2195: does ``digest`` (lower-case hex) answer ``challenge`` with
    a secret? (for ``Authenticator.authenticate_digest``)"""

    def verify(secret: str) -> bool:
        mine = hmac.new(secret.encode(), challenge.encode(), "md5").hexdigest()
        return hmac.compare_digest(mine, digest)

    return verify


def apop_check(stamp: str, digest: str) -> Callable[[str], bool]:
    """RFC 1939 7: is ``digest`` the MD5 of the greeting's timestamp and
    a secret?"""

    def verify(secret: str) -> bool:
        mine = hashlib.md5((stamp + secret).encode(), usedforsecurity=False)
        return hmac.compare_digest(mine.hexdigest(), digest)

    return verify
