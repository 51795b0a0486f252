"""X-Spam-* fields: what marks a message, how the fields read, that a
sender's own fields are removed, and how local delivery recognises a mark."""

from __future__ import annotations

from server.antispam.scanner import Score
from server.antispam.verdict import (
    SpamVerdict,
    is_marked,
    judge,
    strip_spam_fields,
)


def test_nothing_found_adds_nothing() -> None:
    v = judge()
    assert not v.marked and v.fields() == b""


def test_each_finding_marks_the_message() -> None:
    assert judge(dmarc_quarantine="bank.test").reasons == (
        "DMARC quarantine policy of bank.test",
    )
    assert judge(dnsbl_tag="bl.test").reasons == ("listed at bl.test",)
    assert judge(score=Score(5.0, 5.0), junk_score=5.0).marked
    assert not judge(score=Score(4.9, 5.0), junk_score=5.0).marked
    assert judge(score=Score(2.0, 5.0), junk_score=1.5).marked


def test_fields_of_a_marked_and_an_unmarked_scored_message() -> None:
    marked = judge(
        dnsbl_tag="bl.test",
        score=Score(7.25, 5.0, ("BAYES_99", "URIBL_BLACK")),
        junk_score=6.0,
    ).fields()
    assert marked.startswith(b"X-Spam-Flag: YES\r\nX-Spam-Score: 7.2")
    assert b"X-Spam-Status: Yes, score=7.2 required=6.0 tests=BAYES_99,URIBL_BLACK" in (
        marked.replace(b"\r\n\t", b" ")
    )
    unfolded = marked.replace(b"\r\n\t", b" ")
    assert b"reasons=listed at bl.test; spam score 7.2" in unfolded
    assert all(len(line) <= 78 for line in marked.split(b"\r\n"))
    ham = judge(score=Score(0.5, 5.0)).fields()
    assert ham == b"X-Spam-Score: 0.5\r\nX-Spam-Status: No, score=0.5 required=5.0\r\n"
    assert is_marked(marked + b"Subject: x\r\n\r\nbody\r\n")
    assert not is_marked(ham + b"Subject: x\r\n\r\nbody\r\n")


def test_a_symbol_cannot_break_the_header() -> None:
    v = SpamVerdict(("x\r\nBcc: evil@test",), None)
    assert b"\r\nBcc:" not in v.fields().replace(b"\r\n\t", b"")
    assert b"\r\nBcc" not in v.fields()


def test_senders_fields_are_removed_with_their_continuations() -> None:
    raw = (
        b"X-Spam-Flag: NO\r\nSubject: s\r\nx-spam-status: No,\r\n\tscore=-100\r\n"
        b"X-Spam-Checker-Version: keep\r\nX-Spam-Score: -9\r\n\r\n"
        b"X-Spam-Flag: body text stays\r\n"
    )
    assert strip_spam_fields(raw) == (
        b"Subject: s\r\nX-Spam-Checker-Version: keep\r\n\r\n"
        b"X-Spam-Flag: body text stays\r\n"
    )
    plain = b"Subject: s\r\n\r\nhi\r\n"
    assert strip_spam_fields(plain) is plain


def test_a_mark_in_the_body_or_a_no_is_not_a_mark() -> None:
    assert not is_marked(b"Subject: s\r\n\r\nX-Spam-Flag: YES\r\n")
    assert not is_marked(b"X-Spam-Flag: NO\r\n\r\n")
    assert not is_marked(b"X-Spam-Flag: YESTERDAY\r\n\r\n")
    assert is_marked(b"x-spam-flag:yes\n\nbody")
