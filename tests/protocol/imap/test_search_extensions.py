"""SEARCHRES (RFC 5182), WITHIN (RFC 5032) and STATUS=SIZE (RFC 8438), with
the RFCs' examples where they give one."""

from __future__ import annotations

import time

from tests.integration.imap.harness import Client, ImapTestServer, message

ALICE = "alice@example.test"


def fill(imap_server: ImapTestServer, n: int) -> None:
    now = time.time()
    for i in range(1, n + 1):
        # message i is (n - i) hours old
        imap_server.deliver(ALICE, message(f"m{i}"), internal_date=now - (n - i) * 3600)


def test_capabilities_name_them(imap_server: ImapTestServer, client: Client) -> None:
    caps = client.command("c", "CAPABILITY")[0].split()
    for cap in (b"SEARCHRES", b"WITHIN", b"STATUS=SIZE", b"ESEARCH"):
        assert cap in caps


def test_save_then_fetch_store_and_search_with_dollar(
    imap_server: ImapTestServer, client: Client
) -> None:
    fill(imap_server, 6)
    client.login()
    client.command("s", "SELECT INBOX")
    client.command("f", "STORE 2,4 +FLAGS (\\Flagged)")
    # RFC 5182 2.1: SAVE alone gives no ESEARCH response
    r = client.command("a", "SEARCH RETURN (SAVE) FLAGGED")
    assert r == [b"a OK SEARCH completed\r\n"]
    r = client.command("b", "FETCH $ (UID)")
    assert r[:-1] == [b"* 2 FETCH (UID 2)\r\n", b"* 4 FETCH (UID 4)\r\n"]
    r = client.command("c", "UID FETCH $ (FLAGS)")
    assert len(r) == 3 and r[-1].startswith(b"c OK")
    # "$" inside a search program, with other keys
    r = client.command("d", "SEARCH $ NOT 2")
    assert r[0] == b"* SEARCH 4\r\n"
    # with other options: an ESEARCH response without SAVE in it
    r = client.command("e", "UID SEARCH RETURN (SAVE COUNT) 1:3")
    assert r[0] == b'* ESEARCH (TAG "e") UID COUNT 3\r\n'
    r = client.command("g", "FETCH $ (UID)")
    assert [ln.split(b" ")[1] for ln in r[:-1]] == [b"1", b"2", b"3"]
    # MIN/MAX only: only those are saved (2.4)
    client.command("h", "SEARCH RETURN (SAVE MIN MAX) ALL")
    r = client.command("i", "FETCH $ (UID)")
    assert r[:-1] == [b"* 1 FETCH (UID 1)\r\n", b"* 6 FETCH (UID 6)\r\n"]
    # an expunged message leaves "$"; STORE and COPY take it too
    client.command("j", "STORE 1 +FLAGS (\\Deleted)")
    client.command("k", "EXPUNGE")
    r = client.command("l", "FETCH $ (UID)")
    assert r[:-1] == [b"* 5 FETCH (UID 6)\r\n"]
    assert client.command("m", "STORE $ +FLAGS.SILENT (\\Seen)")[-1].startswith(b"m OK")
    assert client.command("n", "COPY $ Trash")[-1].startswith(b"n OK [COPYUID")
    # a failed SAVE empties it (2.1); a new selection starts empty
    r = client.command("o", "SEARCH RETURN (SAVE) CHARSET X-NONE ALL")
    assert r[-1].startswith(b"o NO [BADCHARSET")
    assert client.command("p", "FETCH $ (UID)") == [b"p OK FETCH completed\r\n"]
    client.command("q", "SEARCH RETURN (SAVE) ALL")
    client.command("r", "SELECT INBOX")
    assert client.command("t", "FETCH $ (UID)") == [b"t OK FETCH completed\r\n"]


def test_within_older_and_younger(imap_server: ImapTestServer, client: Client) -> None:
    fill(imap_server, 5)  # 4, 3, 2, 1 and 0 hours old
    client.login()
    client.command("s", "SELECT INBOX")
    assert client.command("a", "SEARCH YOUNGER 9000")[0] == b"* SEARCH 3 4 5\r\n"
    assert client.command("b", "SEARCH OLDER 9000")[0] == b"* SEARCH 1 2\r\n"
    r = client.command("c", "SEARCH OLDER 3000 YOUNGER 12000")
    assert r[0] == b"* SEARCH 2 3 4\r\n"
    assert client.command("d", "SEARCH YOUNGER 0")[-1].startswith(b"d BAD")
    assert client.command("e", "SEARCH OLDER x")[-1].startswith(b"e BAD")


def test_status_size(imap_server: ImapTestServer, client: Client) -> None:
    """RFC 8438: the total of the messages' RFC822.SIZE."""
    imap_server.deliver(ALICE, b"Subject: a\n\nbody\n")  # 20 octets with CRLF
    imap_server.deliver(ALICE, b"Subject: bb\r\n\r\nx\r\n")  # 18
    client.login()
    r = client.command("a", "STATUS INBOX (MESSAGES SIZE)")
    assert r[0] == b"* STATUS INBOX (MESSAGES 2 SIZE 38)\r\n"


