"""The first FETCH after a restart answers from the store's metadata records
(made when the mail was delivered), byte for byte what a parse gives; mail
another program drops in is parsed once and its record kept for the next
start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from server.protocols.imap import mime

from .harness import Client, ImapTestServer

ALICE = "alice@example.test"
PLAIN = b"From: Ann <ann@example.test>\r\nSubject: plain\r\n\r\nhello\r\n"
MULTI = (
    b"From: =?utf-8?q?B=C3=A9a?= <bea@example.test>\r\nTo: alice@example.test\r\n"
    b"Subject: parts\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\none\r\n"
    b"--b\r\nContent-Type: application/pdf; name=x.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n"
)
FETCH = "FETCH 1:* (UID ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE)"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts MIME parses of whole messages (``mime.parse``)."""
    seen: list[int] = []
    real: Callable[[bytes], mime.Part] = mime.parse

    def counting(raw: bytes) -> mime.Part:
        seen.append(len(raw))
        return real(raw)

    monkeypatch.setattr(mime, "parse", counting)
    return seen


def fetch_all(server: ImapTestServer, command: str = FETCH) -> list[bytes]:
    c = Client(server.port)
    try:
        c.login()
        c.command("s", "SELECT INBOX")
        lines = c.command("f", command)
        assert lines[-1].startswith(b"f OK"), lines[-1]
        return lines[:-1]
    finally:
        c.close()


def test_first_fetch_after_a_restart_parses_nothing(
    tmp_path: Path, parses: list[int]
) -> None:
    first = ImapTestServer(tmp_path, "maildir").start()
    try:
        for raw in (PLAIN, MULTI):
            first.run(first.store.deliver(ALICE, raw))
        assert parses == [len(PLAIN), len(MULTI)]  # once each, at delivery
        before = fetch_all(first)
        assert len(before) == 2 and b'"parts"' in before[1]
    finally:
        first.stop()
    parses.clear()
    second = ImapTestServer(tmp_path, "maildir").start()
    try:
        assert fetch_all(second) == before
        assert parses == []
    finally:
        second.stop()


def test_mail_from_another_program_is_parsed_once_then_kept(
    tmp_path: Path, parses: list[int]
) -> None:
    first = ImapTestServer(tmp_path, "maildir").start()
    try:
        first.run(first.store.deliver(ALICE, PLAIN))
        inbox = tmp_path / "mail" / "example.test" / "alice"
        (inbox / "new" / "1700000000.M1P1.elsewhere").write_bytes(
            MULTI.replace(b"\r\n", b"\n")
        )
        parses.clear()
        before = fetch_all(first)
        assert len(before) == 2 and b'"parts"' in before[1]
        assert parses == [len(MULTI)]  # the foreign one, on demand
    finally:
        first.stop()
    parses.clear()
    second = ImapTestServer(tmp_path, "maildir").start()
    try:
        assert fetch_all(second) == before
        assert parses == []
        # a header SEARCH needs no parse of whole messages either
        hits = fetch_all(second, 'SEARCH HEADER Subject "parts"')
        assert hits == [b"* SEARCH 2\r\n"] and parses == []
    finally:
        second.stop()
