"""Our SPF (server/antispam/spf.py) against pyspf, the reference Python
implementation, over the same table of records (both given the same answers;
no DNS query leaves): every domain of test_spf.TABLE, from inside and
outside the permitted networks, must get the same result. The few places
where RFC 7208 leaves room and the two differ are listed in ``ACCEPTED``
with the reason."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.antispam.dnsq import DnsQuestions
from server.antispam.spf import check_host

from .dnsfake import TableResolver
from .test_spf import TABLE

pyspf = pytest.importorskip("spf")

# (domain, ip): (ours, pyspf's), with why both are right
ACCEPTED: dict[tuple[str, str], tuple[str, str]] = {}


def answers(name: str, qtype: str, *_args: Any, **_kw: Any) -> list[Any]:
    """pyspf's DNSLookup over TABLE (its answer shapes)."""
    key = (name.rstrip(".").lower(), qtype)
    found = TABLE.get(key)
    if found == "TEMP":
        raise pyspf.TempError("DNS temporary failure")
    if found is None:
        return []
    out: list[Any] = []
    for r in found:
        if qtype in ("A", "AAAA"):
            out.append(((name, qtype), r.address))
        elif qtype == "MX":
            out.append(((name, qtype), (r.preference, r.exchange.rstrip("."))))
        elif qtype == "PTR":
            out.append(((name, qtype), r.target.rstrip(".")))
        elif qtype in ("TXT", "SPF"):
            out.append(((name, qtype), tuple(r.strings)))
    return out


DOMAINS = sorted({name for name, kind in TABLE if kind == "TXT"} | {"none.test"})


@pytest.mark.parametrize("ip", ["192.0.2.10", "198.51.100.1", "2001:db8::7"])
@pytest.mark.parametrize("domain", DOMAINS)
def test_same_result_as_pyspf(
    domain: str, ip: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pyspf, "DNSLookup", answers)
    sender = f"carol@{domain}"
    ours, _ = asyncio.run(
        check_host(ip, domain, sender, "mx.client", DnsQuestions(TableResolver(TABLE)))
    )
    theirs = pyspf.check2(i=ip, s=sender, h="mx.client")[0]
    expected = ACCEPTED.get((domain, ip))
    if expected is not None:
        assert (ours, theirs) == expected
    else:
        assert ours == theirs, f"{domain} from {ip}: ours {ours}, pyspf {theirs}"
