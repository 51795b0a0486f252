"""FETCH items render themselves from a view of the message (fetchitems.py):
what each needs, what a plan loads, and the same bytes whichever way a header
section is answered."""

from __future__ import annotations

import pytest

from server.protocols.imap import fetchitems as fi
from server.protocols.imap.cache import build_meta
from server.protocols.imap.command import Fetch
from server.protocols.imap.fetchitems import Need, Section
from server.protocols.imap.parser import parse_command
from server.storage.base import MessageInfo

RAW = (
    b"From: Ann <ann@example.test>\r\nSubject: hi\r\nX-A: 1\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    b"--b\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n"
)
INFO = MessageInfo(
    uid=7, key="k", flags=frozenset({"\\Seen"}), size=len(RAW), internal_date=0.0
)


def items(text: str) -> tuple[fi.FetchItem, ...]:
    cmd = parse_command(f"a FETCH 1 {text}\r\n".encode())
    assert isinstance(cmd, Fetch)
    return cmd.items


def file_view() -> fi.FileView:
    return fi.FileView(3, 7, INFO, ["\\Seen"], RAW)


def cached_view() -> fi.CachedView:
    return fi.CachedView(3, 7, INFO, ["\\Seen"], build_meta(RAW))


def test_each_item_says_what_it_needs() -> None:
    assert fi.plan(items("(UID FLAGS INTERNALDATE RFC822.SIZE)")) == (
        Need.INDEX,
        False,
    )
    assert fi.plan(items("(FLAGS ENVELOPE BODY)")) == (Need.META, True)
    assert fi.plan(items("BODY.PEEK[HEADER.FIELDS (From)]")) == (Need.META, True)
    # read anyway for the text: the header comes from the file, no metadata
    assert fi.plan(items("(BODY.PEEK[HEADER] BODY.PEEK[TEXT])")) == (
        Need.FILE,
        False,
    )
    assert fi.plan(items("(ENVELOPE BINARY.SIZE[2])")) == (Need.FILE, True)
    assert [i.sets_seen for i in items("(RFC822 RFC822.HEADER BODY[1] BINARY[1])")] == [
        True,
        False,
        True,
        True,
    ]
    assert not any(i.sets_seen for i in items("(BODY.PEEK[] BINARY.PEEK[1])"))


def test_too_poor_a_view_is_refused_not_guessed() -> None:
    """An item handed less than it needs raises NotLoaded (no assert, no
    made-up answer)."""
    index = fi.IndexView(3, 7, INFO, ["\\Seen"])
    with pytest.raises(fi.NotLoaded):
        fi.Envelope().render_for(index)
    with pytest.raises(fi.NotLoaded):
        fi.Rfc822().render_for(cached_view())
    assert fi.Uid().render_for(index) == b"UID 7"


def test_header_sections_same_bytes_from_cache_and_file() -> None:
    for text in (
        "BODY[HEADER]",
        "BODY.PEEK[HEADER.FIELDS (subject x-a)]<0.9>",
        "BODY[HEADER.FIELDS.NOT (From)]",
    ):
        (item,) = items(text)
        assert isinstance(item, fi.HeaderSection)
        assert item.render_for(cached_view()) == item.render_for(file_view())


def test_a_whole_response() -> None:
    got = fi.render(
        items("(UID RFC822.SIZE BINARY[2] BINARY.SIZE[2])"), file_view(), (fi.Flags(),)
    )
    assert got == (
        b"* 3 FETCH (FLAGS (\\Seen) UID 7 RFC822.SIZE %d BINARY[2] ~{3}\r\n"
        b"\x00\x01\x02 BINARY.SIZE[2] 3)\r\n" % len(RAW)
    )
    body = fi.BodySection(Section((1,)), True, (1, 3))
    assert body.render_for(file_view()) == b"BODY[1]<1> {3}\r\nell"


def test_render_batch_makes_metadata_once_for_the_cache() -> None:
    view = file_view()
    (done,) = fi.render_batch(items("(ENVELOPE BODY[1])"), [(view, ())], True)
    assert done[2] is not None and done[2] == build_meta(RAW)
    assert b"ENVELOPE (" in done[1]
    # metadata wanted, but no item reads it: still made, to warm the cache
    (done,) = fi.render_batch(items("BODY.PEEK[HEADER]"), [(file_view(), ())], True)
    assert done[2] == build_meta(RAW)
    (done,) = fi.render_batch(items("RFC822"), [(file_view(), ())], False)
    assert done[2] is None
