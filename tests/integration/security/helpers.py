"""Small helpers shared by the security integration tests."""

from __future__ import annotations

import datetime
import socket
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import RunningCore, start_core


def insecure_client() -> ssl.SSLContext:
    """A TLS client that accepts the test's self-signed certificates."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def new_cert(cn: str) -> tuple[bytes, bytes, bytes]:
    """(cert PEM, key PEM, cert DER) of a fresh self-signed certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key_pem,
        cert.public_bytes(serialization.Encoding.DER),
    )


class Line:
    """A tiny line client over a (possibly TLS-wrapped) socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.f = sock.makefile("rb")

    @classmethod
    def connect(cls, addr: tuple[str, int], timeout: float = 5) -> Line:
        return cls(socket.create_connection(addr, timeout=timeout))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        return self.f.readline()

    def smtp_reply(self) -> list[bytes]:
        """Every line of one (possibly multi-line) SMTP reply."""
        out = []
        while True:
            ln = self.f.readline()
            out.append(ln)
            if len(ln) < 4 or ln[3:4] != b"-":
                return out

    def starttls(self) -> None:
        self.f.close()
        self.sock = insecure_client().wrap_socket(self.sock)
        self.f = self.sock.makefile("rb")

    def close(self) -> None:
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def core_with(tmp_path, *enabled: str, **security: int) -> RunningCore:  # type: ignore[no-untyped-def]
    c = start_core(tmp_path / "data", enabled=enabled)
    if security:
        c.run(c.api.update_settings("security", security))
    return c
