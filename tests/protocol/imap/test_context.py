"""CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267): PARTIAL windows, and results
kept current with UPDATE (ADDTO / REMOVEFROM after changes by this session,
another one, or while idling), CANCELUPDATE, and NOUPDATE where a result is
not kept."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE
from tests.integration.imap.harness import (
    Client,
    ImapTestServer,
    logged_in_clients,
    message,
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ImapTestServer]:
    srv = ImapTestServer(tmp_path).start()
    # sizes grow with n, so SORT (SIZE) orders them 1..5; REVERSE the other way
    for n in range(1, 6):
        srv.deliver(ALICE, message(f"m{n}", body="x" * n * 10 + "\r\n"))
    yield srv
    srv.stop()


@pytest.fixture
def login(server: ImapTestServer) -> Iterator[Callable[[], Client]]:
    with logged_in_clients(server, select="INBOX") as make:
        yield make


def append(msg: bytes) -> bytes:
    return b"APPEND INBOX {%d+}\r\n" % len(msg) + msg


def esearch(lines: list[bytes], tag: str) -> list[bytes]:
    return [ln for ln in lines if ln.startswith(f'* ESEARCH (TAG "{tag}")'.encode())]


def test_advertised_and_partial(login: Callable[[], Client]) -> None:
    """RFC 5267 4.4: PARTIAL gives the results at those positions."""
    c = login()
    caps = c.command("c", "CAPABILITY")[0].split()
    assert b"CONTEXT=SEARCH" in caps and b"CONTEXT=SORT" in caps
    r = c.command("a", "UID SEARCH RETURN (PARTIAL 2:3) ALL")
    assert r[0] == b'* ESEARCH (TAG "a") UID PARTIAL (2:3 2:3)\r\n'
    r = c.command("b", "SEARCH RETURN (PARTIAL 4:9 COUNT) ALL")
    assert r[0] == b'* ESEARCH (TAG "b") PARTIAL (4:9 4:5) COUNT 5\r\n'
    r = c.command("d", "SEARCH RETURN (PARTIAL 7:9) ALL")
    assert r[0] == b'* ESEARCH (TAG "d") PARTIAL (7:9 NIL)\r\n'
    r = c.command("e", "SORT RETURN (PARTIAL 1:2) (REVERSE SIZE) UTF-8 ALL")
    assert r[0] == b'* ESEARCH (TAG "e") PARTIAL (1:2 5,4)\r\n'
    for bad in (
        "SEARCH RETURN (PARTIAL 0:2) ALL",
        "SEARCH RETURN (PARTIAL 1) ALL",
        "SEARCH RETURN (ALL PARTIAL 1:2) ALL",
        "SEARCH RETURN (UPDATE UPDATE) ALL",
        "CANCELUPDATE",
        "CANCELUPDATE tag",
    ):
        assert c.command("x", bad)[-1].startswith(b"x BAD"), bad


def test_search_update_from_another_session(login: Callable[[], Client]) -> None:
    a, b = login(), login()
    r = a.command("u1", "UID SEARCH RETURN (COUNT UPDATE) UNSEEN")
    assert r[0] == b'* ESEARCH (TAG "u1") UID COUNT 5\r\n'
    b.command("t", "STORE 2,4 +FLAGS (\\Seen)")
    b.command("n", append(b"Subject: n\r\n\r\nnew\r\n"))
    r = a.command("n", "NOOP")
    assert esearch(r, "u1") == [
        b'* ESEARCH (TAG "u1") UID REMOVEFROM (0 2,4) ADDTO (0 6)\r\n'
    ], r
    # our own change counts too; nothing new: nothing said
    r = a.command("t", "STORE 6 +FLAGS (\\Seen)")
    assert esearch(r, "u1") == []  # not during a STORE (RFC 3501 7.4.1)
    r = a.command("n", "NOOP")
    assert esearch(r, "u1") == [b'* ESEARCH (TAG "u1") UID REMOVEFROM (0 6)\r\n']
    assert esearch(a.command("n", "NOOP"), "u1") == []
    # an expunged message leaves every result silently (EXPUNGE says it)
    b.command("d", "STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.command("x", "EXPUNGE")
    r = a.command("n", "NOOP")
    assert b"* 1 EXPUNGE\r\n" in r and esearch(r, "u1") == [], r
    assert a.command("c", 'CANCELUPDATE "u1"')[-1] == b"c OK CANCELUPDATE completed\r\n"
    b.command("t", "STORE 1 -FLAGS (\\Seen)")
    assert esearch(a.command("n", "NOOP"), "u1") == []
    r = a.command("c", 'CANCELUPDATE "u1"')
    assert r[-1].startswith(b"c NO")


def test_sort_update_positions(login: Callable[[], Client]) -> None:
    """A SORT result: REMOVEFROM at the place the message had, ADDTO at the
    place it takes; applied in order they give the new result."""
    a, b = login(), login()
    r = a.command("s1", "UID SORT RETURN (ALL UPDATE) (REVERSE SIZE) UTF-8 UNFLAGGED")
    assert r[0] == b'* ESEARCH (TAG "s1") UID ALL 5,4,3,2,1\r\n'
    model = [5, 4, 3, 2, 1]
    b.command("t", "STORE 2,4 +FLAGS (\\Flagged)")
    b.command("n", append(b"Subject: mid\r\n\r\n" + b"x" * 25 + b"\r\n"))
    r = a.command("n", "NOOP")
    [line] = esearch(r, "s1")
    for kind, pos, uid in re.findall(rb"(REMOVEFROM|ADDTO) \((\d+) (\d+)\)", line):
        if kind == b"REMOVEFROM":
            assert model[int(pos) - 1] == int(uid)
            del model[int(pos) - 1]
        else:
            model.insert(int(pos) - 1, int(uid))
    r = a.command("v", "UID SORT (REVERSE SIZE) UTF-8 UNFLAGGED")
    assert r[0] == b"* SORT " + b" ".join(str(u).encode() for u in model) + b"\r\n"
    assert 6 in model and 2 not in model and 4 not in model


def test_updates_while_idling(
    server: ImapTestServer, login: Callable[[], Client]
) -> None:
    a = login()
    a.command("u", "SEARCH RETURN (UPDATE) FLAGGED")
    a.send(b"i IDLE\r\n")
    assert a.readline().startswith(b"+")
    server.run(
        server.store.set_flags(ALICE, "INBOX", [(3, "+", frozenset({"\\Flagged"}))])
    )
    seen = []
    while True:
        line = a.readline()
        seen.append(line)
        if line.startswith(b'* ESEARCH (TAG "u")'):
            break
    assert line == b'* ESEARCH (TAG "u") ADDTO (0 3)\r\n', seen
    a.send(b"DONE\r\n")
    assert a.until("i")[-1].startswith(b"i OK")


def test_noupdate_where_a_result_is_not_kept(login: Callable[[], Client]) -> None:
    c = login()
    r = c.command("b", "SEARCH RETURN (UPDATE) BODY hello")
    assert any(ln.startswith(b'* NO [NOUPDATE "b"]') for ln in r), r
    r = c.command("p", "SEARCH RETURN (PARTIAL 1:2 UPDATE) ALL")
    assert any(ln.startswith(b'* NO [NOUPDATE "p"]') for ln in r), r
    for i in range(10):
        assert not any(
            b"NOUPDATE" in ln for ln in c.command(f"k{i}", "SEARCH RETURN (UPDATE) ALL")
        )
    r = c.command("z", "SEARCH RETURN (UPDATE) ALL")
    assert any(ln.startswith(b'* NO [NOUPDATE "z"]') for ln in r), r
    assert r[-1].startswith(b"z OK")
