"""CONDSTORE and QRESYNC (RFC 7162) transcripts: the enabling commands, MODSEQ
in FETCH, SEARCH, SORT and STATUS, CHANGEDSINCE, UNCHANGEDSINCE with
[MODIFIED], VANISHED and the QRESYNC SELECT, with two sessions where one
changes what the other resynchronises. Both stores; the Maildir one also
across a restart of the module."""

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


def modseqs(lines: list[bytes]) -> dict[int, int]:
    """UID -> MODSEQ of the FETCH responses among ``lines``."""
    out = {}
    for line in lines:
        m = re.search(rb"UID (\d+).*MODSEQ \((\d+)\)|MODSEQ \((\d+)\).*UID (\d+)", line)
        if m:
            uid = int(m.group(1) or m.group(4))
            out[uid] = int(m.group(2) or m.group(3))
    return out


def highest(lines: list[bytes]) -> int:
    for line in lines:
        m = re.search(rb"HIGHESTMODSEQ (\d+)", line)
        if m:
            return int(m.group(1))
    raise AssertionError(f"no HIGHESTMODSEQ in {lines!r}")


def uidvalidity(lines: list[bytes]) -> int:
    for line in lines:
        m = re.search(rb"UIDVALIDITY (\d+)", line)
        if m:
            return int(m.group(1))
    raise AssertionError("no UIDVALIDITY")


@pytest.fixture(params=["memory", "maildir"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ImapTestServer]:
    srv = ImapTestServer(tmp_path, store_kind=request.param).start()
    for n in range(1, 6):
        srv.deliver(ALICE, message(f"m{n}"))
    yield srv
    srv.stop()


@pytest.fixture
def login(server: ImapTestServer) -> Iterator[Callable[[], Client]]:
    """Logged-in clients of ``server``, closed at the end."""
    with logged_in_clients(server) as make:
        yield make


def test_advertised_and_enable(login: Callable[[], Client]) -> None:
    c = login()
    caps = c.command("c", "CAPABILITY")[0].split()
    assert b"CONDSTORE" in caps and b"QRESYNC" in caps
    assert c.command("e", "ENABLE CONDSTORE")[0] == b"* ENABLED CONDSTORE\r\n"
    assert c.command("e", "ENABLE CONDSTORE")[0] == b"* ENABLED\r\n"  # on already
    assert c.command("q", "ENABLE QRESYNC")[0] == b"* ENABLED QRESYNC\r\n"


def test_nothing_says_modseq_until_enabled(login: Callable[[], Client]) -> None:
    """Before an enabling command no answer mentions mod-sequences, not even
    SELECT's HIGHESTMODSEQ (RFC 7162 3.1.2.1 asks for it once enabled)."""
    a, b = login(), login()
    r = a.command("s", "SELECT INBOX")
    assert not any(b"MODSEQ" in line for line in r), r
    b.command("s", "SELECT INBOX")
    b.command("t", "STORE 1 +FLAGS (\\Seen)")
    r = a.command("n", "NOOP")
    assert r[0] == b"* 1 FETCH (UID 1 FLAGS (\\Recent \\Seen))\r\n"
    r = a.command("f", "STORE 2 +FLAGS (\\Flagged)")
    assert r[0] == b"* 2 FETCH (FLAGS (\\Flagged \\Recent))\r\n"
    assert not any(b"MODSEQ" in line for line in r)


@pytest.mark.parametrize(
    "enabling",
    [
        "FETCH 1 (MODSEQ)",
        "FETCH 1 (FLAGS) (CHANGEDSINCE 1)",
        "STORE 1 (UNCHANGEDSINCE 99999999) +FLAGS (\\Answered)",
        "SEARCH MODSEQ 1",
        "STATUS INBOX (HIGHESTMODSEQ)",
        'LIST "" "INBOX" RETURN (STATUS (HIGHESTMODSEQ))',
    ],
)
def test_each_enabling_command_turns_it_on(
    login: Callable[[], Client], enabling: str
) -> None:
    """RFC 7162 3.1: the first enabling command with a mailbox selected tells
    HIGHESTMODSEQ; from then on flag changes carry MODSEQ."""
    a, b = login(), login()
    a.command("s", "SELECT INBOX")
    r = a.command("x", enabling)
    assert r[-1].startswith(b"x OK"), r
    assert re.match(rb"\* OK \[HIGHESTMODSEQ \d+\] Highest\r\n", r[0]), r
    top = highest(r)
    assert top >= 6  # five deliveries, and the first value is above 1
    b.command("s", "SELECT INBOX")
    b.command("t", "STORE 3 +FLAGS (\\Seen)")
    r = a.command("n", "NOOP")
    assert re.match(rb"\* 3 FETCH \(UID 3 MODSEQ \((\d+)\) FLAGS \(", r[0]), r
    assert int(re.findall(rb"MODSEQ \((\d+)\)", r[0])[0]) > top


def test_fetch_modseq_and_changedsince(login: Callable[[], Client]) -> None:
    """RFC 7162 3.1.4 (Examples 11-13)."""
    c = login()
    c.command("s", "SELECT INBOX (CONDSTORE)")
    first = modseqs(c.command("f", "UID FETCH 1:* (MODSEQ)"))
    assert sorted(first) == [1, 2, 3, 4, 5]
    assert len(set(first.values())) == 5 and all(v > 0 for v in first.values())
    top = max(first.values())
    r = c.command("t", "STORE 2,4 +FLAGS.SILENT (\\Flagged)")
    assert [re.sub(rb"\(\d+\)", b"(n)", line) for line in r[:-1]] == [
        b"* 2 FETCH (MODSEQ (n))\r\n",
        b"* 4 FETCH (MODSEQ (n))\r\n",
    ]
    r = c.command("g", f"FETCH 1:* (FLAGS) (CHANGEDSINCE {top})")
    assert [line.split(b" MODSEQ")[0] for line in r[:-1]] == [
        b"* 2 FETCH (FLAGS (\\Flagged \\Recent)",
        b"* 4 FETCH (FLAGS (\\Flagged \\Recent)",
    ]
    later = modseqs(c.command("u", f"UID FETCH 1:* (UID) (CHANGEDSINCE {top})"))
    assert sorted(later) == [2, 4] and min(later.values()) > top
    assert c.command(
        "n", f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {max(later.values())})"
    )[0].startswith(b"n OK")
    # the value does not move when a change changes nothing
    c.command("t", "STORE 2 +FLAGS.SILENT (\\Flagged)")
    assert modseqs(c.command("f", "UID FETCH 2 (MODSEQ)")) == {2: later[2]}


