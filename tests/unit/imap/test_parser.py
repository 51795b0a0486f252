from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.protocols.imap import command as c
from server.protocols.imap import fetchitems as fi
from server.protocols.imap.fetchitems import Section
from server.protocols.imap.grammar import (
    ParseError,
    SeqSet,
    literal_request,
    split_tag,
)
from server.protocols.imap.parser import parse_command
from server.protocols.imap.searchparse import SearchKey


def p(text: bytes | str):  # type: ignore[no-untyped-def]
    raw = text.encode() if isinstance(text, str) else text
    return parse_command(raw + b"\r\n")


def test_literal_request() -> None:
    assert literal_request(b"a LOGIN {5}\r\n") == (5, False)
    assert literal_request(b"a LOGIN {5+}\r\n") == (5, True)
    assert literal_request(b"a LOGIN x\r\n") is None
    assert literal_request(b'a LOGIN "{5}"\r\n') is None


def test_split_tag() -> None:
    assert split_tag(b"abc NOOP\r\n") == "abc"
    assert split_tag(b"+abc NOOP") == "*"
    assert split_tag(b"") == "*"


def test_login_forms() -> None:
    assert p('a1 login "al\\"ice" {3}\r\npw!') == c.Login("a1", b'al"ice', b"pw!")
    with pytest.raises(ParseError):
        p("a1 LOGIN onlyone")
    with pytest.raises(ParseError):
        p('a1 LOGIN "bad\\x" y')


def test_mailbox_names() -> None:
    assert p("a SELECT inbox") == c.Select("a", "INBOX")
    assert p("a EXAMINE Inbox/Sub") == c.Examine("a", "INBOX/Sub")
    assert p("a SELECT Caf&AOk-").mailbox == "Café"
    assert p('a SELECT "with space"').mailbox == "with space"
    with pytest.raises(ParseError):
        p("a SELECT Caf&AOk")


def test_fetch_atts() -> None:
    cmd = p(
        'a UID FETCH 1:*,4 (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From "To")]<0.100> BODY)'
    )
    assert cmd == c.Fetch(
        "a",
        True,
        SeqSet(((1, None), (4, 4))),
        (
            fi.Flags(),
            fi.BodySection(
                Section((1, 2), "HEADER.FIELDS", ("FROM", "TO")), True, (0, 100)
            ),
            fi.Body(),
        ),
    )
    assert p("a FETCH 1 all").items == (
        fi.Flags(),
        fi.InternalDate(),
        fi.Rfc822Size(),
        fi.Envelope(),
    )
    assert len(p("a FETCH 1 FULL").items) == 5
    assert p("a FETCH 1 BODY[]").items == (fi.BodySection(Section()),)
    # the message's own header: answerable from the cached header
    assert p("a FETCH 1 BODY[HEADER.FIELDS.NOT (X)]").items == (
        fi.HeaderSection(Section((), "HEADER.FIELDS.NOT", ("X",))),
    )
    assert p("a FETCH 1 (BINARY.PEEK[1]<0.5> BINARY.SIZE[2] RFC822)").items == (
        fi.Binary(Section((1,)), True, (0, 5)),
        fi.BinarySize(Section((2,))),
        fi.Rfc822(),
    )
    for bad in [
        "a FETCH 0 FLAGS",
        "a FETCH 1 (FLAGS",
        "a FETCH 1 BODY[FOO]",
        "a FETCH 1 BODY[1.0]",
        "a FETCH 1 BODY.PEEK",
        "a FETCH 1 BODY[]<1>",
        "a FETCH 1 (ALL)",
        "a FETCH 1:2: FLAGS",
        "a FETCH 1 BODY[MIME]",
    ]:
        with pytest.raises(ParseError):
            p(bad)


def test_store_and_flags() -> None:
    assert p("a STORE 2:4 +FLAGS.SILENT (\\SEEN $Junk)") == c.Store(
        "a", False, SeqSet(((2, 4),)), "+", True, ("\\Seen", "$Junk")
    )
    assert p("a STORE 1 FLAGS \\Deleted \\Seen").flags == ("\\Deleted", "\\Seen")
    with pytest.raises(ParseError):
        p("a STORE 1 LABELS (x)")


def test_append() -> None:
    cmd = p('a APPEND Sent (\\Seen) " 1-Feb-2020 10:00:00 -0130" {3+}\r\nabc')
    # 11:30 UTC
    assert cmd == c.Append("a", "Sent", ("\\Seen",), 1580551200.0 + 5400, b"abc")
    with pytest.raises(ParseError):
        p('a APPEND Sent "1-Feb-2020" {3}\r\nabc')
    with pytest.raises(ParseError):
        p("a APPEND Sent {5}\r\nabc")


