"""DMARC with SPF and DKIM (resolver from a table): alignment relaxed and
strict with the organizational domain from the Public Suffix List, the
policy, the Authentication-Results field, and forged fields removed."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from server.antispam import mailauth
from server.antispam.mailauth import MailAuth, aligned, org_domain, strip_ours
from server.dkim.keys import DkimKeys
from server.dkim.signer import DkimSigner

from .dnsfake import TableResolver, txt

IP = "192.0.2.10"


def msg(from_: str) -> bytes:
    return (
        f"From: Carol <carol@{from_}>\r\nTo: alice@example.test\r\n"
        "Subject: hi\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\n"
        "Message-ID: <m1@x>\r\n\r\nbody\r\n"
    ).encode()


def test_organizational_domains() -> None:
    assert org_domain("mail.example.co.uk") == "example.co.uk"
    assert aligned("bounce.example.com", "example.com", strict=False)
    assert not aligned("bounce.example.com", "example.com", strict=True)
    assert not aligned("example.org", "example.com", strict=False)


def test_the_suffix_list_is_read_off_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading the Public Suffix List takes tens of milliseconds: the first
    DMARC check has it read in a worker thread, not on the loop."""
    monkeypatch.setattr(mailauth, "_PSL", None)
    readers: list[int] = []
    real = mailauth._load_suffixes

    def spy() -> None:
        if mailauth._PSL is None:
            readers.append(threading.get_ident())
        real()

    monkeypatch.setattr(mailauth, "_load_suffixes", spy)
    v, _ = verdicts(BASE, "b@bounces.sender.test", msg("sender.test"))
    assert v.dmarc == "pass"
    assert len(readers) == 1 and readers[0] != threading.get_ident()


def verdicts(table: dict, sender: str, message: bytes):  # type: ignore[no-untyped-def]
    auth = MailAuth(TableResolver(table), "mail.example.test")
    return asyncio.run(auth.verdicts(IP, sender, "mx.client", message)), auth


BASE = {
    ("sender.test", "TXT"): txt("v=spf1 ip4:192.0.2.0/24 -all"),
    ("_dmarc.sender.test", "TXT"): txt("v=DMARC1; p=reject; aspf=r"),
    ("bounces.sender.test", "TXT"): txt("v=spf1 ip4:192.0.2.0/24 -all"),
    ("evil.test", "TXT"): txt("v=spf1 ip4:192.0.2.0/24 -all"),
}


def test_spf_aligned_passes_and_a_stranger_fails() -> None:
    v, auth = verdicts(BASE, "carol@sender.test", msg("sender.test"))
    assert (v.spf, v.dmarc, v.policy) == ("pass", "pass", "reject")
    # relaxed alignment: a bounce subdomain of the same organization
    v, _ = verdicts(BASE, "b@bounces.sender.test", msg("sender.test"))
    assert v.dmarc == "pass"
    # strict alignment refuses it
    strict = dict(BASE)
    strict[("_dmarc.sender.test", "TXT")] = txt("v=DMARC1; p=quarantine; aspf=s")
    v, _ = verdicts(strict, "b@bounces.sender.test", msg("sender.test"))
    assert (v.dmarc, v.policy) == ("fail", "quarantine")
    # SPF passes for evil.test but the From says sender.test: DMARC fails
    v, _ = verdicts(BASE, "x@evil.test", msg("sender.test"))
    assert (v.spf, v.dmarc, v.policy) == ("pass", "fail", "reject")
    field = auth.header(v, "x@evil.test", "mx.client").decode()
    assert field.startswith("Authentication-Results: mail.example.test;")
    assert "spf=pass smtp.mailfrom=x@evil.test" in field
    assert (
        "dkim=none" in field
        and "dmarc=fail (p=reject) header.from=sender.test" in field
    )


