"""RFC 3501 (and extension) edge cases found by diffing against Dovecot: one
transcript per rule, each failing on the behaviour it replaced."""

from __future__ import annotations

import re

import pytest

from server.protocols.imap import connection as connection_mod
from server.protocols.imap import session as session_mod
from tests.integration.imap.harness import Client, ImapTestServer, message

ALICE = "alice@example.test"


def test_internaldate_is_zero_padded_and_append_dates(client: Client) -> None:
    client.login()
    client.command("s", "SELECT INBOX")
    msg = message("d")
    # one-digit day without its leading space is taken (lax clients, Dovecot)
    cmd = f'APPEND INBOX "7-Jul-2020 10:11:12 +0200" {{{len(msg)}+}}\r\n'
    r = client.command("a", cmd.encode() + msg)
    assert r[-1].startswith(b"a OK"), r
    r = client.command("f", "FETCH 1 INTERNALDATE")
    assert r[0] == b'* 1 FETCH (INTERNALDATE "07-Jul-2020 08:11:12 +0000")\r\n'


def test_append_rules(imap_server: ImapTestServer, client: Client) -> None:
    client.login()
    client.command("s", "SELECT INBOX")
    r = client.command("a", b"APPEND INBOX (\\Recent) {1+}\r\nx")
    assert r[-1].startswith(b"a BAD"), r  # RFC 3501 2.3.2: \Recent is not settable
    r = client.command("b", b"APPEND Nowhere {1+}\r\nx")
    assert r[-1].startswith(b"b NO [TRYCREATE]"), r
    r = client.command(
        "c", b'APPEND INBOX (\\Seen) " 7-Jul-2021 01:02:03 -0700" {1+}\r\nx'
    )
    assert r[0] == b"* 1 EXISTS\r\n"  # APPEND to the selected mailbox
    assert re.match(rb"c OK \[APPENDUID \d+ 1\]", r[-1]), r


def test_eight_bit_mailbox_name_is_refused(client: Client) -> None:
    client.login()
    r = client.command("a", b'CREATE "caf\xc3\xa9"')
    assert r[-1].startswith(b"a NO [CANNOT]"), r
    r = client.command("b", 'CREATE "caf&AOk-"')
    assert r[-1].startswith(b"b OK"), r
    r = client.command("c", 'LIST "" "caf*"')
    assert r[0] == b'* LIST (\\HasNoChildren) "/" caf&AOk-\r\n'


def test_list_inbox_is_case_insensitive_in_patterns(client: Client) -> None:
    client.login()
    client.command("c", "CREATE INBOX/sub")
    for pattern in ("In%", "inbox", "i*"):
        r = client.command("l", f'LIST "" "{pattern}"')
        assert r[0] == b'* LIST (\\HasChildren) "/" INBOX\r\n', (pattern, r)
    r = client.command("m", 'LIST "" "inbox/%"')
    assert r[0] == b'* LIST (\\HasNoChildren) "/" INBOX/sub\r\n', r
    r = client.command("n", 'LIST "" ""')
    assert r[0] == b'* LIST (\\Noselect) "/" ""\r\n'


def test_maildir_folder_without_parent_lists_noselect_parent(
    maildir_server: ImapTestServer,
) -> None:
    udir = maildir_server.tmp / "mail" / "example.test" / "alice"
    for sub in ("cur", "new", "tmp"):  # ".A.B" made by another program
        (udir / ".A.B" / sub).mkdir(parents=True)
    c = Client(maildir_server.port)
    try:
        c.login()
        r = c.command("l", 'LIST "" "*"')
        assert b'* LIST (\\Noselect \\HasChildren) "/" A\r\n' in r, r
        assert b'* LIST (\\HasNoChildren) "/" A/B\r\n' in r, r
        r = c.command("m", 'LIST "" "%"')
        assert b'* LIST (\\Noselect \\HasChildren) "/" A\r\n' in r, r
    finally:
        c.close()


def test_new_keyword_announces_flags(
    imap_server: ImapTestServer, client: Client
) -> None:
    imap_server.deliver(ALICE, message("k"))
    client.login()
    client.command("s", "SELECT INBOX")
    r = client.command("a", "STORE 1 +FLAGS ($Label1)")
    assert (
        r[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)\r\n"
    )
    assert r[1].startswith(
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft "
        b"$Label1 \\*)]"
    )
    assert r[2] == b"* 1 FETCH (FLAGS (\\Recent $Label1))\r\n"
    r = client.command("b", "STORE 1 +FLAGS ($Label1)")
    assert not any(x.startswith(b"* FLAGS") for x in r)  # only once


