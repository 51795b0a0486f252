"""LIST wildcard matching (RFC 3501 6.3.8) against a slow reference."""

from __future__ import annotations

import functools
import time

from hypothesis import example, given, settings
from hypothesis import strategies as st

from server.protocols.imap.wildcard import MAX_LITERALS, Wildcard


def reference(pattern: str, name: str) -> bool:
    """RFC 3501 6.3.8 read literally: ``*`` eats any run of characters, ``%``
    any run without the delimiter "/"; tried every way (exponential without
    the memo, so only for small inputs)."""

    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(name)
        ch = pattern[i]
        if ch in "*%":
            if match(i + 1, j):
                return True
            return j < len(name) and (ch == "*" or name[j] != "/") and match(i, j + 1)
        return j < len(name) and name[j] == ch and match(i + 1, j + 1)

    return match(0, 0)


@settings(max_examples=2000, deadline=None)
@given(
    st.text(alphabet="ab/*%", max_size=12),
    st.text(alphabet="ab/", max_size=12),
)
@example("%", "")
@example("%", "/")
@example("*", "a/b")
@example("a%/%", "ab/b")
@example("%*%", "a/b")
@example("*%", "/")
@example("", "")
def test_matches_the_reference(pattern: str, name: str) -> None:
    assert Wildcard(pattern).fullmatch(name) == reference(pattern, name)


def test_rfc3501_examples() -> None:
    """6.3.8: "%" does not cross the delimiter, "*" does."""
    names = ["INBOX", "foo", "foo/bar", "foo/bar/baz", "foobar"]
    assert [n for n in names if Wildcard("foo/%").fullmatch(n)] == ["foo/bar"]
    assert [n for n in names if Wildcard("foo/*").fullmatch(n)] == [
        "foo/bar",
        "foo/bar/baz",
    ]
    assert [n for n in names if Wildcard("%").fullmatch(n)] == [
        "INBOX",
        "foo",
        "foobar",
    ]
    assert [n for n in names if Wildcard("f*r").fullmatch(n)] == ["foo/bar", "foobar"]


def test_many_stars_on_a_long_name_are_fast() -> None:
    """Reproduces issue 10: ``LIST "" "*****x"`` against a 250-character name
    took 6.6 s as a backtracking regex (x50 per extra star). 20 stars and
    20 alternating wildcards must stay in the low milliseconds."""
    name = "a" * 250
    started = time.perf_counter()
    for pattern in ("*" * 20 + "x", "*%" * 20 + "x", "%" * 20 + "a" * 200 + "x"):
        assert not Wildcard(pattern).fullmatch(name)
        assert Wildcard(pattern[:-1]).fullmatch(name)
    assert time.perf_counter() - started < 0.05


def test_an_enormous_pattern_matches_nothing_cheaply() -> None:
    """A pattern with more literals than any mailbox name could have (a
    megabyte literal from an authenticated client) cannot match; it must not
    cost a scan per mailbox either."""
    w = Wildcard("*a" * (MAX_LITERALS + 1))
    started = time.perf_counter()
    assert not any(w.fullmatch("a" * 300) for _ in range(1000))
    assert not Wildcard("x" * 5 + "*").fullmatch("xxxx")
    assert time.perf_counter() - started < 0.05