def test_unchangedsince_and_modified(login: Callable[[], Client]) -> None:
    """RFC 7162 3.1.3 (Examples 7-9): messages changed since are left alone
    and named in MODIFIED (sequence numbers; UIDs for UID STORE)."""
    a, b = login(), login()
    a.command("s", "SELECT INBOX (CONDSTORE)")
    known = modseqs(a.command("f", "UID FETCH 1:* (MODSEQ)"))
    top = max(known.values())
    b.command("s", "SELECT INBOX")
    b.command("t", "STORE 2 +FLAGS (\\Seen)")  # another client got there first
    r = a.command("x", f"STORE 1:3 (UNCHANGEDSINCE {top}) +FLAGS.SILENT (\\Deleted)")
    assert r[-1] == b"x OK [MODIFIED 2] Conditional STORE failed for some messages\r\n"
    fetched = {int(line.split()[1]): line for line in r if b"FETCH" in line}
    assert {1, 3} <= set(fetched)
    # 2 is only told as the other session left it (an update, with MODSEQ)
    assert 2 not in fetched or (
        b"\\Deleted" not in fetched[2] and b"\\Seen" in fetched[2]
    )
    r = a.command("f", "FETCH 1:3 (FLAGS)")
    assert b"\\Deleted" in r[0] and b"\\Deleted" not in r[1] and b"\\Deleted" in r[2]
    r = a.command("y", "UID STORE 4:5 (UNCHANGEDSINCE 1) FLAGS (\\Answered)")
    assert (
        r[-1] == b"y OK [MODIFIED 4:5] Conditional STORE failed for some messages\r\n"
    )
    assert len(r) == 1
    r = a.command("z", "STORE 4 (UNCHANGEDSINCE 0) +FLAGS (\\Answered)")
    assert r[-1] == b"z OK [MODIFIED 4] Conditional STORE failed for some messages\r\n"
    r = a.command("b", "STORE 4 (UNCHANGEDSINCE) +FLAGS (\\Answered)")
    assert r[-1].startswith(b"b BAD")


