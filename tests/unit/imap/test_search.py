from __future__ import annotations

import calendar
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from server.protocols.imap import mime, search
from server.protocols.imap.grammar import Reader
from server.protocols.imap.searchparse import search_key

RAW = (
    b"From: =?utf-8?q?J=C3=B6rg?= <joerg@example.test>\r\n"
    b"To: alice@example.test\r\nSubject: Quarterly report\r\n"
    b"Date: Tue, 02 Jan 2024 23:30:00 -0800\r\nX-Spam: yes\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Caf=C3=A9 numbers are up.\r\n"
)


def view(**kw: object) -> search.MessageView:
    base: dict[str, object] = dict(
        seq=2,
        uid=20,
        flags=frozenset({"\\Seen", "$Work"}),
        recent=False,
        size=500,
        internal_date=float(calendar.timegm((2024, 1, 3, 12, 0, 0))),
        largest_seq=5,
        largest_uid=50,
        part=mime.parse(RAW),
    )
    base.update(kw)
    return search.MessageView(**base)  # type: ignore[arg-type]


def k(text: str):  # type: ignore[no-untyped-def]
    return search_key(Reader(text.encode()))


def test_keys() -> None:
    v = view()
    yes = [
        "ALL",
        "SEEN",
        "KEYWORD $Work",
        "UNKEYWORD $Home",
        "FROM jörg",
        "FROM JOERG",
        "SUBJECT quarterly",
        "BODY café",
        "TEXT X-Spam",
        "HEADER x-spam YES",
        'HEADER X-Spam ""',
        "LARGER 499",
        "SMALLER 501",
        "ON 3-Jan-2024",
        "SINCE 3-Jan-2024",
        "BEFORE 4-Jan-2024",
        "SENTON 2-Jan-2024",
        "SENTSINCE 1-Jan-2024",
        "SENTBEFORE 3-Jan-2024",
        "UID 20",
        "UID 1:*",
        "2",
        "1:3",
        "*:2",
        "OLD",
        "NOT NEW",
        "UNANSWERED",
        "UNDELETED",
        "UNFLAGGED",
        "UNDRAFT",
        "OR DELETED SEEN",
        "(SEEN UID 20)",
        "TO alice",
        "NOT CC x",
    ]
    no = [
        "UNSEEN",
        "NEW",
        "RECENT",
        "KEYWORD $Home",
        "BODY absent",
        "BEFORE 3-Jan-2024",
        'HEADER X-None ""',
        "UID 21:30",
        "3:*",
        "LARGER 500",
        "NOT ALL",
        "BCC x",
        "DELETED",
        "FLAGGED",
        "DRAFT",
        "ANSWERED",
    ]
    for q in yes:
        assert search.matches(k(q), v, "UTF-8"), q
    for q in no:
        assert not search.matches(k(q), v, "UTF-8"), q


def test_needs() -> None:
    assert search.needs(k("OR SEEN UID 3")) == "meta"
    assert search.needs(k("NOT SUBJECT x")) == "header"
    assert search.needs(k("(SEEN (BODY x))")) == "full"


def test_recent_new() -> None:
    v = view(recent=True, flags=frozenset())
    assert search.matches(k("NEW"), v) and search.matches(k("RECENT"), v)
    assert not search.matches(k("OLD"), v)


def test_address_text_is_the_envelope_without_comments() -> None:
    """Reproduces FROM/TO/CC/BCC matching the raw header text, so an address
    split by comments (``<user-from (comment)@ (comment) domain.org>``) was
    not found by ``FROM user-from@domain.org`` (RFC 3501 6.4.4)."""
    at = search.address_text
    # comments inside <...> are not a name (as Dovecot's ENVELOPE: NIL)
    assert at("<user-from (comment)@ (comment) domain.org>") == "user-from@domain.org"
    assert at('"Last, First" <lf@x.test>, c@d.test (Carl)') == (
        "Last, First <lf@x.test>, Carl <c@d.test>"
    )
    assert at("=?utf-8?q?J=C3=B6rg?= <j@x.test>") == "J\u00f6rg <j@x.test>"
    assert at("undisclosed-recipients:;") == "undisclosed-recipients:"
    assert at("just-a-word") == "just-a-word"
    assert at("") == ""


def test_address_keys_ignore_comments_and_folding() -> None:
    raw = (
        b"From: <user-from (comment)@ (comment) domain.org>\r\n"
        b"To: Alice\r\n <alice (home) @example.test>\r\n"
        b"Subject: (not an address)\r\n\r\nbody\r\n"
    )
    v = view(part=mime.parse(raw))
    for q in ("FROM user-from@domain.org", "TO alice@example.test", 'TO "Alice <"'):
        assert search.matches(k(q), v, "UTF-8"), q
    for q in ('FROM "(comment)@"', "TO home", "FROM alice", 'SUBJECT "address)x"'):
        assert not search.matches(k(q), v, "UTF-8"), q
    assert search.matches(k('SUBJECT "(not"'), v, "UTF-8")  # SUBJECT is plain text


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.text(alphabet="aAbBßẞİıΣσς\n x", max_size=12), max_size=6),
    st.text(alphabet="aAbBßẞİıΣσς\n x", max_size=5),
    st.integers(min_value=1, max_value=7),
)
def test_folded_contains_is_in_the_casefolded_whole(
    pieces: list[str], needle: str, window: int
) -> None:
    """SEARCH BODY/TEXT folds and searches the text a window at a time (a
    casefold of 20 MB at once held every thread 65 ms): same answer as
    folding the whole, whatever the windows and pieces."""
    folded = needle.casefold()
    with patch.object(search, "FOLD_WINDOW", window):
        got = search.folded_contains(pieces, folded)
    assert got == (folded in "".join(pieces).casefold())


def test_body_text_of_a_large_part_comes_in_pieces() -> None:
    line = "Grüße aus der Straße %06d\r\n"
    body = "".join(line % i for i in range(120_000))
    raw = (
        "Subject: big\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n" + body
    ).encode()
    pieces = mime.body_text(mime.parse(raw))
    assert len(pieces) > 2 and max(map(len, pieces)) <= mime.SLICE
    assert "".join(pieces) == body
    assert search.folded_contains(pieces, "strasse 119999")
    assert not search.folded_contains(pieces, "strasse 120000")
