"""Issue 10, item 3: the certificate names the host name the person gave.

Both first-run paths end in ``FileTlsProvider.ensure``: the window's
``complete_first_run`` and the headless ``init`` followed by ``run``. Our own
self-signed pair is made (or remade) for the configured host name; a pair the
person brought is never replaced. Nothing here listens: every module is off.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.__main__ import main as cli
from server.api import FirstRunSetup
from server.config.store import SettingsStore
from server.runtime import Runtime

DOMAIN = "example.test"


def modules_off(data: Path) -> None:
    """A fresh data folder whose listening modules are off (and on loopback)."""
    data.mkdir(parents=True, exist_ok=True)
    store = SettingsStore(data / "settings.toml")
    s = store.defaults()
    for name in ("smtp", "submission", "pop3", "imap"):
        sec = s.section(name)
        s = s.replace_section(
            name, dataclasses.replace(sec, enabled=False, bind="127.0.0.1")
        )
    store.save(s)


def names(cert: Path) -> tuple[str, list[str]]:
    leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    cn = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return str(cn), list(san.value.get_values_for_type(x509.DNSName))


def test_headless_init_remakes_our_certificate_for_the_new_host_name(
    tmp_path: Path,
) -> None:
    """Reproduces item 3 on the headless path: after ``init`` changed the host
    name, ``run`` kept serving our self-signed certificate for the old name."""
    data = tmp_path / "data"
    modules_off(data)
    cert = data / "tls" / "cert.pem"
    for host in ("old.example.test", "new.example.test"):
        assert (
            cli(
                [
                    "--data-dir",
                    str(data),
                    "init",
                    "--domain",
                    DOMAIN,
                    "--hostname",
                    host,
                ]
            )
            == 0
        )
        rt = Runtime(data)
        rt.start()
        rt.stop()
        assert names(cert)[0] == host


def test_a_certificate_the_person_brought_is_never_replaced(tmp_path: Path) -> None:
    """A guard next to the fix (it passed before too): a certificate for
    another name that is not our self-signed one stays, byte for byte."""
    data = tmp_path / "data"
    modules_off(data)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "theirs.example.test"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Office"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    pem = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    tls = data / "tls"
    tls.mkdir(mode=0o700)
    (tls / "cert.pem").write_bytes(pem)
    (tls / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    rt = Runtime(data)
    rt.start()
    try:
        rt.run(rt.api.complete_first_run(FirstRunSetup(DOMAIN, "mail.example.test")))
    finally:
        rt.stop()
    assert (tls / "cert.pem").read_bytes() == pem
