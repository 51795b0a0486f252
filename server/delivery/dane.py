"""DANE for SMTP (RFC 7672): does the certificate an MX host presented match
its DNSSEC-signed TLSA records (RFC 6698)?

Used by the ``mx`` module when the resolver reports the MX and TLSA answers
as validated (the AD bit from a validating resolver, RFC 4035 3.2.3). Usable
records are DANE-TA(2) and DANE-EE(3) (RFC 7672 3.1: PKIX-TA(0)/PKIX-EE(1)
are not used for SMTP); selector 0 (the whole certificate) or 1 (its
SubjectPublicKeyInfo); matching type 0 (the data itself), 1 (SHA-256) or 2
(SHA-512). Records of other kinds are unusable and ignored; when none is
usable the host gets plain mandatory-encryption TLS (RFC 7672 2.2).

- DANE-EE: the server's own certificate (or key) matches; names and dates
  are not checked (RFC 7672 3.1.1).
- DANE-TA: a certificate of the chain the server sent matches, every
  certificate below it is signed by the next one (checked with
  ``cryptography``), and the server certificate names the MX host (or the
  TLSA base domain) and is within its dates (RFC 7672 3.1.2, 3.2.3).

Pure over DER bytes; the chain comes from the TLS connection (``peer_chain``).
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_RECORDS = 20  # TLSA records read per host


@dataclass(frozen=True)
class Tlsa:
    usage: int
    selector: int
    mtype: int
    data: bytes

    @property
    def usable(self) -> bool:
        return (
            self.usage in (2, 3) and self.selector in (0, 1) and self.mtype in (0, 1, 2)
        )


def records(answer: Iterable[Any]) -> tuple[Tlsa, ...]:
    """TLSA records from dnspython's answer (usage, selector, mtype, cert)."""
    out = []
    for r in answer:
        try:
            out.append(Tlsa(int(r.usage), int(r.selector), int(r.mtype), bytes(r.cert)))
        except (AttributeError, TypeError, ValueError):
            continue
    return tuple(out[:MAX_RECORDS])


def _selected(der: bytes, selector: int) -> bytes:
    if selector == 0:
        return der
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_der_x509_certificate(der)
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _digest(data: bytes, mtype: int) -> bytes:
    if mtype == 1:
        return hashlib.sha256(data).digest()
    if mtype == 2:
        return hashlib.sha512(data).digest()
    return data


def matches(record: Tlsa, der: bytes) -> bool:
    try:
        return _digest(_selected(der, record.selector), record.mtype) == record.data
    except ValueError:
        return False


def _names(der: bytes) -> list[str]:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return [n.lower() for n in san.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return [str(c.value).lower() for c in cns]


def name_matches(pattern: str, host: str) -> bool:
    """A certificate name against a host: equal, or ``*.`` standing for
    exactly one leftmost label (RFC 6125 6.4.3, as RFC 7672 3.2.3 allows)."""
    pattern, host = pattern.rstrip(".").lower(), host.rstrip(".").lower()
    if pattern.startswith("*."):
        head, dot, rest = host.partition(".")
        return bool(head) and bool(dot) and rest == pattern[2:]
    return pattern == host


def _chain_ok(chain: Sequence[bytes], top: int, names: Sequence[str]) -> str:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    certs = [x509.load_der_x509_certificate(d) for d in chain[: top + 1]]
    for lower, upper in itertools.pairwise(certs):
        try:
            lower.verify_directly_issued_by(upper)
        except (ValueError, TypeError, InvalidSignature):
            return "the certificate chain is not signed by the matched authority"
    leaf = certs[0]
    now = datetime.datetime.now(datetime.UTC)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        return "the server certificate is outside its dates"
    if not any(name_matches(p, n) for p in _names(chain[0]) for n in names):
        return "the server certificate does not name the mail server"
    return ""


def check(tlsa: Sequence[Tlsa], chain: Sequence[bytes], names: Sequence[str]) -> str:
    """ "" when the chain (server certificate first) satisfies ``tlsa``; else
    why not. ``names``: the MX host name and the TLSA base domain."""
    usable = [r for r in tlsa if r.usable]
    if not usable:
        return ""  # nothing to authenticate with: encryption only
    if not chain:
        return "the server sent no certificate"
    reasons: list[str] = []
    for r in usable:
        if r.usage == 3 and matches(r, chain[0]):
            return ""
        if r.usage == 2:
            for i, der in enumerate(chain):
                if matches(r, der):
                    why = _chain_ok(chain, i, names)
                    if not why:
                        return ""
                    reasons.append(why)
    return reasons[0] if reasons else "no TLSA record matches the certificate"


def peer_chain(ssl_object: Any) -> list[bytes]:
    """The chain the server sent, server certificate first, as DER. Python
    3.13 has ``get_unverified_chain`` in the ``ssl`` module; 3.10 to 3.12
    have it on the ``_ssl`` object underneath. Without either, only the
    server certificate (enough for DANE-EE)."""
    getter = getattr(ssl_object, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(
            getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None
        )
    if getter is not None:
        try:
            chain = getter() or []
            out = []
            for c in chain:
                if isinstance(c, bytes):
                    out.append(c)
                else:
                    import _ssl

                    out.append(c.public_bytes(_ssl.ENCODING_DER))
            if out:
                return out
        except (AttributeError, ValueError):
            pass
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []
