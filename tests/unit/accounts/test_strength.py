"""The password rule (``server.accounts.strength``): length, then zxcvbn."""

from __future__ import annotations

import time

import pytest

from server.accounts.strength import (
    MIN_LENGTH,
    MIN_SCORE,
    STRENGTH_INPUT_LIMIT,
    estimate,
    password_problem,
)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "empty"),
        ("x", f"at least {MIN_LENGTH} characters"),
        ("pw", f"at least {MIN_LENGTH} characters"),
        ("abc", f"at least {MIN_LENGTH} characters"),
        ("12345678", "common password"),
        ("password1", "too easy to guess"),
        ("qwertyuiop", "too easy to guess"),
        ("aaaaaaaaaaaaaaaaaaaa", "Repeats"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, reason: str) -> None:
    problem = password_problem(password)
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    "password",
    ["correct horse battery staple", "Tomato-Window-7", "eL8#kq2!Zr", "horse-battery"],
)
def test_strong_passwords_pass(password: str) -> None:
    assert password_problem(password) is None
    assert estimate(password).score >= MIN_SCORE


def test_the_accounts_own_words_count_as_known() -> None:
    """A password made of the user name and domain is easy for an attacker who
    knows the address."""
    account = ("zebediah@fotheringay.test", "Zebediah Fotheringay")
    for password in (
        "zebediahfotheringay",
        "Zebediah2024",
        "fotheringay1",
        "zebediah@fotheringay.test",
    ):
        assert password_problem(password) is None, password
        problem = password_problem(password, account)
        assert problem is not None and "too easy" in problem, password


def test_meter_words() -> None:
    assert estimate("x").word == "weak"
    assert estimate("alice-pw-1").word == "fair"
    assert estimate("horse-battery").word == "good"
    assert estimate("correct horse battery staple").word == "strong"


def test_long_input_is_judged_by_its_beginning_and_stays_fast() -> None:
    """zxcvbn took 290 ms on 64 random characters: only the first
    STRENGTH_INPUT_LIMIT characters are scored."""
    long_random = "eL8#kq2!Zr" * 1000
    start = time.perf_counter()
    assert password_problem(long_random) is None
    assert password_problem("a" * 10_000) is not None
    assert time.perf_counter() - start < 0.5
    assert STRENGTH_INPUT_LIMIT <= 40
