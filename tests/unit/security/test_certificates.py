"""Certificates: self-signed on first run, import checks, live reload."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.errors import ValidationError
from server.tls import FileTlsProvider, check_pair, describe


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(k: ec.EllipticCurvePrivateKey) -> bytes:
    return k.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    days: int = 30,
    ca: bool = False,
    start_days: int = -1,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=start_days))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def test_first_run_makes_a_self_signed_certificate(tmp_path: Path) -> None:
    tls = FileTlsProvider(tmp_path / "tls", "mail.example.test")
    tls.ensure()
    info = tls.info()
    assert info is not None and info.self_signed
    assert "mail.example.test" in info.names and "127.0.0.1" in info.names
    assert len(info.sha256.split(":")) == 32
    assert (tmp_path / "tls" / "key.pem").stat().st_mode & 0o777 == 0o600
    ctx = tls.server_context()
    assert ctx is not None and ctx.minimum_version == ssl.TLSVersion.TLSv1_2


def test_import_refuses_a_key_that_does_not_match() -> None:
    k1, k2 = _key(), _key()
    cert = _cert("mail.example.test", k1, "mail.example.test", k1)
    with pytest.raises(ValidationError, match="does not belong"):
        check_pair(_pem(cert), _pem_key(k2))


def test_import_refuses_expired_and_broken_chains() -> None:
    ca_key, leaf_key, other = _key(), _key(), _key()
    old = _cert(
        "mail.example.test",
        leaf_key,
        "mail.example.test",
        leaf_key,
        days=-2,
        start_days=-10,
    )
    with pytest.raises(ValidationError, match="expired"):
        check_pair(_pem(old), _pem_key(leaf_key))
    ca = _cert("Test CA", ca_key, "Test CA", ca_key, ca=True)
    leaf = _cert("mail.example.test", leaf_key, "Test CA", ca_key)
    check_pair(_pem(leaf, ca), _pem_key(leaf_key))  # good chain passes
    wrong_ca = _cert("Test CA", other, "Test CA", other, ca=True)
    with pytest.raises(ValidationError, match="not signed"):
        check_pair(_pem(leaf, wrong_ca), _pem_key(leaf_key))
    with pytest.raises(ValidationError, match="out of order"):
        check_pair(
            _pem(leaf, _cert("Other", other, "Other", other)), _pem_key(leaf_key)
        )
    with pytest.raises(ValidationError):
        check_pair(b"junk", _pem_key(leaf_key))


def test_import_reloads_without_restart(tmp_path: Path) -> None:
    tls = FileTlsProvider(tmp_path / "tls", "old.example.test")
    tls.ensure()
    ctx = tls.server_context()
    assert ctx is not None
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    seen: list[bytes] = []

    def serve(n: int) -> None:
        for _ in range(n):
            conn, _ = srv.accept()
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    t = threading.Thread(target=serve, args=(2,))
    t.start()

    def fetch() -> bytes:
        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection(("127.0.0.1", port)) as s,
            client.wrap_socket(s) as ss,
        ):
            der = ss.getpeercert(binary_form=True)
            assert der is not None
            return der

    seen.append(fetch())
    k = _key()
    new = _cert("new.example.test", k, "new.example.test", k)
    info = tls.import_pair(_pem(new), _pem_key(k))
    assert info.subject == "CN=new.example.test"
    seen.append(fetch())
    t.join(10)
    srv.close()
    assert seen[0] != seen[1]
    assert seen[1] == new.public_bytes(serialization.Encoding.DER)
    assert tls.server_context() is ctx  # same live context object


def test_describe_matches_openssl_style_fingerprint() -> None:
    k = _key()
    cert = _cert("a.test", k, "a.test", k)
    info = describe(_pem(cert))
    assert (
        info.sha256.replace(":", "").lower() == cert.fingerprint(hashes.SHA256()).hex()
    )


def test_self_signed_certificate_follows_a_host_name_change(tmp_path: Path) -> None:
    tls = FileTlsProvider(tmp_path / "tls", "")
    tls.ensure()
    tls.hostname_changed("mail.example.test")
    info = tls.info()
    assert info is not None and "mail.example.test" in info.names


def test_imported_certificate_is_kept_when_the_host_name_changes(
    tmp_path: Path,
) -> None:
    tls = FileTlsProvider(tmp_path / "tls", "old.test")
    tls.ensure()
    k = _key()
    tls.import_pair(_pem(_cert("imported.test", k, "imported.test", k)), _pem_key(k))
    tls.hostname_changed("new.test")
    info = tls.info()
    assert info is not None and info.subject == "CN=imported.test"
