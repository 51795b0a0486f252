"""UTF8=ACCEPT (RFC 6855): after ENABLE UTF8=ACCEPT mailbox names travel as
UTF-8 both ways (modified UTF-7 before, and in other sessions), APPEND takes
UTF8 (literal8), and quoted strings may carry UTF-8."""

from __future__ import annotations

from tests.integration.imap.harness import Client, ImapTestServer

CAFE = "Café".encode()


def test_utf8_names_after_enable(imap_server: ImapTestServer, client: Client) -> None:
    client.login()
    assert b"UTF8=ACCEPT" in client.command("c", "CAPABILITY")[0].split()
    # before: modified UTF-7, 8-bit names refused
    assert client.command("a", 'CREATE "Caf&AOk-"')[-1].startswith(b"a OK")
    r = client.command("b", b'CREATE "' + CAFE + b'2"')
    assert r[-1].startswith(b"b NO [CANNOT]")
    r = client.command("d", 'LIST "" "Caf*"')
    assert r[0] == b'* LIST (\\HasNoChildren) "/" Caf&AOk-\r\n'
    # ENABLE names it once
    assert client.command("e", "ENABLE UTF8=ACCEPT")[0] == b"* ENABLED UTF8=ACCEPT\r\n"
    assert client.command("f", "ENABLE UTF8=ACCEPT")[0] == b"* ENABLED\r\n"
    r = client.command("g", 'LIST "" "Caf*"')
    assert r[0] == b'* LIST (\\HasNoChildren) "/" "' + CAFE + b'"\r\n'
    r = client.command("h", b'LIST "" "' + CAFE + b'*"')  # a UTF-8 pattern
    assert CAFE in r[0]
    r = client.command("i", b'STATUS "' + CAFE + b'" (MESSAGES)')
    assert r[0] == b'* STATUS "' + CAFE + b'" (MESSAGES 0)\r\n'
    # "&" is an ampersand now, not modified UTF-7
    assert client.command("j", 'CREATE "R&D"')[-1].startswith(b"j OK")
    r = client.command("k", 'LIST "" "R*"')
    assert r[0] == b'* LIST (\\HasNoChildren) "/" R&D\r\n'
    # APPEND with UTF8 (literal8), and a UTF-8 search string
    msg = "Subject: Grüße\r\n\r\nhé\r\n".encode()
    r = client.command(
        "l", b'APPEND "' + CAFE + b'" UTF8 (~{%d+}\r\n%s)' % (len(msg), msg)
    )
    assert r[-1].startswith(b"l OK [APPENDUID"), r
    client.command("m", b'SELECT "' + CAFE + b'"')
    r = client.command("n", 'SEARCH SUBJECT "Grüße"'.encode())
    assert r[0] == b"* SEARCH 1\r\n", r
    # another session still sees modified UTF-7
    other = Client(imap_server.port)
    other.login()
    r = other.command("o", 'LIST "" "Caf*"')
    assert r[0] == b'* LIST (\\HasNoChildren) "/" Caf&AOk-\r\n'
    other.close()


def test_utf8_append_needs_enable(imap_server: ImapTestServer, client: Client) -> None:
    client.login()
    r = client.command("a", b"APPEND INBOX UTF8 (~{3+}\r\nx\r\n)")
    assert r[-1].startswith(b"a BAD")
    client.command("b", "ENABLE UTF8=ACCEPT")
    r = client.command("c", b'CREATE "bad\xff"')
    assert r[-1].startswith(b"c NO [CANNOT]")
