"""The aliases and domains tables (``Alias`` and ``Domain`` values)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from server.accounts.base import Alias, Domain

Index = QModelIndex | QPersistentModelIndex


def is_catch_all(address: str) -> bool:
    return address.startswith("*@")


def alias_text(address: str) -> str:
    """'*@example.test' -> 'any other address @example.test (catch-all)'."""
    if is_catch_all(address):
        return f"any other address @{address[2:]} (catch-all)"
    return address


class _TableModel(QAbstractTableModel):
    HEADERS: tuple[str, ...] = ()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._count()

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.HEADERS)
        ):
            return self.HEADERS[section]
        return None

    def _count(self) -> int:
        raise NotImplementedError


class AliasesModel(_TableModel):
    """Aliases sorted by domain, then address (the catch-all last).

    Signals: the standard model signals only.
    """

    COL_ADDRESS, COL_TARGETS = range(2)
    HEADERS = ("Address", "Delivered to")
    AliasRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Alias] = []

    def _count(self) -> int:
        return len(self._rows)

    def set_aliases(self, aliases: Iterable[Alias]) -> None:
        def key(a: Alias) -> tuple[str, bool, str]:
            local, _, domain = a.address.partition("@")
            return (domain, is_catch_all(a.address), local)

        self.beginResetModel()
        self._rows = sorted(aliases, key=key)
        self.endResetModel()

    def alias(self, row: int) -> Alias:
        return self._rows[row]

    def addresses(self) -> frozenset[str]:
        return frozenset(a.address for a in self._rows)

    def row_of(self, address: str) -> int:
        return next((i for i, a in enumerate(self._rows) if a.address == address), -1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        a = self._rows[index.row()]
        col = index.column()
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


class DomainsModel(_TableModel):
    """Domains sorted by name; IDN domains show both forms.

    Signals: the standard model signals only.
    """

    COL_NAME, COL_ASCII = range(2)
    HEADERS = ("Domain", "Name on the wire")
    DomainRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Domain] = []

    def _count(self) -> int:
        return len(self._rows)

    def set_domains(self, domains: Iterable[Domain]) -> None:
        self.beginResetModel()
        self._rows = sorted(domains, key=lambda d: d.name)
        self.endResetModel()

    def domain(self, row: int) -> Domain:
        return self._rows[row]

    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self._rows)

    def row_of(self, name: str) -> int:
        return next((i for i, d in enumerate(self._rows) if d.name == name), -1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        d = self._rows[index.row()]
        if role == self.DomainRole:
            return d
        if role == Qt.ItemDataRole.DisplayRole:
            if index.column() == self.COL_NAME:
                return d.display or d.name
            if index.column() == self.COL_ASCII:
                return d.name
        return None
