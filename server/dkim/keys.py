"""DKIM keys per domain (RFC 6376 3.6, RFC 8463), in the data folder.

``dkim/<domain>/keys.json`` lists the domain's selectors; each key is
``dkim/<domain>/<selector>.key`` (0600): an RSA-2048 key in PEM, or an
Ed25519 key as the base64 of its 32-byte seed (the form dkimpy signs with).
Selectors carry their date and algorithm: ``qs202612r`` (RSA) and
``qs202612e`` (Ed25519), with a digit added if the month already has one.

A key is in one of three states:

- ``published``: made, its DNS record to be published; not signing yet
  (rotation, step 1: give DNS time to spread);
- ``active``: signing (one RSA and one Ed25519 key at a time);
- ``retired``: no longer signing; its record stays published so mail signed
  before the switch still verifies, until the key is removed.

``generate`` makes the first pair active at once (nothing to wait for);
``rotate`` makes a published pair; ``activate`` switches to it and retires
the old one; ``remove`` deletes a retired key. Blocking (files): callers use
a worker thread.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from server.errors import ValidationError
from server.fsutil import atomic_write

ALGORITHMS = ("rsa", "ed25519")
STATES = ("published", "active", "retired")
RSA_BITS = 2048
_SELECTOR = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    algorithm: str  # "rsa" | "ed25519"
    state: str
    created: float

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


@dataclass(frozen=True)
class SigningKey:
    selector: str
    algorithm: str
    private: bytes  # what dkimpy's sign() takes


class DkimKeys:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[int, int], list[SigningKey]]] = {}

    def _folder(self, domain: str) -> Path:
        d = domain.strip().lower().rstrip(".")
        if not d or "/" in d or d.startswith(".") or ".." in d or "\\" in d:
            raise ValidationError(f"{domain!r} is not a domain name.", field="domain")
        return self.root / d

    def _index(self, domain: str) -> list[DkimKey]:
        path = self._folder(domain) / "keys.json"
        try:
            rows = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return []
        return [DkimKey(**r) for r in rows]

    def _save(self, domain: str, keys: list[DkimKey]) -> None:
        folder = self._folder(domain)
        data = json.dumps([asdict(k) for k in keys], indent=1).encode()
        atomic_write(folder / "keys.json", data)
        self._cache.pop(folder.name, None)

    def keys(self, domain: str) -> list[DkimKey]:
        with self._lock:
            return self._index(domain)

    def domains(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "keys.json").exists())

    # -- making keys ---------------------------------------------------------------
    def _selector(self, existing: list[DkimKey], algorithm: str, now: float) -> str:
        base = f"qs{time.strftime('%Y%m', time.gmtime(now))}{algorithm[0]}"
        taken = {k.selector for k in existing}
        if base not in taken:
            return base
        n = 2
        while f"{base}{n}" in taken:
            n += 1
        return f"{base}{n}"

    def _make(
        self,
        domain: str,
        algorithm: str,
        state: str,
        now: float,
        existing: list[DkimKey],
    ) -> DkimKey:
        folder = self._folder(domain)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        selector = self._selector(existing, algorithm, now)
        if algorithm == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
            data = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        else:
            ed = ed25519.Ed25519PrivateKey.generate()
            seed = ed.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            data = base64.b64encode(seed) + b"\n"
        atomic_write(folder / f"{selector}.key", data, mode=0o600)
        return DkimKey(
            domain.strip().lower().rstrip("."), selector, algorithm, state, now
        )

    def generate(self, domain: str, now: float | None = None) -> list[DkimKey]:
        """The domain's first keys (RSA and Ed25519), active at once; when it
        has keys already, the same as ``rotate``."""
        t = time.time() if now is None else now
        with self._lock:
            keys = self._index(domain)
            state = "published" if keys else "active"
            made: list[DkimKey] = []
            for algorithm in ALGORITHMS:
                made.append(self._make(domain, algorithm, state, t, keys + made))
            self._save(domain, keys + made)
            return made

    def rotate(self, domain: str, now: float | None = None) -> list[DkimKey]:
        """Step 1: a new pair, published but not signing (publish its DNS
        records, wait for them to spread, then ``activate``)."""
        if not self.keys(domain):
            raise ValidationError(
                f"{domain} has no DKIM keys yet: generate them first."
            )
        return self.generate(domain, now)

    def activate(self, domain: str) -> list[DkimKey]:
        """Step 2: the published keys sign from now on; the keys they replace
        are retired (still published, so mail already sent verifies)."""
        with self._lock:
            keys = self._index(domain)
            new = {k.algorithm for k in keys if k.state == "published"}
            if not new:
                raise ValidationError(f"{domain} has no published keys to switch to.")
            out = []
            for k in keys:
                if k.state == "published":
                    k = DkimKey(k.domain, k.selector, k.algorithm, "active", k.created)
                elif k.state == "active" and k.algorithm in new:
                    k = DkimKey(k.domain, k.selector, k.algorithm, "retired", k.created)
                out.append(k)
            self._save(domain, out)
            return out

    def remove(self, domain: str, selector: str) -> None:
        """Delete a key that no longer signs (retired or never activated)."""
        with self._lock:
            keys = self._index(domain)
            found = [k for k in keys if k.selector == selector]
            if not found:
                raise ValidationError(f"{domain} has no key {selector!r}.")
            if found[0].state == "active":
                raise ValidationError(
                    f"{selector} signs {domain}'s mail: rotate to a new key first."
                )
            self._save(domain, [k for k in keys if k.selector != selector])
            (self._folder(domain) / f"{selector}.key").unlink(missing_ok=True)

    # -- using keys ----------------------------------------------------------------
    def record(self, key: DkimKey) -> str:
        """The TXT record to publish at ``key.record_name``."""
        private = (self._folder(key.domain) / f"{key.selector}.key").read_bytes()
        if key.algorithm == "rsa":
            loaded = serialization.load_pem_private_key(private, password=None)
            assert isinstance(loaded, rsa.RSAPrivateKey)
            public = loaded.public_key().public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            return f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"
        seed = base64.b64decode(private.strip())
        ed = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        raw = ed.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"

    def signing_keys(self, domain: str) -> list[SigningKey]:
        """The domain's active keys, read again when keys.json changes."""
        try:
            folder = self._folder(domain)
        except ValidationError:
            return []
        index = folder / "keys.json"
        try:
            st = index.stat()
        except OSError:
            return []
        sig = (st.st_ino, st.st_mtime_ns)
        cached = self._cache.get(folder.name)
        if cached is not None and cached[0] == sig:
            return cached[1]
        out: list[SigningKey] = []
        for k in self.keys(domain):
            if k.state == "active" and _SELECTOR.fullmatch(k.selector):
                try:
                    data = (folder / f"{k.selector}.key").read_bytes()
                except OSError:
                    continue
                out.append(SigningKey(k.selector, k.algorithm, data.strip()))
        self._cache[folder.name] = (sig, out)
        return out
