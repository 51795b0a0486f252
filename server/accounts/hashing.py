"""Argon2id password hashes (argon2-cffi), with rehash-on-login.

Hashes are standard PHC strings (``$argon2id$v=19$m=...``), the format Dovecot
reads with ``{ARGON2ID}``, so accounts can move to Dovecot unchanged.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class PasswordHashing:
    def __init__(
        self, time_cost: int = 2, memory_cost: int = 19456, parallelism: int = 1
    ) -> None:
        # OWASP's Argon2id minimum profile: m=19 MiB, t=2, p=1 (~25 ms here).
        self._ph = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )

    def hash(self, password: str) -> str:
        return self._ph.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        try:
            return self._ph.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._ph.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True
