"""Match types and comparators (RFC 5228 section 2.7, RFC 4790, RFC 5231) and
the POSIX regex engine: right answers, and bounded time on hostile input."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.sieve.compiler import MatchSpec
from server.sieve.match import glob_match, match_values
from server.sieve.regex import (
    RegexBudgetExceeded,
    RegexError,
    StepBudget,
    compile_regex,
    search,
)


@pytest.mark.parametrize(
    ("pattern", "text", "caps"),
    [
        ("*", "abc", ("abc", "abc")),
        ("", "", ("",)),
        ("", "x", None),
        ("a?c", "abc", ("abc", "b")),
        ("a?c", "ac", None),
        (
            "[*] *",
            "[acme-users] [fwd] version 1.0",
            ("[acme-users] [fwd] version 1.0", "acme-users", "[fwd] version 1.0"),
        ),
        # RFC 5229 section 3.2's example: the first of "**" takes nothing.
        (
            "coyote@**.com",
            "coyote@ACME.Example.com",
            ("coyote@ACME.Example.com", "", "ACME.Example"),
        ),
        ("*a*", "banana", ("banana", "b", "nana")),
        ("*\\**", "a*b", ("a*b", "a", "b")),
        ("\\?", "?", ("?",)),
        ("\\?", "x", None),
        ("*?*?", "abcd", ("abcd", "", "a", "bc", "d")),
        ("h*o w*d", "Hello World", None),
    ],
)
def test_glob(pattern: str, text: str, caps: tuple[str, ...] | None) -> None:
    assert glob_match(pattern, text, fold=False) == caps


def test_glob_casemap_folds_ascii_only_and_keeps_original_captures() -> None:
    assert glob_match("hello *", "HeLLo WORLD", fold=True) == ("HeLLo WORLD", "WORLD")
    assert glob_match("é*", "É", fold=True) is None


def _glob_reference(pattern: str, text: str) -> bool:
    rx = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern
    )
    return re.fullmatch(rx, text, re.DOTALL) is not None


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="ab*?", max_size=8),
    st.text(alphabet="ab", max_size=10),
)
def test_glob_agrees_with_a_reference(pattern: str, text: str) -> None:
    assert (glob_match(pattern, text, fold=False) is not None) == _glob_reference(
        pattern, text
    )


def test_glob_is_fast_on_hostile_patterns() -> None:
    text = "a" * 200_000
    start = time.perf_counter()
    assert glob_match("*a*a*a*a*a*a*a*a*b", text, fold=True) is None
    assert glob_match("*?a?*?a?*b", text, fold=False) is None
    assert time.perf_counter() - start < 1.0


def spec(
    match: str, comparator: str = "i;ascii-casemap", relation: str = ""
) -> MatchSpec:
    return MatchSpec(comparator, match, relation)


def test_match_values_first_pair_sets_variables() -> None:
    r = match_values(spec("matches"), ["x-1", "y-2"], ["z-*", "y-*"], StepBudget())
    assert r.matched and r.variables == ("y-2", "2")


@pytest.mark.parametrize(
    ("relation", "value", "key", "expected"),
    [
        ("gt", "10", "9", True),
        ("lt", "010", "9", False),
        ("eq", "007", "7", True),
        ("eq", "abc", "xyz", True),  # both +infinity
        ("gt", "abc", "99999999999999999999", True),
        ("lt", "5", "abc", True),
        ("ne", "5", "5x", False),  # only the leading digits count
        ("ge", "", "0", True),  # "" has no digits: +infinity
    ],
)
def test_ascii_numeric(relation: str, value: str, key: str, expected: bool) -> None:
    r = match_values(
        spec("value", "i;ascii-numeric", relation), [value], [key], StepBudget()
    )
    assert r.matched is expected


def test_count_uses_the_number_of_values() -> None:
    s = spec("count", "i;ascii-numeric", "eq")
    assert match_values(s, ["a", "b", "c"], ["3"], StepBudget()).matched
    assert match_values(s, [], ["0"], StepBudget()).matched
    assert match_values(s, ["a"], ["0"], StepBudget(), count=0).matched


def test_contains_and_is_with_each_comparator() -> None:
    b = StepBudget()
    assert match_values(spec("contains"), ["Hello"], ["LL"], b).matched
    assert not match_values(spec("contains", "i;octet"), ["Hello"], ["LL"], b).matched
    assert match_values(spec("is"), ["Straße"], ["STRAßE"], b).matched
    assert not match_values(spec("is"), ["é"], ["É"], b).matched
    assert match_values(spec("value", "i;octet", "lt"), ["B"], ["a"], b).matched


# -- regex ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "groups"),
    [
        ("a|ab", "xab", ("ab",)),  # POSIX: leftmost-longest, not first alternative
        ("x*", "abc", ("",)),
        ("b*$", "abb", ("bb",)),
        ("(a|b)+c", "zabac", ("abac", "a")),
        ("h(i|ello) (t)here", "hi there", ("hi there", "i", "t")),
        ("^[[:alpha:]]+$", "abc", ("abc",)),
        ("^[[:alpha:]]+$", "ab1", None),
        ("[]a]+", "x]a]", ("]a]",)),
        ("[^a-c]+", "abcdefa", ("def",)),
        ("x{2,3}", "xxxx", ("xxx",)),
        ("x{,2}y", "xxxy", ("xxy",)),
        ("\\bthere", "hi there", ("there",)),
        ("\\<t", "at t", ("t",)),
        ("a.c", "a\nc", ("a\nc",)),
        ("(a)|(b)", "b", ("b", "", "b")),
        ("\\w+\\s\\w+", "-- ab cd --", ("ab cd",)),
        ("[[.-.]x]+", "-x-", ("-x-",)),
        ("a)b", "a)b", ("a)b",)),
        ("()", "z", ("", "")),
    ],
)
def test_regex_semantics(
    pattern: str, text: str, groups: tuple[str, ...] | None
) -> None:
    assert search(compile_regex(pattern), text, StepBudget()) == groups


def test_regex_case_insensitive_is_ascii() -> None:
    rx = compile_regex("[a-c]+X", icase=True)
    assert search(rx, "ABCx", StepBudget()) == ("ABCx",)
    assert search(compile_regex("é", icase=True), "É", StepBudget()) is None


@pytest.mark.parametrize(
    "pattern",
    [
        "*a",
        "+a",
        "a|*b",
        "(*a)",
        "a{",
        "a{1",
        "a{2,1}",
        "[z-a]",
        "(",
        "[a",
        "a\\",
        "(a)\\1",
        "[[:nope:]]",
        "a{1001}",
    ],
)
def test_regex_errors(pattern: str) -> None:
    with pytest.raises(RegexError):
        compile_regex(pattern)


def test_regex_is_linear_on_catastrophic_patterns() -> None:
    """(a*)*b and friends backtrack exponentially in Python's re; here they
    cost pattern size times text length."""
    start = time.perf_counter()
    for pattern in ("(a*)*b", "(a|aa)+b", "(.*)*(.*)*x", "(a|a)*$b"):
        assert search(compile_regex(pattern), "a" * 3000, StepBudget(10**8)) is None
    assert time.perf_counter() - start < 5.0


def test_regex_budget() -> None:
    budget = StepBudget(1000)
    with pytest.raises(RegexBudgetExceeded):
        search(compile_regex("(a|b)*c"), "ab" * 5000, budget)


_SAFE = st.text(alphabet="ab", min_size=1, max_size=3).map(re.escape)


@st.composite
def simple_regex(draw: st.DrawFn) -> str:
    atoms = draw(
        st.lists(_SAFE | st.sampled_from([".", "[ab]", "[^a]"]), min_size=1, max_size=4)
    )
    quants = [draw(st.sampled_from(["", "*", "+", "?", "{1,2}"])) for _ in atoms]
    body = "".join(f"({a}){q}" if q else a for a, q in zip(atoms, quants, strict=True))
    return draw(st.sampled_from(["", "^"])) + body + draw(st.sampled_from(["", "$"]))


@settings(max_examples=300, deadline=None)
@given(simple_regex(), st.text(alphabet="abc", max_size=12))
def test_regex_finds_what_python_re_finds(pattern: str, text: str) -> None:
    """Whether there is a match, and where the leftmost one starts, agree with
    Python's re on patterns where both are fast."""
    ours = search(compile_regex(pattern), text, StepBudget(10**7))
    theirs = re.search(pattern, text, re.DOTALL)
    assert (ours is None) == (theirs is None)
    if ours is not None and theirs is not None:
        assert text.find(ours[0], theirs.start()) == theirs.start()
        assert len(ours[0]) >= len(theirs.group(0))  # leftmost-longest
