"""MTA-STS pieces without a network: the TXT record and policy file parsers
(RFC 8461 3.1, 3.2, with its examples), pattern matching, and the cache's
rules (refresh on a new id, keep on failure, outlive a removed TXT until
max_age ends)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.delivery import mtasts as m
from server.delivery.dane import name_matches

RFC_POLICY = (
    b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
    b"mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n"
)


def test_txt_record() -> None:
    assert m.parse_txt(["v=STSv1; id=20160831085700Z;"]) == "20160831085700Z"
    assert m.parse_txt(["v=spf1 -all", "v=STSv1; id=abc"]) == "abc"
    assert m.parse_txt(["v=STSv1; id=a", "v=STSv1; id=b"]) is None  # two: none
    assert m.parse_txt(["v=STSv1; id=bad-id!"]) is None
    assert m.parse_txt(["v=STSv1"]) is None
    assert m.parse_txt([]) is None


def test_the_rfc_policy() -> None:
    p = m.parse_policy("example.com", "x", RFC_POLICY, 100.0)
    assert p.mode == "enforce" and p.max_age == 604800
    assert p.mx == ("mail.example.com", "*.example.net", "backupmx.example.com")
    assert p.allows("mail.example.com") and p.allows("mx1.example.net")
    assert not p.allows("a.b.example.net") and not p.allows("example.net")
    assert p.fresh(100 + 604799) and not p.fresh(100 + 604800)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"mode: enforce\nmx: a.test\nmax_age: 5\n", "version"),
        (b"version: STSv1\nmode: strict\nmx: a.test\nmax_age: 5\n", "mode"),
        (b"version: STSv1\nmode: enforce\nmax_age: 5\n", "no mx"),
        (b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: soon\n", "max_age"),
        (b"version: STSv1\nmode: enforce\nmx: a.test\n", "max_age"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_bad_policies(body: bytes, why: str) -> None:
    with pytest.raises(m.PolicyError, match=why) as info:
        m.parse_policy("a.test", "x", body, 0.0)
    assert info.value.kind == "sts-policy-invalid"


def test_limits_and_mode_none() -> None:
    body = b"version: STSv1\nmode: none\nmax_age: 99999999999\nunknown: x\n"
    p = m.parse_policy("a.test", "x", body, 0.0)
    assert p.mode == "none" and p.max_age == m.MAX_AGE
    many = b"version: STSv1\nmode: enforce\nmax_age: 5\n" + b"mx: a.test\n" * 500
    assert len(m.parse_policy("a.test", "x", many, 0.0).mx) == m.MAX_MX_PATTERNS


def test_wildcards_are_one_label() -> None:
    assert name_matches("*.example.com", "mx.example.com")
    assert not name_matches("*.example.com", "example.com")
    assert not name_matches("*.example.com", "a.mx.example.com")
    assert name_matches("MX.Example.COM.", "mx.example.com")


def test_cache_rules(tmp_path: Path) -> None:
    now = [1000.0]
    txt: dict[str, list[str] | None] = {"_mta-sts.a.test": ["v=STSv1; id=one"]}
    bodies = {"a.test": RFC_POLICY}
    fetched: list[str] = []

    async def get_txt(name: str) -> list[str] | None:
        return txt.get(name)

    async def fetch(domain: str) -> bytes:
        fetched.append(domain)
        body = bodies[domain]
        if body == b"FAIL":
            raise m.PolicyError("down", "sts-policy-fetch-error")
        return body

    cache = m.PolicyCache(tmp_path / m.FILE_NAME)
    sts = m.MtaSts(cache, get_txt, fetch, clock=lambda: now[0])

    def policy() -> m.Policy | None:
        return asyncio.run(sts.policy("A.test."))

    first = policy()
    assert first is not None and first.id == "one" and fetched == ["a.test"]
    assert policy() == first and fetched == ["a.test"]  # same id: cached
    txt["_mta-sts.a.test"] = ["v=STSv1; id=two"]
    bodies["a.test"] = b"FAIL"
    assert policy() == first  # the refresh failed: the cached one holds
    bodies["a.test"] = RFC_POLICY.replace(b"enforce", b"testing")
    second = policy()
    assert second is not None and second.mode == "testing" and second.id == "two"
    txt["_mta-sts.a.test"] = None  # TXT removed: the cache still applies
    assert policy() == second
    now[0] += 604800  # until max_age ends
    assert policy() is None
    # a new process reads the same file
    again = m.MtaSts(m.PolicyCache(tmp_path / m.FILE_NAME), get_txt, fetch)
    assert asyncio.run(again.policy("a.test")) is None  # expired there too
    cache.close()
