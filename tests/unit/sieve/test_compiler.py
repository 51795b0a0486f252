"""The compiler's checks (what CHECKSCRIPT reports) and its string preparation."""

from __future__ import annotations

import pytest

from server.sieve import capabilities, compile_script
from server.sieve.compiler import MAX_VARIABLES, Template, VarRef
from server.sieve.errors import SieveSyntaxError
from server.sieve.spec import COMMANDS, EXTENSIONS, TESTS


def error_of(text: str) -> SieveSyntaxError:
    with pytest.raises(SieveSyntaxError) as exc:
        compile_script(text)
    return exc.value


def test_capabilities_come_from_the_table() -> None:
    caps = capabilities()
    assert caps == EXTENSIONS
    for needed in (
        "fileinto",
        "reject",
        "ereject",
        "envelope",
        "encoded-character",
        "vacation",
        "vacation-seconds",
        "subaddress",
        "comparator-i;ascii-numeric",
        "relational",
        "regex",
        "imap4flags",
        "copy",
        "variables",
        "body",
        "date",
        "index",
        "mailbox",
        "editheader",
    ):
        assert needed in caps
    # Every command or test of an extension names an advertised extension.
    for spec in (*COMMANDS.values(), *TESTS.values()):
        assert spec.extension is None or spec.extension in caps


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('fileinto "x";', "needs the extension 'fileinto'", 1),
        ('require "fileinto";\nif true { vacation "x"; }', "extension 'vacation'", 2),
        ('require "nope";', "unknown extension 'nope'", 1),
        ('require "FileInto";', "unknown extension", 1),  # names are case-sensitive
        ('keep;\nrequire "fileinto";', "require must come first", 2),
        ('if true { require "fileinto"; }', "require must come first", 1),
        ("frobnicate;", "unknown command 'frobnicate'", 1),
        ("if frob {}", "unknown test 'frob'", 1),
        ("if keep {}", "is a command, not a test", 1),
        ("exists;", "is a test, not a command", 1),
        ("else { keep; }", "'else' without a preceding 'if'", 1),
        ("if true;", "needs a block", 1),
        ("keep { }", "takes no block", 1),
        ("if (true) {}", "exactly one test", 1),
        ("if allof true {}", "list of tests in parentheses", 1),
        ("if not (true) {}", "exactly one test", 1),
        ("if true false {}", "takes no test", 1),
        ("keep true;", "takes no test", 1),
        ('if header :bogus "a" "b" {}', "unknown tagged argument :bogus", 1),
        ('if header :is :is "a" "b" {}', "given twice", 1),
        ('if header :is :contains "a" "b" {}', "cannot be used together", 1),
        ('if header "a" :is "b" {}', "after a positional argument", 1),
        ('if header :comparator "a" "b" "c" {}', "unknown comparator 'a'", 1),
        (
            'if header :comparator "i;ascii-numeric" "a" "b" {}',
            "comparator-i;ascii-numeric",
            1,
        ),
        ("if header :comparator {}", "needs a string argument", 1),
        ('if header "a" {}', "takes 2 positional argument(s), 1 given", 1),
        ('if header "a" "b" "c" {}', "takes 2 positional", 1),
        ("if size 100 {}", "takes 0 positional", 1),
        ("if size {}", "needs :over or :under", 1),
        ('if size :over "1" {}', "must be a number", 1),
        ("redirect 5;", "must be a string", 1),
        ('require "fileinto"; fileinto ["a", "b"];', "single string, not a list", 1),
        ('redirect "nobody";', "invalid redirect address", 1),
        ('redirect "a@";', "invalid redirect address", 1),
        ('if address "subject" "x" {}', "does not hold addresses", 1),
        ('require "envelope"; if envelope "bcc" "x" {}', "unknown envelope part", 1),
        (
            'require "relational"; if header :value "xx" "a" "b" {}',
            "invalid relation",
            1,
        ),
        ('if header :value "gt" "a" "b" {}', "extension 'relational'", 1),
        ('if header :regex "a" "b" {}', "extension 'regex'", 1),
        (
            'require "regex"; if header :regex "a" "(" {}',
            "invalid regular expression",
            1,
        ),
        ('require "regex"; if header :regex "a" "(a)\\\\1" {}', "back-references", 1),
        (
            'require "index"; if header :last "a" "b" {}',
            ":last tag needs the :index",
            1,
        ),
        ('require "index"; if header :index 0 "a" "b" {}', "1 or more", 1),
        ('if header :index 1 "a" "b" {}', "extension 'index'", 1),
        ('if address :detail "to" "x" {}', "extension 'subaddress'", 1),
        (
            'require "date"; if date :zone "0100" "date" "year" "x" {}',
            "invalid time zone",
            1,
        ),
        ('require "vacation"; vacation :days 1 :seconds 2 "x";', "extension", 1),
        (
            'require ["vacation", "vacation-seconds"];vacation :days 1 :seconds 2 "x";',
            "cannot be used together",
            1,
        ),
        ('require "vacation"; vacation :from "nobody" "x";', "invalid :from", 1),
        ('require "variables"; set "1" "x";', "match variable", 1),
        ('require "variables"; set "a b" "x";', "invalid variable name", 1),
        ('require "variables"; set "env.x" "x";', "unknown variable namespace", 1),
        (
            'require ["variables", "imap4flags"]; addflag "a-b" "x";',
            "invalid variable name",
            1,
        ),
        (
            'require "variables"; set :upper :lower "a" "x";',
            "cannot be used together",
            1,
        ),
        ('require "editheader"; addheader "bad name" "x";', "invalid header name", 1),
        ('require "editheader"; addheader "a:b" "x";', "invalid header name", 1),
        (
            'require "encoded-character"; keep; redirect "${unicode:110000}@x.y";',
            "invalid unicode character",
            1,
        ),
        (
            'require ["encoded-character", "fileinto"]; fileinto "${hex:ff}";',
            "UTF-8",
            1,
        ),
        (
            'require "comparator-i;ascii-numeric";\n'
            'if header :contains :comparator "i;ascii-numeric" "a" "1" {}',
            "only compares",
            2,
        ),
        ('redirect :copy "a@b.c";', "extension 'copy'", 1),
        ('require "fileinto"; fileinto :create "x";', "extension 'mailbox'", 1),
        ('keep :flags "x";', "extension 'imap4flags'", 1),
    ],
)
def test_compile_errors(text: str, message: str, line: int) -> None:
    err = error_of(text)
    assert message in err.message, err.message
    assert err.line == line
    assert str(err).startswith(f"line {line}, column ")