def test_implicit_seen_puts_flags_first(
    imap_server: ImapTestServer, client: Client
) -> None:
    imap_server.deliver(ALICE, message("s"))
    client.login()
    client.command("s", "SELECT INBOX")
    r = client.command("a", "FETCH 1 BODY[TEXT]")
    assert (
        r[0]
        == b"* 1 FETCH (FLAGS (\\Recent \\Seen) BODY[TEXT] {11}\r\nHi there.\r\n)\r\n"
    )
    r = client.command("b", "FETCH 1 BODY[TEXT]")
    assert r[0] == b"* 1 FETCH (BODY[TEXT] {11}\r\nHi there.\r\n)\r\n"  # already \Seen


def test_header_fields_echoed_upper_case(
    imap_server: ImapTestServer, client: Client
) -> None:
    imap_server.deliver(ALICE, message("h"))
    client.login()
    client.command("s", "SELECT INBOX")
    r = client.command("a", "FETCH 1 BODY.PEEK[HEADER.FIELDS (subject x-none)]")
    assert r[0] == (
        b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT X-NONE)] {14}\r\n"
        b"Subject: h\r\n\r\n)\r\n"
    )


def test_bad_command_cap_counts_consecutive(client: Client) -> None:
    client.login()
    for i in range(session_mod.MAX_BAD_COMMANDS - 1):
        assert client.command(f"b{i}", "BOGUS")[-1].startswith(f"b{i} BAD".encode())
    assert client.command("n", "NOOP")[-1].startswith(b"n OK")
    for i in range(session_mod.MAX_BAD_COMMANDS - 1):
        assert client.command(f"c{i}", "BOGUS")[-1].startswith(f"c{i} BAD".encode())
    client.send(b"z BOGUS\r\n")
    assert client.readline().startswith(b"z BAD")
    assert client.readline() == b"* BYE Too many invalid commands\r\n"


def test_delete_with_children_says_why(client: Client) -> None:
    client.login()
    client.command("c", "CREATE P/C")
    r = client.command("d", "DELETE P")
    assert (
        r[-1]
        == b"d NO [CANNOT] Mailbox has child mailboxes; delete or move them first\r\n"
    )
    assert client.command("e", "DELETE P/C")[-1].startswith(b"e OK")
    assert client.command("f", "DELETE P")[-1].startswith(b"f OK")


def test_search_sent_dates_need_a_date_header_and_charsets(
    imap_server: ImapTestServer, client: Client
) -> None:
    imap_server.deliver(ALICE, message("dated"))
    imap_server.deliver(ALICE, b"Subject: undated caf\xe9\r\n\r\nx\r\n")
    client.login()
    client.command("s", "SELECT INBOX")
    assert client.command("a", "SEARCH SENTSINCE 1-Jan-1990")[0] == b"* SEARCH 1\r\n"
    assert client.command("b", "SEARCH SENTBEFORE 1-Jan-2990")[0] == b"* SEARCH 1\r\n"
    r = client.command("c", b"SEARCH CHARSET ISO-8859-1 SUBJECT {4+}\r\ncaf\xe9")
    assert r[-1].startswith(b"c OK"), r
    r = client.command("d", "SEARCH CHARSET X-NOPE ALL")
    assert r[-1].startswith(b"d NO [BADCHARSET"), r


def test_expunge_reports_recent_change(
    imap_server: ImapTestServer, client: Client
) -> None:
    imap_server.deliver(ALICE, message("r"))
    client.login()
    client.command("s", "SELECT INBOX")
    client.command("a", "STORE 1 +FLAGS.SILENT (\\Deleted)")
    r = client.command("b", "EXPUNGE")
    assert r == [b"* 1 EXPUNGE\r\n", b"* 0 RECENT\r\n", b"b OK EXPUNGE completed\r\n"]


def test_silent_store_still_reaches_other_sessions(imap_server: ImapTestServer) -> None:
    imap_server.deliver(ALICE, message("one"))
    a, b = Client(imap_server.port), Client(imap_server.port)
    try:
        a.login()
        b.login()
        a.command("s", "SELECT INBOX")
        b.command("s", "SELECT INBOX")
        r = a.command("x", "STORE 1 +FLAGS.SILENT (\\Flagged)")
        assert r == [b"x OK STORE completed\r\n"]
        r = b.command("n", "NOOP")
        assert r[0] == b"* 1 FETCH (UID 1 FLAGS (\\Flagged))\r\n", r
    finally:
        a.close()
        b.close()


def test_select_failure_leaves_authenticated_state(
    imap_server: ImapTestServer, client: Client
) -> None:
    imap_server.deliver(ALICE, message("one"))
    client.login()
    client.command("s", "SELECT INBOX")
    assert client.command("t", "SELECT Nowhere")[-1].startswith(b"t NO")
    r = client.command("f", "FETCH 1 UID")
    assert r[-1].startswith(b"f BAD"), r
    r = client.command("u", "UID FETCH 1:* UID")
    assert r[-1].startswith(b"u BAD"), r


