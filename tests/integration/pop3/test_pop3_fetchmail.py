"""fetchmail (OpenSSL) against the running module: STLS + --keep, implicit TLS.

Delivery goes through an MDA script writing one file per message. fetchmail
prepends its own ``Received:`` header and writes LF line ends; past that the
files must equal what was delivered.
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

MDA = '#!/bin/sh\ncat > "$1/msg.$(date +%s%N).$$"\n'


def _setup(server: Pop3Server, *, implicit: bool, keep: bool, name: str) -> list[str]:
    out = server.tmp / f"{name}-out"
    out.mkdir()
    script = server.tmp / "deliver.sh"
    script.write_text(MDA)
    rc = server.tmp / f"{name}.fetchmailrc"
    port = server.tls_port if implicit else server.plain_port
    tls = "ssl" if implicit else 'sslproto "tls1.2+"'  # tls1.2+ forces STLS
    rc.write_text(
        "set no bouncemail\n"
        "set no syslog\n"
        f"poll 127.0.0.1 with proto POP3 port {port} uidl timeout 20\n"
        f'  user "{USER}" there with password "{PASSWORD}" is "nobody" here\n'
        f"  options {'keep' if keep else 'nokeep'} {tls} no sslcertck\n"
        f'  mda "/bin/sh {script} {out}"\n'
    )
    os.chmod(rc, 0o600)
    return [
        need("fetchmail"),
        "-f",
        str(rc),
        "--idfile",
        str(server.tmp / f"{name}.ids"),
        "--pidfile",
        str(server.tmp / f"{name}.pid"),
        "--nodetach",
        "-v",
    ]


def _env(server: Pop3Server) -> dict[str, str]:
    return {**os.environ, "HOME": str(server.tmp)}


def _messages(directory: Path) -> list[bytes]:
    result = []
    for path in directory.iterdir():
        lines = path.read_bytes().split(b"\n")
        assert lines[0].startswith(b"Received: ")
        i = 1
        while lines[i][:1] in (b" ", b"\t"):
            i += 1
        result.append(b"\n".join(lines[i:]))
    return sorted(result)


def _lf(messages: list[bytes]) -> list[bytes]:
    return sorted(m.replace(b"\r\n", b"\n") for m in messages)


async def test_fetchmail_stls_keep(pop3_server: Pop3Server) -> None:
    for m in SAMPLES:
        await pop3_server.deliver(m)
    argv = _setup(pop3_server, implicit=False, keep=True, name="stls")
    code, out, err = await run(*argv, env=_env(pop3_server))
    log = (out + err).decode(errors="replace")
    assert code == 0, log[-3000:]
    assert "POP3> STLS" in log and "upgrade to TLS succeeded" in log
    assert "PASS *" in log
    assert _messages(pop3_server.tmp / "stls-out") == _lf(SAMPLES)
    assert len(await pop3_server.inbox()) == 3
    # second poll: UIDLs match the id file, nothing is fetched (exit 1 = no mail)
    code, out, err = await run(*argv, env=_env(pop3_server))
    assert code == 1, (out + err).decode(errors="replace")[-3000:]
    assert len(list((pop3_server.tmp / "stls-out").iterdir())) == 3


async def test_fetchmail_implicit_tls_deletes(pop3_server: Pop3Server) -> None:
    for m in SAMPLES:
        await pop3_server.deliver(m)
    argv = _setup(pop3_server, implicit=True, keep=False, name="ssl")
    code, out, err = await run(*argv, env=_env(pop3_server))
    log = (out + err).decode(errors="replace")
    assert code == 0, log[-3000:]
    assert "DELE" in log
    assert _messages(pop3_server.tmp / "ssl-out") == _lf(SAMPLES)
    assert await pop3_server.inbox() == []
