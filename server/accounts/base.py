"""The ``AccountStore`` contract: domains, users, aliases, authentication.

Lookups (``is_local_domain``, ``get_user``, ``resolve``, ``login_address``,
``canonical_recipient``) are answered from an in-memory snapshot and are safe to
call on the core loop; they see a change made by another process (the shell
commands) at once. Writes and ``authenticate`` (Argon2id) block: call them
through ``asyncio.to_thread``. New passwords must pass
``server.accounts.strength.password_problem`` unless ``allow_weak``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Domain:
    name: str  # IDNA (ASCII) form, lower case
    display: str  # Unicode form


@dataclass(frozen=True)
class User:
    address: str  # local@domain, lower case; the mailbox owner id
    local: str
    domain: str
    display_name: str = ""
    enabled: bool = True
    quota_bytes: int = 0  # 0 = no quota
    created: float = 0.0


@dataclass(frozen=True)
class Alias:
    address: str  # local@domain, or "*@domain" for the domain's catch-all
    targets: tuple[str, ...]  # local user addresses


class AccountStore(Protocol):
    def list_domains(self) -> list[Domain]: ...

    def add_domain(self, name: str) -> Domain: ...

    def remove_domain(self, name: str) -> None: ...

    def is_local_domain(self, domain: str) -> bool: ...

    def primary_domain(self) -> str:
        """The domain bare login names and ``<postmaster>`` belong to."""

    def set_primary_domain(self, name: str) -> None: ...

    def list_users(self) -> list[User]: ...

    def get_user(self, address: str) -> User | None: ...

    def add_user(
        self,
        address: str,
        password: str,
        *,
        display_name: str = "",
        quota_bytes: int = 0,
        enabled: bool = True,
        allow_weak: bool = False,
    ) -> User: ...

    def update_user(
        self,
        address: str,
        *,
        display_name: str | None = None,
        quota_bytes: int | None = None,
        enabled: bool | None = None,
    ) -> User: ...

    def set_password(
        self, address: str, password: str, *, allow_weak: bool = False
    ) -> None: ...

    def delete_user(self, address: str) -> None: ...

    def list_aliases(self) -> list[Alias]: ...

    def set_alias(self, address: str, targets: list[str]) -> Alias: ...

    def remove_alias(self, address: str) -> None: ...

    def canonical_recipient(self, address: str) -> str:
        """A bare ``postmaster`` as the primary domain's (RFC 5321 4.5.1); any
        other address unchanged."""

    def resolve(self, address: str) -> list[str] | None:
        """Local users for an address (users, aliases, catch-all); None if unknown."""

    def login_address(self, username: str) -> str | None:
        """The user a login name means (any case, trailing dot, or a bare name:
        the primary domain's, else the only one of that name), or None."""

    def authenticate(self, username: str, password: str) -> User | None:
        """Check a login (blocking: Argon2id). ``username`` as in
        ``login_address``. Disabled users fail."""
