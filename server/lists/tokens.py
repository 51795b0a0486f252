"""Tokens for RFC 8058 one-click unsubscribe links.

A member's copy of a post carries ``List-Unsubscribe: <https://.../
unsubscribe/TOKEN>``. The token names the list and the member and is signed,
so a link works without a table of issued links and cannot be made up for
someone else's address:

    base64url("team@example.org" "\\n" "alice@example.net") "." base64url(MAC)

MAC is the first ``MAC_BYTES`` of HMAC-SHA256 under the key in
``lists-unsubscribe.key`` (32 random bytes, mode 0600, made once, kept in the
data folder and so in its backups). A link stays valid while the key does:
delete the file to void every link ever sent (new posts get new ones).

Pure apart from ``load_or_create_key``; ``check`` is bounded by
``MAX_TOKEN``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_FILE = "lists-unsubscribe.key"
KEY_BYTES = 32
MAC_BYTES = 16  # 128 bits: guessing one is out of reach
MAX_TOKEN = 1024  # characters; a list address and a member address fit easily
_PURPOSE = b"quicksilver one-click unsubscribe\x00"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UnsubscribeTokens:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the unsubscribe key is too short")
        self._key = key

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, _PURPOSE + payload, hashlib.sha256).digest()[
            :MAC_BYTES
        ]

    def make(self, list_address: str, member: str) -> str:
        payload = f"{list_address.lower()}\n{member.lower()}".encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def check(self, token: str) -> tuple[str, str] | None:
        """(list address, member) for a genuine token, else None."""
        if len(token) > MAX_TOKEN or token.count(".") != 1:
            return None
        data, _, mac = token.partition(".")
        try:
            payload = _unb64(data)
            given = _unb64(mac)
        except (binascii.Error, ValueError):
            return None
        if _b64(payload) != data or _b64(given) != mac:
            return None  # one token per link: no second spelling of it
        if not hmac.compare_digest(given, self._mac(payload)):
            return None
        try:
            list_address, nl, member = payload.decode("utf-8").partition("\n")
        except UnicodeDecodeError:
            return None
        if not nl or not list_address or not member:
            return None
        return list_address, member


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path``, made (0600, fsynced) on first use. Two processes
    making it at once agree: the file is linked into place, never replaced."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        pass
    else:
        if len(key) >= KEY_BYTES:
            return key
        raise ValueError(f"{path.name} is damaged (too short): delete it to make one")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process made it first: use theirs
    finally:
        tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path.read_bytes()