def test_multiappend_stores_all_or_none(
    imap_server: ImapTestServer, client: Client
) -> None:
    """RFC 3502: several messages in one APPEND; APPENDUID names them all."""
    client.login()
    one, two = b"Subject: one\r\n\r\n1\r\n", b"Subject: two\r\n\r\n2\r\n"
    r = client.command(
        "a",
        b"APPEND INBOX (\\Seen) {%d+}\r\n%s (\\Flagged) "
        b'"05-Dec-2026 10:00:00 +0000" {%d+}\r\n%s' % (len(one), one, len(two), two),
    )
    assert r[-1].startswith(b"a OK [APPENDUID "), r
    assert r[-1].split(b"]")[0].endswith(b" 1:2")
    client.command("s", "SELECT INBOX")
    r = client.command("f", "FETCH 1:* (FLAGS INTERNALDATE)")
    assert b"\\Seen" in r[0] and b"\\Flagged" in r[1]
    assert b"05-Dec-2026 10:00:00 +0000" in r[1]
    # a bad second message: BAD, and the first is not stored either
    r = client.command(
        "b",
        b"APPEND INBOX {%d+}\r\n%s (\\Recent) {%d+}\r\n%s"
        % (len(one), one, len(two), two),
    )
    assert r[-1].startswith(b"b BAD"), r
    r = client.command(
        "c", b"APPEND Nowhere {%d+}\r\n%s {%d+}\r\n%s" % (len(one), one, len(two), two)
    )
    assert r[-1].startswith(b"c NO [TRYCREATE]"), r
    assert client.command("n", "NOOP")[-1].startswith(b"n OK")
    r = client.command("t", "STATUS INBOX (MESSAGES)")
    assert r[0] == b"* STATUS INBOX (MESSAGES 2)\r\n"


def test_sort_and_esort(imap_server: ImapTestServer, client: Client) -> None:
    """RFC 5256 SORT and RFC 5267 ESORT (MIN/MAX in sort order)."""
    for subject, size in (("b", 1), ("Re: a", 30), ("c", 5)):
        imap_server.deliver(
            ALICE, f"Subject: {subject}\r\n\r\n{'x' * size}\r\n".encode()
        )
    client.login()
    caps = client.command("c", "CAPABILITY")[0].split()
    for cap in (b"SORT", b"ESORT", b"THREAD=REFERENCES", b"THREAD=ORDEREDSUBJECT"):
        assert cap in caps
    client.command("s", "SELECT INBOX")
    assert client.command("a", "SORT (SUBJECT) UTF-8 ALL")[0] == b"* SORT 2 1 3\r\n"
    r = client.command("b", "UID SORT (REVERSE SIZE) US-ASCII ALL")
    assert r[0] == b"* SORT 2 3 1\r\n"
    r = client.command("d", "SORT RETURN (MIN MAX COUNT) (REVERSE SUBJECT) UTF-8 ALL")
    assert r[0] == b'* ESEARCH (TAG "d") MIN 3 MAX 2 COUNT 3\r\n'
    assert client.command("e", "SORT (SUBJECT) X-NONE ALL")[-1].startswith(
        b"e NO [BADCHARSET"
    )
    assert client.command("f", "SORT () UTF-8 ALL")[-1].startswith(b"f BAD")
    assert client.command("g", "THREAD ORDEREDSUBJECT UTF-8 ALL")[0] == (
        b"* THREAD (1)(2)(3)\r\n"  # by date: the order they came
    )


def test_savedate(imap_server: ImapTestServer, client: Client) -> None:
    """RFC 8514: when the message came into this mailbox, not its internal
    date; SEARCH SAVED* compare it by day; SAVEDATESUPPORTED matches all."""
    imap_server.deliver(ALICE, message("old"), internal_date=1_500_000_000.0)
    client.login()
    assert b"SAVEDATE" in client.command("c", "CAPABILITY")[0].split()
    client.command("s", "SELECT INBOX")
    r = client.command("a", "FETCH 1 (INTERNALDATE SAVEDATE)")
    today = time.strftime("%d-%b-%Y", time.gmtime()).lstrip("0")
    assert b'INTERNALDATE "14-Jul-2017' in r[0]
    assert b"SAVEDATE" in r[0] and today.encode() in r[0].split(b"SAVEDATE")[1], r[0]
    assert client.command("b", f"SEARCH SAVEDON {today}")[0] == b"* SEARCH 1\r\n"
    assert client.command("d", "SEARCH SAVEDBEFORE 1-Jan-2000")[0] == b"* SEARCH\r\n"
    assert client.command("e", "SEARCH SAVEDSINCE 1-Jan-2000")[0] == b"* SEARCH 1\r\n"
    assert client.command("f", "SEARCH SAVEDATESUPPORTED")[0] == b"* SEARCH 1\r\n"
    assert client.command("g", "SEARCH ON 14-Jul-2017")[0] == b"* SEARCH 1\r\n"
    # inside NOT, OR and a list of keys the save date is there too (it is
    # only worked out for a search that compares it)
    r = client.command("h", "SEARCH NOT SAVEDBEFORE 1-Jan-2000")
    assert r[0] == b"* SEARCH 1\r\n", r
    r = client.command("i", f"SEARCH OR DELETED SAVEDON {today}")
    assert r[0] == b"* SEARCH 1\r\n", r
    r = client.command("j", f"SEARCH ALL (UNDELETED SAVEDBEFORE {today})")
    assert r[0] == b"* SEARCH\r\n", r
