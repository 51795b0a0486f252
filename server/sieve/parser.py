"""Sieve parser: tokens in, a syntax tree out (RFC 5228 section 8.2).

Written here rather than taken from sievelib (the maintained Python parser):
sievelib 1.6.0 refuses valid scripts of extensions we support -- ``vacation
:seconds`` (RFC 6131), ``comparator-i;ascii-numeric`` (RFC 4790), editheader's
``addheader``/``deleteheader`` (RFC 5293), ``envelope :detail`` (RFC 5233),
``ereject`` (RFC 5429) and ``date :index`` (RFC 5260) -- because it checks
arguments against its own fixed tables. The grammar itself is small; what a
command accepts is checked afterwards, from one table (``spec.py``), by the
compiler (``compiler.py``).

The grammar (RFC 5228 section 8.2)::

    start     = commands
    commands  = *command
    command   = identifier arguments (";" / block)
    block     = "{" commands "}"
    arguments = *argument [ test / test-list ]
    argument  = string-list / number / tag
    string-list = "[" string *("," string) "]" / string
    test      = identifier arguments
    test-list = "(" test *("," test) ")"

Pure: no I/O, no state between calls. Bounded: ``MAX_NESTING`` (blocks and
tests together, Pigeonhole allows 32 of each) keeps recursion shallow, and
``MAX_LIST_LENGTH`` bounds one string list; the script size is bounded by the
lexer.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.sieve.errors import SieveSyntaxError
from server.sieve.lexer import Token, TokenKind, tokenize

# Blocks inside blocks, tests inside tests (Pigeonhole: 32 of each).
MAX_NESTING = 32
# Strings in one string list (a long block list of senders still fits).
MAX_LIST_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class StringArg:
    """A string, or a string list (``is_list``); values as written (escapes
    resolved, ``${...}`` left for the compiler)."""

    values: tuple[str, ...]
    is_list: bool
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class NumberArg:
    value: int
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class TagArg:
    """A tagged argument; ``name`` in lower case with its colon (``":is"``)."""

    name: str
    line: int
    col: int


Argument = StringArg | NumberArg | TagArg


@dataclass(frozen=True, slots=True)
class TestNode:
    name: str
    arguments: tuple[Argument, ...]
    tests: tuple[TestNode, ...]
    test_list: bool
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class CommandNode:
    name: str
    arguments: tuple[Argument, ...]
    tests: tuple[TestNode, ...]
    test_list: bool
    block: tuple[CommandNode, ...] | None
    line: int
    col: int


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind is not TokenKind.EOF:
            self.i += 1
        return tok

    @staticmethod
    def error(tok: Token, message: str) -> SieveSyntaxError:
        return SieveSyntaxError(tok.line, tok.col, message)

    @staticmethod
    def describe(tok: Token) -> str:
        if tok.kind is TokenKind.IDENTIFIER:
            return f"identifier '{tok.text}'"
        if tok.kind is TokenKind.TAG:
            return f"tag ':{tok.text}'"
        if tok.kind is TokenKind.STRING:
            return "a string"
        if tok.kind is TokenKind.NUMBER:
            return "a number"
        if tok.kind is TokenKind.EOF:
            return "the end of the script"
        return f"'{tok.kind.value}'"

    def commands(self, depth: int, closing: TokenKind) -> tuple[CommandNode, ...]:
        out: list[CommandNode] = []
        while True:
            tok = self.peek()
            if tok.kind is closing:
                return tuple(out)
            if tok.kind is not TokenKind.IDENTIFIER:
                if closing is TokenKind.EOF and tok.kind is TokenKind.RBRACE:
                    raise self.error(tok, "unexpected '}' (no block to close)")
                raise self.error(tok, f"expected a command, found {self.describe(tok)}")
            out.append(self.command(depth))

    def command(self, depth: int) -> CommandNode:
        name_tok = self.take()
        args, tests, test_list = self.arguments(depth)
        tok = self.take()
        block: tuple[CommandNode, ...] | None = None
        if tok.kind is TokenKind.LBRACE:
            if depth + 1 > MAX_NESTING:
                raise self.error(
                    tok, f"blocks are nested too deeply (over {MAX_NESTING})"
                )
            block = self.commands(depth + 1, TokenKind.RBRACE)
            self.take()
        elif tok.kind is not TokenKind.SEMICOLON:
            raise self.error(
                tok,
                f"expected ';' or a block after command '{name_tok.text}', "
                f"found {self.describe(tok)}",
            )
        return CommandNode(
            name_tok.text, args, tests, test_list, block, name_tok.line, name_tok.col
        )

    def arguments(
        self, depth: int
    ) -> tuple[tuple[Argument, ...], tuple[TestNode, ...], bool]:
        args: list[Argument] = []
        while True:
            tok = self.peek()
            if tok.kind is TokenKind.STRING:
                self.take()
                args.append(StringArg((tok.text,), False, tok.line, tok.col))
            elif tok.kind is TokenKind.LBRACKET:
                args.append(self.string_list())
            elif tok.kind is TokenKind.NUMBER:
                self.take()
                args.append(NumberArg(tok.number, tok.line, tok.col))
            elif tok.kind is TokenKind.TAG:
                self.take()
                args.append(TagArg(":" + tok.text, tok.line, tok.col))
            else:
                break
        tok = self.peek()
        if tok.kind is TokenKind.IDENTIFIER:
            return tuple(args), (self.test(depth + 1),), False
        if tok.kind is TokenKind.LPAREN:
            self.take()
            tests = [self.test(depth + 1)]
            while True:
                sep = self.take()
                if sep.kind is TokenKind.RPAREN:
                    break
                if sep.kind is not TokenKind.COMMA:
                    raise self.error(
                        sep,
                        "expected ',' or ')' in a test list, "
                        f"found {self.describe(sep)}",
                    )
                tests.append(self.test(depth + 1))
            return tuple(args), tuple(tests), True
        return tuple(args), (), False

    def test(self, depth: int) -> TestNode:
        tok = self.take()
        if tok.kind is not TokenKind.IDENTIFIER:
            raise self.error(tok, f"expected a test, found {self.describe(tok)}")
        if depth > MAX_NESTING:
            raise self.error(tok, f"tests are nested too deeply (over {MAX_NESTING})")
        args, tests, test_list = self.arguments(depth)
        return TestNode(tok.text, args, tests, test_list, tok.line, tok.col)

    def string_list(self) -> StringArg:
        open_tok = self.take()
        values: list[str] = []
        while True:
            tok = self.take()
            if tok.kind is not TokenKind.STRING:
                raise self.error(
                    tok, f"expected a string in the list, found {self.describe(tok)}"
                )
            values.append(tok.text)
            if len(values) > MAX_LIST_LENGTH:
                raise self.error(
                    tok, f"string list longer than {MAX_LIST_LENGTH} items"
                )
            sep = self.take()
            if sep.kind is TokenKind.RBRACKET:
                break
            if sep.kind is not TokenKind.COMMA:
                raise self.error(
                    sep,
                    f"expected ',' or ']' in a string list, found {self.describe(sep)}",
                )
        return StringArg(tuple(values), True, open_tok.line, open_tok.col)


def parse(data: bytes | str) -> tuple[CommandNode, ...]:
    """Parse a whole script into its top-level commands.

    Raises ``SieveSyntaxError`` at the first error, with its line and column.
    """
    parser = _Parser(tokenize(data))
    return parser.commands(0, TokenKind.EOF)
