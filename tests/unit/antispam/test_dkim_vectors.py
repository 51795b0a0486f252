"""DKIM verification against published vectors and the body-length tag:
RFC 8463 Appendix A.3 (the RFC 6376 Appendix A message signed with Ed25519
and RSA, keys from A.2) passes through our checks with both signatures and
fails once a signed field or the body changes; an l= signature (RFC 6376
3.5) still passes with text appended after the counted body and fails when
the counted part changes.

(RFC 6376's own Appendix A.2 signature does not verify as printed, a known
erratum; RFC 8463 A.3 re-signs the same message and is what implementations
check against.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import dkim

from server.antispam.mailauth import MailAuth, Verdicts
from tests.unit.antispam.dnsfake import TableResolver, txt

DATA = Path(__file__).parents[2] / "data" / "dkim"
RFC8463_KEYS = {
    ("brisbane._domainkey.football.example.com", "TXT"): txt(
        "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    ),
    ("test._domainkey.football.example.com", "TXT"): txt(
        "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"
        "iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"
        "DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3"
        "Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
    ),
}


def check(message: bytes, table: dict[tuple[str, str], object]) -> Verdicts:
    auth = MailAuth(TableResolver(table), "mx.example.net")  # type: ignore[arg-type]
    return asyncio.run(auth.verdicts("192.0.2.1", "", "mail.example.org", message))


def test_rfc8463_example_verifies() -> None:
    message = (DATA / "rfc8463-a3.eml").read_bytes()
    v = check(message, dict(RFC8463_KEYS))
    assert [(d.result, d.selector) for d in v.dkim] == [
        ("pass", "brisbane"),
        ("pass", "test"),
    ]
    assert {d.domain for d in v.dkim} == {"football.example.com"}
    assert v.from_domain == "football.example.com"
    changed = message.replace(b"Is dinner ready?", b"Is dinner ready!")
    assert [d.result for d in check(changed, dict(RFC8463_KEYS)).dkim] == ["fail"] * 2
    body = message.replace(b"hungry yet?", b"hungry now?")
    assert [d.result for d in check(body, dict(RFC8463_KEYS)).dkim] == ["fail"] * 2
    # no key published: the signature cannot pass
    assert all(d.result != "pass" for d in check(message, {}).dkim)


def test_body_length_tag() -> None:
    from nacl.encoding import Base64Encoder
    from nacl.signing import SigningKey

    key = SigningKey.generate()
    seed = key.encode(encoder=Base64Encoder)
    public = key.verify_key.encode(encoder=Base64Encoder).decode()
    message = (
        b"From: a@sender.test\r\nTo: b@example.net\r\nSubject: l=\r\n\r\n"
        b"the signed part\r\n"
    )
    signature = dkim.sign(
        message,
        b"sel",
        b"sender.test",
        seed,
        signature_algorithm=b"ed25519-sha256",
        include_headers=[b"from", b"to", b"subject"],
        length=True,
    )
    table = {
        ("sel._domainkey.sender.test", "TXT"): txt(f"v=DKIM1; k=ed25519; p={public}")
    }
    signed = signature + message
    assert b"l=" in signature
    assert [d.result for d in check(signed, table).dkim] == ["pass"]
    appended = signed + b"and a line added after signing\r\n"
    assert [d.result for d in check(appended, table).dkim] == ["pass"]
    changed = signed.replace(b"the signed part", b"the signed pArt")
    assert [d.result for d in check(changed, table).dkim] == ["fail"]
