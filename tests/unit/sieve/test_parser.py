"""The Sieve lexer and parser (RFC 5228 section 8): tokens, strings, numbers,
comments, the tree, and errors with the line and column a person must fix."""

from __future__ import annotations

import pytest

from server.sieve import lexer, parser
from server.sieve.errors import SieveSyntaxError
from server.sieve.lexer import TokenKind, tokenize
from server.sieve.parser import NumberArg, StringArg, TagArg, parse


def kinds(text: str) -> list[TokenKind]:
    return [t.kind for t in tokenize(text)]


def test_tokens_of_a_command() -> None:
    toks = tokenize('if header :Contains ["Subject", "x"] 10K { keep; }')
    assert [t.kind for t in toks] == [
        TokenKind.IDENTIFIER,
        TokenKind.IDENTIFIER,
        TokenKind.TAG,
        TokenKind.LBRACKET,
        TokenKind.STRING,
        TokenKind.COMMA,
        TokenKind.STRING,
        TokenKind.RBRACKET,
        TokenKind.NUMBER,
        TokenKind.LBRACE,
        TokenKind.IDENTIFIER,
        TokenKind.SEMICOLON,
        TokenKind.RBRACE,
        TokenKind.EOF,
    ]
    assert toks[2].text == "contains"  # tags are case-insensitive
    assert toks[8].number == 10 * 1024


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("7", 7), ("1k", 1024), ("2M", 2 * 1024**2), ("3g", 3 * 1024**3)],
)
def test_numbers_and_quantifiers(text: str, value: int) -> None:
    assert tokenize(text)[0].number == value


def test_number_limit_is_64_bits() -> None:
    assert tokenize("18446744073709551615")[0].number == 2**64 - 1
    with pytest.raises(SieveSyntaxError, match="exceeds"):
        tokenize("18446744073709551616")
    with pytest.raises(SieveSyntaxError, match="exceeds"):
        tokenize("17179869184G")
    with pytest.raises(SieveSyntaxError, match="exceeds"):
        tokenize("9" * 500)


def test_quoted_string_escapes() -> None:
    """RFC 5228 section 2.4.2: \\" and \\\\ are escapes; any other backslash
    is dropped and the next character kept."""
    toks = tokenize(r'"a\"b\\c\d" ')
    assert toks[0].text == 'a"b\\cd'


def test_quoted_string_may_span_lines() -> None:
    assert tokenize('"a\r\nb"')[0].text == "a\r\nb"


def test_multiline_string_dot_stuffing_and_crlf() -> None:
    """A line of '..x' loses one dot, '.x' keeps it, '.' ends the string;
    line ends become CRLF whatever the script used."""
    text = "text: # comment here\n..two\n.one\nplain\n.\n"
    tok = tokenize(text)[0]
    assert tok.kind is TokenKind.STRING
    assert tok.text == ".two\r\n.one\r\nplain\r\n"


def test_multiline_needs_line_end_and_final_dot() -> None:
    with pytest.raises(SieveSyntaxError, match="end of the line"):
        tokenize("text: x\n.\n")
    with pytest.raises(SieveSyntaxError, match="no final"):
        tokenize("text:\nabc\n")


def test_comments_are_white_space() -> None:
    assert kinds("/* a\n b */ keep # x\n;") == [
        TokenKind.IDENTIFIER,
        TokenKind.SEMICOLON,
        TokenKind.EOF,
    ]
    with pytest.raises(SieveSyntaxError, match="unterminated comment"):
        tokenize("keep; /* open")


def test_error_positions_count_lines_and_columns() -> None:
    with pytest.raises(SieveSyntaxError) as exc:
        tokenize('keep;\r\n  discard;\n    "open')
    assert (exc.value.line, exc.value.col) == (3, 5)
    assert "unterminated string" in str(exc.value)
    toks = tokenize("a\n  b /* x\ny */ c")
    assert [(t.line, t.col) for t in toks[:3]] == [(1, 1), (2, 3), (3, 6)]


