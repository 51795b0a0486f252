"""Certificates and TLS contexts.

On first run a self-signed certificate is made for the host name (and
localhost, 127.0.0.1, ::1) with ``cryptography``; ``tls/cert.pem`` and
``tls/key.pem`` can be replaced by an imported pair. The server context allows
TLS 1.2 and newer with Python's default (secure) cipher choice.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import ssl
from pathlib import Path

from server.fsutil import atomic_write

log = logging.getLogger("quicksilver.tls")


def generate_self_signed(hostname: str, cert_path: Path, key_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64] or "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Quicksilver self-signed"),
        ]
    )
    alt: list[x509.GeneralName] = [x509.DNSName("localhost")]
    if hostname and hostname != "localhost":
        alt.insert(0, x509.DNSName(hostname))
    alt += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        mode=0o600,
    )
    atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM))


class FileTlsProvider:
    """Serves a server ``SSLContext`` built from ``tls/cert.pem`` + ``key.pem``."""

    def __init__(self, tls_dir: Path, hostname: str) -> None:
        self.cert = tls_dir / "cert.pem"
        self.key = tls_dir / "key.pem"
        self.hostname = hostname
        self._ctx: ssl.SSLContext | None = None
        self.error = ""

    def ensure(self) -> None:
        if not (self.cert.exists() and self.key.exists()):
            generate_self_signed(self.hostname or "localhost", self.cert, self.key)
            log.info("made a self-signed certificate for %s", self.hostname)
        self.reload()

    def reload(self) -> None:
        try:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(str(self.cert), str(self.key))
        except (OSError, ssl.SSLError) as exc:
            self.error = f"The certificate or key could not be loaded: {exc}"
            log.error("%s", self.error)
            self._ctx = None
            return
        self.error = ""
        self._ctx = ctx

    def server_context(self) -> ssl.SSLContext | None:
        return self._ctx
