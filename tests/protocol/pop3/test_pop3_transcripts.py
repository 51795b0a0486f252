"""POP3 transcripts against ``Pop3Session`` (no sockets): RFC 1939, 2449, 5034."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest

from server.errors import PermanentError, TemporaryError
from server.protocols.pop3.session import MAX_BAD_COMMANDS, Pop3Session, State
from server.storage.memory import MemoryStore
from tests.protocol.pop3.pop3_helpers import ALICE, BOB, FakeAuth, msg, play


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


PLAIN_BOB = b64(b"\0bob\0secret")
PLAIN_BOB_AUTHZ = b64(b"bob\0bob\0secret")
PLAIN_ALICE_AS_BOB = b64(b"alice\0bob\0secret")
PLAIN_BOB_FULL = b64(b"\0bob@example.org\0secret")
PLAIN_HUNTER = b64(b"\0bob\0hunter2-secret")


async def _fill(store: MemoryStore, *bodies: bytes) -> None:
    await store.ensure_user(BOB)
    for body in bodies:
        await store.deliver(BOB, body)


async def _login(s: Pop3Session) -> None:
    await play(s, "C: USER bob\nS: +OK *\nC: PASS secret\nS: +OK Logged in*")


# -- AUTHORIZATION -------------------------------------------------------------
async def test_greeting(make_session) -> None:
    s = await make_session(hostname="mail.example.org")
    assert s.greeting() == b"+OK Quicksilver POP3 server ready mail.example.org\r\n"


async def test_capa_before_login_on_loopback(make_session) -> None:
    s = await make_session()
    await play(
        s,
        """
        C: CAPA
        S: +OK Capability list follows
        S: TOP
        S: UIDL
        S: RESP-CODES
        S: AUTH-RESP-CODE
        S: PIPELINING
        S: EXPIRE NEVER
        S: UTF8 USER
        S: LANG
        S: USER
        S: SASL PLAIN LOGIN
        S: STLS
        S: IMPLEMENTATION Quicksilver
        S: .
        """,
    )


async def test_capa_hides_login_when_plaintext_refused(make_session) -> None:
    s = await make_session(peer_ip="192.0.2.7")
    replies = await play(s, "C: CAPA\nS: +OK *\n" + "S: *\n" * 10 + "S: .")
    lines = replies[0].data.decode().split("\r\n")
    assert "STLS" in lines
    assert "USER" not in lines and not any(x.startswith("SASL") for x in lines)
    assert "UTF8" in lines and "UTF8 USER" not in lines
    await play(
        s,
        """
        C: USER bob
        S: -ERR Plaintext login is not allowed on this connection; use STLS first
        C: AUTH PLAIN
        S: -ERR Plaintext login is not allowed*
        """,
    )


async def test_capa_after_tls_offers_login_not_stls(make_session) -> None:
    s = await make_session(peer_ip="192.0.2.7")
    reply = (await play(s, "C: STLS\nS: +OK Begin TLS negotiation"))[0]
    assert reply.start_tls
    s.tls_started()
    data = (await s.handle_line(b"CAPA\r\n")).data.decode().split("\r\n")
    assert "USER" in data and "SASL PLAIN LOGIN" in data and "STLS" not in data
    await play(s, "C: STLS\nS: -ERR Already using TLS")
    await _login(s)


async def test_stls_without_certificate(make_session) -> None:
    s = await make_session(tls_available=False)
    data = (await s.handle_line(b"CAPA\r\n")).data.decode().split("\r\n")
    assert "STLS" not in data
    await play(s, "C: STLS\nS: -ERR TLS is not available")


async def test_plaintext_policy_always_and_never(make_session) -> None:
    s = await make_session(peer_ip="192.0.2.7", plaintext_login="always")
    await _login(s)
    s = await make_session(plaintext_login="never")
    await play(s, "C: USER bob\nS: -ERR Plaintext login is not allowed*")


async def test_user_pass_full_address_and_local_part(make_session, store) -> None:
    await _fill(store, msg("one"))
    s = await make_session()
    await play(
        s,
        """
        C: USER BOB@example.org
        S: +OK Send your password
        C: PASS secret
        S: +OK Logged in, 1 messages (* octets)
        """,
    )
    assert s.owner == BOB and s.state is State.TRANSACTION
    s2 = await make_session()
    await play(s2, "C: USER alice\nS: +OK *\nC: PASS wonderland\nS: +OK Logged in, 0 *")
    assert s2.owner == ALICE


async def test_password_with_spaces(make_session, auth: FakeAuth) -> None:
    auth.users[BOB] = "correct horse  battery"
    s = await make_session()
    await play(s, "C: USER bob\nS: +OK *\nC: PASS correct horse  battery\nS: +OK *")


async def test_wrong_password_and_close_after_three(make_session, auth) -> None:
    s = await make_session()
    replies = await play(
        s,
        """
        C: USER bob
        S: +OK *
        C: PASS wrong
        S: -ERR [AUTH] Authentication failed
        C: PASS secret
        S: -ERR Send USER first
        C: USER nobody
        S: +OK Send your password
        C: PASS x
        S: -ERR [AUTH] Authentication failed
        C: AUTH PLAIN {plain}
        S: -ERR [AUTH] Authentication failed; closing connection
        """.replace("{plain}", b64(b"\0bob\0nope")),
    )
    assert replies[-1].close and not replies[1].close
    assert auth.calls[0] == ("bob", "127.0.0.1", "pop3")


async def test_failed_login_delay_does_not_block_loop(make_session) -> None:
    s = await make_session(login_delay=0.3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    t = asyncio.create_task(ticker())
    start = time.monotonic()
    await play(s, "C: USER bob\nS: +OK *\nC: PASS bad\nS: -ERR [AUTH] *")
    elapsed = time.monotonic() - start
    t.cancel()
    assert elapsed >= 0.3
    assert ticks >= 10


async def test_banned_after_failure_closes(make_session, auth) -> None:
    s = await make_session()
    auth.banned.add("127.0.0.1")
    reply = (await play(s, "C: USER bob\nS: +OK *\nC: PASS bad\nS: -ERR [AUTH] *"))[1]
    assert reply.close


async def test_auth_store_down_is_sys_temp(make_session, auth) -> None:
    auth.fail_with = TemporaryError("Account database unavailable, try later")
    s = await make_session()
    await play(
        s,
        "C: USER bob\nS: +OK *\nC: PASS secret\n"
        "S: -ERR [SYS/TEMP] Account database unavailable, try later",
    )


async def test_pass_before_user_and_empty_pass(make_session) -> None:
    s = await make_session()
    await play(
        s,
        """
        C: PASS secret
        S: -ERR Send USER first
        C: PASS
        S: -ERR PASS needs a password
        C: USER
        S: -ERR USER needs exactly one argument
        """,
    )


async def test_user_then_other_command_forgets_user(make_session) -> None:
    s = await make_session()
    await play(s, "C: USER bob\nS: +OK *\nC: CAPA\nS: +OK *\n" + "S: *\n" * 13)
    await play(s, "C: PASS secret\nS: -ERR Send USER first")


# -- SASL (RFC 5034) -------------------------------------------------------------
async def test_auth_plain_initial_response(make_session) -> None:
    s = await make_session()
    await play(s, f"C: AUTH PLAIN {PLAIN_BOB}\nS: +OK Logged in*")
    assert s.owner == BOB


async def test_auth_plain_with_authzid_equal_and_lowercase_mech(make_session) -> None:
    s = await make_session()
    await play(s, f"C: auth plain {PLAIN_BOB_AUTHZ}\nS: +OK Logged in*")


async def test_auth_plain_authzid_other_user_refused(make_session) -> None:
    s = await make_session()
    await play(s, f"C: AUTH PLAIN {PLAIN_ALICE_AS_BOB}\nS: -ERR [AUTH] *")


async def test_auth_plain_continuation(make_session) -> None:
    s = await make_session()
    await play(
        s,
        f"""
        C: AUTH PLAIN
        S: +*
        C: {PLAIN_BOB_FULL}
        S: +OK Logged in*
        """,
    )


async def test_auth_cancel_and_bad_base64(make_session) -> None:
    s = await make_session()
    r = await s.handle_line(b"AUTH PLAIN\r\n")
    assert r.data == b"+ \r\n" and s.awaiting_sasl
    await play(
        s,
        """
        C: *
        S: -ERR Authentication cancelled
        C: AUTH PLAIN
        S: +*
        C: !!!notbase64
        S: -ERR [AUTH] Authentication failed
        C: AUTH PLAIN =
        S: -ERR [AUTH] Authentication failed
        """,
    )


async def test_auth_login_two_steps_and_initial(make_session) -> None:
    s = await make_session()
    await play(
        s,
        f"""
        C: AUTH LOGIN
        S: + VXNlcm5hbWU6
        C: {b64(b"bob")}
        S: + UGFzc3dvcmQ6
        C: {b64(b"secret")}
        S: +OK Logged in*
        """,
    )
    s2 = await make_session()
    await play(
        s2,
        f"""
        C: AUTH LOGIN {b64(b"alice@example.org")}
        S: + UGFzc3dvcmQ6
        C: {b64(b"wonderland")}
        S: +OK Logged in*
        """,
    )


async def test_auth_list_and_unsupported(make_session) -> None:
    s = await make_session()
    await play(
        s,
        """
        C: AUTH
        S: +OK Supported mechanisms follow
        S: PLAIN
        S: LOGIN
        S: .
        C: AUTH CRAM-MD5
        S: -ERR Unsupported authentication mechanism
        C: AUTH PLAIN a b c
        S: -ERR AUTH takes a mechanism and an optional initial response
        """,
    )


async def test_sasl_response_line_may_exceed_command_limit(make_session) -> None:
    s = await make_session()
    await s.handle_line(b"AUTH PLAIN\r\n")
    long_pw = "p" * 400
    r = await s.handle_line(b64(f"\0bob\0{long_pw}".encode()).encode() + b"\r\n")
    assert r.data.startswith(b"-ERR [AUTH]")  # wrong password, but parsed


# -- TRANSACTION ---------------------------------------------------------------
async def test_stat_list_uidl_retr_noop(make_session, store) -> None:
    m1, m2 = msg("one"), msg("two", "Line 1\r\nLine 2\r\n")
    await _fill(store, m1, m2)
    infos = await store.list_messages(BOB, "INBOX")
    s = await make_session()
    await _login(s)
    total = len(m1) + len(m2)
    await play(
        s,
        f"""
        C: STAT
        S: +OK 2 {total}
        C: LIST
        S: +OK 2 messages ({total} octets)
        S: 1 {len(m1)}
        S: 2 {len(m2)}
        S: .
        C: LIST 2
        S: +OK 2 {len(m2)}
        C: UIDL
        S: +OK Unique-ID listing follows
        S: 1 {infos[0].key}
        S: 2 {infos[1].key}
        S: .
        C: UIDL 1
        S: +OK 1 {infos[0].key}
        C: NOOP
        S: +OK
        """,
    )
    r = await s.handle_line(b"RETR 2\r\n")
    assert r.data == f"+OK {len(m2)} octets\r\n".encode() + m2 + b".\r\n"


async def test_sizes_are_octets_as_sent(make_session, store) -> None:
    body = "x" * 70 + "\r\n" + ".dot\r\n" + "\r\n" * 3
    await _fill(store, msg("sizes", body))
    s = await make_session()
    await _login(s)
    size = int((await s.handle_line(b"LIST 1\r\n")).data.split()[2])
    data = (await s.handle_line(b"RETR 1\r\n")).data
    first, rest = data.split(b"\r\n", 1)
    assert first == f"+OK {size} octets".encode()
    assert rest.endswith(b"\r\n.\r\n")
    unstuffed = rest[:-3].replace(b"\r\n..", b"\r\n.")
    assert len(unstuffed) == size


async def test_retr_byte_stuffs_dot_lines(make_session, store) -> None:
    raw = b".starts with dot\r\n\r\n.\r\n..two\r\nend\r\n"
    await _fill(store, b"Subject: dots\r\n" + raw)
    s = await make_session()
    await _login(s)
    r = await s.handle_line(b"RETR 1\r\n")
    assert r.data.split(b"\r\n", 1)[1] == (
        b"Subject: dots\r\n..starts with dot\r\n\r\n..\r\n...two\r\nend\r\n.\r\n"
    )


async def test_retr_message_body_starting_with_dot(make_session, store) -> None:
    await _fill(store, b".X: odd header first\r\n\r\nbody\r\n")
    s = await make_session()
    await _login(s)
    r = await s.handle_line(b"RETR 1\r\n")
    assert r.data.split(b"\r\n", 1)[1] == b"..X: odd header first\r\n\r\nbody\r\n.\r\n"


async def test_top_zero_and_more_lines_than_body(make_session, store) -> None:
    m = msg("top", "line1\r\n.line2\r\nline3\r\n")
    await _fill(store, m)
    s = await make_session()
    await _login(s)
    head = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: top\r\n\r\n"
    r0 = await s.handle_line(b"TOP 1 0\r\n")
    assert r0.data == b"+OK Top of message follows\r\n" + head + b".\r\n"
    r2 = await s.handle_line(b"TOP 1 2\r\n")
    assert r2.data.split(b"\r\n", 1)[1] == head + b"line1\r\n..line2\r\n.\r\n"
    r9 = await s.handle_line(b"TOP 1 99\r\n")
    assert r9.data.split(b"\r\n", 1)[1] == head + b"line1\r\n..line2\r\nline3\r\n.\r\n"
    big = await s.handle_line(b"TOP 1 9999999999\r\n")
    assert big.data == r9.data


async def test_top_of_message_without_body(make_session, store) -> None:
    await _fill(store, b"Subject: only headers\r\n")
    s = await make_session()
    await _login(s)
    r = await s.handle_line(b"TOP 1 5\r\n")
    assert r.data.split(b"\r\n", 1)[1] == b"Subject: only headers\r\n.\r\n"


async def test_retr_sets_seen_top_does_not(make_session, store) -> None:
    await _fill(store, msg("a"), msg("b"))
    s = await make_session()
    await _login(s)
    await s.handle_line(b"TOP 1 1\r\n")
    await s.handle_line(b"RETR 2\r\n")
    infos = await store.list_messages(BOB, "INBOX")
    assert "\\Seen" not in infos[0].flags
    assert "\\Seen" in infos[1].flags


async def test_seen_keeps_flags_set_by_imap_meanwhile(make_session, store) -> None:
    await _fill(store, msg("a"))
    s = await make_session()
    await _login(s)
    uid = (await store.list_messages(BOB, "INBOX"))[0].uid
    await store.set_flags(
        BOB, "INBOX", [(uid, "=", frozenset({"\\Flagged"}))], origin="imap"
    )
    await s.handle_line(b"RETR 1\r\n")
    info = (await store.list_messages(BOB, "INBOX"))[0]
    assert info.flags == frozenset({"\\Seen", "\\Flagged"})


async def test_retr_counts_messages(make_session, store) -> None:
    await _fill(store, msg("a"))
    count = []
    s = await make_session(on_message=lambda: count.append(1))
    await _login(s)
    await s.handle_line(b"RETR 1\r\n")
    await s.handle_line(b"TOP 1 0\r\n")
    await s.handle_line(b"RETR 1\r\n")
    assert len(count) == 2


async def test_no_such_message_and_bad_numbers(make_session, store) -> None:
    await _fill(store, msg("a"))
    s = await make_session()
    await _login(s)
    await play(
        s,
        """
        C: RETR 0
        S: -ERR No such message 0
        C: RETR 2
        S: -ERR No such message 2
        C: LIST 5
        S: -ERR No such message 5
        C: UIDL 3
        S: -ERR No such message 3
        C: TOP 9 1
        S: -ERR No such message 9
        C: DELE 2
        S: -ERR No such message 2
        C: RETR -1
        S: -ERR Invalid message number
        C: RETR one
        S: -ERR Invalid message number
        C: TOP 1
        S: -ERR TOP needs a message number and a line count
        C: TOP 1 x
        S: -ERR Invalid line count
        C: RETR
        S: -ERR RETR needs a message number
        C: LIST 1 2
        S: -ERR LIST takes at most one argument
        C: STAT 1
        S: -ERR STAT takes no arguments
        """,
    )


async def test_deleted_messages_refused(make_session, store) -> None:
    await _fill(store, msg("a"), msg("b"))
    s = await make_session()
    await _login(s)
    await play(
        s,
        f"""
        C: DELE 1
        S: +OK Message 1 deleted
        C: DELE 1
        S: -ERR Message 1 already deleted
        C: RETR 1
        S: -ERR Message 1 already deleted
        C: TOP 1 0
        S: -ERR Message 1 already deleted
        C: LIST 1
        S: -ERR Message 1 already deleted
        C: UIDL 1
        S: -ERR Message 1 already deleted
        C: STAT
        S: +OK 1 {len(msg("b"))}
        C: LIST
        S: +OK 1 messages (* octets)
        S: 2 *
        S: .
        C: UIDL
        S: +OK *
        S: 2 *
        S: .
        """,
    )


async def test_dele_then_rset_keeps_everything(make_session, store) -> None:
    await _fill(store, msg("a"), msg("b"))
    s = await make_session()
    await _login(s)
    await play(
        s,
        f"""
        C: DELE 1
        S: +OK *
        C: DELE 2
        S: +OK *
        C: STAT
        S: +OK 0 0
        C: RSET
        S: +OK Maildrop has 2 messages ({len(msg("a")) + len(msg("b"))} octets)
        C: RETR 1
        S: +OK *
        S: *
        S: *
        S: *
        S:*
        S: Hello
        S: .
        C: QUIT
        S: +OK Quicksilver POP3 server signing off (2 messages left)
        """,
    )
    assert len(await store.list_messages(BOB, "INBOX")) == 2


async def test_dele_then_quit_expunges(make_session, store) -> None:
    await _fill(store, msg("a"), msg("b"), msg("c"))
    s = await make_session()
    await _login(s)
    r = await play(
        s,
        """
        C: DELE 2
        S: +OK *
        C: QUIT
        S: +OK Quicksilver POP3 server signing off (2 messages left)
        """,
    )
    assert r[-1].close and s.state is State.CLOSED
    left = await store.list_messages(BOB, "INBOX")
    assert len(left) == 2
    assert [await store.read_message(BOB, "INBOX", i.uid) for i in left] == [
        msg("a"),
        msg("c"),
    ]


async def test_dele_then_dropped_connection_deletes_nothing(
    make_session, store, locks
) -> None:
    await _fill(store, msg("a"), msg("b"))
    s = await make_session()
    await _login(s)
    await play(s, "C: DELE 1\nS: +OK *\nC: DELE 2\nS: +OK *")
    s.close()  # what the module does when the connection drops
    assert len(await store.list_messages(BOB, "INBOX")) == 2
    assert not locks.held(BOB)


async def test_message_numbers_stable_when_mail_arrives(make_session, store) -> None:
    await _fill(store, msg("a"))
    s = await make_session()
    await _login(s)
    await store.deliver(BOB, msg("new"))
    await play(s, "C: STAT\nS: +OK 1 *\nC: RETR 2\nS: -ERR No such message 2")


async def test_message_removed_by_imap_meanwhile(make_session, store) -> None:
    await _fill(store, msg("a"), msg("b"))
    s = await make_session()
    await _login(s)
    uid = (await store.list_messages(BOB, "INBOX"))[0].uid
    await store.expunge(BOB, "INBOX", [uid], origin="imap")
    await play(
        s,
        """
        C: RETR 1
        S: -ERR Message 1 was removed by another session
        C: TOP 1 0
        S: -ERR Message 1 was removed by another session
        C: DELE 1
        S: +OK *
        C: QUIT
        S: +OK *
        """,
    )
    assert len(await store.list_messages(BOB, "INBOX")) == 1


async def test_two_sessions_same_user_in_use(make_session, store, locks) -> None:
    await _fill(store, msg("a"))
    s1 = await make_session()
    s2 = await make_session()
    s3 = await make_session()
    await _login(s1)
    await play(
        s2,
        """
        C: USER bob@example.org
        S: +OK *
        C: PASS secret
        S: -ERR [IN-USE] Maildrop is already in use by another session
        """,
    )
    assert s2.state is State.AUTHORIZATION
    await play(s3, "C: USER alice\nS: +OK *\nC: PASS wonderland\nS: +OK *")
    await play(s1, "C: QUIT\nS: +OK *")
    await play(s2, f"C: AUTH PLAIN {PLAIN_BOB}\nS: +OK Logged in*")


async def test_in_use_needs_the_right_password_first(make_session, store) -> None:
    s1 = await make_session()
    await _login(s1)
    s2 = await make_session()
    await play(s2, "C: USER bob\nS: +OK *\nC: PASS wrong\nS: -ERR [AUTH] *")


async def test_quit_in_authorization(make_session) -> None:
    s = await make_session()
    r = await play(s, "C: QUIT\nS: +OK Quicksilver POP3 server signing off")
    assert r[0].close
    r2 = await s.handle_line(b"NOOP\r\n")
    assert r2.close and r2.data == b""


async def test_wrong_state_commands(make_session, store) -> None:
    await _fill(store, msg("a"))
    s = await make_session()
    await play(
        s,
        """
        C: STAT
        S: -ERR STAT is not valid in this state
        C: RETR 1
        S: -ERR RETR is not valid in this state
        C: NOOP
        S: -ERR NOOP is not valid in this state
        """,
    )
    await _login(s)
    await play(
        s,
        """
        C: USER bob
        S: -ERR USER is not valid in this state
        C: AUTH PLAIN
        S: -ERR AUTH is not valid in this state
        C: STLS
        S: -ERR STLS is not valid in this state
        C: CAPA
        S: +OK Capability list follows
        S: TOP
        S: UIDL
        S: RESP-CODES
        S: AUTH-RESP-CODE
        S: PIPELINING
        S: EXPIRE NEVER
        S: UTF8
        S: LANG
        S: IMPLEMENTATION Quicksilver
        S: .
        """,
    )


async def test_unknown_and_malformed_commands(make_session) -> None:
    s = await make_session()
    await play(
        s,
        """
        C: HELO
        S: -ERR Unknown command
        C: APOP bob 0123456789abcdef
        S: -ERR APOP needs a name and a 32-digit MD5 digest
        C: APOP bob 0123456789abcdef0123456789abcdef
        S: -ERR APOP is not offered here
        C:
        S: -ERR Empty command
        C: USER  bob
        S: -ERR Arguments must be separated by a single space
        """,
    )


async def test_too_many_bad_commands_closes(make_session) -> None:
    s = await make_session()
    for _ in range(MAX_BAD_COMMANDS - 1):
        r = await s.handle_line(b"BOGUS\r\n")
        assert not r.close
    r = await s.handle_line(b"BOGUS\r\n")
    assert r.close and r.data.startswith(b"-ERR ")


async def test_command_line_too_long(make_session) -> None:
    s = await make_session()
    r = await s.handle_line(b"USER " + b"a" * 300 + b"\r\n")
    assert r.data == b"-ERR Command line too long\r\n" and not r.close
    # RFC 2449's 40-octet argument limit no longer applies to USER: the line
    # limit bounds it, and addresses are often longer (see test_long_user_name)
    r = await s.handle_line(b"USER " + b"a" * 249 + b"\r\n")
    assert r.data == b"-ERR Command line too long\r\n" and not r.close


async def test_non_utf8_and_nul(make_session) -> None:
    s = await make_session()
    await s.handle_line(b"USER \xff\xfe\r\n")
    r = await s.handle_line(b"USER a\x00b\r\n")
    assert r.data.startswith(b"-ERR ")


class _BrokenStore(MemoryStore):
    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc

    async def read_message(self, owner: str, mailbox: str, uid: int) -> bytes:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            OSError(2, "No such file", "/secret/path/mail/bob"),
            b"-ERR [SYS/TEMP] Internal",
        ),
        (TemporaryError("Mail storage busy"), b"-ERR [SYS/TEMP] Mail storage busy"),
        (PermanentError("Mailbox damaged"), b"-ERR [SYS/PERM] Mailbox damaged"),
    ],
)
async def test_store_errors_never_leak(make_session, exc, expected, caplog) -> None:
    broken = _BrokenStore(exc)
    await _fill(broken, msg("a"))
    s = await make_session(store=broken)
    await _login(s)
    r = await s.handle_line(b"RETR 1\r\n")
    assert r.data.startswith(expected) and r.data.endswith(b"\r\n")
    assert b"/secret" not in r.data and b"Traceback" not in r.data
    assert not r.close
    await play(s, "C: NOOP\nS: +OK")
    if isinstance(exc, OSError):
        assert any(rec.exc_info for rec in caplog.records)


async def test_expunge_failure_reports_and_keeps_mail(make_session) -> None:
    class NoExpunge(MemoryStore):
        async def expunge(self, *a: object, **k: object) -> list[int]:
            raise OSError("disk on fire")

    st = NoExpunge()
    await _fill(st, msg("a"))
    s = await make_session(store=st)
    await _login(s)
    await play(
        s,
        "C: DELE 1\nS: +OK *\nC: QUIT\n"
        "S: -ERR [SYS/TEMP] Some deleted messages not removed",
    )
    assert s.state is State.CLOSED
    assert len(await st.list_messages(BOB, "INBOX")) == 1


async def test_cancelled_error_propagates(make_session) -> None:
    class Cancelling(MemoryStore):
        async def read_message(self, owner: str, mailbox: str, uid: int) -> bytes:
            raise asyncio.CancelledError

    st = Cancelling()
    await _fill(st, msg("a"))
    s = await make_session(store=st)
    await _login(s)
    with pytest.raises(asyncio.CancelledError):
        await s.handle_line(b"RETR 1\r\n")


async def test_password_never_logged(make_session, caplog) -> None:
    caplog.set_level("DEBUG", logger="quicksilver.pop3")
    s = await make_session()
    await play(s, "C: USER bob\nS: +OK *\nC: PASS hunter2-secret\nS: -ERR [AUTH] *")
    await play(s, f"C: AUTH PLAIN {PLAIN_HUNTER}\nS: -ERR [AUTH] *")
    text = caplog.text
    assert "hunter2" not in text and PLAIN_HUNTER not in text
    assert "[127.0.0.1:5000]" in text


async def test_uidl_stable_across_flag_change_and_new_store(
    tmp_path, auth, locks
) -> None:
    from server.storage.maildir import MaildirStore

    root = tmp_path / "mail"
    first = MaildirStore(root, "test.host")
    await first.ensure_user(BOB)
    await first.deliver(BOB, msg("a"))
    await first.deliver(BOB, msg("b"))

    async def uidl(store: MaildirStore, then: str = "") -> bytes:
        s = Pop3Session(store, auth, locks, peer_ip="127.0.0.1", login_delay=0)
        await _login(s)
        data = (await s.handle_line(b"UIDL\r\n")).data
        for line in then.split(";"):
            if line:
                await s.handle_line(line.encode() + b"\r\n")
        await s.handle_line(b"QUIT\r\n")
        return data

    before = await uidl(first, "RETR 1")  # RETR sets \Seen: the file is renamed
    uid2 = (await first.list_messages(BOB, "INBOX"))[1].uid
    await first.set_flags(BOB, "INBOX", [(uid2, "=", frozenset({"\\Flagged"}))])
    assert "\\Seen" in (await first.list_messages(BOB, "INBOX"))[0].flags
    assert await uidl(first) == before
    assert await uidl(MaildirStore(root, "test.host")) == before
    keys = [i.key for i in await first.list_messages(BOB, "INBOX")]
    assert before == (
        b"+OK Unique-ID listing follows\r\n"
        + f"1 {keys[0]}\r\n2 {keys[1]}\r\n".encode()
        + b".\r\n"
    )


async def test_utf8_and_lang_rfc6856(make_session) -> None:
    s = await make_session()
    await play(
        s,
        """
        C: LANG
        S: +OK Language listing follows
        S: en English
        S: .
        C: LANG fr
        S: -ERR Only English (en) is available
        C: LANG *
        S: +OK en Language is English
        C: LANG en-GB
        S: +OK en Language is English
        C: LANG bad_tag
        S: -ERR Invalid language tag
        C: UTF8
        S: +OK UTF8 enabled
        """,
    )
    await _login(s)
    await play(s, "C: UTF8\nS: -ERR UTF8 is not valid in this state")


async def test_login_delay_when_set(make_session) -> None:
    """RFC 2449 LOGIN-DELAY: advertised and kept when set; EXPIRE NEVER."""
    last: dict[str, float] = {}
    s = await make_session(login_interval=300, last_logins=last)
    r = await s.handle_line(b"CAPA\r\n")
    assert b"\r\nLOGIN-DELAY 300\r\n" in r.data and b"EXPIRE NEVER" in r.data
    await _login(s)
    await s.handle_line(b"QUIT\r\n")
    again = await make_session(login_interval=300, last_logins=last)
    await again.handle_line(b"USER bob\r\n")
    r = await again.handle_line(b"PASS secret\r\n")
    assert r.data.startswith(b"-ERR [LOGIN-DELAY]") and r.close
