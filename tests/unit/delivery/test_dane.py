"""TLSA matching (RFC 6698 2.1, RFC 7672 3.1) over real certificates: every
selector and matching type for DANE-EE, DANE-TA with a chain, and what is
unusable or wrong."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization

from server.delivery import dane
from tests.integration.outbound.pki import Authority


@dataclass
class Rdata:
    usage: int
    selector: int
    mtype: int
    cert: bytes


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority()


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("mtype", [0, 1, 2])
def test_dane_ee_every_selector_and_type(
    ca: Authority, selector: int, mtype: int
) -> None:
    leaf = ca.issue("any.name", self_signed=True)
    data = leaf.der if selector == 0 else leaf.spki()
    data = {
        0: data,
        1: hashlib.sha256(data).digest(),
        2: hashlib.sha512(data).digest(),
    }[mtype]
    record = dane.Tlsa(3, selector, mtype, data)
    assert dane.check([record], [leaf.der], ["mx.test"]) == ""
    other = ca.issue("any.name", self_signed=True)
    assert dane.check([record], [other.der], ["mx.test"]) != ""


def test_dane_ta_needs_the_chain_signed_and_the_name(ca: Authority) -> None:
    spki = ca.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ta = dane.Tlsa(2, 1, 1, hashlib.sha256(spki).digest())
    good = ca.issue("mx.test")
    assert dane.check([ta], [good.der, ca.der], ["mx.test", "example.test"]) == ""
    wild = ca.issue("*.test")
    assert dane.check([ta], [wild.der, ca.der], ["mx.test"]) == ""
    assert "does not name" in dane.check([ta], [good.der, ca.der], ["other.test"])
    forged = ca.issue("mx.test", self_signed=True)  # not signed by the TA
    assert "not signed" in dane.check([ta], [forged.der, ca.der], ["mx.test"])
    assert dane.check([ta], [good.der], ["mx.test"]) != ""  # TA not sent


def test_unusable_records_mean_encryption_only(ca: Authority) -> None:
    leaf = ca.issue("mx.test")
    pkix = dane.Tlsa(1, 0, 1, b"\x00" * 32)  # PKIX-EE: not for SMTP
    odd = dane.Tlsa(3, 7, 1, b"\x00" * 32)
    assert dane.check([pkix, odd], [leaf.der], ["mx.test"]) == ""
    assert dane.check([dane.Tlsa(3, 0, 1, b"x")], [], ["mx.test"]) != ""


def test_records_from_dnspython_answers() -> None:
    got = dane.records([Rdata(3, 1, 1, b"ab"), object(), Rdata(2, 0, 2, b"cd")])
    assert got == (dane.Tlsa(3, 1, 1, b"ab"), dane.Tlsa(2, 0, 2, b"cd"))
    assert len(dane.records([Rdata(3, 1, 1, b"x")] * 100)) == dane.MAX_RECORDS
