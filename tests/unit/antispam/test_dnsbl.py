"""DNS block lists with a resolver that answers from memory (no packet
leaves): query names (RFC 5782), refusal with the list's reason, tag, the
list's error codes, failures that never refuse mail, the cache, and the SMTP
RCPT stage refusing a listed client."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import dns.resolver
import pytest
from aiosmtpd.smtp import Envelope as AioEnvelope
from aiosmtpd.smtp import Session

from server.antispam.dnsbl import Dnsbl, Zone, parse_zone, query_name
from server.errors import ValidationError

LISTED = "93.184.216.34"  # a public address, used only as a name here


@dataclass
class _Rec:
    address: str = ""
    strings: tuple[bytes, ...] = ()


@dataclass
class _Answer:
    records: list[_Rec]
    rrset: Any = None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.records)


@dataclass
class FakeResolver:
    table: dict[tuple[str, str], list[_Rec]]
    asked: list[str] = field(default_factory=list)
    fail: bool = False

    async def resolve(self, name: str, rdtype: str) -> _Answer:
        self.asked.append(f"{name} {rdtype}")
        if self.fail:
            raise dns.resolver.NoNameservers()
        found = self.table.get((name, rdtype))
        if found is None:
            raise dns.resolver.NXDOMAIN()
        return _Answer(found, type("R", (), {"ttl": 900})())


def table() -> dict[tuple[str, str], list[_Rec]]:
    name = "34.216.184.93.bl.example"
    return {
        (name, "A"): [_Rec("127.0.0.2")],
        (name, "TXT"): [_Rec(strings=(b"Listed: see https://bl.example/\x07",))],
        ("34.216.184.93.err.example", "A"): [_Rec("127.255.255.254")],
    }


def test_query_names() -> None:
    assert query_name(LISTED, "bl.example") == "34.216.184.93.bl.example"
    v6 = query_name("2001:db8:1:2::3", "bl.example")  # documentation: private
    assert v6 is None
    name = query_name("2a00:1450:4001:82b::200e", "bl.example")
    assert name is not None and name.endswith(".0.5.4.1.0.0.a.2.bl.example")
    assert name.startswith("e.0.0.2.0.0.0.0.0.0.0.0.0.0.0.0.b.2.8.0.1.0.0.4")
    for private in ("127.0.0.1", "10.1.2.3", "192.168.0.9", "::1", "fe80::1", "x"):
        assert query_name(private, "bl.example") is None


def test_zones_are_checked() -> None:
    assert parse_zone("ZEN.spamhaus.org") == Zone("zen.spamhaus.org", "reject")
    assert parse_zone("bl.example=tag") == Zone("bl.example", "tag")
    for bad in ("", "nodot", "a b.c", "bl.example=drop", "x..y"):
        with pytest.raises(ValidationError):
            parse_zone(bad)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_listed_client_has_the_lists_reason_and_is_cached() -> None:
    res = FakeResolver(table())
    now = [0.0]
    bl = Dnsbl(lambda: res, clock=lambda: now[0])
    zones = [Zone("clean.example"), Zone("bl.example")]
    hit = run(bl.check(LISTED, zones))
    assert hit is not None and hit.zone == "bl.example" and hit.action == "reject"
    assert hit.reason == "Listed: see https://bl.example/?"  # no control chars
    asked = len(res.asked)
    assert run(bl.check(LISTED, zones)) == hit  # cached: nothing asked again
    assert len(res.asked) == asked
    now[0] += 901  # past the TTL
    run(bl.check(LISTED, zones))
    assert len(res.asked) > asked


def test_error_codes_and_failures_never_refuse(
    caplog: pytest.LogCaptureFixture,
) -> None:
    res = FakeResolver(table())
    bl = Dnsbl(lambda: res)
    with caplog.at_level(logging.WARNING):
        assert run(bl.check(LISTED, [Zone("err.example")])) is None
    assert "error code" in caplog.text
    down = FakeResolver({}, fail=True)
    assert run(Dnsbl(lambda: down).check(LISTED, [Zone("bl.example")])) is None


def test_rcpt_refuses_a_listed_client_and_tags_for_a_tag_list(tmp_path: Any) -> None:
    from server.protocols.smtp.session import SmtpHandler, SmtpPolicy

    class Accounts:
        def canonical_recipient(self, a: str) -> str:
            return a

        def is_local_domain(self, d: str) -> bool:
            return True

        def resolve(self, a: str) -> list[str]:
            return [a]

    def handler(zone: str) -> SmtpHandler:
        return SmtpHandler(
            SmtpPolicy("mail.example.test"),
            Accounts(),  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            logging.getLogger("test"),
            dnsbl=Dnsbl(lambda: FakeResolver(table())),
            dnsbl_zones=(parse_zone(zone),),
        )

    def rcpt(h: SmtpHandler, peer: str) -> tuple[str, Session]:
        session = Session(loop=None)  # type: ignore[arg-type]
        session.peer = (peer, 25000)
        env = AioEnvelope()
        env.mail_from = "x@outside.test"
        reply = run(h.handle_RCPT(None, session, env, "alice@example.test", []))  # type: ignore[arg-type]
        return reply, session

    reply, _ = rcpt(handler("bl.example"), LISTED)
    assert reply.startswith("550 5.7.1 Service unavailable; client [93.184.216.34]")
    assert "blocked using bl.example: Listed: see" in reply
    assert rcpt(handler("bl.example"), "127.0.0.1")[0].startswith("250")
    reply, session = rcpt(handler("bl.example=tag"), LISTED)
    assert reply.startswith("250")
    assert session.qs_dnsbl.zone == "bl.example"


def test_the_system_resolver_keeps_answers_for_their_ttl() -> None:
    """dnspython caches nothing unless given a cache: SPF, DMARC and list
    questions would go out again for every message."""
    import dns.resolver

    from server.antispam.dnsq import CACHE_ENTRIES, system_resolver

    try:
        resolver = system_resolver()
    except dns.resolver.NoResolverConfiguration:
        pytest.skip("no resolver configured on this machine")
    assert isinstance(resolver.cache, dns.resolver.LRUCache)
    assert resolver.cache.max_size == CACHE_ENTRIES
