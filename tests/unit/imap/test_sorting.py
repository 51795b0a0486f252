"""RFC 5256 base subject, SORT keys and the THREAD response format (the
threading itself is compared with Dovecot in tests/integration/imap/
test_dovecot_diff.py)."""

from __future__ import annotations

import pytest

from server.protocols.imap.sorting import (
    Item,
    base_subject,
    ordered_subject,
    references,
    render,
    sort_items,
)


@pytest.mark.parametrize(
    ("subject", "base"),
    [
        ("Re: hello", "hello"),
        ("RE: Re: re:hello", "hello"),
        ("Fwd: hello (fwd)", "hello"),
        ("Fw: [list] Re: hello", "hello"),
        ("[list] hello", "hello"),
        ("[only a blob]", "[only a blob]"),  # (4): nothing would be left
        ("[fwd: Re: hello]", "hello"),
        ("Re:   lots   of\t space ", "lots of space"),
        ("=?utf-8?q?Re=3A_caf=C3=A9?=", "café"),
        ("", ""),
        ("Re: [x]", "[x]"),
    ],
)
def test_base_subject(subject: str, base: str) -> None:
    assert base_subject(subject) == base


def item(seq: int, **fields: str) -> Item:
    return Item(seq, seq * 10, 1000.0 - seq, 100 * seq, tuple(fields.items()))


def test_sort_keys_reverse_and_ties_in_mailbox_order() -> None:
    items = [
        item(1, subject="Re: b", **{"from": "Zed <z@x>"}),
        item(2, subject="a", **{"from": "amy@x"}),
        item(3, subject="B", **{"from": "Bob <BOB@y>"}),
    ]

    def seqs(criteria: list[tuple[str, bool]]) -> list[int]:
        return [i.seq for i in sort_items(items, criteria)]

    assert seqs([("SUBJECT", False)]) == [2, 1, 3]  # b and B tie: 1 then 3
    assert seqs([("SUBJECT", True)]) == [1, 3, 2]  # the tie stays 1, 3
    assert seqs([("FROM", False)]) == [2, 3, 1]
    assert seqs([("ARRIVAL", False)]) == [3, 2, 1]
    assert seqs([("SIZE", True), ("SUBJECT", False)]) == [3, 2, 1]


def test_thread_rendering_and_loops() -> None:
    a = item(
        1, subject="x", date="Mon, 1 Jun 2026 10:00:00 +0000", **{"message-id": "<a@x>"}
    )
    b = item(2, subject="Re: x", date="Mon, 1 Jun 2026 11:00:00 +0000",
             **{"message-id": "<b@x>", "references": "<a@x>"})  # fmt: skip
    c = item(3, subject="Re: x", date="Mon, 1 Jun 2026 12:00:00 +0000",
             **{"message-id": "<c@x>", "references": "<a@x>"})  # fmt: skip
    assert render(references([a, b, c]), False) == "(1 (2)(3))"
    assert render(references([a, b]), True) == "(10 20)"
    assert render(ordered_subject([a, b, c]), False) == "(1 (2)(3))"
    # two messages that name each other: no loop, both shown once
    p = item(1, subject="p", **{"message-id": "<p@x>", "references": "<q@x>"})
    q = item(2, subject="q", **{"message-id": "<q@x>", "references": "<p@x>"})
    out = render(references([p, q]), False)
    assert sorted(out.replace("(", " ").replace(")", " ").split()) == ["1", "2"]
