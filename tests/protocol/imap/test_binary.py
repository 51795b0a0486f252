"""BINARY (RFC 3516): parts with their transfer encoding undone, their
decoded size, APPEND of binary data (literal8), and NO [UNKNOWN-CTE]."""

from __future__ import annotations

import base64

from tests.integration.imap.harness import Client, ImapTestServer

ALICE = "alice@example.test"
BLOB = bytes(range(256))
MIXED = (
    b'Content-Type: multipart/mixed; boundary="b"\r\nSubject: bin\r\n\r\n'
    b"--b\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(BLOB).replace(b"\n", b"\r\n")
    + b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n"
    b"\r\nbegin 644 x\r\n--b\r\nContent-Type: text/plain\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n--b--\r\n"
)


def test_binary_fetch_size_and_unknown_cte(
    imap_server: ImapTestServer, client: Client
) -> None:
    imap_server.deliver(ALICE, MIXED)
    client.login()
    assert b"BINARY" in client.command("c", "CAPABILITY")[0].split()
    client.command("s", "SELECT INBOX")
    r = client.command("a", "FETCH 1 (BINARY.SIZE[1] BINARY.SIZE[3])")
    assert r[0] == b"* 1 FETCH (BINARY.SIZE[1] 256 BINARY.SIZE[3] 5)\r\n"
    r = client.command("b", "FETCH 1 BINARY.PEEK[1]")
    assert r[0].startswith(b"* 1 FETCH (BINARY[1] ~{256}\r\n"), r[0][:60]
    assert BLOB in b"".join(r)
    r = client.command("d", "FETCH 1 BINARY.PEEK[3]<1.3>")
    assert b"BINARY[3]<1> {3}\r\naf\xc3" in b"".join(r)
    r = client.command("e", "FETCH 1 BINARY.PEEK[2]")
    assert r[-1].startswith(b"e NO [UNKNOWN-CTE]"), r


def test_append_literal8_keeps_the_bytes(
    imap_server: ImapTestServer, client: Client
) -> None:
    client.login()
    raw = b"Subject: nul\r\n\r\nx\x00y\r\n"
    r = client.command("a", b"APPEND INBOX ~{%d+}\r\n%s" % (len(raw), raw))
    assert r[-1].startswith(b"a OK [APPENDUID"), r
    client.command("s", "SELECT INBOX")
    r = client.command("b", "FETCH 1 BINARY.PEEK[]")
    assert raw in b"".join(r)
