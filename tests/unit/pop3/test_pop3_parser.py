"""Unit tests for the pure POP3 parser (RFC 1939, 2449, 5034)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.protocols.pop3 import parser as p


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"USER bob\r\n", p.User("bob")),
        (b"user bob@example.org\r\n", p.User("bob@example.org")),
        (b"PASS pass with  spaces \r\n", p.Pass("pass with  spaces ")),
        (b"STAT\r\n", p.Stat()),
        (b"LIST\r\n", p.List()),
        (b"LIST 3\r\n", p.List(3)),
        (b"RETR 12\r\n", p.Retr(12)),
        (b"DELE 1\n", p.Dele(1)),
        (b"NOOP\r\n", p.Noop()),
        (b"rset\r\n", p.Rset()),
        (b"QUIT", p.Quit()),
        (b"TOP 1 0\r\n", p.Top(1, 0)),
        (b"UIDL\r\n", p.Uidl()),
        (b"UIDL 7\r\n", p.Uidl(7)),
        (b"CAPA\r\n", p.Capa()),
        (b"STLS\r\n", p.Stls()),
        (b"AUTH\r\n", p.Auth()),
        (b"AUTH plain\r\n", p.Auth("PLAIN")),
        (b"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n", p.Auth("PLAIN", "AGJvYgBzZWNyZXQ=")),
        (b"AUTH PLAIN =\r\n", p.Auth("PLAIN", "=")),
        (b"STAT \r\n", p.Stat()),
        (b"LIST 2 \r\n", p.List(2)),
    ],
)
def test_valid_commands(line: bytes, expected: p.Command) -> None:
    assert p.parse_command(line) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"\r\n", "Empty command"),
        (b"FOO\r\n", "Unknown command"),
        (b"APOP bob digest\r\n", "APOP needs a name and a 32-digit MD5 digest"),
        (b"LANG en us\r\n", "LANG takes at most one language tag"),
        (b"X1\r\n", "Unknown command"),
        (b"USER\r\n", "USER needs exactly one argument"),
        (b"USER a b\r\n", "USER needs exactly one argument"),
        (b"USER  a\r\n", "Arguments must be separated by a single space"),
        (b"RETR\r\n", "RETR needs a message number"),
        (b"RETR x\r\n", "Invalid message number"),
        (b"RETR -1\r\n", "Invalid message number"),
        (b"RETR +1\r\n", "Invalid message number"),
        (b"RETR \xd9\xa3\r\n", "Invalid message number"),  # Arabic-Indic 3
        (b"RETR 12345678901\r\n", "Invalid message number"),
        (b"TOP 1\r\n", "TOP needs a message number and a line count"),
        (b"TOP 1 -2\r\n", "Invalid line count"),
        (b"LIST 1 2\r\n", "LIST takes at most one argument"),
        (b"QUIT now\r\n", "QUIT takes no arguments"),
        (b"PASS\r\n", "PASS needs a password"),
        (b"USER a\x00b\r\n", "NUL is not allowed in a command"),
        (b"USER \xff\r\n", "Command is not valid UTF-8"),
        (b"USER a\rb\r\n", "Stray line break in command"),
        (b"AUTH " + b"X" * 41 + b"\r\n", "Invalid mechanism name"),
    ],
)
def test_invalid_commands(line: bytes, message: str) -> None:
    with pytest.raises(p.ParseError) as info:
        p.parse_command(line)
    assert info.value.message == message


def test_command_line_limit_is_255_octets_with_crlf() -> None:
    ok = b"PASS " + b"x" * (p.MAX_COMMAND_LINE - 7) + b"\r\n"
    assert len(ok) == 255
    assert isinstance(p.parse_command(ok), p.Pass)
    with pytest.raises(p.LineTooLong):
        p.parse_command(b"PASS " + b"x" * (p.MAX_COMMAND_LINE - 6) + b"\r\n")


def test_verb_property() -> None:
    assert p.Retr(1).verb == "RETR"
    assert p.Uidl().verb == "UIDL"


def test_sasl_responses() -> None:
    assert isinstance(p.parse_sasl_response(b"*\r\n"), p.SaslCancel)
    assert p.parse_sasl_response(b"\r\n") == b""
    assert p.parse_sasl_response(b"=\r\n") == b""
    assert p.parse_sasl_response(base64.b64encode(b"hello") + b"\r\n") == b"hello"
    for bad in (b"!!!\r\n", b"abc\r\n", b"\xff\r\n"):
        with pytest.raises(p.ParseError):
            p.parse_sasl_response(bad)
    with pytest.raises(p.LineTooLong):
        p.parse_sasl_response(b"A" * (p.MAX_SASL_LINE + 1))


def test_parse_plain() -> None:
    assert p.parse_plain(b"\0bob\0pw") == ("", "bob", "pw")
    assert p.parse_plain("z\0b\0pässword".encode()) == ("z", "b", "pässword")
    for bad in (b"bob\0pw", b"\0\0pw", b"\0bob\0", b"a\0b\0c\0d", b"\0\xff\0x"):
        with pytest.raises(p.ParseError):
            p.parse_plain(bad)


def test_mask_for_log_hides_secrets() -> None:
    assert p.mask_for_log(b"PASS hunter2\r\n") == "PASS ***"
    assert p.mask_for_log(b"pass hunter2\r\n") == "PASS ***"
    assert p.mask_for_log(b"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n") == "AUTH PLAIN ***"
    assert p.mask_for_log(b"AUTH LOGIN\r\n") == "AUTH LOGIN"
    assert p.mask_for_log(b"USER bob\x1b[31m\r\n") == "USER bob?[31m"


# -- properties --------------------------------------------------------------
@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise_unexpected(data: bytes) -> None:
    try:
        cmd = p.parse_command(data)
    except p.ParseError as exc:
        assert exc.message and "\r" not in exc.message and "\n" not in exc.message
    else:
        assert isinstance(cmd, p.Command)
    try:
        p.parse_sasl_response(data)
    except p.ParseError:
        pass
    p.mask_for_log(data)


_verbs = st.sampled_from(
    [
        "USER",
        "PASS",
        "STAT",
        "LIST",
        "RETR",
        "DELE",
        "NOOP",
        "RSET",
        "QUIT",
        "TOP",
        "UIDL",
        "CAPA",
        "STLS",
        "AUTH",
        "user",
        "ReTr",
    ]
)
_args = st.lists(
    st.one_of(st.integers(-5, 10**12).map(str), st.text(max_size=45)), max_size=3
)


@settings(max_examples=500, deadline=None)
@given(_verbs, _args)
def test_command_like_input_parses_or_fails_cleanly(verb: str, args: list[str]) -> None:
    line = " ".join([verb, *args]).encode("utf-8", "surrogatepass") + b"\r\n"
    try:
        cmd = p.parse_command(line)
    except p.ParseError:
        return
    assert cmd.verb == verb.upper()