def test_search_and_sort_modseq(login: Callable[[], Client]) -> None:
    """RFC 7162 3.1.5 (Examples 14-16): MODSEQ key, and the highest value of
    what was found after the numbers (none when nothing was found)."""
    c = login()
    c.command("s", "SELECT INBOX")
    c.command("t", "STORE 3 +FLAGS (\\Seen)")
    three = modseqs(c.command("f", "UID FETCH 3 (MODSEQ)"))[3]
    r = c.command("a", f"SEARCH MODSEQ {three}")
    assert r[0] == f"* SEARCH 3 (MODSEQ {three})\r\n".encode()
    r = c.command("b", f'SEARCH MODSEQ "/flags/\\\\Seen" all {three}')
    assert r[0] == f"* SEARCH 3 (MODSEQ {three})\r\n".encode()
    r = c.command("c", f"SEARCH MODSEQ {three + 1}")
    assert r[0] == b"* SEARCH\r\n"
    r = c.command("d", f"UID SEARCH RETURN (COUNT MIN) MODSEQ {three}")
    assert r[0] == f'* ESEARCH (TAG "d") UID MIN 3 COUNT 1 MODSEQ {three}\r\n'.encode()
    r = c.command("e", "SORT (REVERSE ARRIVAL) UTF-8 MODSEQ 1")
    assert r[0] == f"* SORT 5 4 3 2 1 (MODSEQ {three})\r\n".encode()
    r = c.command("g", "SEARCH UNSEEN")
    assert r[0] == b"* SEARCH 1 2 4 5\r\n"  # no MODSEQ key: no MODSEQ
    r = c.command("h", 'SEARCH MODSEQ "/flags/\\\\Seen" bogus 1')
    assert r[-1].startswith(b"h BAD")
    r = c.command("i", "SEARCH RETURN (MODSEQ) ALL")
    assert r[-1].startswith(b"i BAD")


def test_status_highestmodseq(login: Callable[[], Client]) -> None:
    c = login()
    r = c.command("s", "STATUS INBOX (MESSAGES HIGHESTMODSEQ)")
    top = highest(r)
    assert r[0] == f"* STATUS INBOX (MESSAGES 5 HIGHESTMODSEQ {top})\r\n".encode()
    c.command("x", "SELECT INBOX")
    c.command("t", "STORE 1 +FLAGS (\\Seen)")
    c.command("u", "UNSELECT")
    assert highest(c.command("s", "STATUS INBOX (HIGHESTMODSEQ)")) > top


def test_qresync_vanished_instead_of_expunge(login: Callable[[], Client]) -> None:
    """RFC 7162 3.2.10: with QRESYNC on, expunges are VANISHED (ours and
    another session's), and the tagged OK says HIGHESTMODSEQ."""
    a, b = login(), login()
    a.command("e", "ENABLE QRESYNC")
    a.command("s", "SELECT INBOX")
    b.command("s", "SELECT INBOX")
    b.command("t", "STORE 2,3 +FLAGS.SILENT (\\Deleted)")
    b.command("x", "EXPUNGE")
    r = a.command("n", "NOOP")
    assert b"* VANISHED 2:3\r\n" in r, r
    assert re.match(rb"n OK \[HIGHESTMODSEQ \d+\] NOOP completed", r[-1]), r
    flagged = [line for line in r if b"FETCH" in line]
    assert flagged == [] or all(
        b"UID" in line and b"MODSEQ" in line for line in flagged
    )
    a.command("t", "STORE 1 +FLAGS.SILENT (\\Deleted)")
    r = a.command("x", "EXPUNGE")
    assert r[0] == b"* VANISHED 1\r\n", r
    assert re.match(rb"x OK \[HIGHESTMODSEQ \d+\] EXPUNGE completed", r[-1]), r
    r = a.command("f", "FETCH 1:* (UID)")  # 4 and 5 are now 1 and 2
    assert r[:2] == [b"* 1 FETCH (UID 4)\r\n", b"* 2 FETCH (UID 5)\r\n"]


