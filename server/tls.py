"""Certificates and TLS contexts.

On first run a self-signed certificate is made for the host name and the
machine's addresses (plus localhost, 127.0.0.1, ::1) with ``cryptography``. A
PEM certificate (with its chain) and key can be imported: the key must match,
the chain must link up, and the dates are checked. The window shows subject,
expiry and the SHA-256 fingerprint so people can compare with what their mail
client shows.

The server context allows TLS 1.2 and newer with Python's default (secure)
ciphers. It is one long-lived ``SSLContext``: a reload loads the new pair into
the same object, so new connections get the new certificate without a restart.
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import logging
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from server.config.schema import default_hostname
from server.errors import ValidationError
from server.fsutil import atomic_write

log = logging.getLogger("quicksilver.tls")


@dataclass(frozen=True)
class CertificateInfo:
    subject: str
    issuer: str
    not_before: float
    not_after: float
    sha256: str  # AA:BB:... as mail clients show it
    names: tuple[str, ...]
    self_signed: bool
    error: str = ""


def _local_addresses() -> list[str]:
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]))
    except OSError:
        pass
    return sorted(a for a in found if not a.startswith("127.") and a != "::1")


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
    addrs = ["127.0.0.1", "::1", *_local_addresses()]
    for a in addrs:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(a.split("%")[0])))
        except ValueError:
            continue
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
    cert_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        mode=0o600,
    )
    atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o600)


def describe(cert_pem: bytes) -> CertificateInfo:
    """Subject, dates, names and SHA-256 fingerprint of the first certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    certs = x509.load_pem_x509_certificates(cert_pem)
    leaf = certs[0]
    fp = leaf.fingerprint(hashes.SHA256()).hex().upper()
    names: list[str] = []
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names += [str(n) for n in san.value.get_values_for_type(x509.DNSName)]
        names += [str(n) for n in san.value.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    return CertificateInfo(
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        not_before=leaf.not_valid_before_utc.timestamp(),
        not_after=leaf.not_valid_after_utc.timestamp(),
        sha256=":".join(fp[i : i + 2] for i in range(0, len(fp), 2)),
        names=tuple(names),
        self_signed=leaf.issuer == leaf.subject,
    )


def check_pair(cert_pem: bytes, key_pem: bytes, now: float | None = None) -> None:
    """Raise ValidationError unless the key matches and the chain links up."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        certs = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise ValidationError(
            "The certificate file holds no PEM certificate."
        ) from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ValidationError(
            "The key file holds no unencrypted PEM private key."
        ) from None
    pub = (
        certs[0]
        .public_key()
        .public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    mine = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if pub != mine:
        raise ValidationError("The private key does not belong to the certificate.")
    stamp = datetime.datetime.now(datetime.UTC).timestamp() if now is None else now
    leaf = certs[0]
    if leaf.not_valid_after_utc.timestamp() < stamp:
        raise ValidationError("The certificate has expired.")
    if leaf.not_valid_before_utc.timestamp() > stamp:
        raise ValidationError("The certificate is not valid yet.")
    for child, parent in itertools.pairwise(certs):
        if child.issuer != parent.subject:
            raise ValidationError(
                "The chain is out of order: each certificate must be followed by "
                "the one that issued it."
            )
        ppub = parent.public_key()
        try:
            sig_hash = child.signature_hash_algorithm
            if isinstance(ppub, rsa.RSAPublicKey) and sig_hash is not None:
                ppub.verify(
                    child.signature,
                    child.tbs_certificate_bytes,
                    padding.PKCS1v15(),
                    sig_hash,
                )
            elif isinstance(ppub, ec.EllipticCurvePublicKey) and sig_hash is not None:
                ppub.verify(
                    child.signature, child.tbs_certificate_bytes, ec.ECDSA(sig_hash)
                )
        except Exception:
            raise ValidationError(
                "A certificate in the chain is not signed by the next one."
            ) from None


def new_server_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx


class FileTlsProvider:
    """Serves the server ``SSLContext`` built from ``tls/cert.pem`` + ``key.pem``."""

    def __init__(self, tls_dir: Path, hostname: str) -> None:
        self.cert = tls_dir / "cert.pem"
        self.key = tls_dir / "key.pem"
        # present while the pair is one the person imported: never remade, even
        # when it was made by a Quicksilver elsewhere (its subject looks like ours)
        self.imported_mark = tls_dir / "imported"
        self.hostname = hostname
        self._ctx: ssl.SSLContext | None = None
        self.error = ""

    def ensure(self) -> None:
        """Have a pair for the host name, then load it.

        No pair yet: make our self-signed one for the host name. Our own
        self-signed pair made for another name (the machine name, an earlier
        host name) is remade for this one. An imported certificate is never
        touched. The headless ``init`` + ``run`` and the first-run wizard's
        ``complete_first_run`` both come through here."""
        name = self.hostname or default_hostname()
        if not (self.cert.exists() and self.key.exists()):
            generate_self_signed(name, self.cert, self.key)
            self.imported_mark.unlink(missing_ok=True)
            log.info("made a self-signed certificate for %s", name)
        elif self.hostname:
            info = self.info()
            ours = (
                info is not None
                and info.self_signed
                and "Quicksilver self-signed" in info.subject
                and not self.imported_mark.exists()
            )
            if info is not None and ours and self.hostname not in info.names:
                generate_self_signed(self.hostname, self.cert, self.key)
                log.info("remade the self-signed certificate for %s", self.hostname)
        self.reload()

    def hostname_changed(self, hostname: str) -> None:
        """Remake our own self-signed certificate when the host name changes
        (``ensure`` says which pairs count as ours); an imported certificate
        is never touched."""
        self.hostname = hostname
        if hostname:
            self.ensure()

    def reload(self) -> None:
        """Load the pair into the live context (new connections use it)."""
        ctx = self._ctx or new_server_context()
        try:
            ctx.load_cert_chain(str(self.cert), str(self.key))
        except (OSError, ssl.SSLError) as exc:
            self.error = f"The certificate or key could not be loaded: {exc}"
            log.error("%s", self.error)
            return  # keep serving the previous pair, if any
        self.error = ""
        self._ctx = ctx

    def server_context(self) -> ssl.SSLContext | None:
        return self._ctx

    def info(self) -> CertificateInfo | None:
        try:
            return describe(self.cert.read_bytes())
        except (OSError, ValueError) as exc:
            log.error("cannot read the certificate: %s", exc)
            return None

    def import_pair(self, cert_pem: bytes, key_pem: bytes) -> CertificateInfo:
        """Check and install a PEM certificate (with chain) and key, then reload."""
        check_pair(cert_pem, key_pem)
        self.cert.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(self.key, key_pem, mode=0o600)
        atomic_write(self.cert, cert_pem, mode=0o600)
        atomic_write(self.imported_mark, b"", mode=0o600)
        self.reload()
        log.info("certificate imported")
        return describe(cert_pem)

    def regenerate(self) -> CertificateInfo | None:
        generate_self_signed(self.hostname or "localhost", self.cert, self.key)
        self.imported_mark.unlink(missing_ok=True)
        self.reload()
        return self.info()
