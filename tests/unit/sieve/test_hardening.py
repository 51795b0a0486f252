"""Hostile scripts and messages: the engine stays fast and never raises.

Each test reproduces a problem found while hardening the engine; the docstring
says which.
"""

from __future__ import annotations

import logging
import time

import pytest

from server.sieve import (
    Keep,
    MessageView,
    SieveContext,
    SieveLimits,
    compile_script,
    run_scripts,
)
from server.sieve.fast import HeaderFacts
from tests.unit.sieve.helpers import ENV, NOW, folders, run


def test_html_full_of_open_brackets_is_linear() -> None:
    """The :text transform stripped tags with the regex <[^>]*>, quadratic on
    text full of '<' without '>': 100 KB took over 5 s of a worker thread."""
    msg = b"From: a@b.c\r\nContent-Type: text/html\r\n\r\n" + b"<" * 300_000 + b"x\r\n"
    start = time.perf_counter()
    r = run(
        'require ["body", "fileinto"]; if body :text :contains "x" { fileinto "x"; }',
        msg,
    )
    assert time.perf_counter() - start < 1.0
    assert folders(r) == ["x"]


def test_unclosed_encoded_characters_compile_in_linear_time() -> None:
    """ "${hex:" repeated without '}' made the encoded-character regex scan to
    the end of the string from every occurrence: 10,000 took 2.3 s."""
    text = (
        'require ["encoded-character", "fileinto"]; fileinto "'
        + "${hex:" * 20_000
        + '";'
    )
    start = time.perf_counter()
    script = compile_script(text)
    assert time.perf_counter() - start < 1.0
    assert script.commands[0].args[0] == "${hex:" * 20_000


def test_numeric_comparator_with_thousands_of_digits() -> None:
    """i;ascii-numeric converted with int(), which Python refuses beyond 4300
    digits: a header of 5000 digits raised ValueError out of the engine."""
    script = (
        'require ["relational", "comparator-i;ascii-numeric", "fileinto"];'
        'if header :value "gt" :comparator "i;ascii-numeric" "x-n" "9"'
        ' { fileinto "big"; }'
        'if header :value "lt" :comparator "i;ascii-numeric" "x-n" "1"'
        ' { fileinto "no"; }'
    )
    msg = b"X-N: 0000" + b"1" * 5000 + b"\r\n\r\n"
    r = run(script, msg)
    assert folders(r) == ["big"] and not r.errors


def test_zone_from_a_variable_is_checked_at_run_time() -> None:
    """A :zone built from a variable went straight to int(): "bogus" raised
    ValueError out of the engine instead of failing the script."""
    script = (
        'require ["date", "variables", "fileinto"]; set "z" "bogus";'
        'if date :zone "${z}" :matches "date" "year" "*" { fileinto "y"; }'
    )
    r = run(script)
    assert r.actions == (Keep(implicit=True),)
    assert "invalid time zone" in r.errors[0].message


def test_expansion_size_is_capped() -> None:
    """A string of many ${a} references multiplied a 4 KiB variable into
    hundreds of megabytes; expansion now stops at max_expanded_size."""
    script = (
        'require ["variables", "fileinto"]; set "a" "' + "x" * 4096 + '";'
        'fileinto "' + "${a}" * 20_000 + '";'
    )
    ctx = SieveContext(now=NOW, limits=SieveLimits(max_expanded_size=10_000))
    r = run(script, ctx=ctx)
    assert folders(r) == ["x" * 10_000]


def test_glob_candidates_spend_the_budget() -> None:
    """A '?' segment anchored on a common character tries every place in
    Python code; that work now counts against the run's step budget."""
    msg = b"Subject: " + b"a" * 200_000 + b"\r\n\r\n"
    script = 'if header :matches "subject" "*a?a?b*" { discard; }'
    ctx = SieveContext(now=NOW, limits=SieveLimits(regex_steps=50_000))
    start = time.perf_counter()
    r = run(script, msg, ctx=ctx)
    assert time.perf_counter() - start < 2.0
    assert r.actions == (Keep(implicit=True),) and r.errors


def test_engine_defect_keeps_the_message(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected exception inside the engine is logged with its traceback
    and the message is kept (never lost, never an exception to the caller)."""

    def broken(self: object, key: str) -> list[object]:
        raise KeyError("bug")

    # the header index is read by both the precompiled tests and the rest
    monkeypatch.setattr(HeaderFacts, "fields", broken)
    script = compile_script('if exists "from" { discard; }', "user")
    with caplog.at_level(logging.ERROR, logger="quicksilver.sieve"):
        r = run_scripts([script], MessageView(b"From: a@b.c\r\n\r\n"), ENV)
    assert r.actions == (Keep(implicit=True),)
    assert r.errors[0].message == "internal error in the engine"
    assert "Traceback" in caplog.text


@pytest.mark.parametrize(
    "header",
    [
        b"Date: Mon, 1 Jan 0001 00:00:00 +0100",
        b"Date: Fri, 31 Dec 9999 23:59:59 -1200",
        b"Date: 99999999999999999999",
        b"Date: Mon, 32 Foo 2024 25:61:61 +9999",
    ],
)
def test_odd_dates(header: bytes) -> None:
    script = (
        'require ["date", "fileinto"];'
        'if date :zone "+1400" :matches "date" "iso8601" "*" { fileinto "d"; }'
        'if date :zone "-1200" :matches "date" "julian" "*" { fileinto "j"; }'
    )
    r = run(script, header + b"\r\n\r\n")
    assert not r.errors


def test_big_message_header_only_work() -> None:
    """A 20 MB message costs only its header block unless a body test runs."""
    msg = b"From: a@b.c\r\nSubject: s\r\n\r\n" + b"x" * 20_000_000
    start = time.perf_counter()
    r = run('if header :contains "subject" "s" { discard; }', msg)
    assert time.perf_counter() - start < 0.5
    assert not r.kept
