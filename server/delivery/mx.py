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
- STARTTLS opportunistically (RFC 3207, RFC 7435: no certificate check, there
  is no DANE or MTA-STS here); all recipients of one message at one domain go
  in one transaction, and connections are kept for the next message to the same
  host (at most ``mx.max_connections_per_host`` at once).
- The resolver comes in through the constructor or the ``resolver`` attribute,
  so tests answer with a fake and never query real DNS.

What it does not do: DANE (RFC 7672), MTA-STS (RFC 8461), IPv6-first policies,
or detect an MX that points back at this server. DNS timeouts and SERVFAIL are
temporary failures. Settings: ``[mx]`` port, max_connections_per_host, timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.config.schema import MxSettings, validate_section
from server.delivery.base import RouteResult
from server.delivery.route_module import RouteModule
from server.delivery.smtp_client import (
    ConnectFailed,
    SmtpSender,
    SmtpTarget,
)
from server.modules.base import ModuleContext, ModuleState

log = logging.getLogger("quicksilver.mx")


@dataclass(frozen=True)
class MxHost:
    name: str
    preference: int
    addresses: tuple[str, ...]


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

    def __init__(self, ctx: ModuleContext, resolver: Any = None) -> None:
        super().__init__(ctx.events, ctx.queue, log)
        self.ctx = ctx
        self.resolver = resolver
        self._port = 25

    def configure(self, cfg: MxSettings) -> None:
        validate_section("mx", cfg)

    async def start(self) -> None:
        settings = self.ctx.settings()
        cfg: MxSettings = settings.mx
        self._set_state(ModuleState.STARTING)
        if self.resolver is None:
            try:
                import dns.asyncresolver

                # Reads /etc/resolv.conf (or the registry): blocking.
                self.resolver = await asyncio.to_thread(dns.asyncresolver.Resolver)
            except Exception as exc:
                self._fail(f"No DNS resolver is configured on this computer: {exc}")
        self._port = cfg.port
        sender = SmtpSender(
            settings.general.hostname or "localhost",
            log,
            timeout=float(cfg.timeout),
            max_per_target=cfg.max_connections_per_host,
        )
        self._running(sender)

    # -- DNS ---------------------------------------------------------------------
    async def _query(self, name: str, rdtype: str) -> list[Any] | None:
        """Records of one type; None when the name does not exist."""
        import dns.exception
        import dns.resolver

        try:
            answer = await self.resolver.resolve(name, rdtype)
        except dns.resolver.NXDOMAIN:
            return None
        except dns.resolver.NoAnswer:
            return []
        except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
            raise DnsFailure(
                f"DNS lookup of {name} ({rdtype}) failed: {exc}", temporary=True
            ) from exc
        except dns.exception.DNSException as exc:
            raise DnsFailure(
                f"DNS lookup of {name} ({rdtype}) failed: {exc}", temporary=True
            ) from exc
        return list(answer)

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
        records = await self._query(domain, "MX")
        if records is None:
            raise DnsFailure(
                f"The domain {domain} does not exist (5.1.2)", temporary=False
            )
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
            hosts.append(MxHost(name, pref, await self._addresses(name)))
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
        errors: list[ConnectFailed] = []
        for host in hosts:
            for addr in host.addresses:
                target = SmtpTarget(
                    host=host.name,
                    port=self._port,
                    address=addr,
                    security="opportunistic",
                )
                try:
                    return await sending.send(target, sender, recipients, message)
                except ConnectFailed as exc:
                    log.info("[%s:%d] %s", addr, self._port, exc.message)
                    errors.append(exc)
        if not errors:
            text = f"No address to connect to for the mail servers of {domain}"
            return [RouteResult(r, False, True, text) for r in recipients]
        permanent = all(not e.temporary for e in errors)
        text = errors[-1].message
        if len(errors) > 1:
            text = f"{len(errors)} mail servers tried; last: {text}"
        return [RouteResult(r, False, not permanent, text) for r in recipients]
