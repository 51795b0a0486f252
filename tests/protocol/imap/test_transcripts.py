"""Transcript tests: raw IMAP over a socket against ImapModule + MemoryStore."""

from __future__ import annotations

import base64
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.imap.harness import Client, ImapTestServer, message

ALICE = "alice@example.test"


def tagged(lines: list[bytes]) -> bytes:
    return lines[-1]


def test_greeting_and_capability(client: Client) -> None:
    assert client.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
    lines = client.command("a1", "CAPABILITY")
    caps = lines[0].split()
    for cap in (
        b"IMAP4rev1",
        b"IDLE",
        b"UIDPLUS",
        b"MOVE",
        b"STARTTLS",
        b"LITERAL+",
        b"SASL-IR",
        b"AUTH=PLAIN",
        b"SPECIAL-USE",
        b"NAMESPACE",
        b"ID",
        b"ENABLE",
        b"UNSELECT",
        b"CHILDREN",
    ):
        assert cap in caps
    assert tagged(lines) == b"a1 OK CAPABILITY completed\r\n"


def test_thunderbird_first_connect(imap_server: ImapTestServer) -> None:
    imap_server.deliver(ALICE, message("first"))
    imap_server.deliver(ALICE, message("second"), flags=("\\Seen",))
    c = Client(imap_server.port)
    try:
        assert b"CAPABILITY" in c.command("1", "capability")[0]
        r = c.command("2", 'ID ("name" "Thunderbird" "version" "128.0")')
        assert r[0].startswith(b"* ID (") and r[-1].startswith(b"2 OK")
        ir = base64.b64encode(b"\0alice@example.test\0alice-pw").decode()
        r = c.command("3", f"authenticate PLAIN {ir}")
        assert r[-1].startswith(b"3 OK [CAPABILITY IMAP4rev1")
        r = c.command("4", "namespace")
        assert r[0] == b'* NAMESPACE (("" "/")) NIL NIL\r\n'
        r = c.command("5", 'LIST (SPECIAL-USE) "" "*"')
        assert b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n' in r
        assert not any(b"INBOX" in x for x in r)
        r = c.command("6", 'list "" "*" RETURN (SUBSCRIBED CHILDREN SPECIAL-USE)')
        assert r[0] == b'* LIST (\\HasNoChildren \\Subscribed) "/" INBOX\r\n'
        assert b'* LIST (\\HasNoChildren \\Subscribed \\Trash) "/" Trash\r\n' in r
        r = c.command("7", 'lsub "" "*"')
        assert r[-1] == b"7 OK LSUB completed\r\n"
        r = c.command("8", 'select "INBOX"')
        assert b"* 2 EXISTS\r\n" in r and b"* OK [UNSEEN 1] First unseen\r\n" in r
        assert any(x.startswith(b"* OK [UIDVALIDITY ") for x in r)
        assert b"* OK [UIDNEXT 3] Predicted next UID\r\n" in r
        assert r[-1] == b"8 OK [READ-WRITE] SELECT completed\r\n"
        r = c.command("9", "UID fetch 1:* (FLAGS)")
        assert r[:2] == [
            b"* 1 FETCH (UID 1 FLAGS (\\Recent))\r\n",
            b"* 2 FETCH (UID 2 FLAGS (\\Recent \\Seen))\r\n",
        ]
        r = c.command(
            "9b",
            "UID fetch 1:2 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To "
            "Cc Bcc Subject Date Message-ID Priority X-Priority References "
            "Newsgroups In-Reply-To Content-Type Reply-To)])",
        )
        assert r[0].startswith(b"* 1 FETCH (UID 1 RFC822.SIZE ")
        assert b"BODY[HEADER.FIELDS (FROM TO CC BCC SUBJECT DATE" in r[0]
        assert b"Subject: first\r\n" in r[0] and r[0].endswith(b"\r\n\r\n)\r\n")
        assert r[-1] == b"9b OK FETCH completed\r\n"
        c.send("10 IDLE\r\n")
        assert c.readline() == b"+ idling\r\n"
        start = time.monotonic()
        imap_server.deliver(ALICE, message("third"))
        assert c.readline() == b"* 3 EXISTS\r\n"
        assert time.monotonic() - start < 1.0
        assert c.readline() == b"* 3 RECENT\r\n"
        c.send("DONE\r\n")
        assert c.until("10")[-1] == b"10 OK IDLE terminated\r\n"
        r = c.command("11", "logout")
        assert r == [b"* BYE Logging out\r\n", b"11 OK LOGOUT completed\r\n"]
    finally:
        c.close()


