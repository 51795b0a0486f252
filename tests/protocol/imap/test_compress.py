"""COMPRESS=DEFLATE (RFC 4978): after the plain OK everything is raw
DEFLATE both ways; a second COMPRESS is NO [COMPRESSIONACTIVE]; a large
literal and a "zip bomb" line go through the bounded inflater."""

from __future__ import annotations

import socket
import zlib

from tests.integration.imap.harness import ImapTestServer

ALICE = "alice@example.test"


class Deflated:
    """A raw IMAP client that speaks DEFLATE after COMPRESS."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), 10)
        self.plain = b""
        self.z_out: zlib._Compress | None = None
        self.z_in: zlib._Decompress | None = None

    def send(self, data: bytes) -> None:
        if self.z_out is not None:
            data = self.z_out.compress(data) + self.z_out.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def until(self, tag: bytes) -> list[bytes]:
        lines: list[bytes] = []
        while True:
            while b"\r\n" not in self.plain:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return lines
                self.plain += self.z_in.decompress(chunk) if self.z_in else chunk
            line, self.plain = self.plain.split(b"\r\n", 1)
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def command(self, tag: str, text: bytes) -> list[bytes]:
        self.send(tag.encode() + b" " + text + b"\r\n")
        return self.until(tag.encode())


def test_compress_deflate_both_ways(imap_server: ImapTestServer) -> None:
    imap_server.deliver(ALICE, b"Subject: zipped\r\n\r\n" + b"hello " * 2000 + b"\r\n")
    c = Deflated(imap_server.port)
    assert b"COMPRESS=DEFLATE" in c.until(b"*")[0]
    assert c.command("a", b'LOGIN alice@example.test "alice-pw"')[-1].startswith(
        b"a OK"
    )
    r = c.command("b", b"COMPRESS DEFLATE")
    assert r[-1] == b"b OK DEFLATE active"
    c.z_out = zlib.compressobj(6, zlib.DEFLATED, -15)
    c.z_in = zlib.decompressobj(-15)
    assert c.command("c", b"SELECT INBOX")[-1].startswith(b"c OK")
    r = c.command("d", b"FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    assert b"Subject: zipped" in b"\r\n".join(r)
    r = c.command("e", b"COMPRESS DEFLATE")
    assert r[-1].startswith(b"e NO [COMPRESSIONACTIVE]")
    # a 900 KB literal that compresses to a few KB: read through in steps
    big = b"Subject: big\r\n\r\n" + (b"a" * 998 + b"\r\n") * 900
    r = c.command("f", b"APPEND INBOX {%d+}\r\n%s" % (len(big), big))
    assert r[-1].startswith(b"f OK [APPENDUID"), r[-1]
    r = c.command("g", b"FETCH 2 RFC822.SIZE")
    assert r[0] == b"* 2 FETCH (RFC822.SIZE %d)" % len(big)
    # a line that inflates to 200 MB: refused at the line limit, not held
    bomb = b"h NOOP " + b"x" * (200 * 1024 * 1024)
    try:
        c.send(bomb)
        r = c.until(b"h")  # up to the end of the connection
    except (ConnectionResetError, BrokenPipeError):
        r = []  # closed while the rest was still coming
    # the command never ran: the line is refused (a BAD, depending on how
    # much arrived before the limit, then BYE) and the link closed
    assert not any(line.startswith(b"h ") for line in r), r[-3:]
    assert all(
        line.startswith((b"* BYE", b"* BAD Command line too long")) for line in r
    )
    assert not r or r[-1].startswith(b"* BYE"), r[-3:]
    c.sock.close()
    # the server is fine: a new session works
    again = Deflated(imap_server.port)
    assert again.until(b"*")[0].startswith(b"* OK")
    again.sock.close()


def test_unknown_mechanism_and_before_login(imap_server: ImapTestServer) -> None:
    c = Deflated(imap_server.port)
    c.until(b"*")
    assert c.command("a", b"COMPRESS DEFLATE")[-1].startswith(b"a BAD")  # not yet
    c.command("b", b'LOGIN alice@example.test "alice-pw"')
    assert c.command("c", b"COMPRESS LZMA")[-1].startswith(b"c BAD")
    assert c.command("d", b"NOOP")[-1].startswith(b"d OK")  # still plain
    c.sock.close()
