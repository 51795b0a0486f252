"""SPF (RFC 7208) with a resolver that answers from a table: every result,
include and redirect, macros, CIDR lengths, the 10-lookup and void limits."""

from __future__ import annotations

import asyncio

import pytest

from server.antispam.dnsq import DnsQuestions
from server.antispam.spf import check_host

from .dnsfake import TableResolver, a, mx, ptr, txt

IP = "192.0.2.10"
TABLE = {
    ("pass.test", "TXT"): txt("v=spf1 ip4:192.0.2.0/24 -all"),
    ("fail.test", "TXT"): txt("v=spf1 ip4:198.51.100.1 -all"),
    ("soft.test", "TXT"): txt("v=spf1 ~all"),
    ("neutral.test", "TXT"): txt("v=spf1 ?all"),
    ("nothing.test", "TXT"): txt("v=spf1 ip4:198.51.100.1"),
    ("other.test", "TXT"): txt("some other text"),
    ("two.test", "TXT"): txt("v=spf1 -all", "v=spf1 +all"),
    ("bad.test", "TXT"): txt("v=spf1 foo:bar -all"),
    ("temp.test", "TXT"): "TEMP",
    ("inc.test", "TXT"): txt("v=spf1 include:pass.test -all"),
    ("incfail.test", "TXT"): txt("v=spf1 include:fail.test ~all"),
    ("incnone.test", "TXT"): txt("v=spf1 include:none.test -all"),
    ("inctemp.test", "TXT"): txt("v=spf1 include:temp.test -all"),
    ("redir.test", "TXT"): txt("v=spf1 redirect=pass.test"),
    ("redirnone.test", "TXT"): txt("v=spf1 redirect=none.test"),
    ("a.test", "TXT"): txt("v=spf1 a -all"),
    ("a.test", "A"): a("192.0.2.10"),
    ("acidr.test", "TXT"): txt("v=spf1 a:host.acidr.test/24 -all"),
    ("host.acidr.test", "A"): a("192.0.2.200"),
    ("mx.test", "TXT"): txt("v=spf1 mx -all"),
    ("mx.test", "MX"): mx("mail.mx.test"),
    ("mail.mx.test", "A"): a("192.0.2.10"),
    ("ptr.test", "TXT"): txt("v=spf1 ptr -all"),
    ("10.2.0.192.in-addr.arpa", "PTR"): ptr("gw.ptr.test"),
    ("gw.ptr.test", "A"): a("192.0.2.10"),
    ("exists.test", "TXT"): txt("v=spf1 exists:%{i}.%{l}.ok.exists.test -all"),
    ("192.0.2.10.carol.ok.exists.test", "A"): a("127.0.0.2"),
    ("macro.test", "TXT"): txt("v=spf1 exists:%{ir}.%{v}._spf.%{d2} -all"),
    ("10.2.0.192.in-addr._spf.macro.test", "A"): a("127.0.0.2"),
    ("ip6.test", "TXT"): txt("v=spf1 ip6:2001:db8::/32 -all"),
    ("void.test", "TXT"): txt(
        "v=spf1 a:x1.void.test a:x2.void.test a:x3.void.test ?all"
    ),
    ("many.test", "TXT"): txt(
        "v=spf1 " + " ".join(f"a:h{i}.many.test" for i in range(11)) + " ?all"
    ),
    **{(f"h{i}.many.test", "A"): a("198.51.100.9") for i in range(11)},
    ("loop.test", "TXT"): txt("v=spf1 include:loop.test -all"),
    ("helo.example", "TXT"): txt("v=spf1 a -all"),
    ("helo.example", "A"): a("192.0.2.10"),
}


def spf(domain: str, ip: str = IP, sender: str = "", helo: str = "mx.client") -> str:
    dns = DnsQuestions(TableResolver(TABLE))
    who = sender or f"carol@{domain}"
    return asyncio.run(check_host(ip, domain, who, helo, dns))[0]


@pytest.mark.parametrize(
    ("domain", "result"),
    [
        ("pass.test", "pass"),
        ("fail.test", "fail"),
        ("soft.test", "softfail"),
        ("neutral.test", "neutral"),
        ("nothing.test", "neutral"),
        ("none.test", "none"),
        ("other.test", "none"),
        ("two.test", "permerror"),
        ("bad.test", "permerror"),
        ("temp.test", "temperror"),
        ("inc.test", "pass"),
        ("incfail.test", "softfail"),
        ("incnone.test", "permerror"),
        ("inctemp.test", "temperror"),
        ("redir.test", "pass"),
        ("redirnone.test", "permerror"),
        ("a.test", "pass"),
        ("acidr.test", "pass"),
        ("mx.test", "pass"),
        ("ptr.test", "pass"),
        ("exists.test", "pass"),
        ("macro.test", "pass"),
        ("ip6.test", "fail"),
        ("void.test", "permerror"),
        ("many.test", "permerror"),
        ("loop.test", "permerror"),
    ],
)
def test_results(domain: str, result: str) -> None:
    assert spf(domain) == result


def test_another_client_fails_and_ipv6_matches() -> None:
    assert spf("pass.test", ip="198.51.100.7") == "fail"
    assert spf("a.test", ip="192.0.2.11") == "fail"
    assert spf("ip6.test", ip="2001:db8::5") == "pass"
    assert spf("pass.test", ip="::ffff:192.0.2.10") == "pass"  # IPv4-mapped


def test_the_null_sender_is_checked_as_the_helo_name() -> None:
    dns = DnsQuestions(TableResolver(TABLE))
    result = asyncio.run(check_host(IP, "helo.example", "", "helo.example", dns))
    assert result[0] == "pass"
