"""What tests see of a message: header fields, addresses (Dovecot's lenient
reading), RFC 2047 decoding, and RFC 5293 edits applied to the bytes."""

from __future__ import annotations

import pytest

from server.sieve import AddHeader, DeleteHeader, MessageView, apply_header_edits
from server.sieve.addresses import (
    encode_local_part,
    format_address,
    parse_header_addresses,
    parse_mailbox,
)
from server.sieve.message import decode_rfc2047, encode_header_value, unfold


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Foo Bar <a@b.c>, x@y.z", [("a", "b.c"), ("x", "y.z")]),
        ("grp: a@b.c, d@e.f;", [("a", "b.c"), ("d", "e.f")]),
        ('"q@x" <Q@EX.COM>', [("Q", "EX.COM")]),
        ("a@b.c (comment)", [("a", "b.c")]),
        ("a (x) @ b . c", [("a", "b.c")]),
        ("Mixed <@route:a@b.c>", [("a", "b.c")]),
        ('"a b"@x.y', [("a b", "x.y")]),
        ("a.@b.c", [("a.", "b.c")]),
        ("a@b@c", [("a", "b")]),
        ("a@b.c, junk", [("a", "b.c")]),
        ("@example.com, bad@, ok@example.com", [("ok", "example.com")]),
        ("a b c, ok@example.com", [("ok", "example.com")]),
        # Nothing valid: the field stands for one unparsed address.
        ("foo", [None]),
        ("undisclosed-recipients:;", [None]),
        ("<>", [None]),
        ("", [None]),
        ('"q" x@y.z, ok@example.com', [None]),
    ],
)
def test_header_addresses(value: str, expected: list[tuple[str, str] | None]) -> None:
    got = [
        (a.local_part, a.domain) if a.parsed else None
        for a in parse_header_addresses(value)
    ]
    assert got == expected


def test_address_list_is_bounded() -> None:
    value = ", ".join(f"u{i}@example.com" for i in range(1000))
    assert len(parse_header_addresses(value)) == 256


def test_script_addresses() -> None:
    assert parse_mailbox("Bob <bob@Example.COM>") == parse_mailbox("bob@example.com")
    assert parse_mailbox('"a b"@x.y') is not None
    for bad in ("bob", "bob@", "@x.y", "a@b.c, d@e.f", "a@b.c junk", "", "<>", "é@x.y"):
        assert parse_mailbox(bad) is None, bad


def test_all_part_quotes_local_parts_that_need_it() -> None:
    assert encode_local_part("a.b") == "a.b"
    assert encode_local_part("a.") == '"a."'
    assert encode_local_part('a "b"') == '"a \\"b\\""'
    addr = parse_header_addresses('"a b"@x.y')[0]
    assert format_address(addr) == '"a b"@x.y'


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b"),
        ("=?iso-8859-1?q?caf=E9?=", "café"),
        ("=?utf-8?b?w6k=?=", "é"),
        ("=?utf-8?q?a_b?=", "a b"),
        ("x=?utf-8?q?a?=", "xa"),
        ("=?bogus?q?x?=", "x"),
        ("=?utf-8*en?q?hi?=", "hi"),
        ("=?utf-8?b?!!!?=", "=?utf-8?b?!!!?="),
        ("plain", "plain"),
    ],
)
def test_rfc2047(raw: str, expected: str) -> None:
    assert decode_rfc2047(raw) == expected


def test_unfolding_as_dovecot() -> None:
    assert unfold("   hi  ") == "hi"
    assert unfold(" a\r\n  b\r\n\tc") == "a  b c"
    assert unfold("\r\n x") == " x"


def test_header_block_parsing() -> None:
    raw = (
        b"From nobody Mon Jan 1 00:00:00 2024\r\n"  # an mbox line: skipped
        b"Subject: a\r\n b\r\n"
        b"X-Bin: caf\xe9\r\n"
        b"Bad Name: x\r\n"
        b"\r\nbody: not a header\r\n"
    )
    view = MessageView(raw)
    assert [(f.name, f.decoded) for f in view.headers] == [
        ("Subject", "a b"),
        ("X-Bin", "caf\ufffd"),
    ]
    assert view.raw_body() == "body: not a header\r\n"
    assert view.size == len(raw)


def test_header_only_message() -> None:
    view = MessageView(b"Subject: x\r\n")
    assert view.headers[0].decoded == "x" and view.raw_body() == ""


def test_encode_header_value_round_trips() -> None:
    long = "Grüße " * 30
    encoded = encode_header_value(long)
    assert encoded.isascii()
    assert all(len(line) < 78 for line in encoded.split("\r\n"))
    assert decode_rfc2047(unfold(" " + encoded)) == long
    assert encode_header_value("a\r\nb") == "a b"


def test_apply_header_edits() -> None:
    raw = b"Received: x\r\nX-A: 1\r\nX-A: 2\r\nSubject: s\r\n  folded\r\n\r\nbody\r\n"
    out = apply_header_edits(
        raw,
        (
            AddHeader("X-New", "top"),
            AddHeader("X-End", "Grüße", last=True),
            DeleteHeader("x-a", 2),
            DeleteHeader("subject", 1),
        ),
    )
    assert out == (
        b"X-New: top\r\nReceived: x\r\nX-A: 1\r\n"
        b"X-End: =?utf-8?b?R3LDvMOfZQ==?=\r\n\r\nbody\r\n"
    )
    assert apply_header_edits(raw, ()) is raw
    assert apply_header_edits(b"A: 1\n\nbody\n", (DeleteHeader("a", 1),)) == b"\nbody\n"


def test_header_edits_never_touch_the_body() -> None:
    """RFC 5293 edits apply to the header section, which ends at the first
    empty line (RFC 5322 2.1): an empty first line, or an empty CRLF line after
    LF lines, ends it too. The old code treated such messages as all header
    and deleted a body line that looked like a field. Failed on the old code."""
    delete = (DeleteHeader("a", 1),)
    assert apply_header_edits(b"\nA: body\n", delete) == b"\nA: body\n"
    raw = b"B: 1\n\r\nA: body\r\n"
    assert apply_header_edits(raw, delete) == raw
    added = apply_header_edits(b"\r\nbody", (AddHeader("X", "1"),))
    assert added == b"X: 1\r\n\r\nbody"
    assert apply_header_edits(b"A: 1\r\n", delete) == b""  # no body at all
