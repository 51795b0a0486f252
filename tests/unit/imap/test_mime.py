from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.protocols.imap import mime

SIMPLE = (
    b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
    b"From: Terry Gray <gray@cac.washington.edu>\r\n"
    b"Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
    b"To: imap@cac.washington.edu\r\n"
    b'cc: minutes@CNRI.Reston.VA.US, "John Klensin" <KLENSIN@MIT.EDU>\r\n'
    b"Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n"
    b"Line one\r\nLine two\r\n"
)

NESTED = (
    b"Subject: nested\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
    b"preamble\r\n"
    b"--outer\r\n"
    b'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
    b"--inner\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
    b"--inner\r\nContent-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+\r\n"
    b"--inner--\r\n"
    b"--outer\r\n"
    b"Content-Type: application/pdf; name=x.pdf\r\n"
    b'Content-Disposition: attachment; filename="x.pdf"\r\n'
    b"Content-Language: en, de\r\n\r\nPDFDATA\r\n"
    b"--outer--\r\nepilogue\r\n"
)


def test_envelope_rfc3501_example() -> None:
    top = mime.parse(SIMPLE)
    assert mime.envelope(top) == (
        b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" '
        b'"IMAP4rev1 WG mtg summary and minutes" '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'((NIL NIL "imap" "cac.washington.edu")) '
        b'((NIL NIL "minutes" "CNRI.Reston.VA.US")'
        b'("John Klensin" NIL "KLENSIN" "MIT.EDU")) '
        b'NIL NIL "<B27397-0100000@cac.washington.edu>")'
    )
    assert mime.bodystructure(top, extended=False) == (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7bit" 20 2)'
    )


def test_nested_bodystructure_and_sections() -> None:
    top = mime.parse(NESTED)
    bs = mime.bodystructure(top)
    assert bs.startswith(
        b'((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0 NIL'
    )
    assert b'"alternative" ("boundary" "inner") NIL NIL NIL)' in bs
    assert b'("attachment" ("filename" "x.pdf")) ("en" "de") NIL)' in bs
    assert bs.endswith(b' "mixed" ("boundary" "outer") NIL NIL NIL)')
    assert mime.section(NESTED, top, (1, 1), "", ()) == b"plain"
    assert mime.section(NESTED, top, (1, 2), "", ()) == b"PGI+aGk8L2I+"
    assert mime.section(NESTED, top, (2,), "", ()) == b"PDFDATA"
    assert mime.section(NESTED, top, (2,), "MIME", ()).startswith(b"Content-Type: app")
    assert mime.section(NESTED, top, (3,), "", ()) == b""
    assert mime.section(NESTED, top, (), "HEADER.FIELDS", ("SUBJECT",)) == (
        b"Subject: nested\r\n\r\n"
    )
    assert mime.decode_transfer(mime.find_part(top, (1, 2))) == b"<b>hi</b>"
    assert "plain" in mime.body_text(top) and "<b>hi</b>" in mime.body_text(top)


def test_single_part_section_one_is_body() -> None:
    top = mime.parse(SIMPLE)
    assert mime.section(SIMPLE, top, (1,), "", ()) == b"Line one\r\nLine two\r\n"
    assert mime.section(SIMPLE, top, (), "TEXT", ()) == b"Line one\r\nLine two\r\n"
    assert mime.section(SIMPLE, top, (2,), "", ()) == b""
    assert mime.partial(b"0123456789", (8, 5)) == b"89"
    assert mime.partial(b"0123", (10, 5)) == b""


def test_groups_and_odd_addresses() -> None:
    assert mime.parse_addresses("undisclosed-recipients:;") == [
        (None, None, "undisclosed-recipients", None),
        (None, None, None, None),
    ]
    assert mime.parse_addresses("<@a,@b:joe@c>") == [(None, "@a,@b", "joe", "c")]
    assert mime.parse_addresses("joe@x (Joe Comment)") == [
        ("Joe Comment", None, "joe", "x")
    ]
    assert mime.parse_addresses("user") == [(None, None, "user", "MISSING_DOMAIN")]
    assert mime.parse_addresses('"a, b" <ab@x>') == [("a, b", None, "ab", "x")]


def test_header_only_and_empty() -> None:
    top = mime.parse(b"Subject: x\r\n")
    assert top.body == b"" and top.get("subject") == "x"
    top = mime.parse(b"")
    assert mime.bodystructure(top).startswith(b'("text" "plain"')
    assert mime.envelope(top).startswith(b"(NIL NIL NIL")


def test_eight_bit_header_is_literal() -> None:
    top = mime.parse("Subject: Grüße\r\n\r\nx".encode())
    assert b"{7}\r\nGr\xc3\xbc\xc3\x9fe" in mime.envelope(top)


def test_deep_nesting_is_bounded() -> None:
    raw = b""
    for i in range(200):
        raw = (
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        ) + raw
    top = mime.parse(raw + b"x")
    mime.bodystructure(top)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_messages_never_crash(raw: bytes) -> None:
    top = mime.parse(raw)
    mime.envelope(top)
    mime.bodystructure(top)
    mime.body_text(top)
    mime.sent_date(top)
    for path in [(), (1,), (1, 1), (2, 3)]:
        for text in ("", "HEADER", "TEXT", "MIME", "HEADER.FIELDS"):
            if text == "MIME" and not path:
                continue
            mime.section(raw, top, path, text, ("From",))


_PIECES = [
    b"Content-Type: multipart/mixed; boundary=x\r\n",
    b"\r\n",
    b"--x\r\n",
    b"--x--\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"From: a@b\r\n",
    b"text\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"=?utf-8?q?x?=",
    b"To: g: a@b, <c@d>;\r\n",
    b"\xff\xfe",
    b" folded\r\n",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=30))
def test_structured_fuzz(pieces: list[bytes]) -> None:
    raw = b"".join(pieces)
    top = mime.parse(raw)
    mime.bodystructure(top)
    mime.envelope(top)
    mime.body_text(top)
    mime.section(raw, top, (1, 1), "HEADER", ())
