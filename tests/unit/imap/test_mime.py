from __future__ import annotations

import pytest
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
    text = "".join(mime.body_text(top))
    assert "plain" in text and "<b>hi</b>" in text


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


def _multipart(children: list[bytes], boundary: bytes = b"b") -> bytes:
    out = b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n"
    for child in children:
        out += b"--" + boundary + b"\r\n" + child + b"\r\n"
    return out + b"--" + boundary + b"--\r\nepilogue\r\n"


def test_part_cap_makes_the_rest_one_opaque_part(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beyond MAX_PARTS the rest of the multipart is its last child (up to
    the close delimiter), served as a leaf; no byte is lost or shown twice."""
    monkeypatch.setattr(mime, "MAX_PARTS", 4)
    kids = [b"Content-Type: text/plain\r\n\r\npart %d" % i for i in range(1, 8)]
    raw = _multipart(kids)
    top = mime.parse(raw)
    assert len(top.children) == 4  # the top, two parts, then the rest
    assert [c.body for c in top.children[:3]] == [b"part 1", b"part 2", b"part 3"]
    rest = top.children[3]
    assert rest.maintype == "text" and rest.body.startswith(b"part 4\r\n--b\r\n")
    assert rest.body.endswith(b"part 7")  # the close delimiter is not in it
    assert mime.section(raw, top, (4,), "", ()) == rest.body
    assert (
        mime.section(raw, top, (4,), "MIME", ()) == b"Content-Type: text/plain\r\n\r\n"
    )
    assert mime.bodystructure(top).count(b'("text" "plain"') == 4


def test_part_cap_inside_a_nested_multipart(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the budget runs out deep down, every open multipart ends with
    one opaque part holding its rest, and a message/rfc822 becomes a leaf."""
    monkeypatch.setattr(mime, "MAX_PARTS", 3)
    inner = _multipart([b"\r\ni1", b"\r\ni2", b"\r\ni3"], b"in")
    msg = b"Content-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\nhi"
    raw = _multipart([inner, msg, b"\r\nlast"], b"out")
    top = mime.parse(raw)
    nested = top.children[0]
    assert nested.is_multipart and len(nested.children) == 2
    assert nested.children[1].body == b"i2\r\n--in\r\n\r\ni3"
    rest = top.children[1]  # the message/rfc822 and "last", opaque
    assert (rest.maintype, rest.subtype, rest.message) == ("text", "plain", None)
    assert rest.body.endswith(b"last") and b"Subject: x" in rest.body
    assert len(top.children) == 2
    bs = mime.bodystructure(top)
    assert bs.startswith(b"(((") and bs.count(b'("text" "plain"') == 3


def test_the_issue_part_bomb_is_bounded() -> None:
    """Issue 10: 24 MB with 2.4 million empty parts gave a 178 MB
    BODYSTRUCTURE. Now MAX_PARTS (10,000, Dovecot's limit) bound the tree and
    the answer; the 10,000th part holds the rest of the message."""
    raw = (
        b"Content-Type: multipart/mixed; boundary=abcd\r\n\r\n"
        + b"--abcd\r\n\r\n" * 2_400_000
        + b"--abcd--\r\n"
    )
    top = mime.parse(raw)
    assert len(top.children) == mime.MAX_PARTS - 1 + 1
    bs = mime.bodystructure(top)
    assert len(bs) < 1_000_000 and bs.count(b'("text" "plain"') == mime.MAX_PARTS
    assert top.children[-1].body_size > 23_000_000


def test_parts_are_offsets_not_copies() -> None:
    """A part is a view of the one message buffer: 40 nested levels of a
    4 MB message used to copy the body at every level (160 MB)."""
    import tracemalloc

    raw = b""
    for i in range(mime.MAX_DEPTH):
        raw += b"Content-Type: multipart/mixed; boundary=n%d\r\n\r\n--n%d\r\n" % (i, i)
    raw += b"\r\n" + b"x" * 4_000_000
    tracemalloc.start()
    try:
        top = mime.parse(raw)
        mime.bodystructure(top)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000
    leaf = top
    while leaf.children:
        leaf = leaf.children[0]
    assert leaf.raw is raw and leaf.body_size == 4_000_000


def test_deep_nesting_stops_at_max_depth() -> None:
    raw = b""
    for i in range(200):
        raw = (
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        ) + raw
    top = mime.parse(raw + b"x")
    depth, p = 0, top
    while p.children:
        p, depth = p.children[0], depth + 1
    assert depth == mime.MAX_DEPTH
    assert (p.maintype, p.subtype) == ("text", "plain")  # a multipart, opaque
    assert mime.bodystructure(top).count(b'"mixed"') == mime.MAX_DEPTH


def test_large_bodies_decode_like_small_ones() -> None:
    """base64, quoted-printable and charsets are decoded a slice at a time
    (no one long C call): the result is the same as in one go."""
    import base64
    import quopri

    payload = bytes(range(256)) * 20_000
    b64 = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    top = mime.parse(b"Content-Transfer-Encoding: base64\r\n\r\n" + b64)
    assert mime.decode_transfer(top) == payload
    text = "Grüße ✓ " * 300_000
    qp = quopri.encodestring(text.encode()).replace(b"\n", b"\r\n")
    raw = (
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp
    )
    assert "".join(mime.body_text(mime.parse(raw))) == text


def test_a_comment_inside_angle_brackets_is_not_a_display_name() -> None:
    """A reviewer's find (issue 10): ``<user-from (comment)@ (comment)
    domain.org>`` gave the ENVELOPE name "comment" and so SEARCH FROM comment
    matched; comments in the address are not a name (Dovecot answers NIL)."""
    got = mime.parse_addresses("<user-from (comment)@ (comment) domain.org>")
    assert got == [(None, None, "user-from", "domain.org")]
    assert mime.parse_addresses("Joe <joe (x)@example.org>") == [
        ("Joe", None, "joe", "example.org")
    ]