def test_state_checks(client: Client) -> None:
    assert client.command("a", "SELECT INBOX")[-1].startswith(b"a BAD")
    assert client.command("b", "FETCH 1 FLAGS")[-1].startswith(b"b BAD")
    client.login()
    assert client.command("c", "FETCH 1 FLAGS")[-1].startswith(b"c BAD")
    assert client.command("d", "LOGIN a b")[-1].startswith(b"d BAD")
    assert client.command("e", "STARTTLS")[-1].startswith(b"e BAD")


def test_syntax_errors_are_bad(client: Client) -> None:
    client.login()
    for i, bad in enumerate(
        [
            "NOSUCH",
            "SELECT",
            'SELECT "unterminated',
            "FETCH",
            "LIST a",
            "STATUS INBOX (BOGUS)",
            "SEARCH FOO",
            "UID FOO 1",
            "STORE 1 FLAGS",
        ]
    ):
        assert client.command(f"t{i}", bad)[-1].startswith(f"t{i} BAD".encode())
    client.send(b"\r\n")
    assert client.readline().startswith(b"* BAD")


def test_login_failures_and_plain(client: Client) -> None:
    r = client.command("a", "LOGIN alice@example.test wrong")
    assert r[-1] == b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
    client.send("b AUTHENTICATE PLAIN\r\n")
    assert client.readline() == b"+ \r\n"
    client.send(base64.b64encode(b"\0alice\0alice-pw") + b"\r\n")
    assert client.until("b")[-1].startswith(b"b OK [CAPABILITY")


def test_authenticate_cancel(client: Client) -> None:
    client.send("a AUTHENTICATE PLAIN\r\n")
    assert client.readline() == b"+ \r\n"
    client.send("*\r\n")
    assert client.until("a")[-1].startswith(b"a BAD")


def test_logindisabled_without_tls(imap_server: ImapTestServer) -> None:
    imap_server.set_imap(plaintext_login="never")
    c = Client(imap_server.port)
    try:
        caps = c.command("a", "CAPABILITY")[0]
        assert b"LOGINDISABLED" in caps and b"AUTH=PLAIN" not in caps
        assert c.command("b", "LOGIN alice@example.test alice-pw")[-1].startswith(
            b"b NO"
        )
        assert c.command("c", "AUTHENTICATE PLAIN AGFsaWNlAGFsaWNlLXB3")[-1].startswith(
            b"c NO"
        )
        # STARTTLS; the pipelined plaintext command must be discarded
        c.send("d STARTTLS\r\ne CAPABILITY\r\n")
        assert c.readline() == b"d OK Begin TLS negotiation now\r\n"
        c.starttls()
        r = c.command("f", "CAPABILITY")
        assert r[0].startswith(b"* CAPABILITY") and b"STARTTLS" not in r[0]
        assert b"AUTH=PLAIN" in r[0] and b"LOGINDISABLED" not in r[0]
        assert all(not x.startswith(b"e ") for x in r)
        c.login()
    finally:
        c.close()


def test_implicit_tls(imap_server: ImapTestServer) -> None:
    c = Client(imap_server.tls_port, tls=True)
    try:
        assert c.greeting.startswith(b"* OK")
        assert b"STARTTLS" not in c.greeting
        c.login()
    finally:
        c.close()


