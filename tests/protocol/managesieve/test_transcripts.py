"""ManageSieve (RFC 5804) over real sockets: one transcript per command and
per error, against ``ManageSieveModule`` with a real ``ScriptStore``."""

from __future__ import annotations

import asyncio
import base64

import pytest

from server.protocols.managesieve import module as ms_module
from server.protocols.managesieve.session import MAX_UNAUTHENTICATED_COMMANDS
from server.sieve import capabilities
from tests.protocol.managesieve.conftest import MsClient, Wire
from tests.protocol.pop3.pop3_helpers import BOB, client_tls_context

SIEVE_LINE = b'"SIEVE" "' + " ".join(capabilities()).encode() + b'"\r\n'
GOOD = (
    b'require "fileinto";\r\n'
    b'if header :contains "subject" "x" {\r\n  fileinto "Junk";\r\n}\r\n'
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def literal(data: bytes, plus: bool = True) -> bytes:
    return b"{%d%s}\r\n" % (len(data), b"+" if plus else b"") + data


async def put(c: MsClient, name: str, script: bytes) -> list[bytes]:
    return await c.command(b'PUTSCRIPT "' + name.encode() + b'" ' + literal(script))


# -- capabilities, NOOP, LOGOUT -------------------------------------------------
async def test_greeting_lists_capabilities_then_ok(start_wire) -> None:
    w: Wire = await start_wire()
    c = await MsClient.connect(w.port)
    assert await c.response() == [
        b'"IMPLEMENTATION" "Quicksilver"\r\n',
        b'"SASL" "PLAIN LOGIN"\r\n',
        SIEVE_LINE,
        b'"STARTTLS"\r\n',
        b'"MAXREDIRECTS" "4"\r\n',
        b'"UNAUTHENTICATE"\r\n',
        b'"VERSION" "1.0"\r\n',
        b'OK "Quicksilver ManageSieve ready."\r\n',
    ]
    r = await c.command("capability")  # verbs are case-insensitive
    assert r[2] == SIEVE_LINE and r[-1] == b'OK "Capability completed."\r\n'


async def test_no_starttls_without_certificate(start_wire) -> None:
    w: Wire = await start_wire(tls=False)
    c = await MsClient.connect(w.port)
    assert b'"STARTTLS"\r\n' not in await c.response()
    assert await c.command("STARTTLS") == [b'NO "TLS is not available."\r\n']


async def test_noop_returns_its_tag(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.client()
    assert await c.command('NOOP "STARTTLS-SYNC-42"') == [
        b'OK (TAG "STARTTLS-SYNC-42") "Done"\r\n'
    ]
    assert await c.command("NOOP") == [b'OK "Done"\r\n']


async def test_logout_says_ok_and_closes(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.login()
    assert await c.command("LOGOUT") == [b'OK "Logout completed."\r\n']
    assert await c.eof() == b""


# -- STARTTLS and AUTHENTICATE ------------------------------------------------------
async def test_starttls_resends_capabilities_then_authenticate(start_wire) -> None:
    """RFC 5804 2.2: after the handshake the server sends the capabilities
    again; with plaintext logins refused, SASL is empty before TLS and
    AUTHENTICATE says ENCRYPT-NEEDED, and both work after it."""
    w: Wire = await start_wire(plaintext_login="never")
    c = await MsClient.connect(w.port)
    first = await c.response()
    assert b'"SASL" ""\r\n' in first and b'"STARTTLS"\r\n' in first
    token = b64(f"\0{BOB}\0secret")
    assert await c.command(f'AUTHENTICATE "PLAIN" "{token}"') == [
        b'NO (ENCRYPT-NEEDED) "Authentication is only allowed after STARTTLS."\r\n'
    ]
    again = await c.starttls(client_tls_context())
    assert b'"SASL" "PLAIN LOGIN"\r\n' in again
    assert b'"STARTTLS"\r\n' not in again
    assert again[-1] == b'OK "TLS negotiation done."\r\n'
    assert await c.command(f'AUTHENTICATE "PLAIN" "{token}"') == [
        b'OK "Logged in."\r\n'
    ]
    assert w.auth.calls == [(BOB, "127.0.0.1", "managesieve")]
    r = await c.command("CAPABILITY")
    assert b'"OWNER" "bob@example.org"\r\n' in r
    assert await c.command("STARTTLS") == [
        b'NO "STARTTLS is only allowed before a login."\r\n'
    ]


async def test_plaintext_pipelined_after_starttls_is_dropped(start_wire) -> None:
    """CVE-2011-0411 class: a command sent in plaintext right behind STARTTLS
    must not be run once TLS is up."""
    w: Wire = await start_wire()
    c = await w.client()
    await c.send(b"STARTTLS\r\nLOGOUT\r\n")
    assert await c.response() == [b'OK "Begin TLS negotiation now."\r\n']
    await c.writer.start_tls(client_tls_context(), server_hostname="localhost")
    assert (await c.response())[-1] == b'OK "TLS negotiation done."\r\n'
    assert await c.command("NOOP") == [b'OK "Done"\r\n']


async def test_authenticate_plain_continuation_quoted_and_literal(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.client()
    await c.send(b'AUTHENTICATE "PLAIN"\r\n')
    assert await c.line() == b'""\r\n'  # RFC 5804 2.1: an empty challenge
    assert await c.command(f'"{b64(chr(0) + BOB + chr(0) + "secret")}"') == [
        b'OK "Logged in."\r\n'
    ]
    c2 = await w.client()
    await c2.send(b'AUTHENTICATE "PLAIN"\r\n')
    assert await c2.line() == b'""\r\n'
    token = b64(f"\0{BOB}\0secret").encode()
    assert await c2.command(literal(token)) == [b'OK "Logged in."\r\n']


async def test_authenticate_login_mechanism(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.client()
    await c.send(b'AUTHENTICATE "LOGIN"\r\n')
    assert await c.line() == b'"VXNlcm5hbWU6"\r\n'  # "Username:"
    await c.send(f'"{b64(BOB)}"\r\n'.encode())
    assert await c.line() == b'"UGFzc3dvcmQ6"\r\n'  # "Password:"
    assert await c.command(f'"{b64("secret")}"') == [b'OK "Logged in."\r\n']


@pytest.mark.parametrize("cancel", [b'"*"', b"*"])
async def test_authenticate_cancelled(start_wire, cancel: bytes) -> None:
    """RFC 5804 2.1: the client's ``"*"`` makes the server answer NO."""
    w: Wire = await start_wire()
    c = await w.client()
    await c.send(b'AUTHENTICATE "PLAIN"\r\n')
    assert await c.line() == b'""\r\n'
    assert await c.command(cancel) == [b'NO "Authentication cancelled."\r\n']
    assert w.auth.calls == []
    await w.login()


async def test_failed_logins_are_counted_then_bye(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.client()
    for _ in range(2):
        r = await c.command(
            f'AUTHENTICATE "PLAIN" "{b64(chr(0) + BOB + chr(0) + "x")}"'
        )
        assert r == [b'NO "Authentication failed."\r\n']
    r = await c.command(f'AUTHENTICATE "PLAIN" "{b64(chr(0) + BOB + chr(0) + "y")}"')
    assert r == [b'BYE "Too many failed logins."\r\n']
    assert await c.eof() == b""
    assert [x[2] for x in w.auth.calls] == ["managesieve"] * 3
    assert dict(w.module.status(True).counters)["auth_failures"] == 3


async def test_banned_after_failure_closes(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.client()
    w.auth.banned.add("127.0.0.1")
    r = await c.command(f'AUTHENTICATE "PLAIN" "{b64(chr(0) + BOB + chr(0) + "x")}"')
    assert r == [b'BYE "Too many failed logins."\r\n']
    # and the admission guard refuses the next connection
    c2 = await MsClient.connect(w.port)
    assert await c2.line() == (
        b'BYE "Too many failed logins from your address; try again later"\r\n'
    )


async def test_authenticate_errors(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.client()
    assert await c.command('AUTHENTICATE "CRAM-MD5"') == [
        b'NO "Unsupported authentication mechanism."\r\n'
    ]
    assert await c.command('AUTHENTICATE "PLAIN" "!!notbase64"') == [
        b'NO "Authentication failed."\r\n'
    ]
    assert await c.command("LISTSCRIPTS") == [
        b'NO "LISTSCRIPTS needs a login first (AUTHENTICATE)."\r\n'
    ]
    c2 = await w.login()
    assert await c2.command('AUTHENTICATE "PLAIN" "x"') == [
        b'NO "Already authenticated."\r\n'
    ]


async def test_unauthenticate(start_wire) -> None:
    """RFC 5804 2.14.1: back to the non-authenticated state."""
    w: Wire = await start_wire()
    c = await w.login()
    assert await c.command("UNAUTHENTICATE") == [b'OK "Unauthenticate completed."\r\n']
    assert b'"OWNER" "bob@example.org"\r\n' not in await c.command("CAPABILITY")
    assert (await c.command("LISTSCRIPTS"))[0].startswith(b"NO")
    token = b64(f"\0{BOB}\0secret")
    assert await c.command(f'AUTHENTICATE "PLAIN" "{token}"') == [
        b'OK "Logged in."\r\n'
    ]


# -- scripts ------------------------------------------------------------------------
async def test_putscript_getscript_listscripts_setactive_delete(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.login()
    assert await put(c, "rules", GOOD) == [b'OK "Putscript completed."\r\n']
    folder = w.user_dir()
    assert (folder / "rules.sieve").read_bytes() == GOOD
    # the synchronizing form {n} is read the same way (no continuation)
    r = await c.command(b'PUTSCRIPT "other" ' + literal(b"keep;\r\n", plus=False))
    assert r == [b'OK "Putscript completed."\r\n']
    assert await c.command("LISTSCRIPTS") == [
        b'"other"\r\n',
        b'"rules"\r\n',
        b'OK "Listscripts completed."\r\n',
    ]
    assert await c.command('GETSCRIPT "rules"') == [
        b"{%d}\r\n" % len(GOOD) + GOOD + b"\r\n",
        b'OK "Getscript completed."\r\n',
    ]
    assert await c.command('SETACTIVE "rules"') == [b'OK "Setactive completed."\r\n']
    assert (folder / ".active").read_text() == "rules\n"
    assert (await c.command("LISTSCRIPTS"))[1] == b'"rules" ACTIVE\r\n'
    assert await c.command('DELETESCRIPT "rules"') == [
        b'NO (ACTIVE) "The active script cannot be deleted."\r\n'
    ]
    assert await c.command('SETACTIVE ""') == [b'OK "No script is active now."\r\n']
    assert not (folder / ".active").exists()
    assert await c.command('DELETESCRIPT "rules"') == [
        b'OK "Deletescript completed."\r\n'
    ]
    assert not (folder / "rules.sieve").exists()


async def test_missing_scripts_are_nonexistent(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.login()
    nonexistent = [b'NO (NONEXISTENT) "There is no script by that name."\r\n']
    assert await c.command('GETSCRIPT "nope"') == nonexistent
    assert await c.command('SETACTIVE "nope"') == nonexistent
    assert await c.command('DELETESCRIPT "nope"') == nonexistent
    assert await c.command('RENAMESCRIPT "nope" "new"') == nonexistent


async def test_putscript_syntax_error_gives_line_and_column(start_wire) -> None:
    """RFC 5804 2.6: a script with errors is refused with a human-readable
    reason saying where, and nothing is stored."""
    w: Wire = await start_wire()
    c = await w.login()
    bad = GOOD.replace(b'fileinto "Junk"', b"fileinto")
    r = await put(c, "broken", bad)
    assert len(r) == 1 and r[0].startswith(b'NO "line 3, column 3: '), r
    assert not (w.user_dir() / "broken.sieve").exists()
    r = await put(c, "unknown", b'vacation "away";\r\n')
    assert r[0].startswith(b'NO "line 1, column 1: '), r
    assert await put(c, "latin1", b"# caf\xe9\r\nkeep;\r\n") == [
        b'NO "The script is not valid UTF-8."\r\n'
    ]


async def test_putscript_warnings(start_wire) -> None:
    """RFC 5804 2.6: a valid script with warnings is stored, OK (WARNINGS)."""
    w: Wire = await start_wire()
    c = await w.login()
    script = b"".join(b'redirect "u%d@example.org";\r\n' % i for i in range(1, 7))
    r = await put(c, "many", script)
    assert r == [
        b'OK (WARNINGS) "line 5: the server carries out at most 4 redirects per '
        b'message; further redirects may be ignored"\r\n'
    ]
    assert (w.user_dir() / "many.sieve").read_bytes() == script


async def test_checkscript(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.login()
    assert await c.command(b"CHECKSCRIPT " + literal(GOOD)) == [
        b'OK "Script is valid."\r\n'
    ]
    r = await c.command(b"CHECKSCRIPT " + literal(b"if true {\r\n"))
    assert r[0].startswith(b'NO "line '), r
    assert not w.user_dir().exists()


async def test_renamescript(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.login()
    await put(c, "a", b"keep;\r\n")
    await put(c, "b", b"keep;\r\n")
    await c.command('SETACTIVE "a"')
    assert await c.command('RENAMESCRIPT "a" "b"') == [
        b'NO (ALREADYEXISTS) "A script by that name exists."\r\n'
    ]
    assert await c.command('RENAMESCRIPT "a" "c"') == [
        b'OK "Renamescript completed."\r\n'
    ]
    assert await c.command("LISTSCRIPTS") == [
        b'"b"\r\n',
        b'"c" ACTIVE\r\n',
        b'OK "Listscripts completed."\r\n',
    ]
    assert (w.user_dir() / ".active").read_text() == "c\n"


async def test_names_are_quoted_and_checked(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.login()
    assert await put(c, 'say \\"hi\\" caf\u00e9', b"keep;\r\n") == [
        b'OK "Putscript completed."\r\n'
    ]
    assert (await c.command("LISTSCRIPTS"))[0] == 'say \\"hi\\" caf\u00e9'.join(
        ['"', '"\r\n']
    ).encode()
    r = await c.command(b"PUTSCRIPT {5+}\r\na\x01b c " + literal(b"keep;"))
    assert r == [b'NO "Script names cannot contain control characters."\r\n']


async def test_setactive_refuses_a_broken_script_on_disk(start_wire) -> None:
    """A script written by hand may not compile: it is not activated."""
    w: Wire = await start_wire()
    c = await w.login()
    w.user_dir().mkdir(parents=True)
    (w.user_dir() / "hand.sieve").write_text("if {\n")
    r = await c.command('SETACTIVE "hand"')
    assert r[0].startswith(b'NO "line 2, column 1: '), r
    assert not (w.user_dir() / ".active").exists()


# -- quotas and limits ---------------------------------------------------------------
async def test_havespace(start_wire) -> None:
    w: Wire = await start_wire(store={"max_script_bytes": 1000, "max_scripts": 1})
    c = await w.login()
    assert await c.command('HAVESPACE "a" 1000') == [
        b'OK "Putscript would succeed."\r\n'
    ]
    assert await c.command('HAVESPACE "a" 1001') == [
        b'NO (QUOTA/MAXSIZE) "A script may be at most 1000 bytes."\r\n'
    ]
    await put(c, "a", b"keep;\r\n")
    assert await c.command('HAVESPACE "b" 10') == [
        b'NO (QUOTA/MAXSCRIPTS) "At most 1 scripts are allowed."\r\n'
    ]
    assert (await c.command('HAVESPACE "a" 10'))[0].startswith(b"OK")
    assert await c.command('HAVESPACE "a" 99999999999') == [
        b'NO "Expected a number from 0 to 4294967295"\r\n'
    ]


async def test_putscript_quota_errors(start_wire) -> None:
    w: Wire = await start_wire(
        store={"max_script_bytes": 1000, "max_scripts": 2, "max_storage_bytes": 1500}
    )
    c = await w.login()
    big = b"#" + b"x" * 998 + b"\n"  # 1000 bytes: fits
    assert await put(c, "one", big) == [b'OK "Putscript completed."\r\n']
    assert await put(c, "two", big) == [
        b'NO (QUOTA/MAXSIZE) "Not enough space for this script."\r\n'
    ]
    assert await put(c, "two", b"#" + big) == [
        b'NO (QUOTA/MAXSIZE) "A script may be at most 1000 bytes."\r\n'
    ]
    assert await put(c, "two", b"keep;\r\n") == [b'OK "Putscript completed."\r\n']
    assert await put(c, "three", b"keep;\r\n") == [
        b'NO (QUOTA/MAXSCRIPTS) "At most 2 scripts are allowed."\r\n'
    ]
    assert sorted(p.name for p in w.user_dir().iterdir()) == ["one.sieve", "two.sieve"]


async def test_oversized_literal_is_skipped_not_kept(start_wire, monkeypatch) -> None:
    """A literal above the limit is read past in pieces (``discard``), never
    read into memory; the command gets NO (QUOTA/MAXSIZE) and the connection
    goes on."""
    w: Wire = await start_wire(store={"max_script_bytes": 1000})
    limit = w.module.max_literal
    sizes: list[int] = []
    real = ms_module.ManageSieveProtocol.readexactly

    async def spy(self, n: int, timeout: float | None) -> bytes:  # type: ignore[no-untyped-def]
        sizes.append(n)
        return await real(self, n, timeout)

    monkeypatch.setattr(ms_module.ManageSieveProtocol, "readexactly", spy)
    c = await w.login()
    huge = b"#" * (limit + 1)
    assert await put(c, "huge", huge) == [
        b'NO (QUOTA/MAXSIZE) "A script may be at most 1000 bytes."\r\n'
    ]
    assert all(n <= limit for n in sizes), sizes
    assert await c.command("NOOP") == [b'OK "Done"\r\n']
    assert not w.user_dir().exists()


async def test_a_third_literal_is_read_past_and_refused(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.login()
    r = await c.command(b"RENAMESCRIPT {1+}\r\na {1+}\r\nb {1+}\r\nc")
    assert r == [b'NO "Too many literals in one command."\r\n']
    assert await c.command("NOOP") == [b'OK "Done"\r\n']


async def test_literal_too_large_to_skip_closes_at_once(start_wire) -> None:
    """Above MAX_DISCARD the server does not wait for the data: BYE now."""
    w: Wire = await start_wire()
    c = await w.login()
    await c.send(b'PUTSCRIPT "x" {%d+}\r\n' % (ms_module.MAX_DISCARD + 1))
    assert await c.line() == b'BYE "Literal too large."\r\n'
    assert await c.eof() == b""


async def test_line_too_long_closes(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.client()
    await c.send(b"NOOP " + b"x" * 9000 + b"\r\n")
    assert await c.line() == b'BYE "Line too long."\r\n'


async def test_quoted_string_limit_and_syntax_errors(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.login()
    r = await c.command(b'GETSCRIPT "' + b"a" * 1025 + b'"')
    assert r == [b'NO "Quoted strings are at most 1024 octets; use a literal"\r\n']
    assert await c.command("FROBNICATE") == [b'NO "Unknown command"\r\n']
    assert await c.command("GETSCRIPT name") == [
        b'NO "Expected a quoted string or a literal"\r\n'
    ]
    assert await c.command('GETSCRIPT "a" "b"') == [
        b'NO "Unexpected data after the arguments"\r\n'
    ]


async def test_too_many_bad_commands_bye(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.client()
    for _ in range(9):
        assert (await c.command("BOGUS"))[0].startswith(b"NO")
    assert await c.command("BOGUS") == [b'BYE "Too many invalid commands."\r\n']
    assert await c.eof() == b""


async def test_commands_without_login_are_bounded(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.client()
    for _ in range(MAX_UNAUTHENTICATED_COMMANDS):
        assert await c.command("NOOP") == [b'OK "Done"\r\n']
    assert await c.command("NOOP") == [b'BYE "Too many commands without a login."\r\n']


async def test_idle_timeout_says_bye(start_wire) -> None:
    w: Wire = await start_wire(idle_timeout=0.3)
    c = await w.client()
    await c.send(b"NOO")  # a trickle is not activity
    assert await c.line() == b'BYE (TRYLATER) "Disconnected for inactivity."\r\n'
    assert await c.eof() == b""


async def test_stop_says_bye_to_sessions(start_wire) -> None:
    w: Wire = await start_wire()
    c = await w.login()
    await w.module.stop()
    assert await c.line() == b'BYE (TRYLATER) "Server shutting down."\r\n'
    assert w.module.status(True).sessions == 0


async def test_store_failure_is_trylater_without_details(
    start_wire, monkeypatch
) -> None:
    w: Wire = await start_wire()
    c = await w.login()

    def broken(*args: object) -> None:
        raise OSError(28, "No space left on device", str(w.root / "secret-path"))

    monkeypatch.setattr(w.scripts, "put", broken)
    r = await put(c, "x", b"keep;\r\n")
    assert r == [b'NO (TRYLATER) "Internal server error, try again later."\r\n']
    assert b"secret-path" not in r[0]
    assert await c.command("NOOP") == [b'OK "Done"\r\n']


async def test_concurrent_sessions_share_the_store(start_wire) -> None:
    w: Wire = await start_wire()
    a, b = await asyncio.gather(w.login(), w.login())
    await put(a, "one", b"keep;\r\n")
    assert (await b.command("LISTSCRIPTS"))[0] == b'"one"\r\n'
