"""server/sieve/rules.py: the window's rules as Sieve, and back.

The rendered scripts of ``CORPUS`` are also files in
tests/data/sieve/scripts/rules/, which the differential test against
Pigeonhole (tests/integration/sieve/test_pigeonhole_diff.py) runs on every
message of its corpus: the scripts the window writes do the same in
Pigeonhole as here. ``test_corpus_files_are_rendered`` keeps the files and
``render`` in step (set QS_WRITE_RULES_CORPUS=1 to rewrite them).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.errors import ValidationError
from server.sieve import compile_script
from server.sieve.rules import (
    ACTIONS,
    FIELDS,
    AutoReply,
    Forwarding,
    Rule,
    RuleSet,
    check,
    parse,
    render,
)

CORPUS_DIR = (
    Path(__file__).resolve().parents[2] / "data" / "sieve" / "scripts" / "rules"
)

CORPUS: dict[str, RuleSet] = {
    "subject-move": RuleSet(
        (Rule("subject", "contains", "project", "move", "Work/Projects"),)
    ),
    "list-copy-stop": RuleSet(
        (
            Rule("subject", "matches", "[acme-users]*", "copy", "Lists", stop=True),
            Rule("subject", "contains", "version", "flag"),
        )
    ),
    "from-is-flag-read": RuleSet(
        (
            Rule("from", "contains", "example.org", "flag"),
            Rule("to-or-cc", "contains", "me@", "read"),
        )
    ),
    "spam-delete-size": RuleSet(
        (
            Rule("subject", "regex", "(pills|money)", "delete", name="spam words"),
            Rule("size", "over", "5K", "move", "Big"),
            Rule("size", "under", "100", "flag", enabled=False),
        )
    ),
    "header-and-envelope": RuleSet(
        (
            Rule("header", "is", "bulk", "move", "Bulk", header="Precedence"),
            Rule("envelope-from", "matches", "*@spam.example", "delete"),
            Rule("envelope-to", "is", "me+shopping@example.com", "move", "Shop"),
        )
    ),
    "body-and-forward": RuleSet(
        (
            Rule("body", "contains", "schedule", "forward-copy", "boss@example.org"),
            Rule("from", "matches", "*lottery*", "reject", 'No "prizes" \\ here.'),
        )
    ),
    "forward-only": RuleSet(forwarding=Forwarding(("other@example.net",), keep=False)),
    "vacation-forward-rules": RuleSet(
        (Rule("subject", "contains", "meeting", "move", "Meetings"),),
        AutoReply("Away", "I am away.\nBack on Monday.", 5),
        Forwarding(("a@example.net", "b@example.net"), keep=True),
    ),
    "vacation-dated": RuleSet(
        auto_reply=AutoReply(
            "Out", "Gone fishing.", 2, "2000-01-01", "2999-12-31", ("me@example.com",)
        )
    ),
    "vacation-over": RuleSet(
        auto_reply=AutoReply("Out", "Back already.", 2, "2001-01-01", "2001-01-02")
    ),
}


def test_corpus_files_are_rendered() -> None:
    for name, rs in CORPUS.items():
        path = CORPUS_DIR / f"{name}.sieve"
        if os.environ.get("QS_WRITE_RULES_CORPUS"):
            path.write_text(render(rs))
        assert path.read_text() == render(rs), name
    assert sorted(p.stem for p in CORPUS_DIR.glob("*.sieve")) == sorted(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_rendered_scripts_compile_and_read_back(name: str) -> None:
    rs = CORPUS[name]
    text = render(rs)
    compile_script(text)
    assert parse(text) == check(rs)


def test_a_script_changed_by_hand_or_written_elsewhere_is_not_ours() -> None:
    text = render(CORPUS["subject-move"])
    edited = text.replace(':contains "subject" "project"', ':contains "subject" "x"')
    assert edited != text and parse(edited) is None  # the script, not the data
    assert parse(text + "keep;\n") is None
    assert parse(text.replace("\n", "\r\n")) is None
    assert parse('require "fileinto";\nfileinto "X";\n') is None
    assert parse("") is None
    broken = text.replace('"rules":[', '"rules":[{"nonsense":1},')
    assert parse(broken) is None


def test_quoting_survives_quotes_backslashes_and_stars() -> None:
    rs = RuleSet((Rule("subject", "is", 'a "b" \\ c*?', "move", 'F"o\\o'),))
    text = render(rs)
    script = compile_script(text)
    assert parse(text) == rs
    assert 'header :is "subject" "a \\"b\\" \\\\ c*?"' in text
    assert script.commands  # compiled into something


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        (Rule("size", "contains", "5", "flag"), "is over"),
        (Rule("subject", "over", "5", "flag"), "is over"),
        (Rule("subject", "regex", "(", "flag"), "regular expression"),
        (Rule("subject", "is", "x", "move", ""), "needs where"),
        (Rule("subject", "is", "x", "forward", "nobody"), "not a mail address"),
        (Rule("header", "is", "x", "flag", header="Bad Name"), "Name the header"),
        (Rule("size", "over", "lots", "flag"), "a number"),
        (Rule("subject", "is", "x\x00", "flag"), "control character"),
        (Rule("subject", "is", "x", "move", "a*b"), "cannot contain"),
        (Rule("nowhere", "is", "x", "flag"), "Unknown field"),
        (Rule("envelope-to", "regex", "x", "flag"), "envelope"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(rule: Rule, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        render(RuleSet((rule,)))


def test_bad_autoreply_and_forwarding_are_refused() -> None:
    for rs, why in [
        (RuleSet(auto_reply=AutoReply("s", "", 3)), "text"),
        (RuleSet(auto_reply=AutoReply("s", "t", 0)), "days"),
        (RuleSet(auto_reply=AutoReply("s", "t", 3, "2026-13-01")), "date"),
        (
            RuleSet(auto_reply=AutoReply("s", "t", 3, "2026-12-02", "2026-12-01")),
            "before",
        ),
        (RuleSet(forwarding=Forwarding(())), "address"),
        (
            RuleSet(forwarding=Forwarding(tuple(f"a{i}@x.org" for i in range(5)))),
            "at most",
        ),
    ]:
        with pytest.raises(ValidationError, match=why):
            render(rs)


_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
)
_rule = st.builds(
    Rule,
    field=st.sampled_from([f for f in FIELDS if f not in ("size", "header")]),
    test=st.sampled_from(["contains", "is", "matches"]),
    value=_text,
    action=st.sampled_from(
        [a for a in ACTIONS if a not in ("forward", "forward-copy")]
    ),
    argument=st.sampled_from(["Folder", "A/B", "Spam mail", "no thanks"]),
    name=_text,
    enabled=st.booleans(),
    stop=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_rule, max_size=6))
def test_any_rule_set_round_trips_and_compiles(rules: list[Rule]) -> None:
    rs = RuleSet(tuple(rules))
    text = render(rs)
    compile_script(text)
    assert parse(text) == check(rs)
    assert dataclasses.replace(check(rs)) == parse(render(check(rs)))
