"""The ``mx`` module (MercuryE): remote mail straight to the recipients' MX hosts.

What it does
- For each recipient domain: looks up MX records with dnspython's asynchronous
  resolver and tries the hosts in preference order, equal preferences in random
  order (RFC 5321 5.1); with no MX records, the domain's own A/AAAA address is
  the implicit MX. A null MX (``0 .``, RFC 7505 3) fails at once with 5.1.10; a
  domain that does not exist fails with 5.1.2.
- Connects to each host's addresses on ``mx.port`` (25) and moves to the next
  address or host when a connection, greeting, EHLO or TLS fails; the first host
  that holds a session decides (its 4xx defers, its 5xx fails: RFC 5321 4.2.1).
- STARTTLS opportunistically (RFC 3207, RFC 7435: no certificate check),
  unless the domain asks for more:
  - DANE (RFC 7672, ``dane.py``): when the MX answer and a host's
    ``_25._tcp.<host>`` TLSA answer are DNSSEC-validated (the resolver's AD
    bit; ask a validating resolver), that host must do STARTTLS and present
    a certificate the records match; a host that fails is skipped. A TLSA
    lookup that fails for a signed MX skips the host too (no downgrade).
  - MTA-STS (RFC 8461, ``mtasts.py``): a policy in ``enforce`` mode limits the
    hosts to its ``mx`` patterns and requires STARTTLS with a certificate
    valid for the host. DANE wins where both apply.
  - A message with ``TLS-Required: No`` (RFC 8689 5) is sent without either
    (its sender chose delivery over protection). REQUIRETLS itself is not
    offered: the smtp module refuses the MAIL parameter (555).
  Each attempt under a policy is counted for TLS-RPT (``tlsrpt.py``).
- All recipients of one message at one domain go in one transaction, and
  connections are kept for the next message to the same host (at most
  ``mx.max_connections_per_host`` at once).
- The resolver comes in through the constructor or the ``resolver`` attribute,
  so tests answer with a fake and never query real DNS.

What it does not do: IPv6-first policies, send TLS-RPT reports, or detect an
MX that points back at this server. DNS timeouts and SERVFAIL are
temporary failures. Settings: ``[mx]`` port, max_connections_per_host, timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server import mailtext
from server.antispam.dnsq import Resolver, system_resolver
from server.config.schema import MxSettings, Settings, validate_section
from server.delivery import dane, mtasts
from server.delivery.base import RouteResult
from server.delivery.mtasts import MtaSts, PolicyCache
from server.delivery.route_module import RouteModule
from server.delivery.smtp_client import (
    ConnectFailed,
    SmtpSender,
    SmtpTarget,
)
from server.delivery.tlsrpt import FILE_NAME as TLSRPT_FILE
from server.delivery.tlsrpt import TlsReport
from server.modules.base import ModuleContext, ModuleState

log = logging.getLogger("quicksilver.mx")


@dataclass(frozen=True)
class MxHost:
    name: str
    preference: int
    addresses: tuple[str, ...]
    secure: bool = False  # the MX answer was DNSSEC-validated


_TLS_REQUIRED_NO = re.compile(rb"(?im)^tls-required[ \t]*:[ \t]*no[ \t]*\r?$")


def tls_required_no(message: bytes) -> bool:
    """Does the header say ``TLS-Required: No`` (RFC 8689 5)?"""
    head = message[: 256 * 1024]
    cut = mailtext.header_end(head)
    return _TLS_REQUIRED_NO.search(head if cut < 0 else head[:cut]) is not None


def _validated(answer: object) -> bool:
    """Did the resolver set the AD bit (RFC 4035 3.2.3) on this answer?"""
    import dns.flags

    response = getattr(answer, "response", None)
    return bool(response is not None and response.flags & dns.flags.AD)


class DnsFailure(Exception):
    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.message = message
        self.temporary = temporary


def _domain_literal(domain: str) -> str | None:
    """RFC 5321 4.1.3: ``[192.0.2.1]`` or ``[IPv6:2001:db8::1]``."""
    if not (domain.startswith("[") and domain.endswith("]")):
        return None
    inner = domain[1:-1]
    if inner.lower().startswith("ipv6:"):
        inner = inner[5:]
    try:
        return str(ipaddress.ip_address(inner))
    except ValueError:
        return None


class MxModule(RouteModule):
    name = "mx"
    title = "Direct MX delivery"
    priority = 10

    def __init__(self, ctx: ModuleContext, resolver: Resolver | None = None) -> None:
        super().__init__(ctx.events, ctx.queue, log)
        self.ctx = ctx
        self.resolver = resolver
        self._port = 25
        # tests point these at a local HTTPS server and their own authority
        self.https_port = 443
        self.ca_file = ""
        self.sts: MtaSts | None = None
        self.report: TlsReport | None = None

    def configure(self, settings: Settings) -> None:
        validate_section("mx", settings.mx)

    async def start(self) -> None:
        settings = self.ctx.settings()
        cfg: MxSettings = settings.mx
        self._set_state(ModuleState.STARTING)
        if self.resolver is None:
            try:
                import dns.flags

                # Reads /etc/resolv.conf (or the registry): blocking.
                system = await asyncio.to_thread(system_resolver)
                # AD in the question asks a validating resolver to say which
                # answers DNSSEC proved (RFC 6840 5.7): DANE needs to know
                system.flags = dns.flags.RD | dns.flags.AD
                self.resolver = system
            except Exception as exc:
                self._fail(f"No DNS resolver is configured on this computer: {exc}")
        self._port = cfg.port
        folder = self.ctx.data_dir or Path(".")
        if self.sts is None:
            cache = await asyncio.to_thread(PolicyCache, folder / mtasts.FILE_NAME)
            self.sts = MtaSts(cache, self._txt, self._fetch_policy)
        if self.report is None:
            self.report = await asyncio.to_thread(TlsReport, folder / TLSRPT_FILE)
        sender = SmtpSender(
            settings.general.hostname or "localhost",
            log,
            timeout=float(cfg.timeout),
            max_per_target=cfg.max_connections_per_host,
        )
        self._running(sender)

    async def stop(self) -> None:
        await super().stop()
        sts, report = self.sts, self.report
        self.sts = self.report = None
        if sts is not None:
            await asyncio.to_thread(sts.cache.close)
        if report is not None:
            await asyncio.to_thread(report.close)

    # -- MTA-STS -------------------------------------------------------------------
    async def _txt(self, name: str) -> list[str] | None:
        try:
            records = await self._query(name, "TXT")
        except DnsFailure:
            raise
        if records is None:
            return None
        return [
            b"".join(getattr(r, "strings", ())).decode("utf-8", "replace")
            for r in records
        ]

    async def _fetch_policy(self, domain: str) -> bytes:
        host = f"mta-sts.{domain}"
        addrs = await self._addresses(host)
        if not addrs:
            raise mtasts.PolicyError(f"{host} has no address", "sts-policy-fetch-error")
        import ssl

        ctx = ssl.create_default_context(cafile=self.ca_file or None)
        return await mtasts.https_get(
            host,
            "/.well-known/mta-sts.txt",
            connect=(addrs[0], self.https_port),
            context=ctx,
        )

    # -- DNS ---------------------------------------------------------------------
    async def _query(self, name: str, rdtype: str) -> list[Any] | None:
        """Records of one type; None when the name does not exist."""
        found = await self._query_validated(name, rdtype)
        return None if found is None else found[0]

    async def _query_validated(
        self, name: str, rdtype: str
    ) -> tuple[list[Any], bool] | None:
        """Records of one type and whether DNSSEC validated them; None when
        the name does not exist."""
        import dns.exception
        import dns.resolver

        resolver = self.resolver
        if resolver is None:  # start() found none and failed the module
            raise DnsFailure("No DNS resolver is configured", temporary=True)
        try:
            answer = await resolver.resolve(name, rdtype)
        except dns.resolver.NXDOMAIN:
            return None
        except dns.resolver.NoAnswer:
            return [], False
        except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
            raise DnsFailure(
                f"DNS lookup of {name} ({rdtype}) failed: {exc}", temporary=True
            ) from exc
        except dns.exception.DNSException as exc:
            raise DnsFailure(
                f"DNS lookup of {name} ({rdtype}) failed: {exc}", temporary=True
            ) from exc
        return list(answer), _validated(answer)

    async def _addresses(self, host: str) -> tuple[str, ...]:
        literal = _domain_literal(f"[{host}]")
        if literal:
            return (literal,)
        out: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                recs = await self._query(host, rdtype)
            except DnsFailure:
                continue
            out += [str(r.address) for r in recs or []]
        return tuple(out)

    async def mx_hosts(self, domain: str) -> list[MxHost]:
        """The hosts to try, in order; raises ``DnsFailure``."""
        literal = _domain_literal(domain)
        if literal:
            return [MxHost(domain, 0, (literal,))]
        found = await self._query_validated(domain, "MX")
        if found is None:
            raise DnsFailure(
                f"The domain {domain} does not exist (5.1.2)", temporary=False
            )
        records, secure = found
        named = [(int(r.preference), str(r.exchange).rstrip(".")) for r in records]
        if any(name == "" for _, name in named):
            if len(named) == 1:
                raise DnsFailure(
                    f"The domain {domain} does not accept mail (null MX, RFC 7505; "
                    "5.1.10)",
                    temporary=False,
                )
            named = [(p, n) for p, n in named if n]  # a stray "." among others
        if not named:
            # RFC 5321 5.1: no MX -> the domain itself is the implicit MX.
            addrs = await self._addresses(domain)
            if not addrs:
                raise DnsFailure(
                    f"The domain {domain} has no mail server (no MX, A or AAAA "
                    "record; 5.1.2)",
                    temporary=False,
                )
            return [MxHost(domain, 0, addrs)]
        random.shuffle(named)
        named.sort(key=lambda pn: pn[0])  # stable: shuffled within a preference
        hosts = []
        for pref, name in named:
            hosts.append(MxHost(name, pref, await self._addresses(name), secure))
        if not any(h.addresses for h in hosts):
            raise DnsFailure(
                f"No address found for the mail servers of {domain}", temporary=True
            )
        return hosts

    # -- delivery ----------------------------------------------------------------
    async def deliver_remote(
        self, sender: str, recipients: Sequence[str], message: bytes
    ) -> list[RouteResult]:
        by_domain: dict[str, list[str]] = {}
        for r in recipients:
            dom = r.rsplit("@", 1)[-1].lower() if "@" in r else ""
            by_domain.setdefault(dom, []).append(r)
        results: dict[str, RouteResult] = {}
        for dom, rcpts in by_domain.items():
            for res in await self._deliver_domain(dom, sender, rcpts, message):
                results[res.recipient] = res
        out = [results[r] for r in recipients]
        self.count_results(out)
        return out

    async def _deliver_domain(
        self, domain: str, sender: str, recipients: list[str], message: bytes
    ) -> list[RouteResult]:
        sending = self._sending
        if sending is None:
            return [
                RouteResult(r, False, True, "The mx module is not running")
                for r in recipients
            ]
        try:
            hosts = await self.mx_hosts(domain)
        except DnsFailure as exc:
            log.info("%s: %s", domain, exc.message)
            return [
                RouteResult(r, False, exc.temporary, exc.message) for r in recipients
            ]
        relaxed = tls_required_no(message)
        policy = None
        if not relaxed and self.sts is not None:
            policy = await self.sts.policy(domain)
        enforce = policy is not None and policy.mode == "enforce"
        if enforce and policy is not None:
            allowed = [h for h in hosts if policy.allows(h.name)]
            if not allowed:
                text = (
                    f"The MTA-STS policy of {domain} allows none of its mail "
                    "servers; the message waits for the domain to fix it"
                )
                log.info("%s", text)
                self._count(domain, "sts", "validation-failure")
                return [RouteResult(r, False, True, text) for r in recipients]
            hosts = allowed
        errors: list[ConnectFailed] = []
        for host in hosts:
            tlsa: tuple[dane.Tlsa, ...] = ()
            if host.secure and not relaxed:
                try:
                    tlsa = await self._tlsa(host.name)
                except DnsFailure as exc:
                    # a signed domain whose TLSA answer cannot be had: never
                    # fall back to unauthenticated TLS (RFC 7672 2.2)
                    log.info("%s: %s; host skipped", host.name, exc.message)
                    self._count(domain, "tlsa", "dnssec-invalid")
                    errors.append(ConnectFailed(exc.message))
                    continue
            kind, counted = "", ""
            if tlsa:
                kind, counted = "dane", "tlsa"
            elif enforce:
                kind, counted = "sts", "sts"
            for addr in host.addresses:
                target = SmtpTarget(
                    host=host.name,
                    port=self._port,
                    address=addr,
                    security="opportunistic",
                    tls_policy=kind,
                    tlsa=tlsa,
                    tlsa_names=(host.name, domain),
                    ca_file=self.ca_file,
                )
                try:
                    results = await sending.send(target, sender, recipients, message)
                except ConnectFailed as exc:
                    log.info("[%s:%d] %s", addr, self._port, exc.message)
                    if counted and exc.tls_failure:
                        self._count(domain, counted, exc.tls_failure)
                    errors.append(exc)
                    continue
                if counted:
                    self._count(domain, counted, "success")
                return results
        if not errors:
            text = f"No address to connect to for the mail servers of {domain}"
            return [RouteResult(r, False, True, text) for r in recipients]
        permanent = all(not e.temporary for e in errors)
        text = errors[-1].message
        if len(errors) > 1:
            text = f"{len(errors)} mail servers tried; last: {text}"
        return [RouteResult(r, False, not permanent, text) for r in recipients]

    async def _tlsa(self, host: str) -> tuple[dane.Tlsa, ...]:
        """The host's validated TLSA records for port 25 (none when the
        answer is not validated or there are none)."""
        found = await self._query_validated(f"_25._tcp.{host}", "TLSA")
        if found is None or not found[1]:
            return ()
        return dane.records(found[0])

    def _count(self, domain: str, policy: str, result: str) -> None:
        report = self.report
        if report is None:
            return
        report.record(domain, policy, result)
        if report.due():
            task = asyncio.get_running_loop().run_in_executor(None, report.flush)
            task.add_done_callback(lambda f: f.exception())