def test_uid_fetch_on_empty_mailbox(client: Client) -> None:
    client.login()
    client.command("s", "SELECT Trash")
    assert client.command("u", "UID FETCH 1:* (FLAGS)") == [b"u OK FETCH completed\r\n"]
    assert client.command("f", "FETCH 1:* FLAGS")[-1].startswith(b"f BAD")


def test_idle_keepalive(monkeypatch: pytest.MonkeyPatch, client: Client) -> None:
    monkeypatch.setattr(connection_mod, "IDLE_KEEPALIVE", 0.2)
    client.login()
    client.command("s", "SELECT INBOX")
    client.send(b"i IDLE\r\n")
    assert client.readline() == b"+ idling\r\n"
    assert client.readline() == b"* OK Still here\r\n"
    client.send(b"DoNe\r\n")
    lines = client.until("i")
    assert lines[-1] == b"i OK IDLE terminated\r\n"


def test_huge_literal_plus_closes_without_reading(client: Client) -> None:
    client.login()
    client.send(b"a APPEND INBOX {999999999+}\r\nsome bytes")
    assert client.readline() == b"a BAD Literal too large\r\n"
    assert client.readline().startswith(b"* BYE")
    with pytest.raises((EOFError, OSError)):
        client.readline()


def test_huge_synchronizing_literal_keeps_connection(client: Client) -> None:
    client.login()
    r = client.command("a", "APPEND INBOX {999999999}")
    assert r == [b"a NO [TOOBIG] Literal too large\r\n"]
    assert client.command("n", "NOOP")[-1].startswith(b"n OK")


def test_rename_of_selected_mailbox_keeps_it_selected(
    imap_server: ImapTestServer, client: Client
) -> None:
    client.login()
    client.command("c", "CREATE P/A")
    imap_server.deliver(ALICE, message("m"), mailbox="P/A")
    client.command("s", "SELECT P/A")
    r = client.command("r", "RENAME P Q")
    assert r == [b"r OK RENAME completed\r\n"]  # no EXPUNGE: nothing was removed
    r = client.command("f", "FETCH 1 (UID FLAGS)")
    assert r[0] == b"* 1 FETCH (UID 1 FLAGS (\\Recent))\r\n", r
    imap_server.deliver(ALICE, message("n"), mailbox="Q/A")
    r = client.command("n", "NOOP")
    assert b"* 2 EXISTS\r\n" in r, r


def test_selected_mailbox_deleted_elsewhere_ends_session(
    imap_server: ImapTestServer,
) -> None:
    a, b = Client(imap_server.port), Client(imap_server.port)
    try:
        a.login()
        b.login()
        a.command("c", "CREATE Gone")
        imap_server.deliver(ALICE, message("m"), mailbox="Gone")
        a.command("s", "SELECT Gone")
        assert b.command("d", "DELETE Gone")[-1].startswith(b"d OK")
        a.send(b"f FETCH 1 UID\r\n")
        assert a.readline() == b"* BYE Selected mailbox was deleted or renamed\r\n"
        with pytest.raises((EOFError, OSError)):
            a.readline()
    finally:
        a.close()
        b.close()


def test_selected_mailbox_renamed_elsewhere_ends_idle(
    imap_server: ImapTestServer,
) -> None:
    a, b = Client(imap_server.port), Client(imap_server.port)
    try:
        a.login()
        b.login()
        a.command("c", "CREATE Old")
        a.command("s", "SELECT Old")
        a.send(b"i IDLE\r\n")
        assert a.readline() == b"+ idling\r\n"
        assert b.command("r", "RENAME Old New")[-1].startswith(b"r OK")
        assert a.readline() == b"* BYE Selected mailbox was deleted or renamed\r\n"
    finally:
        a.close()
        b.close()


def test_autologout_sends_bye(imap_server: ImapTestServer) -> None:
    imap_server.set_imap(timeout=1)  # below the schema minimum: tests only
    c = Client(imap_server.port)
    try:
        c.login()
        c.send(b"i IDLE\r\n")
        assert c.readline() == b"+ idling\r\n"
        assert c.readline() == b"* BYE Autologout; idle for too long\r\n"
        with pytest.raises((EOFError, OSError)):
            c.readline()
    finally:
        c.close()