def test_literals_sync_and_nonsync(client: Client) -> None:
    client.send("a LOGIN {18}\r\n")
    assert client.readline() == b"+ Ready for literal data\r\n"
    client.send("alice@example.test {8+}\r\nalice-pw\r\n")
    assert client.until("a")[-1].startswith(b"a OK")
    msg = message("lit")
    client.send(
        f'b APPEND INBOX (\\Flagged) "05-Jan-2024 10:00:00 +0100" {{{len(msg)}}}\r\n'
    )
    assert client.readline().startswith(b"+ ")
    client.send(msg + b"\r\n")
    r = client.until("b")
    assert re.match(rb"b OK \[APPENDUID \d+ 1\] APPEND completed", r[-1])
    client.command("c", "SELECT INBOX")
    r = client.command("d", "FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)")
    assert r[0] == (
        b"* 1 FETCH (FLAGS (\\Flagged \\Recent) "
        b'INTERNALDATE "05-Jan-2024 09:00:00 +0000"'
        b" RFC822.SIZE %d)\r\n" % len(msg)
    )


def test_literal_too_big(imap_server: ImapTestServer, client: Client) -> None:
    client.login()
    client.send("a APPEND INBOX {99999999}\r\n")
    assert client.readline() == b"a NO [TOOBIG] Literal too large\r\n"
    # LITERAL+: the server reads past the data and refuses
    big = 2 << 20
    client.send(b"b APPEND INBOX {%d+}\r\n" % big)
    client.send(b"x" * big + b"\r\n")
    assert client.until("b")[-1] == b"b NO [TOOBIG] Literal too large\r\n"
    assert client.command("c", "NOOP")[-1] == b"c OK NOOP completed\r\n"
    # before login literals are small
    c2 = Client(imap_server.port)
    try:
        c2.send("a LOGIN {100000}\r\n")
        assert c2.readline().startswith(b"a BAD")
    finally:
        c2.close()


def test_line_too_long_closes(client: Client) -> None:
    client.send(b"a NOOP " + b"x" * 70000 + b"\r\n")
    assert client.readline() == b"* BAD Command line too long\r\n"
    assert client.readline().startswith(b"* BYE")


def test_bad_command_cap(client: Client) -> None:
    for i in range(19):
        client.command(f"x{i}", "BOGUS")
    client.send("last BOGUS\r\n")
    assert client.readline().startswith(b"last BAD")
    assert client.readline().startswith(b"* BYE")


def test_select_examine_and_flags(imap_server: ImapTestServer, client: Client) -> None:
    imap_server.deliver(ALICE, message("a"), flags=("$Label1",))
    client.login()
    r = client.command("a", "EXAMINE INBOX")
    assert (
        r[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)\r\n"
    )
    assert b"* OK [PERMANENTFLAGS ()] Flags permitted\r\n" in r
    assert r[-1] == b"a OK [READ-ONLY] EXAMINE completed\r\n"
    assert client.command("b", "STORE 1 +FLAGS (\\Seen)")[-1].startswith(b"b NO")
    r = client.command("c", "FETCH 1 (BODY[TEXT])")
    assert b"FLAGS" not in r[0]
    r = client.command("d", "SELECT INBOX")
    assert b"* 1 RECENT\r\n" in r  # EXAMINE did not claim \Recent
    r = client.command("e", "STORE 1 FLAGS.SILENT (\\Seen \\Answered)")
    assert r == [b"e OK STORE completed\r\n"]
    r = client.command("f", "UID STORE 1 -FLAGS (\\Answered)")
    assert r[0] == b"* 1 FETCH (UID 1 FLAGS (\\Recent \\Seen))\r\n"
    assert client.command("g", "STORE 1 +FLAGS (\\Bogus)")[-1].startswith(b"g BAD")


