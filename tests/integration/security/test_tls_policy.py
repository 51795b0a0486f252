"""TLS: a certificate import takes effect without a restart; TLS 1.2 or newer
only; nothing a client pipelines in plaintext after STARTTLS/STLS survives the
upgrade (CVE-2011-0411 class command injection)."""

from __future__ import annotations

import smtplib
import socket
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningCore, start_core
from tests.integration.security.helpers import Line, insecure_client, new_cert


@pytest.fixture
def tls_core(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp", "pop3"))
    try:
        yield c
    finally:
        c.runtime.stop()


def _pop3s_cert(core: RunningCore) -> bytes:
    addr = core.endpoint("pop3", "implicit")
    with (
        socket.create_connection(addr, timeout=5) as raw,
        insecure_client().wrap_socket(raw) as s,
    ):
        assert s.makefile("rb").readline().startswith(b"+OK")
        der = s.getpeercert(binary_form=True)
        assert der is not None
        return der


def _smtp_starttls_cert(core: RunningCore) -> bytes:
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port, timeout=5) as c:
        c.ehlo("client.test")
        c.starttls(context=insecure_client())
        assert isinstance(c.sock, ssl.SSLSocket)
        der = c.sock.getpeercert(binary_form=True)
        assert der is not None
        return der


def test_first_run_certificate_is_self_signed_and_shown_with_fingerprint(
    tls_core: RunningCore,
) -> None:
    info = tls_core.run(tls_core.api.certificate())
    assert info is not None and info.self_signed
    assert "mail.example.test" in info.subject and len(info.sha256.split(":")) == 32
    assert info.not_after > info.not_before
    import hashlib

    fp = hashlib.sha256(_pop3s_cert(tls_core)).hexdigest().upper()
    assert info.sha256.replace(":", "") == fp


def test_imported_certificate_is_served_on_new_connections_without_restart(
    tls_core: RunningCore,
) -> None:
    old = _pop3s_cert(tls_core)
    assert _smtp_starttls_cert(tls_core) == old
    cert_pem, key_pem, der = new_cert("imported.example.test")
    info = tls_core.run(tls_core.api.import_certificate(cert_pem, key_pem))
    assert info.subject == "CN=imported.example.test"
    assert _pop3s_cert(tls_core) == der  # POP3S (implicit TLS)
    assert _smtp_starttls_cert(tls_core) == der  # SMTP STARTTLS
    shown = tls_core.run(tls_core.api.certificate())
    assert shown is not None and shown.subject == "CN=imported.example.test"
    statuses = {m.name: m.state.value for m in tls_core.run(tls_core.api.modules())}
    assert statuses["smtp"] == statuses["pop3"] == "RUNNING"


def test_import_of_a_mismatched_key_is_refused_and_the_old_cert_stays(
    tls_core: RunningCore,
) -> None:
    from server.errors import ValidationError

    old = _pop3s_cert(tls_core)
    cert_pem, _, _ = new_cert("a.example.test")
    _, other_key, _ = new_cert("b.example.test")
    with pytest.raises(ValidationError):
        tls_core.run(tls_core.api.import_certificate(cert_pem, other_key))
    assert _pop3s_cert(tls_core) == old