@pytest.mark.parametrize("start", ["a AUTHENTICATE PLAIN", "a IDLE"])
def test_long_line_inside_a_command_is_answered_like_any(
    client: Client, caplog: pytest.LogCaptureFixture, start: str
) -> None:
    """Reproduces a line above MAX_LINE sent as an AUTHENTICATE response or
    while idling: it escaped the read loop as an unexpected error ("* BYE
    Internal error" and a traceback in the log) instead of "* BAD Command
    line too long" and BYE, as for a command line."""
    if "IDLE" in start:
        client.login()
    client.send(start.encode() + b"\r\n")
    assert client.readline().startswith(b"+ ")
    client.send(b"x" * (connection_mod.MAX_LINE + 10) + b"\r\n")
    assert client.readline() == b"* BAD Command line too long\r\n"
    assert client.readline() == b"* BYE Closing connection\r\n"
    with pytest.raises((EOFError, OSError)):
        client.readline()
    assert "session failed" not in caplog.text


def _second_session(
    imap_server: ImapTestServer, client: Client, names: tuple[str, ...]
) -> Client:
    """Deliver one message per name; ``client`` and a second session (the
    one returned) both log in and select INBOX."""
    for name in names:
        imap_server.deliver(ALICE, message(name))
    client.login()
    client.command("s", "SELECT INBOX")
    other = Client(imap_server.port)
    other.login()
    other.command("s", "SELECT INBOX")
    return other


def test_keywords_other_sessions_store_are_announced(
    imap_server: ImapTestServer, client: Client
) -> None:
    """A keyword another session brings into use reaches this session's FLAGS
    once: through a plain update (NOOP), and when this session's own FETCH
    took in the message's new flags first (its implicit \\Seen returns them)."""
    other = _second_session(imap_server, client, ("k1", "k2"))
    try:
        r = other.command("a", "STORE 2 +FLAGS ($Viewed)")
        assert r[-1].startswith(b"a OK"), r
        r = client.command("n", "NOOP")
        flags = [x for x in r if x.startswith(b"* FLAGS")]
        assert flags == [
            b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Viewed)\r\n"
        ], r
        r = other.command("b", "STORE 1 +FLAGS ($Late)")
        assert r[-1].startswith(b"b OK"), r
        seen = client.command("f", "FETCH 1 BODY[TEXT]")
        seen += client.command("m", "NOOP")
        flags = [x for x in seen if x.startswith(b"* FLAGS")]
        assert flags == [
            b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Late $Viewed)\r\n"
        ], seen
        r = client.command("o", "NOOP")
        assert not any(x.startswith(b"* FLAGS") for x in r), r
    finally:
        other.close()


def test_search_all_follows_the_view_through_an_expunge_elsewhere(
    imap_server: ImapTestServer, client: Client
) -> None:
    """SEARCH ALL answers from the session's view: a message another session
    expunged stays in it until an EXPUNGE may be sent (not during SEARCH by
    sequence numbers, RFC 3501 7.4.1), then leaves the answer with the
    sequence numbers moved."""
    other = _second_session(imap_server, client, ("a1", "a2", "a3"))
    assert client.command("a", "UID SEARCH ALL")[0] == b"* SEARCH 1 2 3\r\n"
    try:
        r = other.command("d", "STORE 2 +FLAGS.SILENT (\\Deleted)")
        assert r[-1].startswith(b"d OK"), r
        assert other.command("e", "EXPUNGE")[-1].startswith(b"e OK")
    finally:
        other.close()
    r = client.command("b", "SEARCH ALL")  # UID SEARCH may announce it
    assert r[0] == b"* SEARCH 1 2 3\r\n" and not any(b"EXPUNGE" in x for x in r), r
    r = client.command("n", "NOOP")
    assert b"* 2 EXPUNGE\r\n" in r, r
    assert client.command("c", "SEARCH ALL")[0] == b"* SEARCH 1 2\r\n"
    assert client.command("u", "UID SEARCH ALL")[0] == b"* SEARCH 1 3\r\n"
    assert client.command("v", "UID SEARCH 2:3 ALL")[0] == b"* SEARCH 3\r\n"


def test_literal_ending_in_cr_before_a_bare_lf_line_end(client: Client) -> None:
    """A bare LF may end a line (tolerated, as Dovecot does); when the line
    before it ended in a literal whose last octet is CR, that CR is the
    literal's (the count says so), not half of a CRLF."""
    client.login()
    client.command("s", "SELECT INBOX")
    client.send(b"a SEARCH SUBJECT {4+}\r\nabc\r\n")
    assert client.until("a")[-1].startswith(b"a OK")
    client.send(b"b SEARCH SUBJECT {3+}\r\nabc\n")
    assert client.until("b")[-1].startswith(b"b OK")
    # a literal announced on a line that a bare LF ends
    client.send(b"c SEARCH SUBJECT {3}\n")
    assert client.readline().startswith(b"+ ")
    client.send(b"abc\n")
    assert client.until("c")[-1].startswith(b"c OK")
