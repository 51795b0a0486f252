"""CATENATE (RFC 4469): APPEND puts a message together from text and parts of
messages the user has, named by IMAP URLs (RFC 5092); what cannot be used is
NO [BADURL url] and nothing is stored."""

from __future__ import annotations

import re

from tests.conftest import ALICE
from tests.integration.imap.harness import Client, ImapTestServer

ORIGINAL = (
    b"From: Bob <bob@example.test>\r\nSubject: report\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
    b"--BB\r\nContent-Type: text/plain\r\n\r\nthe text part\r\n"
    b"--BB\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
    b"\r\nUERGIQ==\r\n--BB--\r\n"
)


def lit(data: bytes) -> bytes:
    return b"{%d+}\r\n" % len(data) + data


def stored(server: ImapTestServer, mailbox: str) -> list[bytes]:
    async def read() -> list[bytes]:
        infos = await server.store.list_messages(ALICE, mailbox)
        return [await server.store.read_message(ALICE, mailbox, i.uid) for i in infos]

    return server.run(read())


def setup(server: ImapTestServer, client: Client) -> int:
    server.deliver(ALICE, ORIGINAL)
    client.login()
    r = client.command("s", "SELECT INBOX")
    return int(re.findall(rb"UIDVALIDITY (\d+)", b"".join(r))[0])


def test_rfc4469_forward_with_parts(
    imap_server: ImapTestServer, client: Client
) -> None:
    """RFC 4469 section 5's example: the header of one message, new text,
    a part's MIME header and the part itself, by URL."""
    uv = setup(imap_server, client)
    assert b"CATENATE" in client.command("c", "CAPABILITY")[0].split()
    base = f"/INBOX;UIDVALIDITY={uv}/;UID=1"
    command = (
        b'APPEND Drafts (\\Seen \\Draft) CATENATE (URL "'
        + base.encode()
        + b'/;SECTION=HEADER" TEXT '
        + lit(b"--XX\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n--XX\r\n")
        + b' URL "'
        + base.encode()
        + b'/;section=2.MIME" URL ";UID=1/;SECTION=2" TEXT '
        + lit(b"\r\n--XX--\r\n")
        + b")"
    )
    r = client.command("a", command)
    assert re.match(rb"a OK \[APPENDUID \d+ 1\] APPEND completed", r[-1]), r
    [made] = stored(imap_server, "Drafts")
    header = ORIGINAL.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert made == (
        header
        + b"--XX\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n--XX\r\n"
        + b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b"UERGIQ=="
        + b"\r\n--XX--\r\n"
    )
    r = client.command("f", "UID FETCH 1 (FLAGS)")  # still INBOX's message 1
    assert r[-1].startswith(b"f OK")


def test_whole_message_partial_and_imap_scheme(
    imap_server: ImapTestServer, client: Client
) -> None:
    setup(imap_server, client)
    url = f"imap://{ALICE.replace('@', '%40')}@mail.example.test/INBOX/;UID=1"
    r = client.command("a", f'APPEND Trash CATENATE (URL "{url}")')
    assert r[-1].startswith(b"a OK"), r
    r = client.command("b", 'APPEND Trash CATENATE (URL "/INBOX/;UID=1/;PARTIAL=0.4")')
    assert r[-1].startswith(b"b OK"), r
    assert stored(imap_server, "Trash") == [ORIGINAL, ORIGINAL[:4]]


def test_bad_urls_store_nothing(imap_server: ImapTestServer, client: Client) -> None:
    uv = setup(imap_server, client)
    bad = [
        f"/INBOX;UIDVALIDITY={uv + 1}/;UID=1",  # another UIDVALIDITY
        "/INBOX/;UID=9",  # no such message
        "/Nope/;UID=1",  # no such mailbox
        "imap://bob%40example.test@host/INBOX/;UID=1",  # another user's
        "http://example.test/x",  # not IMAP
        "/INBOX/;UID=1;URLAUTH=anonymous:internal:0123",  # URLAUTH: not offered
    ]
    for i, url in enumerate(bad):
        r = client.command(
            f"x{i}", f'APPEND Trash CATENATE (TEXT {{2+}}\r\nhi URL "{url}")'
        )
        assert (
            r[-1]
            == f"x{i} NO [BADURL {url}] That URL names no message of yours\r\n".encode()
        ), r
    r = client.command(
        "m", b'APPEND Trash (\\Seen) {2+}\r\nok CATENATE (URL "/INBOX/;UID=7")'
    )
    assert r[-1].startswith(b"m NO [BADURL"), r  # MULTIAPPEND: none of them
    assert stored(imap_server, "Trash") == []
    for bad_syntax in (
        "APPEND Trash CATENATE ()",
        "APPEND Trash CATENATE (TEXT hi)",
        "APPEND Trash CATENATE (FILE x)",
    ):
        assert client.command("y", bad_syntax)[-1].startswith(b"y BAD"), bad_syntax


def test_too_big(imap_server: ImapTestServer, client: Client) -> None:
    setup(imap_server, client)
    limit = int(imap_server.settings.general.max_message_size)
    text = b"x" * (limit - 10)  # fits; with the URL's message it does not
    r = client.command(
        "t", b"APPEND Trash CATENATE (TEXT " + lit(text) + b' URL "/INBOX/;UID=1")'
    )
    assert r[-1] == b"t NO [TOOBIG] Message too large\r\n", r
    assert stored(imap_server, "Trash") == []
