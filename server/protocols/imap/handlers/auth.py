"""Commands of any state and of the not-authenticated state (RFC 3501 6.1,
6.2), and the session-wide extensions: ID (RFC 2971), ENABLE (RFC 5161),
NAMESPACE (RFC 2342).

Logins: LOGIN and AUTHENTICATE PLAIN (RFC 4616, with the RFC 4959 initial
response) only where ``imap.plaintext_login`` allows (``PRIVACYREQUIRED``
otherwise, RFC 5530); the password is checked by the ``Authenticator`` (off
the loop, counting failures for bans); a failure waits
``LOGIN_FAILURE_DELAY`` before its NO; the module's per-user
connection limit is taken at login (``LIMIT``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import secrets
import time
from collections.abc import Awaitable
from functools import partial
from typing import TYPE_CHECKING

from server.accounts.base import User
from server.accounts.legacy import cram_md5_check
from server.errors import TemporaryError

from .. import command as c
from .. import responses as R
from ..steps import Compress as CompressStep
from ..steps import ReadLine, StartTls, Step
from ..utf8mode import UTF8_ACCEPT

if TYPE_CHECKING:
    from ..session import Session

# Seconds a failed login waits before its NO (slows password guessing).
LOGIN_FAILURE_DELAY = 0.2


# -- any state ------------------------------------------------------------------
async def capability(s: Session, cmd: c.Capability) -> None:
    s.send(R.untagged("CAPABILITY " + s.capabilities()))
    await s.updates(cmd)
    s.tagged(cmd.tag, "OK", "CAPABILITY completed")


async def noop(s: Session, cmd: c.Noop) -> None:
    await s.updates(cmd, force=True)
    s.tagged(cmd.tag, "OK", "NOOP completed")


async def logout(s: Session, cmd: c.Logout) -> None:
    s.send(R.Status("*", "BYE", "Logging out").render())
    s.tagged(cmd.tag, "OK", "LOGOUT completed")
    s.logout()


async def id_(s: Session, cmd: c.Id) -> None:
    if cmd.params:
        shown = " ".join(f"{k}={v}" for k, v in cmd.params[:8])
        s.log(logging.INFO, "client ID %s", shown[:300])
    s.send(R.untagged('ID ("name" "Quicksilver" "vendor" "Quicksilver")'))
    s.tagged(cmd.tag, "OK", "ID completed")


# -- not authenticated ------------------------------------------------------------
async def starttls(s: Session, cmd: c.StartTls) -> Step | None:
    """RFC 3501 6.2.1. The connection negotiates once the OK is out; what
    the client pipelined in plaintext after STARTTLS is discarded there
    (CVE-2011-0411 class of injection)."""
    ctx = s.sv.tls_context()
    if s.tls_active:
        s.tagged(cmd.tag, "BAD", "TLS is already active")
        return None
    if ctx is None:
        s.tagged(cmd.tag, "NO", "TLS is not available")
        return None
    s.tagged(cmd.tag, "OK", "Begin TLS negotiation now")
    return StartTls(ctx)


async def login(s: Session, cmd: c.Login) -> None:
    if not s.login_allowed():
        s.tagged(
            cmd.tag, "NO", "Login is disabled until TLS is active", "PRIVACYREQUIRED"
        )
        return
    user = cmd.user.decode("utf-8", "replace")
    password = cmd.password.decode("utf-8", "replace")
    await _login(s, cmd.tag, user, password)


async def authenticate(s: Session, cmd: c.Authenticate) -> Step | None:
    """RFC 3501 6.2.2 with PLAIN (RFC 4616); without an initial response the
    client gets an empty ``+`` and the connection reads its answer. With
    ``imap.legacy_auth`` CRAM-MD5 too (RFC 2195), against the user's legacy
    password only (server/accounts/legacy.py): it sends no password, so it
    is offered before TLS as well."""
    if cmd.mechanism == "CRAM-MD5" and s.legacy_auth():
        if cmd.initial is not None:
            s.bad(cmd.tag, "CRAM-MD5 takes no initial response")
            return None
        host = s.sv.hostname or "localhost"
        challenge = f"<{secrets.token_hex(8)}.{time.time_ns()}@{host}>"
        s.send(b"+ " + base64.b64encode(challenge.encode()) + b"\r\n")
        await s.drain()
        return ReadLine(cmd, partial(_cram_response, s, cmd, challenge))
    if cmd.mechanism != "PLAIN":
        s.tagged(cmd.tag, "NO", "Unsupported authentication mechanism", "CANNOT")
        return None
    if not s.login_allowed():
        s.tagged(
            cmd.tag,
            "NO",
            "Authentication is disabled until TLS is active",
            "PRIVACYREQUIRED",
        )
        return None
    if cmd.initial is None:
        s.send(b"+ \r\n")
        await s.drain()
        return ReadLine(cmd, partial(_sasl_response, s, cmd))
    await _plain(s, cmd, cmd.initial)
    return None


async def _sasl_response(s: Session, cmd: c.Authenticate, line: bytes) -> None:
    response = line.rstrip(b"\r\n")
    if response == b"*":  # RFC 3501 6.2.2: the client cancels
        s.tagged(cmd.tag, "BAD", "Authentication cancelled")
        return
    await _plain(s, cmd, response)


async def _cram_response(
    s: Session, cmd: c.Authenticate, challenge: str, line: bytes
) -> None:
    response = line.rstrip(b"\r\n")
    if response == b"*":
        s.tagged(cmd.tag, "BAD", "Authentication cancelled")
        return
    try:
        raw = base64.b64decode(response, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        s.bad(cmd.tag, "Invalid base64 data")
        return
    name, _, digest = raw.rpartition(" ")
    if not name or not re.fullmatch(r"[0-9a-f]{32}", digest):
        s.tagged(cmd.tag, "NO", "Malformed CRAM-MD5 response", "AUTHENTICATIONFAILED")
        return
    check = cram_md5_check(challenge, digest)
    await _attempt(
        s,
        cmd.tag,
        name,
        s.sv.auth.authenticate_digest(name, check, peer=s.peer_ip, protocol="imap"),
    )


async def _plain(s: Session, cmd: c.Authenticate, response: bytes) -> None:
    try:
        raw = b"" if response == b"=" else base64.b64decode(response, validate=True)
    except (binascii.Error, ValueError):
        s.bad(cmd.tag, "Invalid base64 data")
        return
    pieces = raw.split(b"\x00")
    if len(pieces) != 3:
        s.tagged(cmd.tag, "NO", "Malformed PLAIN response", "AUTHENTICATIONFAILED")
        return
    authz, authc, password = (p.decode("utf-8", "replace") for p in pieces)
    if authz and authz.lower() != authc.lower():
        s.tagged(
            cmd.tag,
            "NO",
            "Proxy authorization is not supported",
            "AUTHORIZATIONFAILED",
        )
        return
    await _login(s, cmd.tag, authc, password)


async def _login(s: Session, tag: str, username: str, password: str) -> None:
    await _attempt(
        s,
        tag,
        username,
        s.sv.auth.authenticate(username, password, peer=s.peer_ip, protocol="imap"),
    )


async def _attempt(
    s: Session, tag: str, username: str, check: Awaitable[User | None]
) -> None:
    """Await a login check (a password, or a CRAM-MD5 digest) and answer."""
    try:
        user = await check
    except TemporaryError:
        s.tagged(
            tag, "NO", "Authentication is unavailable, try again later", "UNAVAILABLE"
        )
        return
    await _logged_in(s, tag, username, user)


async def _logged_in(s: Session, tag: str, username: str, user: User | None) -> None:
    if user is None:
        s.log(logging.INFO, "login failed for %r", username[:100])
        s.sv.count("auth_failures")
        await asyncio.sleep(LOGIN_FAILURE_DELAY)
        s.tagged(tag, "NO", "Authentication failed", "AUTHENTICATIONFAILED")
        return
    address = str(user.address).lower()
    if not s.sv.user_login(address):
        s.log(logging.INFO, "too many connections for %s", address)
        s.tagged(tag, "NO", "Too many connections for this user", "LIMIT")
        return
    await s.logged_in(address)
    s.sv.count("logins")
    s.log(logging.INFO, "logged in as %s", address)
    s.tagged(tag, "OK", "Logged in", "CAPABILITY " + s.capabilities())


# -- session-wide extensions -------------------------------------------------------
async def compress(s: Session, cmd: c.Compress) -> Step | None:
    """RFC 4978 COMPRESS=DEFLATE: once per connection."""
    if cmd.mechanism != "DEFLATE":
        s.bad(cmd.tag, "Unknown compression mechanism")
        return None
    if s.compressing:
        s.tagged(cmd.tag, "NO", "Compression is already on", "COMPRESSIONACTIVE")
        return None
    s.compressing = True
    s.tagged(cmd.tag, "OK", "DEFLATE active")
    return CompressStep()


async def enable(s: Session, cmd: c.Enable) -> None:
    """RFC 5161: of what ENABLE can turn on, UTF8=ACCEPT (RFC 6855),
    CONDSTORE and QRESYNC (RFC 7162; QRESYNC brings CONDSTORE) and IMAP4rev2
    (RFC 9051 7.2.1) are offered;
    ENABLED lists what this command turned on (3.1: unknown ones are
    ignored, and one already enabled is not named again)."""
    enabled = []
    for cap in dict.fromkeys(cmd.caps):
        if cap in s.enabled:
            continue
        if cap == "UTF8=ACCEPT" and not UTF8_ACCEPT.get():
            UTF8_ACCEPT.set(True)  # this session's task: every later response
        elif cap == "IMAP4REV2":  # RFC 9051: UTF-8 names, no \Recent, ESEARCH
            s.rev2 = True
            UTF8_ACCEPT.set(True)
        elif cap == "QRESYNC":
            s.qresync = True
            await s.enable_condstore()
        elif cap == "CONDSTORE":
            await s.enable_condstore()
        else:
            continue
        s.enabled.add(cap)
        enabled.append("IMAP4rev2" if cap == "IMAP4REV2" else cap)
    s.send(R.untagged(" ".join(["ENABLED", *enabled])))
    s.tagged(cmd.tag, "OK", "ENABLE completed")


async def namespace(s: Session, cmd: c.Namespace) -> None:
    """RFC 2342: one personal namespace, "/" as the hierarchy delimiter."""
    s.send(R.untagged('NAMESPACE (("" "/")) NIL NIL'))
    s.tagged(cmd.tag, "OK", "NAMESPACE completed")