def _legacy_client(max_version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = insecure_client()
    with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: that's the point
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = max_version
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    return ctx


def _can_offer(version: ssl.TLSVersion) -> bool:
    """Can this OpenSSL send a ClientHello for ``version`` at all?"""
    a, b = socket.socketpair()
    c = _legacy_client(version).wrap_socket(a, do_handshake_on_connect=False)
    c.setblocking(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            c.do_handshake()
    except ssl.SSLWantReadError:
        return True  # the ClientHello went out; no one answers: fine
    except ssl.SSLError as exc:
        return "NO_PROTOCOLS_AVAILABLE" not in str(exc).upper()
    finally:
        c.close()
        b.close()
    return True


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_tls_older_than_1_2_is_refused_on_pop3s(
    tls_core: RunningCore, version: str
) -> None:
    v = getattr(ssl.TLSVersion, version)
    if not _can_offer(v):
        pytest.skip(f"the local OpenSSL cannot offer {version}")
    addr = tls_core.endpoint("pop3", "implicit")
    with (
        socket.create_connection(addr, timeout=5) as raw,
        pytest.raises((ssl.SSLError, ConnectionError)),
        _legacy_client(v).wrap_socket(raw) as s,
    ):
        s.makefile("rb").readline()


def test_tls_1_1_is_refused_on_smtp_starttls(tls_core: RunningCore) -> None:
    if not _can_offer(ssl.TLSVersion.TLSv1_1):
        pytest.skip("the local OpenSSL cannot offer TLSv1_1")
    host, port = tls_core.endpoint("smtp")
    with smtplib.SMTP(host, port, timeout=5) as c:
        c.ehlo("client.test")
        with pytest.raises((ssl.SSLError, ConnectionError, smtplib.SMTPException)):
            c.starttls(context=_legacy_client(ssl.TLSVersion.TLSv1_1))


def test_tls_1_2_and_1_3_are_accepted(tls_core: RunningCore) -> None:
    addr = tls_core.endpoint("pop3", "implicit")
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = insecure_client()
        ctx.minimum_version = ctx.maximum_version = v
        with (
            socket.create_connection(addr, timeout=5) as raw,
            ctx.wrap_socket(raw) as s,
        ):
            assert s.makefile("rb").readline().startswith(b"+OK")
            assert s.version() == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[v.name]


def test_server_context_disables_compression_and_weak_protocols(
    tls_core: RunningCore,
) -> None:
    ctx = tls_core.runtime.services.tls.server_context()
    assert ctx is not None
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.options & ssl.OP_NO_COMPRESSION
    assert ctx.verify_mode == ssl.CERT_NONE  # no client certificates asked for


def test_smtp_plaintext_pipelined_after_starttls_is_discarded(
    tls_core: RunningCore,
) -> None:
    c = Line.connect(tls_core.endpoint("smtp"))
    try:
        assert c.line().startswith(b"220 ")
        c.send(b"EHLO client.test\r\n")
        c.smtp_reply()
        # the injected MAIL would be answered inside TLS if it survived
        c.send(b"STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
        assert c.line().startswith(b"220 ")
        c.starttls()
        c.send(b"MAIL FROM:<real@client.test>\r\n")
        reply = c.smtp_reply()
        # after STARTTLS the session is reset (RFC 3207 4.2): MAIL needs EHLO
        # first, and the answer is to *our* MAIL, not a 250 for the injected one
        assert b"injected" not in b"".join(reply)
        assert reply[0][:3] in (b"503", b"250"), reply
        c.send(b"EHLO client.test\r\n")
        ehlo = b"".join(c.smtp_reply())
        assert b"STARTTLS" not in ehlo
    finally:
        c.close()


def test_smtp_session_state_is_reset_by_starttls(tls_core: RunningCore) -> None:
    c = Line.connect(tls_core.endpoint("smtp"))
    try:
        c.line()
        c.send(b"EHLO client.test\r\n")
        c.smtp_reply()
        c.send(b"STARTTLS\r\n")
        assert c.line().startswith(b"220 ")
        c.starttls()
        c.send(b"MAIL FROM:<a@client.test>\r\n")
        assert c.smtp_reply()[0].startswith(b"503"), "EHLO must be sent again after TLS"
    finally:
        c.close()


def test_pop3_plaintext_pipelined_after_stls_is_discarded(
    tls_core: RunningCore,
) -> None:
    c = Line.connect(tls_core.endpoint("pop3", "starttls"))
    try:
        assert c.line().startswith(b"+OK")
        c.send(b"STLS\r\nUSER alice@example.test\r\n")
        assert c.line().startswith(b"+OK")
        c.starttls()
        c.send(b"PASS alice-pw-1\r\n")
        reply = c.line()
        assert reply.startswith(b"-ERR"), reply  # USER from before TLS is gone
        c.send(b"CAPA\r\n")
        first = c.line()
        assert first.startswith(b"+OK")
    finally:
        c.close()
