"""The facade's part for being on the internet (``CoreApi.internet``): DKIM
keys, the DNS records to publish and their check, the spam scanner's
connection test, greylisting counts, TLS-RPT counts and the MTA-STS
policies learned. Same rules as ``server/api.py``: coroutines on the core
loop, plain frozen values in and out, ``ValidationError`` for bad input;
anything that touches a file runs in a worker thread."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.antispam import greylist
from server.antispam.scanner import connection_test
from server.delivery import mtasts, tlsrpt
from server.delivery.mtasts import Policy as Policy
from server.delivery.tlsrpt import Count as Count
from server.dkim.keys import DkimKey as DkimKey
from server.dnshelper import Finding as Finding
from server.dnshelper import Record as Record
from server.dnshelper import check, expected, notes
from server.errors import ValidationError

if TYPE_CHECKING:
    from server.runtime import CoreServices


@dataclass(frozen=True)
class DkimKeyView:
    key: DkimKey
    record: str  # the TXT value to publish


@dataclass(frozen=True)
class DnsRecords:
    records: tuple[Record, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class GreylistCounts:
    enabled: bool
    waiting: int  # first attempts not yet retried
    passed: int  # triplets remembered as good


class InternetApi:
    def __init__(self, services: CoreServices) -> None:
        self._s = services

    def _domain(self, domain: str) -> str:
        d = domain.strip().lower().rstrip(".")
        if not self._s.accounts.is_local_domain(d):
            raise ValidationError(f"{d or 'That'} is not one of your mail domains.")
        return d

    # -- DKIM ------------------------------------------------------------------
    async def dkim_keys(self, domain: str) -> tuple[DkimKeyView, ...]:
        d = self._domain(domain)
        keys = self._s.dkim_keys

        def read() -> tuple[DkimKeyView, ...]:
            return tuple(DkimKeyView(k, keys.record(k)) for k in keys.keys(d))

        return await asyncio.to_thread(read)

    async def dkim_generate(self, domain: str) -> tuple[DkimKeyView, ...]:
        """Keys for a domain that has none (they sign at once)."""
        d = self._domain(domain)
        await asyncio.to_thread(self._s.dkim_keys.generate, d)
        return await self.dkim_keys(d)

    async def dkim_rotate(self, domain: str) -> tuple[DkimKeyView, ...]:
        """New keys, published first; ``dkim_activate`` switches to them."""
        d = self._domain(domain)
        await asyncio.to_thread(self._s.dkim_keys.rotate, d)
        return await self.dkim_keys(d)

    async def dkim_activate(self, domain: str) -> tuple[DkimKeyView, ...]:
        d = self._domain(domain)
        await asyncio.to_thread(self._s.dkim_keys.activate, d)
        return await self.dkim_keys(d)

    async def dkim_remove(self, domain: str, selector: str) -> tuple[DkimKeyView, ...]:
        d = self._domain(domain)
        await asyncio.to_thread(self._s.dkim_keys.remove, d, selector)
        return await self.dkim_keys(d)

    # -- DNS -------------------------------------------------------------------
    async def dns_records(self, domain: str) -> DnsRecords:
        d = self._domain(domain)
        settings = self._s.settings
        records = await asyncio.to_thread(expected, settings, self._s.dkim_keys, d)
        return DnsRecords(tuple(records), tuple(notes(settings)))

    async def dns_check(self, domain: str) -> tuple[Finding, ...]:
        """What the world's DNS says about each record (the system's
        resolver; tests replace ``CoreServices.make_resolver``)."""
        records = (await self.dns_records(domain)).records
        resolver = await asyncio.to_thread(self._s.make_resolver)
        return tuple(await check(records, resolver))

    # -- spam ------------------------------------------------------------------
    async def spam_filter_check(self) -> str:
        """Ask the configured spamd or rspamd whether it answers; a sentence
        either way (``ValidationError`` when none is configured)."""
        cfg = self._s.settings.smtp
        _, said = await connection_test(
            cfg.spam_filter, cfg.spam_filter_host, cfg.spam_filter_port
        )
        return said

    async def greylist_counts(self) -> GreylistCounts:
        waiting, passed = await asyncio.to_thread(
            greylist.counts, self._s.data_dir / greylist.FILE_NAME
        )
        return GreylistCounts(self._s.settings.smtp.greylisting, waiting, passed)

    # -- outbound TLS ----------------------------------------------------------
    async def tls_report(self, days: int = 7) -> tuple[Count, ...]:
        days = max(1, min(days, tlsrpt.KEEP_DAYS))
        mx = self._s.modules.get("mx")
        live = getattr(mx, "report", None)
        if isinstance(live, tlsrpt.TlsReport):
            return tuple(await asyncio.to_thread(live.counts, days))
        path = self._s.data_dir / tlsrpt.FILE_NAME
        return tuple(await asyncio.to_thread(tlsrpt.read_counts, path, days))

    async def mta_sts_policies(self) -> tuple[Policy, ...]:
        path = self._s.data_dir / mtasts.FILE_NAME
        return tuple(await asyncio.to_thread(mtasts.read_policies, path))