def test_fetch_sections(imap_server: ImapTestServer, client: Client) -> None:
    raw = (
        b"From: a@b.c\r\nTo: d@e.f\r\nSubject: multi\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="BB"\r\n\r\n'
        b"--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody one\r\n"
        b"--BB\r\nContent-Type: message/rfc822\r\n\r\n"
        b"Subject: inner\r\nFrom: x@y.z\r\n\r\ninner text\r\n--BB--\r\n"
    )
    imap_server.deliver(ALICE, raw)
    client.login()
    client.command("s", "SELECT INBOX")
    r = client.command(
        "a",
        "FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.HEADER] BODY.PEEK[2.1] "
        "BODY.PEEK[2.MIME] BODY.PEEK[HEADER.FIELDS.NOT (To From)] "
        "BODY.PEEK[]<0.4>)",
    )
    line = r[0]
    assert b"BODY[1] {8}\r\nbody one" in line
    assert b"BODY[2.HEADER] {31}\r\nSubject: inner\r\nFrom: x@y.z\r\n\r\n" in line
    assert b"BODY[2.1] {10}\r\ninner text" in line
    assert b"BODY[2.MIME] {32}\r\nContent-Type: message/rfc822\r\n\r\n" in line
    assert b"BODY[HEADER.FIELDS.NOT (TO FROM)] {" in line
    assert b"BODY[]<0> {4}\r\nFrom" in line
    assert b"FLAGS" not in line
    r = client.command("b", "FETCH 1 (BODYSTRUCTURE)")
    assert r[0].startswith(
        b'* 1 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") '
        b'NIL NIL "7bit" 8 0'
    )
    assert b' "mixed" ("boundary" "BB") NIL NIL NIL))' in r[0]
    r = client.command("c", "FETCH 1 BODY")
    assert b' "mixed"))\r\n' in r[0]
    r = client.command("d", "FETCH 1 (RFC822.TEXT)")
    assert b"FLAGS (\\Recent \\Seen)" in r[0]


def test_search(imap_server: ImapTestServer, client: Client) -> None:
    imap_server.deliver(
        ALICE, message("apple pie", body="crust\r\n"), flags=("\\Seen",)
    )
    imap_server.deliver(ALICE, message("banana", body="yellow fruit\r\n"))
    imap_server.deliver(ALICE, message("cherry", X_Prio="high"), flags=("\\Flagged",))
    client.login()
    client.command("s", "SELECT INBOX")
    cases = {
        "SEARCH ALL": b"* SEARCH 1 2 3",
        "SEARCH SEEN": b"* SEARCH 1",
        "SEARCH UNSEEN": b"* SEARCH 2 3",
        "SEARCH OR FLAGGED SEEN": b"* SEARCH 1 3",
        "SEARCH NOT (FLAGGED)": b"* SEARCH 1 2",
        "SEARCH SUBJECT BANANA": b"* SEARCH 2",
        'SEARCH CHARSET UTF-8 BODY "yellow"': b"* SEARCH 2",
        "SEARCH TEXT crust": b"* SEARCH 1",
        "SEARCH HEADER X-Prio high": b"* SEARCH 3",
        "SEARCH 2:*": b"* SEARCH 2 3",
        "UID SEARCH UID 2:3 NOT 3": b"* SEARCH 2",
        "SEARCH FROM bob SMALLER 10000 LARGER 10": b"* SEARCH 1 2 3",
        "SEARCH SENTON 7-Feb-1994": b"* SEARCH 1 2 3",
        "SEARCH SENTBEFORE 1-Jan-1990": b"* SEARCH",
        "SEARCH SINCE 1-Jan-2000 NEW": b"* SEARCH 2 3",
        "SEARCH OLD": b"* SEARCH",
        "SEARCH KEYWORD foo": b"* SEARCH",
        "SEARCH (OR SUBJECT apple SUBJECT cherry) UNFLAGGED": b"* SEARCH 1",
    }
    for i, (q, want) in enumerate(cases.items()):
        r = client.command(f"q{i}", q)
        assert r[0] == want + b"\r\n", (q, r)
    r = client.command("e", "SEARCH RETURN (MIN MAX COUNT) ALL")
    assert r[0] == b'* ESEARCH (TAG "e") MIN 1 MAX 3 COUNT 3\r\n'


