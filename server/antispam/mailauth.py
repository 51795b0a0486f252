"""Who really sent it: SPF, DKIM and DMARC for mail received by the smtp
module (``smtp.check_authentication``), recorded in one
``Authentication-Results`` field (RFC 8601).

- SPF (spf.py) of the MAIL FROM domain, or of the HELO name for the null
  sender (RFC 7208 2.4).
- DKIM (RFC 6376): every signature (at most ``MAX_SIGNATURES``) verified by
  dkimpy off the loop (``dkimwork.py``: a worker process on a machine with
  two cores, else a thread); the key records are asked of the same
  asynchronous resolver, on the loop, first.
- ARC (RFC 8617): the chain's validation (dkimpy's ``arc_verify``), when
  the message has one: what a forwarder or list that re-signs vouches for.
- DMARC (RFC 7489): the record of the From domain, else of its
  organizational domain (the Public Suffix List, ``publicsuffixlist``);
  pass when SPF passed for an aligned domain or a DKIM signature passed for
  an aligned ``d=`` (relaxed: same organizational domain; strict: equal);
  the policy is ``sp`` for a subdomain when given, else ``p``.

The field names our host as authserv-id; a field a sender put in with our
authserv-id is removed first (RFC 8601 5). What to do with a DMARC failure
is the caller's (smtp session: ``smtp.dmarc_reject``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from server import mailtext
from server.antispam import spf
from server.antispam.dkimwork import DkimPool
from server.antispam.dnsq import DnsQuestions, DnsTemporary, Resolver

log = logging.getLogger("quicksilver.smtp")

MAX_SIGNATURES = 5
KEY_CACHE_SECONDS = 300.0  # a DKIM key record is asked again after this
MAX_KEY_CACHE = 1000
MAX_HEADER = 256 * 1024
DKIM_TIMEOUT = 20.0


@dataclass(frozen=True)
class DkimVerdict:
    result: str  # "pass" | "fail" | "neutral" | "temperror" | "permerror"
    domain: str
    selector: str


@dataclass(frozen=True)
class Verdicts:
    spf: str
    spf_domain: str  # the domain SPF was asked about
    dkim: tuple[DkimVerdict, ...]
    dmarc: str  # "pass" | "fail" | "none" | "temperror" | "permerror"
    from_domain: str
    policy: str = ""  # the DMARC policy that applies: none, quarantine, reject
    arc: str = "none"  # RFC 8617's chain validation: none, pass, fail


_PSL: Any = None
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9-]{1,63}){1,126}")


def _load_suffixes() -> None:
    global _PSL
    if _PSL is None:
        from publicsuffixlist import PublicSuffixList

        _PSL = PublicSuffixList()


async def load_suffixes() -> None:
    """Read the Public Suffix List in a worker thread, once: parsing it takes
    about 40 ms, too long for the loop (the first DMARC check awaits this)."""
    if _PSL is None:
        await asyncio.to_thread(_load_suffixes)


def org_domain(domain: str) -> str:
    """The organizational domain (RFC 7489 3.2) from the Public Suffix List."""
    _load_suffixes()
    found = _PSL.privatesuffix(domain.lower().rstrip("."))
    return str(found) if found else domain.lower()


def aligned(a: str, b: str, strict: bool) -> bool:
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    if not a or not b:
        return False
    return a == b if strict else org_domain(a) == org_domain(b)


def from_domain(fields: list[tuple[str, str]]) -> str:
    """The From domain when there is exactly one From with one address
    (RFC 7489 6.6.1: otherwise DMARC cannot be applied)."""
    import email.utils

    values = [v for n, v in fields if n == "from"]
    if len(values) != 1:
        return ""
    simple = _SIMPLE_FROM.fullmatch(values[0])
    if simple is not None:  # "Name <a@b>" or "a@b": what nearly all mail has
        domain = (simple.group(1) or simple.group(2)).lower().rstrip(".")
        return domain if _DOMAIN.fullmatch(domain) else ""
    addresses = email.utils.getaddresses(values)
    if len(addresses) != 1 or "@" not in addresses[0][1]:
        return ""
    domain = addresses[0][1].rpartition("@")[2].lower().rstrip(">").rstrip(".")
    # a domain name or nothing: it goes into a reply line and a header field
    return domain if _DOMAIN.fullmatch(domain) else ""


_TAG = re.compile(r"(?:^|;)\s*([ds])\s*=\s*([^;\s]+)")
# a From with one plain address and no quotes, comments or groups (anything
# else goes to the email package's full parser)
_SIMPLE_FROM = re.compile(
    r'[^"(),;:<>@\\\[\]]*<[^\s<>()@",;:\\\[\]]+@([A-Za-z0-9.-]+)>\s*'
    r'|\s*[^\s<>()@",;:\\\[\]]+@([A-Za-z0-9.-]+)\s*'
)
_UNPRINTABLE = re.compile(r"[^\x20-\x7e\r\n\t]")


def _key_names(fields: list[tuple[str, str]]) -> list[str]:
    """``s._domainkey.d`` of each DKIM-Signature and ARC-Message-Signature
    (and ARC-Seal), in order, for fetching the keys ahead."""
    out: list[str] = []
    for name, value in fields:
        if name not in ("dkim-signature", "arc-message-signature", "arc-seal"):
            continue
        tags = dict(_TAG.findall(value.replace(" ", "")))
        d, sel = tags.get("d", ""), tags.get("s", "")
        if d and sel:
            key = f"{sel}._domainkey.{d}".lower().rstrip(".")
            if key not in out:
                out.append(key)
    return out


def parse_dmarc(record: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq:
            tags[name.strip().lower()] = value.strip()
    return tags


class MailAuth:
    def __init__(
        self, resolver: Resolver, hostname: str, pool: DkimPool | None = None
    ) -> None:
        self.dns = DnsQuestions(resolver)
        self.hostname = hostname
        self.pool = pool if pool is not None else DkimPool(use_process=False)
        self._keys: dict[str, tuple[float, bytes]] = {}  # DKIM key records

    async def verdicts(
        self, ip: str, sender: str, helo: str, message: bytes
    ) -> Verdicts:
        spf_domain = sender.rpartition("@")[2].lower() if sender else helo.lower()
        spf_result, _ = await spf.check_host(ip, spf_domain, sender, helo, self.dns)
        fields = mailtext.header_fields(message, MAX_HEADER)
        dkim, arc = await self._dkim(message, fields)
        domain = from_domain(fields)
        dmarc, policy = await self._dmarc(domain, spf_result, spf_domain, dkim)
        return Verdicts(spf_result, spf_domain, dkim, dmarc, domain, policy, arc)

    async def _dkim(
        self, message: bytes, fields: list[tuple[str, str]]
    ) -> tuple[tuple[DkimVerdict, ...], str]:
        """Each DKIM signature's verdict, and the ARC chain's (RFC 8617)."""
        names = [n for n, _ in fields]
        count = names.count("dkim-signature")
        has_arc = "arc-seal" in names
        if not count and not has_arc:
            return (), "none"
        # the keys the signatures name, asked on the loop before the
        # verification starts (and kept KEY_CACHE_SECONDS); None: the
        # question failed for now (temperror)
        keys: dict[str, bytes | None] = {}
        for name in _key_names(fields)[: MAX_SIGNATURES * 2]:
            try:
                keys[name] = await self._key(name)
            except DnsTemporary:
                keys[name] = None
        try:
            found, arc = await asyncio.wait_for(
                self.pool.verify(message, keys, min(count, MAX_SIGNATURES), has_arc),
                DKIM_TIMEOUT,
            )
        except TimeoutError:
            self.pool.close()  # a stuck worker is replaced at the next message
            return (DkimVerdict("temperror", "", ""),), "none"
        return tuple(DkimVerdict(*v) for v in found), arc

    async def _key(self, name: str) -> bytes:
        now = time.monotonic()
        hit = self._keys.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = await self.dns.txt(name)
        value = (found[0] if found else "").encode()
        self._keys[name] = (now + KEY_CACHE_SECONDS, value)
        while len(self._keys) > MAX_KEY_CACHE:
            self._keys.pop(next(iter(self._keys)))
        return value

    async def _dmarc(
        self,
        domain: str,
        spf_result: str,
        spf_domain: str,
        dkim: tuple[DkimVerdict, ...],
    ) -> tuple[str, str]:
        if not domain:
            return "none", ""
        await load_suffixes()
        try:
            tags = await self._record(domain)
            org = org_domain(domain)
            if tags is None and org != domain:
                tags = await self._record(org)
        except DnsTemporary:
            return "temperror", ""
        if tags is None:
            return "none", ""
        policy = tags.get("p", "").lower()
        if policy not in ("none", "quarantine", "reject"):
            return "permerror", ""
        if domain != org_domain(domain) and tags.get("sp", "").lower() in (
            "none",
            "quarantine",
            "reject",
        ):
            policy = tags["sp"].lower()
        strict_spf = tags.get("aspf", "r").lower() == "s"
        strict_dkim = tags.get("adkim", "r").lower() == "s"
        if spf_result == "pass" and aligned(spf_domain, domain, strict_spf):
            return "pass", policy
        if any(
            v.result == "pass" and aligned(v.domain, domain, strict_dkim) for v in dkim
        ):
            return "pass", policy
        return "fail", policy

    async def _record(self, domain: str) -> dict[str, str] | None:
        txt = await self.dns.txt(f"_dmarc.{domain}")
        found = [
            t for t in txt or [] if t.lower().replace(" ", "").startswith("v=dmarc1")
        ]
        return parse_dmarc(found[0]) if len(found) == 1 else None

    def header(self, v: Verdicts, sender: str, helo: str) -> bytes:
        """The Authentication-Results field (RFC 8601) for ``v``."""
        mailfrom = f"smtp.mailfrom={sender}" if sender else f"smtp.helo={helo}"
        parts = [f"spf={v.spf} {mailfrom}"]
        if v.dkim:
            for d in v.dkim:
                parts.append(
                    f"dkim={d.result} header.d={d.domain} header.s={d.selector}"
                )
        else:
            parts.append("dkim=none")
        if v.arc != "none":
            parts.append(f"arc={v.arc}")
        dmarc = f"dmarc={v.dmarc}"
        if v.policy:
            dmarc += f" (p={v.policy})"
        if v.from_domain:
            dmarc += f" header.from={v.from_domain}"
        parts.append(dmarc)
        value = f"{self.hostname};\r\n\t" + ";\r\n\t".join(parts)
        text = f"Authentication-Results: {value}\r\n"
        return _UNPRINTABLE.sub("?", text).encode("ascii")


_AR = re.compile(rb"(?im)^authentication-results:[ \t]*")


def strip_ours(message: bytes, hostname: str) -> bytes:
    """``message`` without Authentication-Results fields that claim to be
    ours (RFC 8601 5); a forged field is how a sender would lie to the
    user's filters. Blocking for a large message: a worker thread."""
    ours = hostname.lower().encode()

    def claims_us(line: bytes, m: re.Match[bytes]) -> bool:
        rest = line[m.end() :].lower()
        return rest.startswith(ours) and rest[len(ours) : len(ours) + 1] in (
            b";",
            b" ",
            b"\t",
            b"\r",
            b"",
        )

    return mailtext.drop_fields(message, _AR, claims_us)
