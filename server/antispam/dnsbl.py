"""DNS block lists (``smtp.dnsbl_zones``, none by default): is the client's
address listed? (RFC 5782.)

A zone is written ``zen.spamhaus.org`` (a listed client is refused with
``550 5.7.1`` and the list's reason), ``zen.spamhaus.org=tag`` (the
message is taken, with an ``X-Quicksilver-DNSBL`` header naming the list and
``X-Spam-Flag: YES``, so it lands in the user's Junk folder), or
``list.dnswl.org=allow`` (a DNS allow list, RFC 5782: a listed client skips
the block lists and greylisting). Allow lists are asked first.

The query is the address's octets (IPv4) or nibbles (IPv6, RFC 5782 2.4)
reversed, under the zone; an A record in 127.0.0.0/8 means listed, and its TXT
record is the reason. Answers in 127.255.255.0/24 and 127.0.0.255 are the
list's own errors (Spamhaus: "you query through a public resolver", "over the
free limit"; dnswl.org: over its limit): logged once, never a refusal.

Answers are cached per (address, zone) for their TTL (at most ``MAX_TTL``,
at least ``MIN_TTL``), up to ``MAX_CACHE`` entries; a lookup that fails or
takes longer than ``TIMEOUT`` counts as not listed (mail is never refused
because a list is down). Clients in ``smtp.trusted_networks`` (and private or
loopback addresses, which no list can judge) are not looked up. The resolver
is dnspython's asynchronous one: the lookup never blocks the loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from server.antispam.dnsq import Resolver
from server.errors import ValidationError

log = logging.getLogger("quicksilver.smtp")

ACTIONS = ("reject", "tag", "allow")
TIMEOUT = 3.0
MIN_TTL, MAX_TTL = 60.0, 3600.0
MAX_CACHE = 10_000
MAX_ZONES = 10
MAX_REASON = 200


@dataclass(frozen=True)
class Zone:
    name: str
    action: str = "reject"


@dataclass(frozen=True)
class Listing:
    zone: str
    action: str
    reason: str


def parse_zone(text: str) -> Zone:
    name, _, action = text.strip().lower().partition("=")
    name = name.strip().rstrip(".")
    action = action.strip() or "reject"
    labels = name.split(".")
    if (
        len(labels) < 2
        or len(name) > 200
        or not all(lab and lab.replace("-", "").isalnum() for lab in labels)
    ):
        raise ValidationError(f"{text!r} is not a DNS zone (like zen.spamhaus.org)")
    if action not in ACTIONS:
        raise ValidationError(f"{text!r}: the action is reject, tag or allow")
    return Zone(name, action)


def query_name(ip: str, zone: str) -> str | None:
    """The name to look up, or None for an address no list should judge."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_multicast:
        return None
    if addr.version == 4:
        return ".".join(reversed(str(addr).split("."))) + f".{zone}"
    nibbles = addr.exploded.replace(":", "")
    return ".".join(reversed(nibbles)) + f".{zone}"


def _clean(text: str) -> str:
    shown = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return shown[:MAX_REASON].strip()


class Dnsbl:
    def __init__(
        self,
        resolver: Callable[[], Resolver],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make_resolver = resolver  # asked each time: it may be replaced
        self.clock = clock
        self._cache: OrderedDict[tuple[str, str], tuple[float, Listing | None]] = (
            OrderedDict()
        )
        self._warned: set[str] = set()

    def resolver(self) -> Resolver:
        return self._make_resolver()

    async def check(self, ip: str, zones: list[Zone]) -> Listing | None:
        """The first list that lists ``ip``, or None: the allow lists
        (DNSWL) first, then the others in their order."""
        ordered = sorted(zones[:MAX_ZONES], key=lambda z: z.action != "allow")
        for zone in ordered:
            found = await self._one(ip, zone)
            if found is not None:
                return found
        return None

    async def _one(self, ip: str, zone: Zone) -> Listing | None:
        name = query_name(ip, zone.name)
        if name is None:
            return None
        key = (ip, zone.name)
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            self._cache.move_to_end(key)
            return (
                Listing(zone.name, zone.action, hit[1].reason)
                if hit[1] is not None
                else None
            )
        result, ttl = await self._lookup(name, zone)
        self._cache[key] = (now + min(MAX_TTL, max(MIN_TTL, ttl)), result)
        while len(self._cache) > MAX_CACHE:
            self._cache.popitem(last=False)
        return result

    async def _lookup(self, name: str, zone: Zone) -> tuple[Listing | None, float]:
        import dns.exception
        import dns.resolver

        resolver = self.resolver()
        try:
            answer = await asyncio.wait_for(resolver.resolve(name, "A"), TIMEOUT)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None, MIN_TTL * 5
        except (dns.exception.DNSException, TimeoutError, OSError) as exc:
            if zone.name not in self._warned:
                self._warned.add(zone.name)
                log.warning("DNSBL %s could not be asked: %s", zone.name, exc)
            return None, MIN_TTL
        addresses = [str(r.address) for r in answer]
        ttl = float(getattr(getattr(answer, "rrset", None), "ttl", MIN_TTL))
        listed = [
            a
            for a in addresses
            if a.startswith("127.")
            and not a.startswith("127.255.255.")
            and a != "127.0.0.255"  # dnswl.org: over the free limit
        ]
        if not listed:
            if zone.name not in self._warned:
                self._warned.add(zone.name)
                log.warning(
                    "DNSBL %s answers with an error code (%s): check its terms",
                    zone.name,
                    ", ".join(addresses)[:100],
                )
            return None, ttl
        reason = f"listed at {zone.name}"
        try:
            txt = await asyncio.wait_for(resolver.resolve(name, "TXT"), TIMEOUT)
            for r in txt:
                strings = getattr(r, "strings", ())
                text = b"".join(strings).decode("utf-8", "replace")
                if text:
                    reason = _clean(text)
                    break
        except (dns.exception.DNSException, TimeoutError, OSError):
            pass
        return Listing(zone.name, zone.action, reason), ttl