def test_qresync_select_after_changes_elsewhere(login: Callable[[], Client]) -> None:
    """RFC 7162 3.2.5 (Example 24 and 25): a client that was away gets what
    vanished and what changed since its mod-sequence, in the SELECT."""
    a = login()
    a.command("e", "ENABLE QRESYNC")
    r = a.command("s", "SELECT INBOX")
    uv, top = uidvalidity(r), highest(r)
    a.command("l", "LOGOUT")
    b = login()
    b.command("s", "SELECT INBOX")
    b.command("t", "STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.command("t", "STORE 4 +FLAGS.SILENT (\\Flagged)")
    b.command("x", "EXPUNGE")
    b.command("l", "LOGOUT")
    c = login()
    assert c.command("s", f"SELECT INBOX (QRESYNC ({uv} {top}))")[-1].startswith(
        b"s BAD"
    )  # not enabled yet
    c.command("e", "ENABLE QRESYNC")
    r = c.command("s", f"SELECT INBOX (QRESYNC ({uv} {top}))")
    assert b"* VANISHED (EARLIER) 1\r\n" in r, r
    fetches = [line for line in r if b"FETCH" in line]
    assert len(fetches) == 1
    assert re.match(
        rb"\* 3 FETCH \(UID 4 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)", fetches[0]
    )
    assert r.index(b"* VANISHED (EARLIER) 1\r\n") < r.index(fetches[0])
    assert r[-1] == b"s OK [READ-WRITE] SELECT completed\r\n"
    # known UIDs narrow VANISHED; another UIDVALIDITY means no resync at all
    r = c.command("k", f"SELECT INBOX (QRESYNC ({uv} {top} 2:5))")
    assert r[0] == b"* OK [CLOSED] Previous mailbox closed\r\n"
    assert not any(b"VANISHED" in line for line in r)
    r = c.command("w", f"EXAMINE INBOX (QRESYNC ({uv + 1} {top}))")
    assert not any(b"VANISHED" in line or b"FETCH" in line for line in r)
    assert r[-1] == b"w OK [READ-ONLY] EXAMINE completed\r\n"
    # UID FETCH ... (CHANGEDSINCE m VANISHED), only among the UIDs asked for
    c.command("s", "SELECT INBOX")
    r = c.command("v", f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {top} VANISHED)")
    assert r[0] == b"* VANISHED (EARLIER) 1\r\n"
    r = c.command("v", f"UID FETCH 2:* (FLAGS) (CHANGEDSINCE {top} VANISHED)")
    assert not any(b"VANISHED" in line for line in r)
    r = c.command("v", f"FETCH 1:* (FLAGS) (CHANGEDSINCE {top} VANISHED)")
    assert r[-1].startswith(b"v BAD")  # VANISHED is UID FETCH's only


def test_vanished_needs_qresync(login: Callable[[], Client]) -> None:
    c = login()
    c.command("s", "SELECT INBOX")
    r = c.command("v", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert r[-1].startswith(b"v BAD")
    r = c.command("w", "UID FETCH 1:* (FLAGS) (VANISHED)")
    assert r[-1].startswith(b"w BAD")
    r = c.command("x", "SELECT INBOX (BOGUS)")
    assert r[-1].startswith(b"x BAD")


# -- OBJECTID (RFC 8474) ---------------------------------------------------------
def test_objectid(login: Callable[[], Client]) -> None:
    """RFC 8474 examples: MAILBOXID on CREATE, SELECT and STATUS, kept by
    RENAME; EMAILID per message, kept by COPY and MOVE; THREADID NIL; the
    EMAILID and THREADID search keys."""
    c = login()
    assert b"OBJECTID" in c.command("c", "CAPABILITY")[0].split()
    r = c.command("a", "CREATE Work")
    m = re.match(rb"a OK \[MAILBOXID \((F[0-9a-f]+)\)\] CREATE completed", r[-1])
    assert m, r
    work = m.group(1)
    r = c.command("b", "STATUS Work (MAILBOXID MESSAGES)")
    assert r[0] == b"* STATUS Work (MAILBOXID (" + work + b") MESSAGES 0)\r\n"
    c.command("r", "RENAME Work Jobs")
    r = c.command("s", "SELECT Jobs")
    assert b"* OK [MAILBOXID (" + work + b")] Ok\r\n" in r
    r = c.command("i", "SELECT INBOX")
    inbox = re.findall(rb"MAILBOXID \((\w+)\)", b"".join(r))
    assert inbox and inbox[0] != work
    r = c.command("f", "FETCH 1:2 (EMAILID THREADID)")
    ids = re.findall(rb"EMAILID \((M[0-9a-f]{24})\) THREADID NIL", b"".join(r))
    assert len(ids) == 2 and ids[0] != ids[1]
    again = c.command("g", "UID FETCH 1 (EMAILID)")
    assert ids[0] in again[0]
    r = c.command("h", f"SEARCH EMAILID {ids[1].decode()}")
    assert r[0] == b"* SEARCH 2\r\n"
    assert c.command("j", "SEARCH THREADID T1")[0] == b"* SEARCH\r\n"
    assert c.command("k", "SEARCH EMAILID bad!id")[-1].startswith(b"k BAD")
    c.command("y", "COPY 1 Jobs")
    c.command("s", "SELECT Jobs")
    copied = c.command("f", "FETCH 1 (EMAILID)")  # the same message: the same id
    assert copied[0] == b"* 1 FETCH (EMAILID (" + ids[0] + b"))\r\n"
    c.command("m", "UID MOVE 1 INBOX")
    c.command("s", "SELECT INBOX")
    r = c.command("h", f"UID SEARCH EMAILID {ids[0].decode()}")
    assert r[0] == b"* SEARCH 1 6\r\n"  # the original and the moved copy
