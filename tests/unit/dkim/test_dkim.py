"""DKIM keys and signing: the records, the rotation steps, and signatures
that verify (dkimpy's verifier with the records served from memory; OpenDKIM
signs with our key and we verify it), for RSA and Ed25519."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import dkim
import pytest

from server.dkim.keys import DkimKeys
from server.dkim.signer import DkimSigner
from server.errors import ValidationError

MSG = (
    b"From: Alice <alice@example.test>\r\n"
    b"To: far@remote.test\r\n"
    b"Subject: signed\r\n"
    b"Date: Sat, 05 Dec 2026 10:00:00 +0000\r\n"
    b"Message-ID: <d1@example.test>\r\n"
    b"\r\n"
    b"hello  there \r\n\r\n"
)
NOW = 1_796_400_000.0  # December 2026


def dns_of(keys: DkimKeys, domain: str):  # type: ignore[no-untyped-def]
    records = {
        f"{k.record_name}.".encode(): keys.record(k).encode() for k in keys.keys(domain)
    }

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return records.get(name, b"")

    return dnsfunc


def signatures(message: bytes) -> list[bytes]:
    return [
        line for line in message.split(b"\r\n") if line.startswith(b"DKIM-Signature:")
    ]


def verify_all(message: bytes, dnsfunc) -> list[bool]:  # type: ignore[no-untyped-def]
    """Each signature's verdict (a body hash mismatch is a failure too)."""
    out = []
    for i in range(len(signatures(message))):
        try:
            out.append(bool(dkim.DKIM(message).verify(idx=i, dnsfunc=dnsfunc)))
        except dkim.ValidationError:
            out.append(False)
    return out


def test_first_keys_sign_at_once_and_their_records_are_right(tmp_path: Path) -> None:
    keys = DkimKeys(tmp_path / "dkim")
    made = keys.generate("Example.test", now=NOW)
    assert [(k.selector, k.algorithm, k.state) for k in made] == [
        ("qs202612r", "rsa", "active"),
        ("qs202612e", "ed25519", "active"),
    ]
    for k in made:
        path = tmp_path / "dkim" / "example.test" / f"{k.selector}.key"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        record = keys.record(k)
        assert record.startswith(f"v=DKIM1; k={k.algorithm}; p=")
    signed = DkimSigner(keys).sign("alice@example.test", MSG)
    assert len(signatures(signed)) == 2
    assert b"a=ed25519-sha256" in signed and b"a=rsa-sha256" in signed
    assert b"c=relaxed/relaxed" in signed
    assert verify_all(signed, dns_of(keys, "example.test")) == [True, True]


def test_a_changed_body_or_an_added_from_fails(tmp_path: Path) -> None:
    keys = DkimKeys(tmp_path / "dkim")
    keys.generate("example.test", now=NOW)
    signed = DkimSigner(keys).sign("alice@example.test", MSG)
    dns = dns_of(keys, "example.test")
    assert verify_all(signed.replace(b"hello", b"HELLO"), dns) == [False, False]
    head, _, body = signed.partition(b"\r\n\r\n")
    second_from = head + b"\r\nFrom: Mallory <m@evil.test>\r\n\r\n" + body
    assert verify_all(second_from, dns) == [False, False]  # From is oversigned


def test_who_signs(tmp_path: Path) -> None:
    keys = DkimKeys(tmp_path / "dkim")
    keys.generate("example.test", now=NOW)
    signer = DkimSigner(keys)
    assert signer.domain_for("x@other.test", MSG) == "example.test"  # From first
    foreign = MSG.replace(b"alice@example.test", b"alice@elsewhere.test")
    assert signer.domain_for("alice@example.test", foreign) == "example.test"
    assert signer.sign("a@other.test", foreign) == foreign  # nobody of ours
    assert signer.sign(
        "alice@example.test", b"Subject: no from\r\n\r\nx\r\n"
    ).startswith(b"Subject")


def test_rotation_publishes_then_switches_and_keeps_the_old_record(
    tmp_path: Path,
) -> None:
    keys = DkimKeys(tmp_path / "dkim")
    keys.generate("example.test", now=NOW)
    new = keys.rotate("example.test", now=NOW + 86400)
    assert [(k.selector, k.state) for k in new] == [
        ("qs202612r2", "published"),
        ("qs202612e2", "published"),
    ]
    signer = DkimSigner(keys)
    old_signed = signer.sign("alice@example.test", MSG)
    assert b"s=qs202612r;" in old_signed  # still the old keys sign
    keys.activate("example.test")
    states = {k.selector: k.state for k in keys.keys("example.test")}
    assert states == {
        "qs202612r": "retired",
        "qs202612e": "retired",
        "qs202612r2": "active",
        "qs202612e2": "active",
    }
    new_signed = signer.sign("alice@example.test", MSG)
    assert b"s=qs202612r2;" in new_signed
    dns = dns_of(keys, "example.test")
    assert verify_all(old_signed, dns) == [True, True]  # retired, still published
    with pytest.raises(ValidationError):
        keys.remove("example.test", "qs202612r2")  # signing
    keys.remove("example.test", "qs202612r")
    assert verify_all(old_signed, dns_of(keys, "example.test")).count(True) == 1
    with pytest.raises(ValidationError):
        keys.rotate("none.test")
    with pytest.raises(ValidationError):
        keys.generate("../x")


@pytest.mark.skipif(shutil.which("opendkim-testmsg") is None, reason="opendkim-tools")
def test_opendkim_signs_with_our_key_and_we_verify_it(tmp_path: Path) -> None:
    keys = DkimKeys(tmp_path / "dkim")
    keys.generate("example.test", now=NOW)
    keyfile = tmp_path / "dkim" / "example.test" / "qs202612r.key"
    out = subprocess.run(
        [
            "opendkim-testmsg", "-d", "example.test", "-s", "qs202612r",
            "-k", str(keyfile), "-C",
        ],
        input=MSG,
        capture_output=True,
        timeout=30,
        check=True,
    ).stdout  # fmt: skip
    assert b"DKIM-Signature:" in out
    # its output mixes line ends (the signature's folds end in LF alone)
    signed = out.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert verify_all(signed, dns_of(keys, "example.test")) == [True]