def test_copy_move_expunge_uidplus(imap_server: ImapTestServer, client: Client) -> None:
    for s in ("a", "b", "c", "d"):
        imap_server.deliver(ALICE, message(s))
    client.login()
    client.command("s", "SELECT INBOX")
    r = client.command("a", "COPY 1:2 Nowhere")
    assert r[-1] == b"a NO [TRYCREATE] Mailbox does not exist\r\n"
    r = client.command("b", "COPY 1:2 Trash")
    assert re.match(rb"b OK \[COPYUID \d+ 1:2 1:2\] COPY completed", r[-1])
    r = client.command("c", "UID MOVE 3 Trash")
    assert re.match(rb"\* OK \[COPYUID \d+ 3 3\]", r[0])
    assert r[1] == b"* 3 EXPUNGE\r\n"
    client.command("d", "STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    r = client.command("e", "UID EXPUNGE 1")
    # RFC 3501 7.3.2: the \\Recent count changed, so RECENT follows (as Dovecot)
    assert r == [b"* 1 EXPUNGE\r\n", b"* 2 RECENT\r\n", b"e OK EXPUNGE completed\r\n"]
    r = client.command("f", "EXPUNGE")
    assert r == [
        b"* 2 EXPUNGE\r\n",
        b"* 1 EXPUNGE\r\n",
        b"* 0 RECENT\r\n",
        b"f OK EXPUNGE completed\r\n",
    ]
    r = client.command("g", "STATUS Trash (MESSAGES UNSEEN)")
    assert r[0] == b"* STATUS Trash (MESSAGES 3 UNSEEN 3)\r\n"


def test_close_expunges_silently_unselect_does_not(
    imap_server: ImapTestServer, client: Client
) -> None:
    imap_server.deliver(ALICE, message("x"), flags=("\\Deleted",))
    imap_server.deliver(ALICE, message("y"), flags=("\\Deleted",))
    client.login()
    client.command("s", "SELECT INBOX")
    assert client.command("a", "UNSELECT") == [b"a OK UNSELECT completed\r\n"]
    client.command("t", "SELECT INBOX")
    assert client.command("b", "CLOSE") == [b"b OK CLOSE completed\r\n"]
    r = client.command("c", "STATUS INBOX (MESSAGES)")
    assert r[0] == b"* STATUS INBOX (MESSAGES 0)\r\n"


def test_mailbox_management(client: Client) -> None:
    client.login()
    assert client.command("a", 'CREATE "Work/Q1 \\"x\\""')[-1].startswith(b"a OK")
    assert client.command("b", "CREATE Caf&AOk-")[-1].startswith(b"b OK")
    r = client.command("c", 'LIST "" "%"')
    assert b'* LIST (\\HasChildren) "/" Work\r\n' in r
    assert b'* LIST (\\HasNoChildren) "/" Caf&AOk-\r\n' in r
    r = client.command("d", 'LIST "Work/" "*"')
    assert r[0] == b'* LIST (\\HasNoChildren) "/" "Work/Q1 \\"x\\""\r\n'
    assert client.command("e", "CREATE Work")[-1].startswith(b"e NO [ALREADYEXISTS]")
    assert client.command("f", "RENAME Work Play")[-1].startswith(b"f OK")
    r = client.command("g", 'LIST "" "Pl*"')
    assert len(r) == 3
    assert client.command("h", "SUBSCRIBE Play")[-1].startswith(b"h OK")
    r = client.command("i", 'LSUB "" "P*"')
    assert r[0] == b'* LSUB () "/" Play\r\n'
    assert client.command("j", "UNSUBSCRIBE Play")[-1].startswith(b"j OK")
    assert client.command("k", "DELETE INBOX")[-1].startswith(b"k NO")
    assert client.command("l", "DELETE Nope")[-1].startswith(b"l NO [NONEXISTENT]")
    assert client.command("m", 'DELETE "Play/Q1 \\"x\\""')[-1].startswith(b"m OK")
    assert client.command("n", "CREATE Archive (USE (\\Archive))")[-1].startswith(
        b"n OK"
    )
    r = client.command("o", 'LIST "" Archive')
    assert r[0] == b'* LIST (\\HasNoChildren \\Archive) "/" Archive\r\n'
    r = client.command("p", 'LIST "" ""')
    assert r[0] == b'* LIST (\\Noselect) "/" ""\r\n'


def test_rename_inbox_moves_messages(
    imap_server: ImapTestServer, client: Client
) -> None:
    imap_server.deliver(ALICE, message("old"))
    client.login()
    assert client.command("a", "RENAME inbox Old")[-1].startswith(b"a OK")
    r = client.command("b", "STATUS INBOX (MESSAGES)")
    assert r[0] == b"* STATUS INBOX (MESSAGES 0)\r\n"
    r = client.command("c", "STATUS Old (MESSAGES)")
    assert r[0] == b"* STATUS Old (MESSAGES 1)\r\n"


def test_two_sessions_see_changes(imap_server: ImapTestServer) -> None:
    imap_server.deliver(ALICE, message("one"))
    imap_server.deliver(ALICE, message("two"))
    a, b = Client(imap_server.port), Client(imap_server.port)
    try:
        a.login()
        b.login()
        ra = a.command("s", "SELECT INBOX")
        rb = b.command("s", "SELECT INBOX")
        assert b"* 2 RECENT\r\n" in ra and b"* 0 RECENT\r\n" in rb
        b.command("x", "STORE 1 +FLAGS (\\Deleted)")
        b.command("y", "EXPUNGE")
        # FETCH must not carry EXPUNGE (RFC 3501 7.4.1); NOOP may
        r = a.command("f", "FETCH 1:2 (FLAGS)")
        assert not any(b"EXPUNGE" in x for x in r)
        r = a.command("n", "NOOP")
        assert b"* 1 EXPUNGE\r\n" in r
        r = a.command("g", "FETCH 1 (UID)")
        assert r[0] == b"* 1 FETCH (UID 2)\r\n"
    finally:
        a.close()
        b.close()


def test_idle_sees_other_session_flags(imap_server: ImapTestServer) -> None:
    imap_server.deliver(ALICE, message("one"))
    a, b = Client(imap_server.port), Client(imap_server.port)
    try:
        a.login()
        b.login()
        a.command("s", "SELECT INBOX")
        b.command("s", "SELECT INBOX")
        a.send("i IDLE\r\n")
        assert a.readline() == b"+ idling\r\n"
        b.command("x", "STORE 1 +FLAGS (\\Flagged)")
        a.sock.settimeout(1.0)
        assert a.readline() == b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))\r\n"
        a.send("DONE\r\n")
        assert a.until("i")[-1] == b"i OK IDLE terminated\r\n"
    finally:
        a.close()
        b.close()