def test_search_program() -> None:
    cmd = p('a SEARCH CHARSET utf-8 OR (FROM "x y" SEEN) NOT 1:3 HEADER X-A ""')
    assert cmd.charset == "UTF-8" and cmd.returns is None and not cmd.uid
    key = cmd.key
    assert key.op == "AND"
    assert key.args[0] == SearchKey(
        "OR",
        (
            SearchKey("AND", (SearchKey("FROM", (b"x y",)), SearchKey("SEEN"))),
            SearchKey("NOT", (SearchKey("SEQ", (SeqSet(((1, 3),)),)),)),
        ),
    )
    assert key.args[1] == SearchKey("HEADER", ("X-A", b""))
    assert p("a SEARCH SINCE 1-Feb-1994").key == SearchKey("SINCE", ((1994, 2, 1),))
    for bad in [
        "a SEARCH",
        "a SEARCH FROM",
        "a SEARCH OR SEEN",
        "a SEARCH (SEEN",
        "a SEARCH SINCE 1-Foo-1994",
        "a SEARCH LARGER x",
        "a SEARCH BOGUS",
    ]:
        with pytest.raises(ParseError):
            p(bad)


def test_list_forms() -> None:
    assert p('a LIST "" "*"') == c.List("a", "", ("*",))
    assert p(
        'a LIST (SUBSCRIBED) "" ("INBOX" %) RETURN (CHILDREN STATUS (MESSAGES))'
    ) == (
        c.List(
            "a",
            "",
            ("INBOX", "%"),
            ("SUBSCRIBED",),
            ("CHILDREN", "STATUS"),
            ("MESSAGES",),
            True,
        )
    )
    assert p("a LIST x/ %/a*").patterns == ("%/a*",)
    assert p("a LSUB x %") == c.Lsub("a", "x", ("%",))
    with pytest.raises(ParseError):
        p("a LSUB () x %")


def test_seqset_resolve() -> None:
    s = SeqSet(((5, 2), (None, None)))
    assert s.resolve(9) == [(2, 5), (9, 9)]
    assert s.contains(3, 9) and s.contains(9, 9) and not s.contains(7, 9)


def test_misc_commands() -> None:
    assert p("a uid expunge 1:3") == c.Expunge("a", True, SeqSet(((1, 3),)))
    assert p("a EXPUNGE") == c.Expunge("a", False, None)
    assert p('a ID ("name" "x" "v" NIL)').params == (("name", "x"), ("v", None))
    assert p("a ID NIL").params == ()
    assert p("a ENABLE CONDSTORE UTF8=ACCEPT").caps == ("CONDSTORE", "UTF8=ACCEPT")
    assert p("a AUTHENTICATE plain =") == c.Authenticate("a", "PLAIN", b"=")
    assert p("a CREATE x (USE (\\Sent))").use == ("\\Sent",)
    assert p("a uid move 2 Trash") == c.Move("a", True, SeqSet(((2, 2),)), "Trash")
    assert p("a IDLE") == c.Idle("a")
    with pytest.raises(ParseError):
        p("a NOOP extra")
    with pytest.raises(ParseError):
        p("a UID NOOP")


@pytest.mark.parametrize(
    "line",
    [
        "a FETCH 1 (FLAGS) (VANISHED)",  # VANISHED needs CHANGEDSINCE
        "a FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",  # and UID FETCH
        "a UID FETCH 1 (FLAGS) (CHANGEDSINCE)",
        "a UID FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775808)",
        "a UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 CHANGEDSINCE 2)",
        "a FETCH 1 (FLAGS) (PARTIAL 1:5)",
        "a STORE 1 (UNCHANGEDSINCE) FLAGS (\\Seen)",
        "a STORE 1 (NOSUCH 5) FLAGS (\\Seen)",
        "a SEARCH MODSEQ",
        'a SEARCH MODSEQ "/flags/\\\\Seen" 5',
        'a SEARCH MODSEQ "/other" all 5',
        "a SEARCH RETURN (MODSEQ) ALL",
        "a SELECT INBOX (CONDSTORE CONDSTORE)",
        "a SELECT INBOX (QRESYNC)",
        "a SELECT INBOX (QRESYNC (0 5))",
        "a SELECT INBOX (QRESYNC (1))",
        "a EXAMINE INBOX (QRESYNC (1 5 1:* (1:2)))",
        "a SELECT INBOX (UNKNOWN)",
        "a SEARCH RETURN (PARTIAL -1:5) ALL",
    ],
)
def test_bad_condstore_syntax(line: str) -> None:
    """RFC 7162 section 7's grammar: what it does not allow is BAD."""
    with pytest.raises(ParseError):
        p(line)


