"""The pure ManageSieve parser and renderer (RFC 5804 4)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.protocols.managesieve import parser as p
from server.protocols.managesieve import responses as R
from server.protocols.managesieve.session import ManageSieveSession
from server.protocols.session_io import Reply
from server.sieve.store import ScriptStore
from tests.protocol.pop3.pop3_helpers import FakeAuth


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"CAPABILITY\r\n", p.Capability()),
        (b"capability\n", p.Capability()),
        (b"LOGOUT\r\n", p.Logout()),
        (b"STARTTLS\r\n", p.StartTls()),
        (b"LISTSCRIPTS\r\n", p.ListScripts()),
        (b"UNAUTHENTICATE\r\n", p.Unauthenticate()),
        (b"NOOP\r\n", p.Noop()),
        (b'NOOP "abc"\r\n', p.Noop("abc")),
        (b'AUTHENTICATE "plain"\r\n', p.Authenticate("PLAIN")),
        (b"AUTHENTICATE PLAIN\r\n", p.Authenticate("PLAIN")),
        (b'AUTHENTICATE "PLAIN" "AGJvYgB4"\r\n', p.Authenticate("PLAIN", "AGJvYgB4")),
        (
            b'AUTHENTICATE "PLAIN" {8+}\r\nAGJvYgB4\r\n',
            p.Authenticate("PLAIN", "AGJvYgB4"),
        ),
        (b'HAVESPACE "a b" 0\r\n', p.HaveSpace("a b", 0)),
        (b'HAVESPACE "x" 4294967295\r\n', p.HaveSpace("x", 4294967295)),
        (b'PUTSCRIPT "s" {7+}\r\nkeep;\r\n\r\n', p.PutScript("s", b"keep;\r\n")),
        (b'PUTSCRIPT "s" {5}\r\nkeep;\r\n', p.PutScript("s", b"keep;")),
        # a literal that ends in CR, its line in a bare LF: the CR is the
        # literal's (the same bytes as {5} and CRLF, told apart by the count)
        (b'PUTSCRIPT "s" {6+}\r\nkeep;\r\n', p.PutScript("s", b"keep;\r")),
        (b'PUTSCRIPT "s" {6}\nkeep;\r\n', p.PutScript("s", b"keep;\r")),
        (b'PUTSCRIPT "s" {5}\nkeep;\n', p.PutScript("s", b"keep;")),
        (b'PUTSCRIPT {1+}\r\ns "keep;"\r\n', p.PutScript("s", b"keep;")),
        (b"CHECKSCRIPT {5+}\r\nkeep;\r\n", p.CheckScript(b"keep;")),
        (b'SETACTIVE ""\r\n', p.SetActive("")),
        (b'GETSCRIPT "a\\"b\\\\c"\r\n', p.GetScript('a"b\\c')),
        (b'DELETESCRIPT "caf\xc3\xa9"\r\n', p.DeleteScript("caf\u00e9")),
        (b'RENAMESCRIPT "a" "b"\r\n', p.RenameScript("a", "b")),
    ],
)
def test_valid_commands(data: bytes, expected: p.Command) -> None:
    assert p.parse_command(data) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\r\n", "Expected an atom"),
        (b"FROB\r\n", "Unknown command"),
        (b"LOGOUT now\r\n", "Unexpected data after the arguments"),
        (b"GETSCRIPT\r\n", "Expected a space between arguments"),
        (b'GETSCRIPT  "a"\r\n', "Expected a quoted string or a literal"),
        (b"GETSCRIPT name\r\n", "Expected a quoted string or a literal"),
        (b'GETSCRIPT "abc\r\n', "Unterminated quoted string"),
        (b'GETSCRIPT "a\\nb"\r\n', "Invalid escape in quoted string"),
        (b'GETSCRIPT "\xff"\r\n', "Strings must be UTF-8"),
        (b'GETSCRIPT "a\x00"\r\n', "Line break or NUL in quoted string"),
        (b"GETSCRIPT {9+}\r\nabc\r\n", "Literal shorter than announced"),
        (b"GETSCRIPT {x}\r\n", "Malformed literal"),
        (b'HAVESPACE "a" 4294967296\r\n', "Expected a number from 0 to 4294967295"),
        (b'HAVESPACE "a" 007\r\n', "Numbers have no leading zeros"),
        (b'HAVESPACE "a" -1\r\n', "Expected a number from 0 to 4294967295"),
        (b'RENAMESCRIPT "a"\r\n', "Expected a space between arguments"),
        (b'AUTHENTICATE "\xc3\xa9"\r\n', "Invalid mechanism name"),
    ],
)
def test_invalid_commands(data: bytes, message: str) -> None:
    with pytest.raises(p.ParseError) as exc:
        p.parse_command(data)
    assert exc.value.message == message


def test_quoted_string_limit_is_1024_octets() -> None:
    assert p.parse_command(b'GETSCRIPT "' + b"a" * 1024 + b'"\r\n') == p.GetScript(
        "a" * 1024
    )
    with pytest.raises(p.ParseError):
        p.parse_command(b'GETSCRIPT "' + b"a" * 1025 + b'"\r\n')


def test_a_third_string_is_refused() -> None:
    data = b"RENAMESCRIPT {1+}\r\na {1+}\r\nb {1+}\r\nc\r\n"
    with pytest.raises(p.ParseError) as exc:
        p.parse_command(data)
    assert exc.value.message == "Unexpected data after the arguments"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'PUTSCRIPT "x" {12+}\r\n', (12, True)),
        (b'PUTSCRIPT "x" {12}\r\n', (12, False)),
        (b'GETSCRIPT "{1+}"\r\n', None),
        (b"NOOP\r\n", None),
    ],
)
def test_literal_request(line: bytes, expected: tuple[int, bool] | None) -> None:
    assert p.literal_request(line) == expected


def test_sasl_responses() -> None:
    assert p.parse_sasl_response(b'"AGJvYgB4"\r\n') == b"\x00bob\x00x"
    assert p.parse_sasl_response(b"{8+}\r\nAGJvYgB4\r\n") == b"\x00bob\x00x"
    assert p.parse_sasl_response(b'""\r\n') == b""
    assert isinstance(p.parse_sasl_response(b'"*"\r\n'), p.SaslCancel)
    assert isinstance(p.parse_sasl_response(b"*\r\n"), p.SaslCancel)
    with pytest.raises(p.ParseError):
        p.parse_sasl_response(b'"!!"\r\n')
    with pytest.raises(p.ParseError):
        p.parse_sasl_response(b"AGJvYgB4\r\n")  # not a string


def test_mask_for_log_hides_sasl_data_and_scripts() -> None:
    assert p.mask_for_log(b'AUTHENTICATE "PLAIN" "AGJvYgBzZWNyZXQ="\r\n') == (
        'AUTHENTICATE "PLAIN" ***'
    )
    shown = p.mask_for_log(b'PUTSCRIPT "s" {9+}\r\nsecret;\r\n')
    assert "secret" not in shown and shown.startswith("PUTSCRIPT")


def test_rendering() -> None:
    assert R.string("plain") == b'"plain"'
    assert R.string('a"b\\') == b'"a\\"b\\\\"'
    assert R.string("two\r\nlines") == b"{10}\r\ntwo\r\nlines"
    assert R.string("x" * 1025) == b"{1025}\r\n" + b"x" * 1025
    assert R.ok("Done", "TAG", "t1") == b'OK (TAG "t1") "Done"\r\n'
    assert R.no("Full", "QUOTA/MAXSIZE") == b'NO (QUOTA/MAXSIZE) "Full"\r\n'
    assert R.bye("Bye") == b'BYE "Bye"\r\n'
    assert R.script_list([("a", False), ("b", True)]) == b'"a"\r\n"b" ACTIVE\r\n'
    with pytest.raises(AssertionError):
        R.no("x", "NOT-A-CODE")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parser_never_raises_anything_but_parse_error(data: bytes) -> None:
    try:
        p.parse_command(data)
    except p.ParseError:
        pass
    try:
        p.parse_sasl_response(data)
    except p.ParseError:
        pass


_PIECES = [
    b"CAPABILITY", b"NOOP", b'NOOP "t"', b"LOGOUT", b"STARTTLS", b"LISTSCRIPTS",
    b'AUTHENTICATE "PLAIN" "AGJvYkBleGFtcGxlLm9yZwBzZWNyZXQ="', b'AUTHENTICATE "LOGIN"',
    b'"*"', b'PUTSCRIPT "a" {5+}\r\nkeep;', b'SETACTIVE "a"', b'SETACTIVE ""',
    b'GETSCRIPT "a"', b'DELETESCRIPT "a"', b'RENAMESCRIPT "a" "b"', b"UNAUTHENTICATE",
    b'HAVESPACE "a" 10', b"CHECKSCRIPT {3+}\r\nif{", b"{", b'"', b"\xff", b" ",
]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_PIECES) | st.binary(max_size=20), max_size=12))
def test_session_answers_every_sequence_with_a_status(
    tmp_path_factory: pytest.TempPathFactory, seq: list[bytes]
) -> None:
    """No command sequence makes the session raise or leak an exception name;
    each answer is a challenge or ends with OK/NO/BYE."""
    root: Path = tmp_path_factory.mktemp("sieve")

    async def run() -> None:
        s = ManageSieveSession(
            ScriptStore(root),
            FakeAuth({"bob@example.org": "secret"}),
            peer_ip="127.0.0.1",
            login_delay=0,
        )
        for item in seq:
            reply: Reply = await s.handle(item + b"\r\n")
            assert b"Error" not in reply.data and b"Traceback" not in reply.data
            last = reply.data.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1]
            assert reply.data == b"" or last.startswith((b"OK", b"NO", b"BYE", b'"'))
            if reply.close:
                break

    asyncio.run(run())