def test_enable_unselect_id_and_status(
    imap_server: ImapTestServer, client: Client
) -> None:
    client.login()
    assert client.command("a", "ENABLE CONDSTORE")[0] == b"* ENABLED CONDSTORE\r\n"
    assert client.command("a", "ENABLE X-UNKNOWN")[0] == b"* ENABLED\r\n"
    r = client.command("b", "STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    assert re.match(
        rb"\* STATUS INBOX \(MESSAGES 0 RECENT 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0\)",
        r[0],
    )
    assert client.command("c", "STATUS Nope (MESSAGES)")[-1].startswith(b"c NO")


def test_bare_local_part_login(client: Client) -> None:
    client.login("alice", "alice-pw")


def test_per_ip_limit(imap_server: ImapTestServer) -> None:
    imap_server.set_imap(max_connections_per_ip=2)
    a, b = Client(imap_server.port), Client(imap_server.port)
    try:
        s = socket.create_connection(("127.0.0.1", imap_server.port), timeout=5)
        try:
            assert s.recv(100).startswith(b"* BYE")
        finally:
            s.close()
    finally:
        a.close()
        b.close()


def test_per_user_limit(imap_server: ImapTestServer) -> None:
    imap_server.set_imap(max_connections_per_user=1)
    a, b = Client(imap_server.port), Client(imap_server.port)
    try:
        a.login()
        r = b.command("x", "LOGIN alice@example.test alice-pw")
        assert r[-1].startswith(b"x NO [LIMIT]")
    finally:
        a.close()
        b.close()


