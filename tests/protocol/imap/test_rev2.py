"""IMAP4rev2 (RFC 9051) alongside IMAP4rev1: a client that sends ENABLE
IMAP4rev2 gets UTF-8 mailbox names, no \\Recent anywhere, LIST (not UNSEEN) in
the SELECT answer and ESEARCH for every SEARCH; a rev1 client sees none of
that."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE
from tests.integration.imap.harness import Client, ImapTestServer, message


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ImapTestServer]:
    srv = ImapTestServer(tmp_path).start()
    for n in range(1, 4):
        srv.deliver(ALICE, message(f"m{n}"))
    yield srv
    srv.stop()


@pytest.fixture
def rev2(server: ImapTestServer) -> Iterator[Client]:
    c = Client(server.port)
    c.login()
    assert b"IMAP4rev2" in c.command("c", "CAPABILITY")[0].split()
    assert c.command("e", "ENABLE IMAP4rev2")[0] == b"* ENABLED IMAP4rev2\r\n"
    assert c.command("e", "ENABLE IMAP4rev2")[0] == b"* ENABLED\r\n"  # on already
    yield c
    c.close()


def test_select_answer(rev2: Client) -> None:
    """RFC 9051 6.3.2's example: FLAGS, EXISTS, LIST, the codes; no RECENT,
    no UNSEEN."""
    r = rev2.command("s", "SELECT INBOX")
    assert b'* LIST () "/" INBOX\r\n' in r
    assert b"* 3 EXISTS\r\n" in r
    assert not any(b"RECENT" in ln or b"UNSEEN" in ln for ln in r), r
    assert r[-1] == b"s OK [READ-WRITE] SELECT completed\r\n"
    r = rev2.command("f", "FETCH 1:3 (FLAGS)")
    assert r[:3] == [b"* %d FETCH (FLAGS ())\r\n" % n for n in (1, 2, 3)]


def test_search_is_esearch(rev2: Client) -> None:
    rev2.command("s", "SELECT INBOX")
    rev2.command("t", "STORE 2 +FLAGS (\\Seen)")
    assert rev2.command("a", "SEARCH UNSEEN")[0] == b'* ESEARCH (TAG "a") ALL 1,3\r\n'
    r = rev2.command("b", "UID SEARCH SEEN")
    assert r[0] == b'* ESEARCH (TAG "b") UID ALL 2\r\n'
    assert rev2.command("c", "SEARCH DRAFT")[0] == b'* ESEARCH (TAG "c")\r\n'
    r = rev2.command("d", "SEARCH RETURN (COUNT) ALL")
    assert r[0] == b'* ESEARCH (TAG "d") COUNT 3\r\n'


def test_new_mail_and_expunge_without_recent(
    server: ImapTestServer, rev2: Client
) -> None:
    rev2.command("s", "SELECT INBOX")
    server.deliver(ALICE, message("m4"))
    r = rev2.command("n", "NOOP")
    assert r == [b"* 4 EXISTS\r\n", b"n OK NOOP completed\r\n"]
    rev2.command("t", "STORE 1 +FLAGS.SILENT (\\Deleted)")
    r = rev2.command("x", "EXPUNGE")
    assert r == [b"* 1 EXPUNGE\r\n", b"x OK EXPUNGE completed\r\n"]


def test_utf8_names_and_status_deleted(rev2: Client) -> None:
    r = rev2.command("c", '"CREATE "Caf\xc3\xa9"'.encode("latin-1")[1:])
    assert r[-1].startswith(b"c OK"), r
    r = rev2.command("l", 'LIST "" "Caf*"')
    assert r[0] == b'* LIST (\\HasNoChildren) "/" "Caf\xc3\xa9"\r\n'
    rev2.command("s", "SELECT INBOX")
    rev2.command("t", "STORE 1,3 +FLAGS.SILENT (\\Deleted)")
    r = rev2.command("u", "STATUS INBOX (MESSAGES DELETED SIZE)")
    assert re.match(rb"\* STATUS INBOX \(MESSAGES 3 DELETED 2 SIZE \d+\)", r[0]), r


def test_rev1_unchanged(server: ImapTestServer) -> None:
    c = Client(server.port)
    try:
        c.login()
        r = c.command("s", "SELECT INBOX")
        assert b"* 3 RECENT\r\n" in r and not any(b"LIST" in ln for ln in r)
        assert c.command("a", "SEARCH ALL")[0] == b"* SEARCH 1 2 3\r\n"
        assert b"\\Recent" in c.command("f", "FETCH 1 (FLAGS)")[0]
        assert c.command("c", "CREATE Caf&AOk-")[-1].startswith(b"c OK")
        r = c.command("l", 'LIST "" "Caf*"')
        assert r[0] == b'* LIST (\\HasNoChildren) "/" Caf&AOk-\r\n'
    finally:
        c.close()
