"""The DNS records a domain needs to send and receive mail with this server,
and a check of what the world's DNS says (``quicksilver-server dns``).

For a domain ``D`` served by host name ``H``:

- ``D MX 10 H`` and ``H A/AAAA`` (the check also asks that the address's PTR
  name points back at ``H``: forward-confirmed reverse DNS, which the big
  providers require);
- SPF ``D TXT "v=spf1 mx ~all"`` (with the relay on: the provider's
  ``include:`` belongs there too, said in a note);
- each DKIM key's ``<selector>._domainkey.D TXT`` (server/dkim/);
- DMARC ``_dmarc.D TXT "v=DMARC1; p=none; rua=mailto:postmaster@D"`` to
  start with (watch the reports, then tighten);
- client setup: RFC 6186 SRV records for IMAP, POP3 and submission,
  Thunderbird's ``autoconfig.D CNAME H`` and Outlook's autodiscover SRV and
  CNAME;
- with ``web.mta_sts_mode`` set: ``_mta-sts.D TXT "v=STSv1; id=..."``,
  ``mta-sts.D CNAME H`` (the web module serves the policy) and TLS-RPT's
  ``_smtp._tls.D TXT "v=TLSRPTv1; rua=mailto:postmaster@D"``.

``check`` asks each name through an asynchronous resolver (dnspython's, or
the tests' table) and says, record by record, "ok", "missing" or what it
found instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from server.antispam.dnsq import DnsQuestions, DnsTemporary, Resolver
from server.config.schema import Settings
from server.dkim.keys import DkimKeys
from server.protocols.web import mtasts


@dataclass(frozen=True)
class Record:
    name: str
    type: str  # MX, TXT, SRV, CNAME, A
    value: str
    why: str


@dataclass(frozen=True)
class Finding:
    record: Record
    status: str  # "ok" | "missing" | "different" | "unknown"
    found: str = ""


def expected(settings: Settings, keys: DkimKeys, domain: str) -> list[Record]:
    d = domain.lower().rstrip(".")
    host = (settings.general.hostname or f"mail.{d}").lower().rstrip(".")
    out = [
        Record(d, "MX", f"10 {host}.", "mail for the domain comes to this server"),
        Record(host, "A", "<this server's public address>", "the host name resolves"),
        Record(d, "TXT", "v=spf1 mx ~all", "SPF: this server may send for the domain"),
    ]
    for k in keys.keys(d):
        out.append(
            Record(k.record_name, "TXT", keys.record(k), f"DKIM key ({k.state})")
        )
    out.append(
        Record(
            f"_dmarc.{d}",
            "TXT",
            f"v=DMARC1; p=none; rua=mailto:postmaster@{d}",
            "DMARC, reporting only to start with",
        )
    )
    imap, pop3, sub = settings.imap, settings.pop3, settings.submission
    out += [
        Record(f"_imaps._tcp.{d}", "SRV", f"0 1 {imap.tls_port} {host}.", "IMAP"),
        Record(f"_pop3s._tcp.{d}", "SRV", f"10 1 {pop3.tls_port} {host}.", "POP3"),
        Record(f"_submission._tcp.{d}", "SRV", f"0 1 {sub.port} {host}.", "sending"),
        Record(f"autoconfig.{d}", "CNAME", f"{host}.", "Thunderbird's autoconfig"),
        Record(
            f"_autodiscover._tcp.{d}",
            "SRV",
            f"0 1 443 {host}.",
            "Outlook's autodiscover",
        ),
        Record(f"autodiscover.{d}", "CNAME", f"{host}.", "Outlook's autodiscover"),
    ]
    policy = mtasts.policy_text(settings)
    if policy:
        out += [
            Record(
                f"_mta-sts.{d}",
                "TXT",
                f"v=STSv1; id={mtasts.policy_id(policy)}",
                f"MTA-STS ({settings.web.mta_sts_mode}): senders must use TLS",
            ),
            Record(f"mta-sts.{d}", "CNAME", f"{host}.", "where the MTA-STS policy is"),
            Record(
                f"_smtp._tls.{d}",
                "TXT",
                f"v=TLSRPTv1; rua=mailto:postmaster@{d}",
                "TLS-RPT: senders report TLS trouble to postmaster",
            ),
        ]
    return out


def notes(settings: Settings) -> list[str]:
    out = []
    if settings.web.mta_sts_mode:
        out.append(
            "MTA-STS: senders fetch https://mta-sts.<domain>/.well-known/mta-sts.txt "
            "on port 443, so the web module must be reachable there (port 443 or "
            "a forward to its port) with a certificate that names mta-sts.<domain>."
        )
        if not settings.web.enabled:
            out.append("MTA-STS is set but the web module is off: nothing serves it.")
    if settings.relay.enabled and settings.relay.host:
        out.append(
            f"Mail leaves through {settings.relay.host}: add your provider's "
            "include: (its documentation names it) to the SPF record."
        )
    return out


async def _ask(dns: DnsQuestions, rec: Record) -> Finding:
    if rec.type == "MX":
        hosts = await dns.mx(rec.name)
        want = rec.value.split()[1].rstrip(".")
        if not hosts:
            return Finding(rec, "missing")
        return Finding(rec, "ok" if want in hosts else "different", ", ".join(hosts))
    if rec.type == "TXT":
        texts = await dns.txt(rec.name) or []
        if rec.value.startswith("v=spf1"):
            spf = [t for t in texts if t.lower().startswith("v=spf1")]
            return Finding(rec, "ok" if spf else "missing", "; ".join(spf))
        if rec.value.startswith("v=DMARC1"):
            dmarc = [t for t in texts if t.upper().startswith("V=DMARC1")]
            return Finding(rec, "ok" if dmarc else "missing", "; ".join(dmarc))
        same = [t for t in texts if t.replace(" ", "") == rec.value.replace(" ", "")]
        if same:
            return Finding(rec, "ok")
        return Finding(rec, "different" if texts else "missing", "; ".join(texts))
    if rec.type == "A":
        found = (await dns.addresses(rec.name, 4) or []) + (
            await dns.addresses(rec.name, 6) or []
        )
        if not found:
            return Finding(rec, "missing")
        bad = []
        for address in found:
            names = await dns.ptr(address) or []
            if rec.name not in names:
                bad.append(f"{address} has PTR {', '.join(names) or 'none'}")
        if bad:
            return Finding(rec, "different", "reverse DNS: " + "; ".join(bad))
        return Finding(rec, "ok", ", ".join(found) + " (reverse DNS agrees)")
    # SRV and CNAME: is there one under the name
    answer = await dns.raw(rec.name, rec.type) or []
    return Finding(rec, "ok" if answer else "missing", "; ".join(answer))


async def check(records: Sequence[Record], resolver: Resolver) -> list[Finding]:
    dns = DnsQuestions(resolver)
    out = []
    for rec in records:
        try:
            out.append(await asyncio.wait_for(_ask(dns, rec), 15))
        except (DnsTemporary, TimeoutError) as exc:
            out.append(Finding(rec, "unknown", f"DNS did not answer: {exc}"))
    return out
