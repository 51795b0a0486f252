"""Fuzzing the Sieve parser, compiler and interpreter with hypothesis.

Random bytes, mutated real scripts and grammar-shaped scripts: compiling never
raises anything but ``SieveSyntaxError``, and a script that compiles runs to a
result (never an exception) on a real message; each example has a deadline, so
no input may hang.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.sieve import (
    MessageView,
    SieveContext,
    SieveSyntaxError,
    capabilities,
    compile_script,
    run_scripts,
)
from tests.unit.sieve.helpers import ENV, NOW, PLAIN

FUZZ = settings(
    max_examples=200,
    deadline=timedelta(milliseconds=1000),
    suppress_health_check=[HealthCheck.too_slow],
)
CORPUS = sorted(
    (Path(__file__).resolve().parents[2] / "data" / "sieve" / "scripts").rglob(
        "*.sieve"
    )
)
SEEDS = [p.read_bytes() for p in CORPUS[::7]]


def compile_or_none(data: bytes | str) -> object:
    try:
        return compile_script(data)
    except SieveSyntaxError as exc:
        assert exc.line >= 1 and exc.col >= 1
        assert exc.message
        return None


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    compile_or_none(data)


@FUZZ
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_random_text(text: str) -> None:
    compile_or_none(text)


@FUZZ
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_scripts(seed: bytes, data: st.DataObject) -> None:
    out = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["insert", "delete", "flip", "dup"]))
        pos = data.draw(st.integers(0, len(out)))
        if op == "insert":
            out[pos:pos] = data.draw(
                st.sampled_from(
                    [
                        b"{",
                        b"}",
                        b"(",
                        b'"',
                        b";",
                        b"[",
                        b"text:\n",
                        b"${",
                        b"\\",
                        b"*",
                        b"/*",
                        b":is",
                    ]
                )
            )
        elif op == "delete":
            del out[pos : pos + data.draw(st.integers(1, 8))]
        elif op == "flip" and pos < len(out):
            out[pos] ^= 1 << data.draw(st.integers(0, 7))
        else:
            out[pos:pos] = out[pos : pos + data.draw(st.integers(1, 20))]
    script = compile_or_none(bytes(out))
    if script is not None:
        run_scripts([script], MessageView(PLAIN), ENV, SieveContext(now=NOW))  # type: ignore[list-item]


# -- grammar-shaped scripts -------------------------------------------------------
# Well-typed commands and tests with random choices, so that most scripts
# compile and the interpreter runs every path; a share still fails to compile
# (a :regex key that is no regex, :comparator with a match type it refuses).

_KEY = st.sampled_from(
    [
        '"a"',
        '"*"',
        '"${1}"',
        '"x?y*"',
        '"[ab]+"',
        '"Meeting"',
        '""',
        '"7"',
        '["one", "*e*"]',
        '"(a|b)*c"',
        '"\\\\Seen"',
    ]
)
_MT = st.sampled_from(
    ["", ":is", ":contains", ":matches", ":regex", ':value "gt"', ':count "ge"']
)
_CMP = st.sampled_from(
    [
        "",
        ':comparator "i;octet"',
        ':comparator "i;ascii-casemap"',
        ':comparator "i;ascii-numeric"',
    ]
)
_HDR = st.sampled_from(['"subject"', '["from", "X-Custom"]', '"received"', '"nope"'])
_ADDR = st.sampled_from(['"from"', '["to", "cc"]'])
_PART = st.sampled_from(["", ":all", ":localpart", ":domain", ":user", ":detail"])
_DATEPART = st.sampled_from(['"year"', '"date"', '"iso8601"', '"weekday"', '"zone"'])


def _fmt(template: str, **parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.fixed_dictionaries(parts).map(lambda d: template.format(**d))


_leaf_test = st.one_of(
    _fmt("header {m} {c} {h} {k}", m=_MT, c=_CMP, h=_HDR, k=_KEY),
    _fmt("address {p} {m} {a} {k}", p=_PART, m=_MT, a=_ADDR, k=_KEY),
    _fmt('envelope {p} {m} ["from", "to"] {k}', p=_PART, m=_MT, k=_KEY),
    _fmt("exists {h}", h=_HDR),
    _fmt(
        "size {t} {n}",
        t=st.sampled_from([":over", ":under"]),
        n=st.sampled_from(["1", "1K", "500"]),
    ),
    _fmt(
        "body {t} {m} {k}",
        t=st.sampled_from(["", ":raw", ":text", ':content "text"']),
        m=_MT,
        k=_KEY,
    ),
    _fmt('string {m} ["${{v}}", "x"] {k}', m=_MT, k=_KEY),
    _fmt("hasflag {m} {k}", m=_MT, k=_KEY),
    _fmt(
        'date {z} {m} "date" {d} {k}',
        z=st.sampled_from(["", ':zone "+0100"', ":originalzone"]),
        m=_MT,
        d=_DATEPART,
        k=_KEY,
    ),
    _fmt("currentdate {m} {d} {k}", m=_MT, d=_DATEPART, k=_KEY),
    _fmt("mailboxexists {k}", k=_KEY),
    st.sampled_from(["true", "false"]),
)
_test = st.recursive(
    _leaf_test,
    lambda inner: st.one_of(
        inner.map(lambda t: f"not {t}"),
        st.lists(inner, min_size=1, max_size=3).map(
            lambda ts: f"allof ({', '.join(ts)})"
        ),
        st.lists(inner, min_size=1, max_size=3).map(
            lambda ts: f"anyof ({', '.join(ts)})"
        ),
    ),
    max_leaves=5,
)
_command = st.one_of(
    st.sampled_from(["keep;", "discard;", "stop;", 'reject "no";', 'ereject "no";']),
    _fmt(
        "keep {f};",
        f=st.sampled_from(["", ":flags {k}"]).map(lambda s: s.replace("{k}", '"a b"')),
    ),
    _fmt(
        'redirect {c} "u{n}@example.com";',
        c=st.sampled_from(["", ":copy"]),
        n=st.sampled_from("12345"),
    ),
    _fmt(
        'fileinto {c} {cr} "{b}";',
        c=st.sampled_from(["", ":copy"]),
        cr=st.sampled_from(["", ":create", ':flags "x"']),
        b=st.sampled_from(["A", "B", "INBOX", "${1}"]),
    ),
    _fmt(
        'vacation {o} "away ${{1}}";',
        o=st.sampled_from(
            [
                "",
                ":days 2",
                ":seconds 60",
                ':subject "s" :handle "h"',
                ':addresses ["me@example.com"] :mime',
            ]
        ),
    ),
    _fmt(
        "{v} {k};",
        v=st.sampled_from(["addflag", "removeflag", "setflag", 'setflag "v"']),
        k=_KEY,
    ),
    _fmt(
        'set {m} "v" {k};',
        m=st.sampled_from(
            ["", ":lower", ":upperfirst :lower", ":length", ":quotewildcard"]
        ),
        k=_KEY,
    ),
    _fmt('addheader {l} "X-Custom" {k};', l=st.sampled_from(["", ":last"]), k=_KEY),
    _fmt(
        'deleteheader {i} {m} "x-custom" {k};',
        i=st.sampled_from(["", ":index 1", ":index 2 :last"]),
        m=_MT,
        k=_KEY,
    ),
)
_block = st.recursive(
    _command,
    lambda inner: st.builds(
        lambda t, body, other: (
            f"if {t} {{ {body} }} elsif {t} {{ }} else {{ {other} }}"
        ),
        _test,
        st.lists(inner, max_size=3).map(" ".join),
        inner,
    ),
    max_leaves=8,
)
REQUIRE = "require " + "[" + ", ".join(f'"{c}"' for c in capabilities()) + "];\n"


@FUZZ
@given(st.lists(_block, max_size=6).map("\n".join))
def test_grammar_shaped_scripts_compile_or_fail_cleanly_and_run(body: str) -> None:
    script = compile_or_none(REQUIRE + body)
    if script is not None:
        result = run_scripts(
            [script],  # type: ignore[list-item]
            MessageView(PLAIN),
            ENV,
            SieveContext(now=NOW),
        )
        assert result.actions  # something always happens to the message
