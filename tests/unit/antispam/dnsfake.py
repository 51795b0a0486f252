"""A resolver that answers from a table (dnspython's interface, no packet
leaves): {(name, type): [values]}; "TEMP" as the list makes the question fail
temporarily. A name that has other types only is NoAnswer, else NXDOMAIN."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dns.resolver


@dataclass
class Rec:
    address: str = ""
    strings: tuple[bytes, ...] = ()
    preference: int = 0
    exchange: str = ""
    target: str = ""


def txt(*texts: str) -> list[Rec]:
    return [Rec(strings=(t.encode(),)) for t in texts]


def a(*addresses: str) -> list[Rec]:
    return [Rec(address=x) for x in addresses]


def mx(*hosts: str) -> list[Rec]:
    return [Rec(preference=i, exchange=h + ".") for i, h in enumerate(hosts)]


def ptr(*names: str) -> list[Rec]:
    return [Rec(target=n + ".") for n in names]


@dataclass
class TableResolver:
    table: dict[tuple[str, str], Any]
    asked: list[str] = field(default_factory=list)

    async def resolve(self, name: str, rdtype: str) -> list[Rec]:
        name = name.rstrip(".").lower()
        self.asked.append(f"{name} {rdtype}")
        found = self.table.get((name, rdtype))
        if found == "TEMP":
            raise dns.resolver.NoNameservers()
        if found is None:
            if any(n == name for n, _ in self.table):
                raise dns.resolver.NoAnswer()
            raise dns.resolver.NXDOMAIN()
        return list(found)