def test_errors_point_at_the_argument() -> None:
    err = error_of('require "fileinto";\nfileinto\n   :create "x";')
    assert (err.line, err.col) == (3, 4)


def test_strings_without_variables_stay_literal() -> None:
    script = compile_script('require "fileinto"; fileinto "a${b}c";')
    assert script.commands[0].args[0] == "a${b}c"


def test_variable_templates() -> None:
    script = compile_script(
        'require ["variables", "fileinto"];'
        'fileinto "a${Name}${1}${01}${10}${x.y}${a-b}";'
    )
    tpl = script.commands[0].args[0]
    assert isinstance(tpl, Template)
    assert tpl.parts == (
        "a",
        VarRef("name"),
        VarRef("", 1),
        VarRef("", 1),
        "${a-b}",
    )


def test_encoded_character_then_variables() -> None:
    script = compile_script(
        'require ["encoded-character", "variables", "fileinto"];'
        'fileinto "${hex:24}{a}${unicode:263a}${hex: 61 62 }${HEX:zz}";'
    )
    tpl = script.commands[0].args[0]
    assert isinstance(tpl, Template)
    assert tpl.parts == (VarRef("a"), "\u263aab${HEX:zz}")


def test_encoded_character_needs_require() -> None:
    script = compile_script('require "fileinto"; fileinto "${hex:41}";')
    assert script.commands[0].args[0] == "${hex:41}"


def test_variable_count_limit() -> None:
    sets = "".join(f'set "v{i}" "x";' for i in range(MAX_VARIABLES))
    compile_script('require "variables";' + sets)
    with pytest.raises(SieveSyntaxError, match="too many variables"):
        compile_script('require "variables";' + sets + 'set "one_more" "x";')


def test_if_chain_is_compiled_into_branches() -> None:
    script = compile_script(
        "if false { keep; } elsif true { discard; }"
        " elsif false { stop; } else { keep; }"
    )
    node = script.commands[0]
    assert node.name == "if"
    assert [t.name for t, _ in node.branches] == ["false", "true", "false"]
    assert node.else_block is not None and node.else_block[0].name == "keep"


def test_builtin_comparators_may_be_required() -> None:
    script = compile_script(
        'require ["comparator-i;octet", "comparator-i;ascii-casemap"]; keep;'
    )
    assert "comparator-i;octet" in script.extensions


def test_invalid_vacation_addresses_only_warn() -> None:
    """Pigeonhole ignores an invalid :addresses item at run time; so do we."""
    compile_script('require "vacation"; vacation :addresses ["bad"] "x";')
