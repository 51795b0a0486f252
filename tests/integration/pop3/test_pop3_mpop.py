"""mpop (GnuTLS) against the running module: STLS and implicit TLS, maildir delivery.

mpop writes LF line ends into a maildir, so files are compared with the
delivered messages after CRLF -> LF; otherwise they must be byte-identical.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.integration.pop3.pop3_live import (
    PASSWORD,
    SAMPLES,
    USER,
    Pop3Server,
    need,
    run,
)


def _rc(
    server: Pop3Server, *, implicit: bool, keep: bool, name: str
) -> tuple[Path, Path]:
    maildir = server.tmp / f"{name}-maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    rc = server.tmp / f"{name}.mpoprc"
    rc.write_text(
        "defaults\n"
        "tls on\n"
        f"tls_starttls {'off' if implicit else 'on'}\n"
        "tls_certcheck off\n"
        "received_header off\n"
        "timeout 20\n"
        "account test\n"
        "host 127.0.0.1\n"
        f"port {server.tls_port if implicit else server.plain_port}\n"
        f"user {USER}\n"
        f"password {PASSWORD}\n"
        f"delivery maildir {maildir}\n"
        f"keep {'on' if keep else 'off'}\n"
        f"uidls_file {server.tmp / (name + '.uidls')}\n"
    )
    os.chmod(rc, 0o600)
    return rc, maildir


def _files(maildir: Path) -> list[bytes]:
    return sorted(p.read_bytes() for p in (maildir / "new").iterdir())


def _lf(messages: list[bytes]) -> list[bytes]:
    return sorted(m.replace(b"\r\n", b"\n") for m in messages)


async def test_mpop_stls_keep_then_nothing_new(pop3_server: Pop3Server) -> None:
    mpop = need("mpop")
    for m in SAMPLES:
        await pop3_server.deliver(m)
    rc, maildir = _rc(pop3_server, implicit=False, keep=True, name="stls")
    code, out, err = await run(mpop, "-C", str(rc), "-a", "-d")
    transcript = out + err
    assert code == 0, transcript.decode(errors="replace")[-2000:]
    assert b"--> STLS" in transcript and b"+OK Begin TLS negotiation" in transcript
    assert _files(maildir) == _lf(SAMPLES)
    assert len(await pop3_server.inbox()) == 3  # keep on
    # UIDLs are stable: a second run finds nothing new.
    code, out, err = await run(mpop, "-C", str(rc), "-a")
    assert code == 0, (out + err).decode(errors="replace")
    assert len(_files(maildir)) == 3
    await pop3_server.deliver(b"Subject: later\r\n\r\nnew one\r\n")
    code, out, err = await run(mpop, "-C", str(rc), "-a")
    assert code == 0, (out + err).decode(errors="replace")
    assert b"Subject: later\nnew one\n" in b"".join(_files(maildir)).replace(
        b"\n\n", b"\n"
    )


async def test_mpop_implicit_tls_deletes(pop3_server: Pop3Server) -> None:
    mpop = need("mpop")
    for m in SAMPLES:
        await pop3_server.deliver(m)
    rc, maildir = _rc(pop3_server, implicit=True, keep=False, name="tls")
    code, out, err = await run(mpop, "-C", str(rc), "-a")
    assert code == 0, (out + err).decode(errors="replace")[-2000:]
    assert _files(maildir) == _lf(SAMPLES)
    assert await pop3_server.inbox() == []
