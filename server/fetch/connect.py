"""Connections to a remote mailbox server: TCP, TLS (implicit or upgraded)
and the certificate check.

The certificate is checked as a mail client does (the system's trusted
authorities and the server's name) unless the account has accepted one
certificate by its SHA-256 fingerprint (a self-signed server): then exactly
that certificate is accepted, whatever signed it, and no other. There is no
"don't check" setting.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from dataclasses import dataclass

READ_LIMIT = 1024 * 1024  # the longest line a remote server may send us


class FetchError(Exception):
    """A failure talking to the remote server, in words for the window.
    ``auth``: the server refused the login (retrying won't help soon)."""

    def __init__(self, message: str, *, auth: bool = False) -> None:
        super().__init__(message)
        self.auth = auth


class CertificateRejected(FetchError):
    """The server's certificate is not trusted; ``fingerprint`` is what it
    showed (for "accept this certificate")."""

    def __init__(self, message: str, fingerprint: str) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    security: str  # "implicit" | "starttls" | "none"
    fingerprint: str = ""  # accepted certificate, "AA:BB:..." ("" = verify)
    timeout: float = 60.0


def format_fingerprint(der: bytes) -> str:
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def normalize_fingerprint(text: str) -> str:
    """ "aa bb:cc..." as "AA:BB:CC..."; "" stays ""; ValueError if not a
    SHA-256 fingerprint."""
    hexdigits = "".join(c for c in text if c not in ": \t").upper()
    if not hexdigits:
        return ""
    if len(hexdigits) != 64 or any(c not in "0123456789ABCDEF" for c in hexdigits):
        raise ValueError("not a SHA-256 fingerprint (64 hex digits)")
    return ":".join(hexdigits[i : i + 2] for i in range(0, 64, 2))


def client_context(ep: Endpoint) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if ep.fingerprint:  # checked by hand after the handshake
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def check_peer(writer: asyncio.StreamWriter, ep: Endpoint) -> None:
    """After a handshake with an accepted fingerprint: is it that one?"""
    if not ep.fingerprint:
        return
    got = fingerprint_of(writer)
    if got != ep.fingerprint:
        raise CertificateRejected(
            "The server's certificate is not the one accepted for this account "
            f"(it shows SHA-256 {got or 'nothing'}).",
            got,
        )


async def peer_fingerprint(ep: Endpoint) -> str:
    """The fingerprint of the certificate the server shows (no checking),
    for the "accept this certificate" offer after a verification failure.
    STARTTLS servers are asked in ``starttls`` of the protocol client."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(ep.host, ep.port, ssl=ctx), ep.timeout
    )
    try:
        return fingerprint_of(writer)
    finally:
        writer.close()


def _tls_failure(exc: ssl.SSLError, fingerprint: str) -> FetchError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return CertificateRejected(
            f"The server's certificate is not trusted ({exc.verify_message}).",
            fingerprint,
        )
    return FetchError(f"TLS failed: {exc.reason or exc}")


async def open_stream(
    ep: Endpoint,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect; with implicit TLS, handshake and check the certificate."""
    ctx = client_context(ep) if ep.security == "implicit" else None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                ep.host,
                ep.port,
                ssl=ctx,
                server_hostname=ep.host if ctx else None,
                limit=READ_LIMIT,
            ),
            ep.timeout,
        )
    except ssl.SSLError as exc:
        raise _tls_failure(exc, await _fingerprint_or_blank(ep)) from None
    except TimeoutError:
        raise FetchError(f"No answer from {ep.host}:{ep.port} in time.") from None
    except OSError as exc:
        raise FetchError(
            f"Cannot connect to {ep.host}:{ep.port}: {exc.strerror or exc}"
        ) from None
    if ctx is not None:
        try:
            check_peer(writer, ep)
        except CertificateRejected:
            close(writer)
            raise
    return reader, writer


async def _fingerprint_or_blank(ep: Endpoint) -> str:
    try:
        return await peer_fingerprint(ep)
    except (OSError, TimeoutError, ssl.SSLError):
        return ""


async def upgrade(
    writer: asyncio.StreamWriter, ep: Endpoint, *, unchecked: bool = False
) -> None:
    """STARTTLS/STLS accepted: the handshake and the certificate check
    (``unchecked``: none, to read the fingerprint of a rejected one)."""
    ctx = client_context(ep)
    if unchecked:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        await asyncio.wait_for(
            writer.start_tls(ctx, server_hostname=ep.host), ep.timeout
        )
    except ssl.SSLError as exc:
        raise _tls_failure(exc, "") from None
    except TimeoutError:
        raise FetchError("The TLS handshake took too long.") from None
    if not unchecked:
        check_peer(writer, ep)


def fingerprint_of(writer: asyncio.StreamWriter) -> str:
    obj = writer.get_extra_info("ssl_object")
    der = obj.getpeercert(binary_form=True) if obj is not None else None
    return format_fingerprint(der) if der else ""


async def read_line(reader: asyncio.StreamReader, timeout: float, server: str) -> bytes:
    """One line from the server (``server`` names it in errors: "The POP3
    server"), or ``FetchError`` for silence, an overlong line, a closed or
    broken connection."""
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
    except TimeoutError:
        raise FetchError(f"{server} stopped answering.") from None
    except (ValueError, asyncio.LimitOverrunError):
        raise FetchError(f"{server} sent a line too long.") from None
    except (ConnectionError, OSError) as exc:
        raise FetchError(f"The connection broke: {exc}") from None
    if not line:
        raise FetchError(f"{server} closed the connection.")
    return line


async def send_line(writer: asyncio.StreamWriter, text: str, timeout: float) -> None:
    """``text`` and CRLF, flushed within ``timeout`` (``FetchError`` if not)."""
    writer.write(text.encode("utf-8") + b"\r\n")
    try:
        await asyncio.wait_for(writer.drain(), timeout)
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise FetchError(f"The connection broke: {exc}") from None


def close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
    except Exception:  # already gone
        pass
