"""The collector against a "remote" mailbox: our own POP3 and IMAP modules
serve ``box@example.test`` (its mail put there by real SMTP), and the same
core's collector brings it into alice's (or, fanned out, anyone's) INBOX.
The certificate is the core's self-signed one, accepted by its fingerprint
as a user would."""

from __future__ import annotations

import dataclasses
import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.accounts.sqlite import SqliteAccountStore
from server.fetch.connect import format_fingerprint
from server.fetch.store import FetchAccount
from tests.conftest import (
    ALICE,
    ALICE_PW,
    BOB,
    BOB_PW,
    RunningCore,
    prepare_data_dir,
    start_core,
)

BOX = "box@example.test"
BOX_PW = "box-pw-9"


@pytest.fixture
def fcore(tmp_path: Path) -> Iterator[RunningCore]:
    data = tmp_path / "data"
    prepare_data_dir(data, ("smtp", "pop3", "imap"))
    acc = SqliteAccountStore(data / "accounts.sqlite3")
    acc.add_domain("example.test")
    acc.add_user(BOX, BOX_PW, allow_weak=True)
    acc.add_user(ALICE, ALICE_PW, allow_weak=True)
    acc.add_user(BOB, BOB_PW, allow_weak=True)
    acc.close()
    c = start_core(data)
    try:
        yield c
    finally:
        c.runtime.stop()


def fingerprint(core: RunningCore) -> str:
    pem = (core.data_dir / "tls" / "cert.pem").read_text()
    return format_fingerprint(ssl.PEM_cert_to_DER_cert(pem))


def account(
    core: RunningCore, protocol: str = "pop3", **changes: object
) -> FetchAccount:
    """An account for box@ over implicit TLS with the core's certificate."""
    _, port = core.endpoint(protocol, "implicit")
    base = FetchAccount(
        id=f"box-{protocol}",
        server="127.0.0.1",
        username=BOX,
        protocol=protocol,
        port=port,
        security="implicit",
        fingerprint=fingerprint(core),
        destination="alice@example.test",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def put(
    core: RunningCore, n: int, *, to: str = BOX, start: int = 0, **head: str
) -> None:
    """``n`` messages into box@ through SMTP (to ``to`` in the header)."""
    host, port = core.endpoint("smtp")
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in head.items())
    with smtplib.SMTP(host, port) as c:
        for i in range(start, start + n):
            c.sendmail(
                "carol@outside.test",
                [BOX],
                (
                    f"From: carol@outside.test\r\nTo: {to}\r\nSubject: note {i}\r\n"
                    f"Message-ID: <note-{i}@outside.test>\r\n{extra}\r\n"
                    f"body of note {i}\r\n"
                ).encode(),
            )


def maildir(core: RunningCore, address: str) -> list[bytes]:
    """The messages in ``address``'s INBOX; one that a session deletes (or
    moves from new/ to cur/) while this reads is skipped."""
    md = core.maildir(address)
    out: list[bytes] = []
    for sub in ("new", "cur"):
        for p in sorted((md / sub).glob("*")):
            try:
                out.append(p.read_bytes())
            except FileNotFoundError:
                continue
    return out


def count(core: RunningCore, address: str) -> int:
    md = core.maildir(address)
    return sum(1 for sub in ("new", "cur") for _ in (md / sub).glob("*"))
