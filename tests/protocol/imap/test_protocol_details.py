"""IMAP details an independent compliance suite found: EXAMINE and \\Recent,
SEARCH on addresses with comments, CONDSTORE syntax answered although not
offered, and folder names with bidirectional formatting characters."""

from __future__ import annotations

import re

import pytest

from tests.integration.imap.harness import Client, ImapTestServer, message

ALICE = "alice@example.test"


def _recent(lines: list[bytes]) -> int:
    [n] = [int(m.group(1)) for ln in lines if (m := re.match(rb"\* (\d+) RECENT", ln))]
    return n


# -- EXAMINE and \Recent (RFC 3501 6.3.2) --------------------------------------
def test_examine_reports_recent_like_select_without_claiming(
    imap_server: ImapTestServer, client: Client
) -> None:
    """Reproduces EXAMINE answering ``0 RECENT`` while STATUS says 2. EXAMINE
    "returns the same output as SELECT" and "MUST NOT cause messages to lose
    the \\Recent flag": it counts them, shows them, and a later SELECT (here
    or in another session) still gets them."""
    imap_server.deliver(ALICE, message("one"))
    imap_server.deliver(ALICE, message("two"))
    client.login()
    status = client.command("s", "STATUS INBOX (RECENT)")
    assert status[0] == b"* STATUS INBOX (RECENT 2)\r\n"
    r = client.command("e", "EXAMINE INBOX")
    assert _recent(r) == 2
    assert r[-1] == b"e OK [READ-ONLY] EXAMINE completed\r\n"
    r = client.command("f", "FETCH 1:2 (FLAGS)")
    assert r[:2] == [
        b"* 1 FETCH (FLAGS (\\Recent))\r\n",
        b"* 2 FETCH (FLAGS (\\Recent))\r\n",
    ]
    r = client.command("q", "SEARCH RECENT")
    assert r[0] == b"* SEARCH 1 2\r\n"
    assert client.command("t", "STATUS INBOX (RECENT)")[0].endswith(b"(RECENT 2)\r\n")
    # a third message arrives while examined: counted, still not claimed
    imap_server.deliver(ALICE, message("three"))
    r = client.command("n", "NOOP")
    assert b"* 3 EXISTS\r\n" in r and _recent(r) == 3
    other = Client(imap_server.port)
    try:
        other.login()
        assert _recent(other.command("x", "SELECT INBOX")) == 3  # it claims them
        assert _recent(other.command("y", "EXAMINE INBOX")) == 0
    finally:
        other.close()


def test_select_after_examine_in_the_same_session_claims(
    imap_server: ImapTestServer, client: Client
) -> None:
    imap_server.deliver(ALICE, message("one"))
    client.login()
    assert _recent(client.command("e", "EXAMINE INBOX")) == 1
    assert _recent(client.command("e2", "EXAMINE INBOX")) == 1
    assert _recent(client.command("s", "SELECT INBOX")) == 1
    assert _recent(client.command("e3", "EXAMINE INBOX")) == 0


# -- SEARCH on addresses (RFC 3501 6.4.4) --------------------------------------
COMMENTED = (
    b"From: <user-from (comment)@ (comment) domain.org>\r\n"
    b"To: =?utf-8?q?J=C3=B6rg?= <joerg (work) @ example.test>, team: a@b.test;\r\n"
    b"Cc: carl@example.test (Carl Cc)\r\n"
    b"Subject: comments\r\n"
    b"\r\n"
    b"body\r\n"
)


@pytest.mark.parametrize(
    "key",
    [
        "FROM user-from@domain.org",
        "FROM USER-FROM@DOMAIN.ORG",
        "FROM @domain.org",
        "TO joerg@example.test",
        "TO J\u00f6rg",
        "TO a@b.test",
        "TO team",
        "CC carl@example.test",
        "CC Carl",
    ],
)
def test_search_address_keys_match_the_parsed_address(
    imap_server: ImapTestServer, client: Client, key: str
) -> None:
    """Reproduces ``SEARCH FROM user-from@domain.org`` not matching ``From:
    <user-from (comment)@ (comment) domain.org>``: the address keys look at
    the envelope's addresses (comments and spaces inside gone, names decoded),
    as Dovecot does."""
    imap_server.deliver(ALICE, message("other"))
    imap_server.deliver(ALICE, COMMENTED)
    client.login()
    client.command("s", "SELECT INBOX")
    field, _, text = key.partition(" ")
    raw = text.encode()  # 8-bit text goes in a literal (RFC 3501 4.3)
    arg = b"{%d+}\r\n%s" % (len(raw), raw) if not raw.isascii() else raw
    r = client.command("q", b"SEARCH CHARSET UTF-8 " + field.encode() + b" " + arg)
    assert r[0] == b"* SEARCH 2\r\n", (key, r)
    assert r[-1] == b"q OK SEARCH completed\r\n"


def test_search_address_keys_do_not_match_across_fields(
    imap_server: ImapTestServer, client: Client
) -> None:
    imap_server.deliver(ALICE, COMMENTED)
    client.login()
    client.command("s", "SELECT INBOX")
    for key in ("FROM carl", "TO user-from", "CC joerg", "FROM nobody@domain.org"):
        assert client.command("q", f"SEARCH {key}")[0] == b"* SEARCH\r\n", key
    # HEADER still looks at the raw field text (RFC 3501: "the text of the header")
    r = client.command("h", 'SEARCH HEADER From "(comment)@"')
    assert r[0] == b"* SEARCH 1\r\n"


# -- folder names with bidirectional formatting characters --------------------
@pytest.mark.parametrize(
    "wire",
    ["Invoices&IC4-fdp.exe", "Box&IGc-x", "Box&IA8-x"],
    ids=["RLO", "RLI", "RLM"],
)
def test_create_and_rename_refuse_bidi_controls(client: Client, wire: str) -> None:
    """Reproduces CREATE accepting U+202E (and the other bidi formatting
    characters): the name is refused with a clear NO [CANNOT], for CREATE and
    RENAME alike, and LIST shows nothing new."""
    client.login()
    r = client.command("c", f'CREATE "{wire}"')
    assert r == [
        b"c NO [CANNOT] Mailbox names cannot contain bidirectional control "
        b"characters\r\n"
    ]
    assert client.command("p", "CREATE Plain")[-1].startswith(b"p OK")
    r = client.command("r", f'RENAME Plain "{wire}"')
    assert r[-1].startswith(b"r NO [CANNOT] Mailbox names cannot contain"), r
    r = client.command("l", 'LIST "" "*"')
    assert not any(wire.encode() in line for line in r), r
    assert any(line.endswith(b' "/" Plain\r\n') for line in r), r
