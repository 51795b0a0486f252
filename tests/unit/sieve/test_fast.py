"""fast.py: the precompiled tests answer exactly as the general path does.

Each script runs twice on each message: as compiled (the closures answer the
tests that qualify) and with its closures removed (every test the general
way, as before fast.py existed). The actions must be equal; and the tests
that should qualify did get a closure, so the comparison is not between two
runs of the same code.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from server.sieve import compile_script
from server.sieve.compiler import CompiledScript
from server.sieve.message import Envelope, MessageView
from server.sieve.runner import run_scripts

ENV = Envelope(
    mail_from="carol@outside.test",
    rcpt_to="alice@example.test",
    orig_rcpt="alice+news@example.test",
)

REQUIRE = (
    'require ["fileinto", "imap4flags", "relational", "subaddress",'
    ' "comparator-i;ascii-numeric", "editheader", "envelope"];\n'
)

# (test, qualifies for a closure)
TESTS = [
    ('header :contains "subject" "LOTTERY"', True),
    ('header :contains ["subject", "x-topic"] ["win", "prize"]', True),
    ('header :is "subject" "Hello World"', True),
    ('header :is :comparator "i;octet" "subject" "hello world"', True),
    ('header :contains :comparator "i;octet" "subject" "Hello"', True),
    ('header :matches "subject" "*[project-7]*"', True),
    ('header :matches "subject" "hello*"', True),
    ('header :matches "subject" "*wor?d"', False),
    ('header :matches "subject" "a\\\\*b*"', True),
    ('header :matches "subject" ["", "*"]', True),
    ('header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "5"', True),
    ('header :value "lt" :comparator "i;ascii-numeric" "x-spam-score" "5"', True),
    ('header :value "eq" :comparator "i;ascii-numeric" "x-none" "5"', True),
    ('header :value "ge" "subject" "hello"', True),
    ('header :count "ge" :comparator "i;ascii-numeric" "received" "2"', False),
    ('address :domain :is "from" "EXAMPLE.org"', True),
    ('address :localpart :contains ["from", "cc"] "bob"', True),
    ('address :user :is "to" "alice"', True),
    ('address :detail :is "to" "news"', True),
    ('address :all :is "reply-to" "weird garbage"', True),
    ('address :all :matches "from" "*@*.org"', True),
    ('exists ["from", "x-spam-score"]', True),
    ('exists "x-nothing"', True),
    ("size :over 100", True),
    ("size :under 100", True),
    ('not exists "x-nothing"', True),
    ('anyof (header :is "x-mailer" "mass", exists "x-campaign")', True),
    ('allof (size :over 10, address :domain :is "from" "example.org")', True),
    ('envelope :domain :is "from" "outside.test"', False),
]

MESSAGES = [
    b"From: Bob <bob@Example.ORG>\r\nTo: alice+news@example.test\r\n"
    b"Subject: Hello World\r\nX-Spam-Score: 7\r\nReceived: a\r\nReceived: b\r\n"
    b"Reply-To: weird garbage\r\nCc: bobby@x.test, eve@y.test\r\n\r\nbody\r\n",
    b"From: eve@elsewhere.test\r\nSubject: =?utf-8?q?Win_a_LOTTERY_prize?=\r\n"
    b"X-Spam-Score: 003\r\nX-Campaign: 1\r\nX-Topic: none\r\n\r\n" + b"x" * 200,
    b"From: (no address here)\r\nSubject: a*bcd [project-7] wor1d\r\n"
    b"X-Spam-Score: high\r\nX-Mailer: MASS\r\n\r\n",
    b"Subject: \r\n\r\n",
    b"To: Alice <alice@example.test>\r\nFrom: a@b.org, c@d.org\r\n"
    b"Subject: hello worLd\r\n  folded on\r\n\r\n",
]


def _general(script: CompiledScript) -> CompiledScript:
    return dataclasses.replace(script, fast={}, fast_ifs={}, plans={}, prefilters={})


def _script(test: str) -> str:
    return (
        REQUIRE
        + f'if {test} {{ fileinto "Hit"; addflag "$hit"; }}\n'
        + 'else { fileinto "Miss"; }\n'
    )


@pytest.mark.parametrize(("test", "qualifies"), TESTS)
def test_closure_answers_as_the_general_path(test: str, qualifies: bool) -> None:
    script = compile_script(_script(test))
    assert bool(script.fast) == qualifies, script.fast
    for raw in MESSAGES:
        fast = run_scripts([script], MessageView(raw), ENV)
        general = run_scripts([_general(script)], MessageView(raw), ENV)
        assert fast == general, (test, raw[:60])


def test_the_messages_tell_the_tests_apart() -> None:
    """The comparison above means something only if the messages make the
    tests answer both ways."""
    both = 0
    for test, _ in TESTS:
        script = compile_script(_script(test))
        answers = {run_scripts([script], MessageView(m), ENV).actions for m in MESSAGES}
        both += len(answers) > 1
    assert both >= len(TESTS) - 6, both


def test_pairs_of_tests_in_one_script_share_the_facts() -> None:
    """Many rules in one script (the cached folds, addresses and numbers
    are read again by later rules) still answer as the general path."""
    for a, b in itertools.combinations([t for t, q in TESTS if q][:12], 2):
        text = (
            REQUIRE
            + f'if {a} {{ addflag "$a"; }}\nif {b} {{ addflag "$b"; }}\n'
            + f'if allof ({a}, {b}) {{ fileinto "Both"; }}\n'
        )
        script = compile_script(text)
        for raw in MESSAGES:
            got = run_scripts([script], MessageView(raw), ENV)
            assert got == run_scripts([_general(script)], MessageView(raw), ENV)


def test_an_added_header_is_seen_by_later_tests() -> None:
    """editheader changes the field list: the index is rebuilt."""
    text = (
        REQUIRE
        + 'if exists "x-tag" { fileinto "Early"; }\n'
        + 'addheader "X-Tag" "yes";\n'
        + 'if header :is "x-tag" "yes" { fileinto "Tagged"; }\n'
        + 'deleteheader "subject";\n'
        + 'if not exists "subject" { fileinto "NoSubject"; }\n'
    )
    script = compile_script(text)
    assert len(script.fast) == 4  # with the exists inside the not
    got = run_scripts([script], MessageView(MESSAGES[0]), ENV)
    assert got == run_scripts([_general(script)], MessageView(MESSAGES[0]), ENV)
    folders = [getattr(a, "mailbox", None) for a in got.actions]
    assert "Tagged" in folders and "NoSubject" in folders and "Early" not in folders


def test_match_variables_keep_the_general_path() -> None:
    """With "variables", :matches sets ${1}: no closure for it."""
    text = (
        'require ["variables", "fileinto"];\n'
        'if header :matches "subject" "hello *" { fileinto "${1}"; }\n'
    )
    script = compile_script(text)
    assert not script.fast
    got = run_scripts([script], MessageView(MESSAGES[0]), ENV)
    assert [getattr(a, "mailbox", None) for a in got.actions] == ["World"]


def test_cheap_scripts_are_those_with_every_test_precompiled() -> None:
    """fast.cheap decides what may run on the core loop: only precompiled
    tests, no variables, at most MAX_CHEAP_TESTS of them."""
    from server.sieve.fast import MAX_CHEAP_TESTS, cheap

    rule = 'if header :contains "subject" "x{}" {{ fileinto "F"; }}\n'
    ok = 'require ["fileinto"];\n' + "".join(
        rule.format(i) for i in range(MAX_CHEAP_TESTS)
    )
    assert cheap(compile_script(ok))
    assert not cheap(compile_script(ok + rule.format("one more")))
    assert not cheap(
        compile_script('require "body";\nif body :contains "x" { discard; }\n')
    )
    assert not cheap(
        compile_script(
            'require "regex";\nif header :regex "subject" "a+" { discard; }\n'
        )
    )
    assert not cheap(
        compile_script(
            'require "variables";\nif header :contains "subject" "a" { discard; }\n'
        )
    )
    nested = (
        'if anyof (exists "a", not size :over 10) {\n'
        '  if header :matches "subject" "a?c" { discard; }\n'
        "}\n"
    )
    assert not cheap(compile_script(nested))  # the '?' pattern goes the long way
    assert cheap(compile_script(nested.replace("a?c", "a*c")))


def test_a_blocks_prefilter_answers_as_each_test_would() -> None:
    """Single-branch ifs on the same header (or address part) are answered
    together by one read of it (fast._prefilter); the actions must be those
    of the general path, for hits and misses, and after an if has run (it
    may have changed the header) the rest are asked one by one again."""
    rules = [
        'header :contains "subject" "lottery"',
        'header :contains "subject" "WORLD"',
        'header :is "subject" "hello world"',
        'header :matches "subject" "*[project-7]*"',
        'header :matches "subject" "hello world"',
        'header :is :comparator "i;octet" "subject" "Hello World"',
        'address :domain :is "from" "example.org"',
        'address :domain :is "from" ["b.org", "d.org"]',
        'address :localpart :contains "from" "bo"',
        'header :is "x-tag" "yes"',
        'header :contains "x-tag" "ye"',
    ]
    text = REQUIRE + "".join(
        f'if {r} {{ addflag "$r{i}"; }}\n' for i, r in enumerate(rules)
    )
    script = compile_script(text)
    assert script.prefilters  # the subject, from and x-tag groups
    # the header changes half way: in an if that ran, and in a bare command
    tagged = [
        compile_script(
            text.replace('if header :is "x-tag"', f'{add}\nif header :is "x-tag"')
        )
        for add in ('if true { addheader "X-Tag" "yes"; }', 'addheader "X-Tag" "yes";')
    ]
    for s in (script, *tagged):
        for raw in MESSAGES:
            got = run_scripts([s], MessageView(raw), ENV)
            assert got == run_scripts([_general(s)], MessageView(raw), ENV), raw[:40]
    for s in tagged:
        flags = run_scripts([s], MessageView(MESSAGES[0]), ENV).actions[-1]
        assert "$r9" in str(flags) and "$r10" in str(flags)
