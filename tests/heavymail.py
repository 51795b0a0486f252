"""Mail and a prepared core for heavy-load tests and benchmarks.

``heavy_core(data_dir)`` starts the real core (SMTP, IMAP, POP3 on 127.0.0.1,
port 0, 60 MB messages) for ``alice@example.test`` with ARCHIVE_SIZE ordinary
messages in ``Archive2k`` and FOLDERS folders, written straight into the
Maildir before the first SELECT (the store picks up mail that other programs
drop in). The message builders make the heavy cases of issue 10.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from server.accounts.sqlite import SqliteAccountStore
from server.config.store import SettingsStore
from tests.conftest import (
    ALICE,
    ALICE_PW,
    DOMAIN,
    RunningCore,
    prepare_data_dir,
    start_core,
)
from tests.rawclients import RawImap, RawSmtp

ARCHIVE = "Archive2k"  # ordinary mail, written straight into the Maildir
ARCHIVE_SIZE = 2000
FOLDERS = 1000  # for LIST (the store lists folders in O(n^2): keep it quick)
MAX_SIZE = 60 * 1024 * 1024  # general.max_message_size: room for a 50 MB DATA


def ordinary(i: int) -> bytes:
    """A few KB of everyday mail (LF line ends, as on disk); every 100th
    mentions a needle, every third is multipart."""
    word = "needle" if i % 100 == 0 else "hay"
    text = f"Hello, this is message {i} about {word}.\n" + "Lorem ipsum dolor.\n" * 40
    if i % 3:
        return (
            f"From: Sender {i % 50} <s{i % 50}@example.org>\nTo: {ALICE}\n"
            f"Subject: note {i}\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n"
            f"Message-ID: <m{i}@example.org>\n\n{text}"
        ).encode()
    return (
        f"From: s{i % 50}@example.org\nTo: {ALICE}\nSubject: multi {i}\n"
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n"
        f"--XX\nContent-Type: text/plain\n\n{text}\n"
        "--XX\nContent-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: base64\n\nAAECAwQFBgcICQ==\n--XX--\n"
    ).encode()


def part_bomb(parts: int) -> bytes:
    """The issue's message: 2.4 million empty parts are 24 MB."""
    head = (
        f"From: a@example.org\r\nTo: {ALICE}\r\nSubject: part bomb\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=abcd\r\n\r\n"
    ).encode()
    return head + b"--abcd\r\n\r\n" * parts + b"--abcd--\r\n"


def deep(levels: int) -> bytes:
    """``levels`` multiparts nested in one another, a text part at the bottom."""
    raw = b"Subject: deep\r\n"
    tail = b""
    for i in range(levels):
        raw += b"Content-Type: multipart/mixed; boundary=d%d\r\n\r\n--d%d\r\n" % (i, i)
        tail = b"\r\n--d%d--\r\n" % i + tail
    return raw + b"Content-Type: text/plain\r\n\r\nbottom" + tail


def large(size: int, subject: str) -> bytes:
    """A plain message of about ``size`` octets; its lines end with a dot,
    which a bulk DATA reader must not take for the end of the message."""
    line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b".\r\n"
    head = f"From: a@example.org\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\r\n"
    return head.encode() + line * (size // len(line))


def heavy_core(data: Path) -> RunningCore:
    prepare_data_dir(data, ("smtp", "imap", "pop3"))
    store = SettingsStore(data / "settings.toml")
    s = store.load()
    store.save(
        dataclasses.replace(
            s, general=dataclasses.replace(s.general, max_message_size=MAX_SIZE)
        )
    )
    acc = SqliteAccountStore(data / "accounts.sqlite3")
    acc.add_domain(DOMAIN)
    acc.add_user(ALICE, ALICE_PW, display_name="Alice", allow_weak=True)
    acc.close()
    c = start_core(data, ("smtp", "imap", "pop3"))
    try:
        imap(c).close()  # the first login makes the Maildir
        udir = c.maildir(ALICE)
        folder = udir / f".{ARCHIVE}"
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True)
        for i in range(ARCHIVE_SIZE):
            (folder / "new" / f"1700000000.M{i}P1.test").write_bytes(ordinary(i))
        long_names = [f".{chr(97 + n) * 250}" for n in range(3)]
        for i in range(FOLDERS):
            name = f".Projects.p{i:04d}" if i % 2 else f".Team{i % 7}.t{i:04d}"
            for sub in ("cur", "new", "tmp"):
                (udir / name / sub).mkdir(parents=True, exist_ok=True)
        for name in long_names:
            for sub in ("cur", "new", "tmp"):
                (udir / name / sub).mkdir(parents=True)
    except BaseException:
        c.runtime.stop()
        raise
    return c


def imap(c: RunningCore) -> RawImap:
    host, port = c.endpoint("imap", "starttls")
    client = RawImap(host, port)
    client.login(ALICE, ALICE_PW)
    return client


def smtp(c: RunningCore) -> RawSmtp:
    host, port = c.endpoint("smtp")
    return RawSmtp(host, port)
