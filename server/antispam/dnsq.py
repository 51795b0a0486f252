"""The DNS questions the inbound checks ask, over an asynchronous resolver
with dnspython's interface (``await resolver.resolve(name, rdtype)``): the
real one, or the tests' table. Answers come back as plain strings; a name
that does not exist is ``None``; a name with no records of the type is
``[]``; any other trouble is ``DnsTemporary`` (SPF's and DMARC's
temperror). Each question has ``TIMEOUT`` seconds.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import dns.asyncresolver

TIMEOUT = 5.0
MAX_ANSWERS = 50  # records taken from one answer
CACHE_ENTRIES = 20_000  # answers the system resolver keeps (system_resolver)


class Resolver(Protocol):
    """What every DNS user here needs of a resolver: dnspython's
    asynchronous one (``system_resolver``) or a test's table. The answer
    iterates over the records (dnspython's rdata objects, read by attribute:
    ``address``, ``strings``, ``exchange``...) and raises dnspython's
    exceptions (``NXDOMAIN``, ``NoAnswer``, ``DNSException``)."""

    async def resolve(self, qname: str, rdtype: str) -> Iterable[Any]: ...


def system_resolver() -> dns.asyncresolver.Resolver:
    """dnspython's asynchronous resolver on the system's settings (reads
    /etc/resolv.conf: call it off the loop, or once), with an answer cache
    that keeps each answer for its TTL (dnspython caches nothing unless
    asked; SPF, DMARC and block-list questions repeat for every message from
    the same senders), at most ``CACHE_ENTRIES`` answers."""
    import dns.asyncresolver
    import dns.resolver

    resolver = dns.asyncresolver.Resolver()
    resolver.cache = dns.resolver.LRUCache(CACHE_ENTRIES)
    return resolver


class DnsTemporary(Exception):
    """The question could not be answered now."""


class DnsQuestions:
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    async def _ask(self, name: str, rdtype: str) -> list[Any] | None:
        import dns.exception
        import dns.resolver

        try:
            answer = await asyncio.wait_for(
                self.resolver.resolve(name, rdtype), TIMEOUT
            )
        except dns.resolver.NXDOMAIN:
            return None
        except dns.resolver.NoAnswer:
            return []
        except (dns.exception.DNSException, TimeoutError, OSError) as exc:
            raise DnsTemporary(f"{name} {rdtype}: {exc}") from None
        return list(answer)[:MAX_ANSWERS]

    async def txt(self, name: str) -> list[str] | None:
        records = await self._ask(name, "TXT")
        if records is None:
            return None
        out = []
        for r in records:
            strings = getattr(r, "strings", ())
            out.append(b"".join(strings).decode("utf-8", "replace"))
        return out

    async def addresses(self, name: str, version: int) -> list[str] | None:
        records = await self._ask(name, "A" if version == 4 else "AAAA")
        if records is None:
            return None
        return [str(r.address) for r in records]

    async def mx(self, name: str) -> list[str] | None:
        records = await self._ask(name, "MX")
        if records is None:
            return None
        ordered = sorted(records, key=lambda r: int(r.preference))
        return [str(r.exchange).rstrip(".").lower() for r in ordered]

    async def raw(self, name: str, rdtype: str) -> list[str] | None:
        """Any type's records as DNS presentation text."""
        records = await self._ask(name, rdtype)
        if records is None:
            return None
        return [r.to_text() if hasattr(r, "to_text") else str(r) for r in records]

    async def ptr(self, ip: str) -> list[str] | None:
        name = ipaddress.ip_address(ip).reverse_pointer
        records = await self._ask(name, "PTR")
        if records is None:
            return None
        return [str(r.target).rstrip(".").lower() for r in records]
