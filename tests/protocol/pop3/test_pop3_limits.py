"""POP3 limits that refused ordinary clients: the AUTH initial response, long
user names, and TOP with a huge line count (RFC 1939 7, RFC 2449 4, RFC 5034 4).
"""

from __future__ import annotations

import base64

import pytest

from server.protocols.pop3 import parser as p
from server.storage.memory import MemoryStore
from tests.protocol.pop3.pop3_helpers import BOB, Client, FakeAuth, msg, play

LONG_USER = "christopher.montgomery@engineering.example.org"  # 46 characters
LONG_PW = "correct horse battery staple 4 ever and ever"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def long_user(auth: FakeAuth) -> str:
    auth.users[LONG_USER] = LONG_PW
    return LONG_USER


# -- parser ------------------------------------------------------------------
def test_auth_initial_response_is_not_held_to_40_octets() -> None:
    """Reproduces ``AUTH PLAIN <initial response>`` of normal length refused as
    "Argument too long": RFC 2449's 40-octet argument limit is for keywords;
    the PLAIN response for a 46-character address and a passphrase is 124."""
    ir = b64(f"\0{LONG_USER}\0{LONG_PW}".encode())
    assert len(ir) > 100
    assert p.parse_command(f"AUTH PLAIN {ir}\r\n".encode()) == p.Auth("PLAIN", ir)


def test_auth_line_may_exceed_255_octets_up_to_the_sasl_limit() -> None:
    """RFC 5034 4 asks clients to keep AUTH within 255 octets; longer ones
    (a long password) are taken up to ``MAX_SASL_LINE``, as Dovecot does."""
    ir = "A" * (p.MAX_SASL_LINE - len("AUTH PLAIN \r\n"))
    assert p.parse_command(f"AUTH PLAIN {ir}\r\n".encode()) == p.Auth("PLAIN", ir)
    with pytest.raises(p.LineTooLong):
        p.parse_command(f"AUTH PLAIN {ir}A\r\n".encode())
    # every other command keeps the 255-octet line (RFC 2449 4)
    with pytest.raises(p.LineTooLong):
        p.parse_command(b"NOOP " + b"x" * 250 + b"\r\n")


def test_user_name_longer_than_40_characters() -> None:
    """The same 40-octet limit refused ``USER`` with a long address."""
    assert p.parse_command(f"USER {LONG_USER}\r\n".encode()) == p.User(LONG_USER)


@pytest.mark.parametrize(
    ("count", "lines"),
    [
        ("0", 0),
        ("7", 7),
        ("9999999999", p.MAX_TOP_LINES),
        ("99999999999999999999999999999999", p.MAX_TOP_LINES),
        ("000000000000000000000003", 3),
    ],
)
def test_top_line_count_of_any_size(count: str, lines: int) -> None:
    """Reproduces ``TOP 1 <huge>`` refused as "Invalid line count" (11 digits
    and more): RFC 1939 7 has no upper bound; more lines than the body has
    means the whole message."""
    assert p.parse_command(f"TOP 1 {count}\r\n".encode()) == p.Top(1, lines)


# -- sessions -------------------------------------------------------------------
async def test_auth_plain_with_long_address_logs_in(make_session, long_user) -> None:
    s = await make_session()
    ir = b64(f"\0{long_user}\0{LONG_PW}".encode())
    await play(s, f"C: AUTH PLAIN {ir}\nS: +OK Logged in, 0 messages*")


async def test_auth_login_with_long_user_initial_response(
    make_session, long_user
) -> None:
    s = await make_session()
    await play(
        s,
        f"""
        C: AUTH LOGIN {b64(long_user.encode())}
        S: + UGFzc3dvcmQ6
        C: {b64(LONG_PW.encode())}
        S: +OK Logged in*
        """,
    )


async def test_user_pass_with_long_address(make_session, long_user) -> None:
    s = await make_session()
    await play(
        s, f"C: USER {long_user}\nS: +OK *\nC: PASS {LONG_PW}\nS: +OK Logged in*"
    )


async def test_top_with_huge_count_returns_the_whole_message(
    make_session, store: MemoryStore
) -> None:
    body = "".join(f"line {i}\r\n" for i in range(50)) + ".dot line\r\n"
    m = msg("big top", body)
    await store.ensure_user(BOB)
    await store.deliver(BOB, m)
    s = await make_session()
    await play(s, "C: USER bob\nS: +OK *\nC: PASS secret\nS: +OK Logged in*")
    whole = (await s.handle_line(b"RETR 1\r\n")).data.split(b"\r\n", 1)[1]
    for count in (b"51", b"52", b"4294967295", b"1" + b"0" * 40):
        r = await s.handle_line(b"TOP 1 " + count + b"\r\n")
        assert r.data.startswith(b"+OK "), (count, r.data[:60])
        assert r.data.split(b"\r\n", 1)[1] == whole, count
    r = await s.handle_line(b"TOP 1 50\r\n")
    assert r.data.endswith(b"line 49\r\n.\r\n")


async def test_long_auth_over_a_socket(start_wire, auth: FakeAuth) -> None:
    """End to end through ``Pop3Module``: the long AUTH line reaches the
    session whole and logs in; a NOOP of the same length is still refused."""
    auth.users[LONG_USER] = LONG_PW * 6  # a 269-character passphrase
    w = await start_wire()
    c = await Client.connect(w.port())
    await c.line()
    ir = b64(f"\0{LONG_USER}\0{LONG_PW * 6}".encode())
    line = f"AUTH PLAIN {ir}\r\n".encode()
    assert len(line) > p.MAX_COMMAND_LINE
    await c.send(b"NOOP " + b"x" * len(ir) + b"\r\n" + line)
    assert (await c.line()) == b"-ERR Command line too long\r\n"
    assert (await c.line()).startswith(b"+OK Logged in")