def test_unexpected_error_is_safe(
    imap_server: ImapTestServer, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    client.login()

    async def boom(*a: object, **k: object) -> None:
        raise RuntimeError("/secret/path exploded")

    imap_server.call(lambda: setattr(imap_server.store, "list_mailboxes", boom))
    r = client.command("a", 'LIST "" "*"')
    assert r[-1] == b"a NO [SERVERBUG] Internal error; the server log has details\r\n"
    assert b"secret" not in b"".join(r)
    assert client.command("b", "NOOP")[-1].startswith(b"b OK")


def test_password_never_logged(
    imap_server: ImapTestServer, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG, logger="quicksilver.imap")
    client.login("alice@example.test", "alice-pw")
    client.command("a", "AUTHENTICATE PLAIN AGFsaWNlAGFsaWNlLXB3")
    client.command("b", "NOOP")
    text = caplog.text
    assert "alice-pw" not in text and "AGFsaWNlAGFsaWNlLXB3" not in text
    assert "127.0.0.1:" in text


def test_bad_mutf7_name_is_no_and_recent_is_not_storable(
    imap_server: ImapTestServer, client: Client
) -> None:
    imap_server.deliver(ALICE, message("r"))
    client.login()
    r = client.command("a", 'CREATE "a&b"')
    assert r[-1].startswith(b"a NO [CANNOT]")
    client.command("s", "SELECT INBOX")
    assert client.command("b", "STORE 1 +FLAGS (\\Recent)")[-1].startswith(b"b BAD")


def test_lsub_percent_shows_unsubscribed_parent(client: Client) -> None:
    client.login()
    client.command("a", "CREATE foo/bar")
    client.command("b", "SUBSCRIBE foo/bar")
    r = client.command("c", 'LSUB "" "f%"')
    assert r == [b'* LSUB (\\Noselect) "/" foo\r\n', b"c OK LSUB completed\r\n"]
    r = client.command("d", 'LSUB "" "f*"')
    assert r == [b'* LSUB () "/" foo/bar\r\n', b"d OK LSUB completed\r\n"]


def test_list_extended_recursivematch(client: Client) -> None:
    client.login()
    client.command("a", "CREATE foo/bar")
    client.command("b", "SUBSCRIBE foo/bar")
    r = client.command("c", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "f%"')
    assert r[0] == b'* LIST (\\HasChildren) "/" foo ("CHILDINFO" ("SUBSCRIBED"))\r\n'
    r = client.command("d", 'LIST (SUBSCRIBED) "" "f*"')
    assert r[0] == b'* LIST (\\HasNoChildren \\Subscribed) "/" foo/bar\r\n'
    assert len(r) == 2
    r = client.command("e", 'LIST (RECURSIVEMATCH) "" "*"')
    assert r[-1].startswith(b"e BAD")


@pytest.fixture(params=["memory", "maildir"])
def any_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[ImapTestServer]:
    server = ImapTestServer(tmp_path, store_kind=request.param).start()
    yield server
    server.stop()


def _flags_of(lines: list[bytes], seq: int) -> set[str]:
    """The FLAGS of the untagged FETCH for ``seq`` in ``lines``."""
    for line in lines:
        m = re.match(rb"\* (\d+) FETCH \(.*FLAGS \(([^)]*)\)", line)
        if m and int(m.group(1)) == seq:
            return set(m.group(2).decode().split())
    raise AssertionError(f"no FETCH FLAGS for {seq} in {lines!r}")


def _current_flags(server: ImapTestServer, seq: int) -> set[str]:
    """What a fresh session sees (EXAMINE: no \\Recent claimed)."""
    c = Client(server.port)
    try:
        c.login()
        c.command("e", "EXAMINE INBOX")
        return _flags_of(c.command("f", f"FETCH {seq} (FLAGS)"), seq)
    finally:
        c.close()


def test_store_applies_changes_to_current_flags(any_server: ImapTestServer) -> None:
    """+FLAGS / -FLAGS / implicit \\Seen from a session that has not seen another
    session's change (no NOOP) must not undo it (reviewer's lost update)."""
    any_server.deliver(ALICE, message("one"))
    any_server.deliver(ALICE, message("two"))
    a, b = Client(any_server.port), Client(any_server.port)
    try:
        a.login()
        b.login()
        a.command("s", "SELECT INBOX")
        b.command("s", "SELECT INBOX")
        a.command("x", "STORE 2 +FLAGS (\\Seen)")
        r = b.command("y", "STORE 2 +FLAGS (\\Flagged)")
        # the FETCH answer shows the flags the message has now
        assert _flags_of(r, 2) == {"\\Seen", "\\Flagged"}
        assert _current_flags(any_server, 2) == {"\\Seen", "\\Flagged"}
        # a still thinks 2 is only \Seen: removing \Seen keeps b's \Flagged
        r = a.command("z", "STORE 2 -FLAGS (\\Seen)")
        assert "\\Flagged" in _flags_of(r, 2)
        assert _current_flags(any_server, 2) == {"\\Flagged"}
        # FLAGS replaces
        b.command("w", "STORE 2 FLAGS ($Work)")
        assert _current_flags(any_server, 2) == {"$Work"}
        # FETCH BODY[] sets \Seen on top of what another session stored
        a.command("f", "STORE 1 +FLAGS (\\Answered)")
        r = b.command("g", "FETCH 1 (BODY[])")
        assert _flags_of(r, 1) == {"\\Answered", "\\Seen"}
        assert _current_flags(any_server, 1) == {"\\Answered", "\\Seen"}
        # .SILENT still reports flags the session could not know of
        a.command("h", "STORE 2 +FLAGS (\\Answered)")
        r = b.command("i", "STORE 2 +FLAGS.SILENT (\\Draft)")
        assert _flags_of(r, 2) == {"$Work", "\\Answered", "\\Draft"}
        r = b.command("j", "STORE 2 -FLAGS.SILENT (\\Draft)")
        assert r == [b"j OK STORE completed\r\n"]
    finally:
        a.close()
        b.close()


def test_expunge_uses_current_deleted_flags(any_server: ImapTestServer) -> None:
    """Reviewer's case: A +\\Deleted 1; B -\\Deleted 1; A EXPUNGE: 1 survives.
    And what B marked \\Deleted behind A's back is expunged by A."""
    for s in ("one", "two", "three"):
        any_server.deliver(ALICE, message(s))
    a, b = Client(any_server.port), Client(any_server.port)
    try:
        a.login()
        b.login()
        a.command("s", "SELECT INBOX")
        b.command("s", "SELECT INBOX")
        a.command("x", "STORE 1 +FLAGS (\\Deleted)")
        b.command("n", "NOOP")
        b.command("y", "STORE 1 -FLAGS (\\Deleted)")
        b.command("z", "STORE 2 +FLAGS (\\Deleted)")
        r = a.command("e", "EXPUNGE")
        assert b"* 2 EXPUNGE\r\n" in r
        assert b"* 1 EXPUNGE\r\n" not in r
        assert r[-1] == b"e OK EXPUNGE completed\r\n"
        r = a.command("f", "UID FETCH 1:* (UID)")
        assert [re.findall(rb"UID (\d+)", x) for x in r[:-1]] == [[b"1"], [b"3"]]
        # UID EXPUNGE (RFC 4315): only the given UIDs, and only if \Deleted now
        a.command("g", "STORE 1 +FLAGS (\\Deleted)")
        b.command("h", "UID STORE 3 +FLAGS (\\Deleted)")
        b.command("i", "UID STORE 1 -FLAGS (\\Deleted)")
        r = a.command("j", "UID EXPUNGE 1:2")
        assert not any(x.endswith(b" EXPUNGE\r\n") for x in r)
        r = a.command("k", "UID EXPUNGE 3")
        assert b"* 2 EXPUNGE\r\n" in r
        # CLOSE, too, goes by the current flags
        a.command("l", "STORE 1 +FLAGS (\\Deleted)")
        b.command("m", "STORE 1 -FLAGS (\\Deleted)")
        assert a.command("o", "CLOSE")[-1] == b"o OK CLOSE completed\r\n"
        r = b.command("p", "STATUS INBOX (MESSAGES)")
        assert r[0] == b"* STATUS INBOX (MESSAGES 1)\r\n"
    finally:
        a.close()
        b.close()
