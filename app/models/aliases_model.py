"""The aliases and domains tables (``Alias`` and ``Domain`` values)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    Qt,
)

from app.models.base import RowsModel
from server.accounts.base import Alias, Domain


def is_catch_all(address: str) -> bool:
    return address.startswith("*@")


def alias_text(address: str) -> str:
    """'*@example.test' -> 'any other address @example.test (catch-all)'."""
    if is_catch_all(address):
        return f"any other address @{address[2:]} (catch-all)"
    return address


class AliasesModel(RowsModel[Alias]):
    """Aliases sorted by domain, then address (the catch-all last).

    Signals: the standard model signals only.
    """

    COL_ADDRESS, COL_TARGETS = range(2)
    HEADERS = ("Address", "Delivered to")
    AliasRole = Qt.ItemDataRole.UserRole + 1

    def set_aliases(self, aliases: Iterable[Alias]) -> None:
        def key(a: Alias) -> tuple[str, bool, str]:
            local, _, domain = a.address.partition("@")
            return (domain, is_catch_all(a.address), local)

        self._reset(sorted(aliases, key=key))

    def alias(self, row: int) -> Alias:
        return self._rows[row]

    def addresses(self) -> frozenset[str]:
        return frozenset(a.address for a in self._rows)

    def row_of(self, address: str) -> int:
        return next((i for i, a in enumerate(self._rows) if a.address == address), -1)

    def cell(self, a: Alias, col: int, role: int) -> Any:
        if role == self.AliasRole:
            return a
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.COL_ADDRESS:
                return alias_text(a.address)
            if col == self.COL_TARGETS:
                return ", ".join(a.targets)
        if role == Qt.ItemDataRole.ToolTipRole and col == self.COL_TARGETS:
            return "\n".join(a.targets)
        return None


class DomainsModel(RowsModel[Domain]):
    """Domains sorted by name; IDN domains show both forms.

    Signals: the standard model signals only.
    """

    COL_NAME, COL_ASCII = range(2)
    HEADERS = ("Domain", "Name on the wire")
    DomainRole = Qt.ItemDataRole.UserRole + 1

    def set_domains(self, domains: Iterable[Domain]) -> None:
        self._reset(sorted(domains, key=lambda d: d.name))

    def domain(self, row: int) -> Domain:
        return self._rows[row]

    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self._rows)

    def row_of(self, name: str) -> int:
        return next((i for i, d in enumerate(self._rows) if d.name == name), -1)

    def cell(self, d: Domain, col: int, role: int) -> Any:
        if role == self.DomainRole:
            return d
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.COL_NAME:
                return d.display or d.name
            if col == self.COL_ASCII:
                return d.name
        return None