def test_unexpected_characters() -> None:
    with pytest.raises(SieveSyntaxError, match="unexpected character"):
        tokenize("keep; @")
    with pytest.raises(SieveSyntaxError, match="tag needs a name"):
        tokenize("keep :;")
    with pytest.raises(SieveSyntaxError, match="carriage return"):
        tokenize("keep;\rdiscard;")
    with pytest.raises(SieveSyntaxError, match="invalid character in a number"):
        tokenize("10x")


def test_script_must_be_utf8_without_nul() -> None:
    with pytest.raises(SieveSyntaxError, match="not valid UTF-8") as exc:
        tokenize(b'keep;\n"\xff"')
    assert exc.value.line == 2
    with pytest.raises(SieveSyntaxError, match="NUL"):
        tokenize("keep;\x00")


def test_size_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lexer, "MAX_SCRIPT_SIZE", 100)
    with pytest.raises(SieveSyntaxError, match="too large"):
        tokenize("#" * 101)
    monkeypatch.setattr(lexer, "MAX_STRING_LENGTH", 10)
    with pytest.raises(SieveSyntaxError, match="longer than 10"):
        tokenize('"' + "a" * 11 + '"')
    with pytest.raises(SieveSyntaxError, match="longer than 10"):
        tokenize("text:\n" + "a" * 11 + "\n.\n")


def test_tree_of_if_with_tests_and_lists() -> None:
    tree = parse(
        'require ["fileinto"];\n'
        'if anyof (header :is "a" "b", not exists ["c", "d"]) { fileinto "x"; }\n'
        "elsif size :over 1M { stop; } else { keep; }"
    )
    assert [c.name for c in tree] == ["require", "if", "elsif", "else"]
    cond = tree[1].tests[0]
    assert cond.name == "anyof" and cond.test_list
    header, notnode = cond.tests
    assert isinstance(header.arguments[0], TagArg) and header.arguments[0].name == ":is"
    assert notnode.tests[0].name == "exists"
    names = notnode.tests[0].arguments[0]
    assert isinstance(names, StringArg) and names.values == ("c", "d") and names.is_list
    size = tree[2].tests[0]
    assert (
        isinstance(size.arguments[1], NumberArg) and size.arguments[1].value == 1024**2
    )
    assert tree[1].block is not None and tree[1].block[0].name == "fileinto"


@pytest.mark.parametrize(
    ("text", "message", "line", "col"),
    [
        ("keep", "expected ';' or a block", 1, 5),
        ("keep;\n}", "no block to close", 2, 1),
        ('if header "a" "b" { keep;', "expected a command", 1, 26),
        ('"x";', "expected a command", 1, 1),
        ('if header ["a" "b"] "c" {}', "expected ',' or ']'", 1, 16),
        ("if anyof (true; false) {}", "expected ',' or ')'", 1, 15),
        ("if anyof (true, ) {}", "expected a test", 1, 17),
        ("if [] {}", "expected a string in the list", 1, 5),
    ],
)
def test_grammar_errors(text: str, message: str, line: int, col: int) -> None:
    with pytest.raises(SieveSyntaxError) as exc:
        parse(text)
    assert message in exc.value.message
    assert (exc.value.line, exc.value.col) == (line, col)


def test_nesting_limit() -> None:
    deep_blocks = "if true {" * (parser.MAX_NESTING + 1) + "}" * (
        parser.MAX_NESTING + 1
    )
    with pytest.raises(SieveSyntaxError, match="nested too deeply"):
        parse(deep_blocks)
    ok = "if true {" * parser.MAX_NESTING + "}" * parser.MAX_NESTING
    assert parse(ok)
    deep_tests = "if " + "not " * (parser.MAX_NESTING + 1) + "true {}"
    with pytest.raises(SieveSyntaxError, match="nested too deeply"):
        parse(deep_tests)


def test_list_length_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser, "MAX_LIST_LENGTH", 3)
    assert parse('if header ["a","b","c"] "x" {}')
    with pytest.raises(SieveSyntaxError, match="longer than 3"):
        parse('if header ["a","b","c","d"] "x" {}')