def test_no_record_subdomain_policy_and_temperror() -> None:
    v, _ = verdicts(BASE, "x@evil.test", msg("evil.test"))
    assert v.dmarc == "none"
    sub = dict(BASE)
    sub[("_dmarc.sender.test", "TXT")] = txt("v=DMARC1; p=reject; sp=none")
    v, _ = verdicts(sub, "x@evil.test", msg("news.sender.test"))
    assert (v.dmarc, v.policy) == ("fail", "none")  # the org record, sp for subs
    temp = dict(BASE)
    temp[("_dmarc.sender.test", "TXT")] = "TEMP"
    v, _ = verdicts(temp, "x@evil.test", msg("sender.test"))
    assert v.dmarc == "temperror"


def test_dkim_aligned_passes_even_when_spf_fails(tmp_path: Path) -> None:
    keys = DkimKeys(tmp_path / "dkim")
    keys.generate("sender.test")
    table = dict(BASE)
    for k in keys.keys("sender.test"):
        table[(k.record_name, "TXT")] = txt(keys.record(k))
    table[("sender.test", "TXT")] = txt("v=spf1 -all")  # a forwarder's hop
    signed = DkimSigner(keys).sign("carol@sender.test", msg("sender.test"))
    v, auth = verdicts(table, "carol@sender.test", signed)
    assert v.spf == "fail"
    assert sorted(d.result for d in v.dkim) == ["pass", "pass"]
    assert {d.domain for d in v.dkim} == {"sender.test"}
    assert v.dmarc == "pass"
    tampered = signed.replace(b"body", b"BODY")
    v, _ = verdicts(table, "carol@sender.test", tampered)
    assert [d.result for d in v.dkim] == ["fail", "fail"] and v.dmarc == "fail"
    assert (
        "dkim=pass header.d=sender.test"
        in auth.header(
            verdicts(table, "carol@sender.test", signed)[0], "carol@sender.test", "h"
        ).decode()
    )


def test_forged_results_of_ours_are_removed() -> None:
    forged = (
        b"Authentication-Results: mail.example.test; dkim=pass\r\n"
        b"\theader.d=bank.test\r\n"
        b"Authentication-Results: other.example; spf=pass\r\n"
        b"authentication-results:MAIL.EXAMPLE.TEST;dmarc=pass\r\n"
        b"Subject: x\r\n\r\nAuthentication-Results: mail.example.test; in the body\r\n"
    )
    out = strip_ours(forged, "mail.example.test")
    assert out == (
        b"Authentication-Results: other.example; spf=pass\r\n"
        b"Subject: x\r\n\r\nAuthentication-Results: mail.example.test; in the body\r\n"
    )
    assert (
        strip_ours(b"Subject: y\r\n\r\nz", "mail.example.test")
        == b"Subject: y\r\n\r\nz"
    )


def test_an_arc_chain_is_verified(tmp_path: Path) -> None:
    """A forwarder that sealed the message (RFC 8617): arc=pass in our
    field; the same message changed after the seal: arc=fail."""
    import dkim

    keys = DkimKeys(tmp_path / "dkim")
    keys.generate("forwarder.test")
    rsa = next(k for k in keys.keys("forwarder.test") if k.algorithm == "rsa")
    private = (
        tmp_path / "dkim" / "forwarder.test" / f"{rsa.selector}.key"
    ).read_bytes()
    table = dict(BASE)
    table[(rsa.record_name, "TXT")] = txt(keys.record(rsa))
    received = (
        b"Authentication-Results: forwarder.test;"
        b" spf=pass smtp.mailfrom=sender.test\r\n" + msg("sender.test")
    )
    seal = b"".join(
        dkim.arc_sign(
            received,
            rsa.selector.encode(),
            b"forwarder.test",
            private,
            b"forwarder.test",
        )
    )
    sealed = seal + received
    v, auth = verdicts(table, "carol@sender.test", sealed)
    assert v.arc == "pass"
    assert "arc=pass" in auth.header(v, "carol@sender.test", "h").decode()
    v, _ = verdicts(table, "carol@sender.test", sealed.replace(b"body", b"BODY"))
    assert v.arc == "fail"
    v, _ = verdicts(table, "carol@sender.test", msg("sender.test"))
    assert v.arc == "none"
