"""Fuzzing the IMAP parser and the MIME/BODYSTRUCTURE code with hypothesis:
random bytes and mutated real input never raise anything but the declared
``ParseError``, finish within a deadline and stay within a memory bound.

(The POP3 parser and session are fuzzed in tests/unit/pop3/test_pop3_parser.py
and tests/unit/pop3/test_pop3_session_fuzz.py.)
"""

from __future__ import annotations

import tracemalloc
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

parser = pytest.importorskip("server.protocols.imap.parser")
grammar = pytest.importorskip("server.protocols.imap.grammar")
mime = pytest.importorskip("server.protocols.imap.mime")

FUZZ = settings(
    max_examples=150,
    deadline=timedelta(milliseconds=500),
    suppress_health_check=[HealthCheck.too_slow],
)
MEMORY_LIMIT = 8 * 1024 * 1024  # bytes of peak allocation per example

COMMANDS = [
    b'a1 LOGIN alice "pw"\r\n',
    b"a2 SELECT INBOX\r\n",
    b"a3 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] BODYSTRUCTURE)\r\n",
    b'a4 UID SEARCH CHARSET UTF-8 OR (FROM "x" SINCE 1-Jan-2020) NOT DELETED\r\n',
    b"a5 STORE 1,3:5 +FLAGS.SILENT (\\Seen $Junk)\r\n",
    b'a6 APPEND Drafts (\\Draft) "01-Jan-2024 10:00:00 +0000" {5}\r\nhello\r\n',
    b'a7 LIST "" "*"\r\n',
    b"a8 UID FETCH 1:4 BODY[1.2.MIME]<0.100>\r\n",
    b'a9 RENAME "a&AOQ-b" c\r\n',
    b'b1 ID ("name" "x" "version" NIL)\r\n',
    b"b2 SEARCH ((((((((((((ALL))))))))))))\r\n",
    b"b3 AUTHENTICATE PLAIN AGFsaWNlAHB3\r\n",
]

MESSAGES = [
    b'From: a@b.test\r\nTo: c@d.test, "X, Y" <e@f.test>\r\nSubject: =?utf-8?q?hi?=\r\n'
    b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody\r\n",
    b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\npre\r\n--zz\r\n'
    b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: "
    b"quoted-printable\r\n\r\nh=E9\r\n--zz\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: inner\r\nContent-Type: multipart/alternative; boundary=y\r\n\r\n--y\r\n"
    b"Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPGI+\r\n"
    b"--y--\r\n--zz--\r\n",
]


def _mutate(base: bytes, data: st.DataObject) -> bytes:
    out = bytearray(base)
    for _ in range(data.draw(st.integers(0, 6))):
        op = data.draw(st.sampled_from(["insert", "delete", "flip", "dup"]))
        pos = data.draw(st.integers(0, len(out)))
        if op == "insert":
            out[pos:pos] = data.draw(st.binary(max_size=12))
        elif op == "delete":
            del out[pos : pos + data.draw(st.integers(1, 20))]
        elif op == "flip" and pos < len(out):
            out[pos] = data.draw(st.integers(0, 255))
        elif op == "dup":
            out[pos:pos] = out[max(0, pos - 30) : pos] * data.draw(st.integers(1, 5))
    return bytes(out)


def _bounded(fn, *args):  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        return fn(*args)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < MEMORY_LIMIT, f"{fn.__name__} peaked at {peak} bytes"


def _parse(data: bytes) -> None:
    grammar.literal_request(data)
    grammar.split_tag(data)
    try:
        parser.parse_command(data)
    except parser.ParseError as exc:
        assert isinstance(exc.message, str)


@FUZZ
@given(st.binary(max_size=400))
def test_imap_parser_random_bytes_raise_only_parse_error(data: bytes) -> None:
    _bounded(_parse, data)


@FUZZ
@given(st.data())
def test_imap_parser_mutated_commands_raise_only_parse_error(
    data: st.DataObject,
) -> None:
    _bounded(_parse, _mutate(data.draw(st.sampled_from(COMMANDS)), data))


def test_imap_parser_deep_nesting_is_refused_not_a_recursion_error() -> None:
    for depth in (50, 1000, 20000):
        cmd = b"a SEARCH " + b"(" * depth + b"ALL" + b")" * depth + b"\r\n"
        _bounded(_parse, cmd)
        cmd = b"a SEARCH " + b"NOT " * depth + b"ALL\r\n"
        _bounded(_parse, cmd)


def _mime_all(raw: bytes) -> None:
    top = mime.parse(raw)
    mime.bodystructure(top)
    mime.bodystructure(top, extended=False)
    mime.envelope(top)
    mime.body_text(top)
    mime.sent_date(top)
    for path in ((), (1,), (2,), (1, 1), (2, 1, 2), (99,)):
        for text in ("", "HEADER", "TEXT", "MIME", "HEADER.FIELDS.NOT"):
            if text == "MIME" and not path:
                continue
            mime.section(raw, top, path, text, ("subject", "from"))


@FUZZ
@given(st.binary(max_size=2000))
def test_mime_random_bytes_never_raise(raw: bytes) -> None:
    _bounded(_mime_all, raw)


@FUZZ
@given(st.data())
def test_mime_mutated_messages_never_raise(data: st.DataObject) -> None:
    _bounded(_mime_all, _mutate(data.draw(st.sampled_from(MESSAGES)), data))


def test_mime_deeply_nested_multiparts_are_bounded() -> None:
    raw = b""
    for i in range(300):
        raw += (
            f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode()
        )
    raw += b"Content-Type: text/plain\r\n\r\nx\r\n"
    _bounded(_mime_all, raw)
    raw = b"Content-Type: message/rfc822\r\n\r\n" * 2000 + b"x\r\n"
    _bounded(_mime_all, raw)


@pytest.mark.parametrize(
    "charset", [b"idna", b"punycode", b"undefined", b"utf-8\x80", b"utf\x00-8"]
)
def test_mime_body_text_survives_hostile_charsets(charset: bytes) -> None:
    raw = (
        b"Content-Type: text/plain; charset="
        + charset
        + b"\r\n\r\n\xff\xfe caf\xe9\r\n"
    )
    mime.body_text(mime.parse(raw))
