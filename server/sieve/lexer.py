"""Sieve lexer: the script's text in, a list of tokens out (RFC 5228 section 8.1).

Pure and eager: a script is at most ``MAX_SCRIPT_SIZE`` octets, so the token list
is small. Every token carries its line and column (1-based, columns count
characters) so that errors point at the place a person has to fix.

What it knows (RFC 5228 section 8.1):

- white space is SP, HTAB and line ends; CRLF is the standard line end, a bare
  LF is accepted (scripts uploaded from Unix editors; Pigeonhole does the same);
- comments: ``#`` to the end of the line, and ``/* ... */`` (not nested);
- identifiers ``(ALPHA / "_") *(ALPHA / DIGIT / "_")``, case-insensitive (they are
  returned in lower case);
- tags ``":" identifier``;
- numbers ``1*DIGIT [K / M / G]`` (the quantifier in either case), at most
  ``MAX_NUMBER`` after scaling (Pigeonhole's limit: an unsigned 64-bit integer);
- quoted strings with the escapes ``\\"`` and ``\\\\``; any other backslash is
  dropped and the next character kept (RFC 5228 section 2.4.2: "an undefined
  escape sequence ... is interpreted as if there were no backslash");
- multi-line strings ``text:`` up to a line holding only ``.``; a line starting
  with ``..`` loses its first dot (dot-stuffing, section 2.4.2). Their line ends
  become CRLF whatever the script used, so a vacation text is the same text.

Limits: ``MAX_SCRIPT_SIZE`` (Pigeonhole's ``sieve_max_script_size`` default, 1 MiB)
and ``MAX_STRING_LENGTH`` for one string literal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from server.sieve.errors import SieveSyntaxError

# Pigeonhole's default sieve_max_script_size: a script is a few KiB in practice.
MAX_SCRIPT_SIZE = 1024 * 1024
# One string literal (a vacation text with a MIME part fits comfortably).
MAX_STRING_LENGTH = 128 * 1024
# RFC 5228 section 2.4.1 asks for at least 2^31; Pigeonhole takes 64 bits.
MAX_NUMBER = 2**64 - 1

_QUANTIFIERS = {"k": 1024, "m": 1024**2, "g": 1024**3}


class TokenKind(enum.Enum):
    IDENTIFIER = "identifier"
    TAG = "tag"
    NUMBER = "number"
    STRING = "string"
    LBRACKET = "["
    RBRACKET = "]"
    LPAREN = "("
    RPAREN = ")"
    LBRACE = "{"
    RBRACE = "}"
    COMMA = ","
    SEMICOLON = ";"
    EOF = "end of script"


_PUNCT = {
    "[": TokenKind.LBRACKET,
    "]": TokenKind.RBRACKET,
    "(": TokenKind.LPAREN,
    ")": TokenKind.RPAREN,
    "{": TokenKind.LBRACE,
    "}": TokenKind.RBRACE,
    ",": TokenKind.COMMA,
    ";": TokenKind.SEMICOLON,
}


@dataclass(frozen=True, slots=True)
class Token:
    """One token; ``text`` is the identifier/tag name (lower case) or the string's
    value, ``number`` the value of a number."""

    kind: TokenKind
    text: str
    number: int
    line: int
    col: int


def _is_ident_start(c: str) -> bool:
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _is_ident_char(c: str) -> bool:
    return _is_ident_start(c) or ("0" <= c <= "9")


def decode_script(data: bytes | str) -> str:
    """The script as text: UTF-8 (RFC 5228 section 2.4.2), size-checked."""
    if isinstance(data, str):
        raw_len = len(data.encode("utf-8", "surrogatepass"))
        text = data
    else:
        raw_len = len(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = data[: exc.start]
            line = before.count(b"\n") + 1
            col = len(before) - (before.rfind(b"\n") + 1) + 1
            raise SieveSyntaxError(line, col, "the script is not valid UTF-8") from None
    if raw_len > MAX_SCRIPT_SIZE:
        raise SieveSyntaxError(
            1, 1, f"the script is too large (more than {MAX_SCRIPT_SIZE} bytes)"
        )
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise SieveSyntaxError(line, 1, "the script contains a NUL character")
    return text


class _Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []

    def error(self, message: str, at: int | None = None) -> SieveSyntaxError:
        pos = self.i if at is None else at
        line = self.s.count("\n", 0, pos) + 1
        col = pos - (self.s.rfind("\n", 0, pos) + 1) + 1
        return SieveSyntaxError(line, col, message)

    def _advance_newlines(self, start: int, end: int) -> None:
        n = self.s.count("\n", start, end)
        if n:
            self.line += n
            self.line_start = self.s.rfind("\n", start, end) + 1

    def emit(
        self, kind: TokenKind, start: int, text: str = "", number: int = 0
    ) -> None:
        # Line ends inside a token are counted after it is emitted, so the
        # current line and its start are those of ``start``.
        col = start - self.line_start + 1
        self.tokens.append(Token(kind, text, number, self.line, col))

    def run(self) -> list[Token]:
        s = self.s
        n = len(s)
        while self.i < n:
            c = s[self.i]
            if c in " \t\r\n":
                if c == "\n":
                    self.line += 1
                    self.line_start = self.i + 1
                elif c == "\r" and not s.startswith("\n", self.i + 1):
                    raise self.error(
                        "a carriage return must be followed by a line feed"
                    )
                self.i += 1
            elif c == "#":
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end
            elif c == "/" and s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                if end < 0:
                    raise self.error("unterminated comment")
                self._advance_newlines(self.i, end)
                self.i = end + 2
            elif c in _PUNCT:
                self.emit(_PUNCT[c], self.i)
                self.i += 1
            elif c == '"':
                self.quoted()
            elif c == ":":
                start = self.i
                j = self.i + 1
                if j >= n or not _is_ident_start(s[j]):
                    raise self.error("a tag needs a name after ':'")
                while j < n and _is_ident_char(s[j]):
                    j += 1
                self.emit(TokenKind.TAG, start, s[start + 1 : j].lower())
                self.i = j
            elif "0" <= c <= "9":
                self.number()
            elif _is_ident_start(c):
                start = self.i
                j = self.i
                while j < n and _is_ident_char(s[j]):
                    j += 1
                word = s[start:j]
                if word.lower() == "text" and s.startswith(":", j):
                    self.i = j + 1
                    self.multiline(start)
                else:
                    self.emit(TokenKind.IDENTIFIER, start, word.lower())
                    self.i = j
            else:
                raise self.error(f"unexpected character {c!r}")
        self.emit(TokenKind.EOF, self.i)
        return self.tokens

    def number(self) -> None:
        s = self.s
        start = self.i
        j = self.i
        while j < len(s) and "0" <= s[j] <= "9":
            j += 1
        # Bound the digits before converting: a megabyte of digits is no number.
        if j - start > 25:
            raise self.error(f"number exceeds the limit ({MAX_NUMBER})", start)
        value = int(s[start:j])
        if j < len(s) and s[j].lower() in _QUANTIFIERS:
            value *= _QUANTIFIERS[s[j].lower()]
            j += 1
        if j < len(s) and _is_ident_char(s[j]):
            raise self.error("invalid character in a number", j)
        if value > MAX_NUMBER:
            raise self.error(f"number exceeds the limit ({MAX_NUMBER})", start)
        self.emit(TokenKind.NUMBER, start, s[start:j], value)
        self.i = j

    def quoted(self) -> None:
        s = self.s
        start = self.i
        j = self.i + 1
        out: list[str] = []
        run = j
        while True:
            if j >= len(s):
                raise self.error("unterminated string", start)
            c = s[j]
            if c == '"':
                out.append(s[run:j])
                j += 1
                break
            if c == "\\":
                out.append(s[run:j])
                if j + 1 >= len(s):
                    raise self.error("unterminated string", start)
                out.append(s[j + 1])
                j += 2
                run = j
                continue
            if c == "\r" and not s.startswith("\n", j + 1):
                raise self.error("a carriage return must be followed by a line feed", j)
            j += 1
            if j - start > MAX_STRING_LENGTH + 2:
                raise self.error(
                    f"string is longer than {MAX_STRING_LENGTH} characters", start
                )
        value = "".join(out)
        if len(value) > MAX_STRING_LENGTH:
            raise self.error(
                f"string is longer than {MAX_STRING_LENGTH} characters", start
            )
        self.emit(TokenKind.STRING, start, value)
        self._advance_newlines(start, j)
        self.i = j

    def multiline(self, start: int) -> None:
        s = self.s
        j = self.i
        while j < len(s) and s[j] in " \t":
            j += 1
        if j < len(s) and s[j] == "#":
            end = s.find("\n", j)
            j = len(s) if end < 0 else end
        if s.startswith("\r\n", j):
            j += 2
        elif s.startswith("\n", j):
            j += 1
        else:
            raise self.error("'text:' must be followed by the end of the line", j)
        lines: list[str] = []
        size = 0
        while True:
            end = s.find("\n", j)
            if end < 0:
                raise self.error("unterminated multi-line string (no final '.')", start)
            line = s[j:end]
            if line.endswith("\r"):
                line = line[:-1]
            j = end + 1
            if line == ".":
                break
            if line.startswith(".."):
                line = line[1:]
            size += len(line) + 2
            if size > MAX_STRING_LENGTH:
                raise self.error(
                    f"string is longer than {MAX_STRING_LENGTH} characters", start
                )
            lines.append(line)
        value = "".join(line + "\r\n" for line in lines)
        self.emit(TokenKind.STRING, start, value)
        self._advance_newlines(start, j)
        self.i = j


def tokenize(data: bytes | str) -> list[Token]:
    """All tokens of a script, ending with an ``EOF`` token.

    Raises ``SieveSyntaxError`` with the position of the first lexical error.
    """
    return _Lexer(decode_script(data)).run()