def test_condstore_syntax() -> None:
    """RFC 7162 7: modifiers, the MODSEQ key, item and select parameters."""
    f = p("a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)")
    assert (f.changedsince, f.vanished, f.uid) == (12345, True, True)
    f = p("a FETCH 1 MODSEQ")
    assert f.items == (fi.Modseq(),) and f.changedsince is None
    st = p("a STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Deleted)")
    assert (st.unchanged_since, st.mode, st.silent) == (0, "+", True)
    sel = p("a SELECT INBOX (CONDSTORE)")
    assert sel.condstore and sel.qresync is None
    sel = p("a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541))")
    assert sel.qresync is not None
    q = sel.qresync
    assert (q.uidvalidity, q.modseq) == (67890007, 90060115194045000)
    assert sel.qresync.known is not None and sel.qresync.match is None
    sel = p("a EXAMINE INBOX (CONDSTORE QRESYNC (1 5 1:9 (1:2 4,7)))")
    assert sel.condstore and sel.qresync is not None and sel.qresync.match is not None
    found = p('a SEARCH MODSEQ "/flags/\\\\draft" all 620162338')
    assert found.key.args == (620162338,)
    assert p("a STATUS INBOX (HIGHESTMODSEQ)").items == ("HIGHESTMODSEQ",)


def test_select_params_and_esearch_returns_that_remain() -> None:
    assert p("a SELECT INBOX ()").mailbox == "INBOX"
    assert p("a SEARCH RETURN (MIN MAX ALL COUNT) SEEN").returns == (
        "MIN",
        "MAX",
        "ALL",
        "COUNT",
    )
    assert p("a SEARCH RETURN () SEEN").returns == ()


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        parse_command(data)
    except ParseError:
        pass


_SAMPLES = [
    b"a1 UID FETCH 1:*,3 (FLAGS BODY.PEEK[1.HEADER.FIELDS (From To)]<0.10>)\r\n",
    b'a2 SEARCH CHARSET UTF-8 OR (FROM "x" SEEN) NOT 1:3 SINCE 1-Feb-1994\r\n',
    b'a3 APPEND INBOX (\\Seen) "01-Feb-2020 10:00:00 +0000" {3}\r\nabc\r\n',
    b'a4 LIST (SUBSCRIBED) "" ("a" %) RETURN (CHILDREN STATUS (MESSAGES))\r\n',
    b"a5 STORE 1:2 +FLAGS.SILENT (\\Deleted $x)\r\n",
]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(_SAMPLES),
    st.integers(0, 120),
    st.binary(max_size=5),
    st.integers(0, 5),
)
def test_mutated_commands_never_crash(
    base: bytes, pos: int, insert: bytes, cut: int
) -> None:
    pos = min(pos, len(base))
    data = base[:pos] + insert + base[pos + cut :]
    try:
        parse_command(data)
    except ParseError:
        pass


def test_capabilities_follow_the_registered_handlers() -> None:
    """extensions.py: a capability is advertised only with its commands'
    handlers; every one offered today has them."""
    from server.protocols.imap.extensions import EXTENSIONS, advertised
    from server.protocols.imap.handlers import HANDLERS

    assert advertised(HANDLERS) == tuple(e.capability for e in EXTENSIONS)
    without = {k: v for k, v in HANDLERS.items() if k is not c.CancelUpdate}
    offered = advertised(without)
    assert "CONTEXT=SEARCH" not in offered and "CONTEXT=SORT" not in offered
    assert "ESEARCH" in offered


def test_mask_for_log_hides_passwords_and_reads_only_the_head() -> None:
    from server.protocols.imap.parser import LOG_HEAD, mask_for_log

    assert mask_for_log(b'a1 LOGIN alice "hunter2"\r\n') == "a1 LOGIN alice ***"
    assert mask_for_log(b"a2 authenticate PLAIN AGJvYgBzZWNyZXQ=\r\n") == (
        "a2 authenticate PLAIN ***"
    )
    # an APPEND of 20 MB: the first line, and nothing past LOG_HEAD is read
    # (a bytes subclass that records what is sliced out of it)
    seen: list[object] = []

    class Watched(bytes):
        def __getitem__(self, key: object) -> bytes:  # type: ignore[override]
            seen.append(key)
            return bytes(self)[key]  # type: ignore[index]

    big = Watched(b"a3 APPEND Big {20000000+}\r\n" + b"x" * 20_000_000)
    assert mask_for_log(big) == "a3 APPEND Big {20000000+}"
    assert seen == [slice(None, LOG_HEAD, None)]
