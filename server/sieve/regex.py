"""POSIX extended regular expressions for the ``:regex`` match type, in linear time.

draft-ietf-sieve-regex-01 makes ``:regex`` take POSIX extended regular
expressions (IEEE Std 1003.2, section 2.8), as Pigeonhole does with the C
library's ``regcomp(REG_EXTENDED)``. Python's ``re`` would be the obvious tool,
but it backtracks: ``(a*)*b`` over a few dozen characters takes exponential time
(FIELD-NOTES: five stars over 250 characters blocked a loop for 6.6 s), and a
script is written by whoever owns a mailbox. So patterns are compiled here to a
small program and run by a Pike VM (Thompson's construction with submatch
tracking): time is at most proportional to pattern size times text length, and
every run spends from a ``StepBudget`` that the interpreter shares over a whole
script run, so no script can hold a worker thread for long.

Semantics (the overall match is POSIX leftmost-longest, like glibc):

- ``|``, ``( )``, ``*``, ``+``, ``?``, ``{n}``, ``{n,}``, ``{n,m}``, ``{,m}``;
  ``.`` matches any character, newline included (no REG_NEWLINE); ``^``/``$``
  anchor at the ends of the string;
- bracket expressions with ranges, ``[:class:]``, ``[=c=]`` and ``[.c.]`` (one
  character each), a leading ``^`` to negate and a leading ``]`` as itself;
- glibc's escapes ``\\w \\W \\s \\S \\b \\B \\< \\> \\` \\'``; any other escaped
  character stands for itself;
- case-insensitive matching (``i;ascii-casemap``) folds ASCII letters only.

Differences from glibc, accepted: back-references (``\\1``) are refused (they
make matching NP-hard); submatches inside the leftmost-longest match follow the
first alternative that reaches it rather than POSIX's subexpression rules (the
overall ``${0}`` is the same); repetition counts above ``MAX_REPEAT`` are refused.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

# A pattern longer than this is refused (it comes from a script string).
MAX_PATTERN_LENGTH = 4096
# Largest {n,m} count (POSIX RE_DUP_MAX is at least 255; glibc takes 32767).
MAX_REPEAT = 1000
# Instructions after expanding counted repetitions.
MAX_PROGRAM = 20000
# Thread steps one script run may spend on :regex (about a second of CPU).
DEFAULT_STEP_BUDGET = 2_000_000


class RegexError(ValueError):
    """A pattern that is not a valid POSIX extended regular expression."""


class RegexBudgetExceeded(Exception):
    """The script used up its regex step budget."""


class StepBudget:
    """Thread steps left for the regex runs of one script execution."""

    def __init__(self, steps: int = DEFAULT_STEP_BUDGET) -> None:
        self.left = steps

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise RegexBudgetExceeded("regular expression work limit reached")


_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters only (i;ascii-casemap, RFC 4790 section 9.2)."""
    return text.translate(_FOLD)


def _is_word(c: str) -> bool:
    return c == "_" or c.isalnum()


_CLASSES: dict[str, Callable[[str], bool]] = {
    "alpha": lambda c: c.isalpha(),
    "digit": lambda c: "0" <= c <= "9",
    "alnum": lambda c: c.isalnum(),
    "upper": lambda c: c.isupper(),
    "lower": lambda c: c.islower(),
    "space": lambda c: c in " \t\n\r\f\v",
    "blank": lambda c: c in " \t",
    "punct": lambda c: c.isascii() and c.isprintable() and not c.isalnum() and c != " ",
    "print": lambda c: c.isprintable(),
    "graph": lambda c: c.isprintable() and c != " ",
    "cntrl": lambda c: ord(c) < 32 or ord(c) == 127,
    "xdigit": lambda c: c in "0123456789abcdefABCDEF",
}

# -- syntax tree ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lit:
    ch: str


@dataclass(frozen=True, slots=True)
class _Set:
    pred: Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class _Assert:
    kind: str  # "^", "$", "b", "B", "<", ">"


@dataclass(frozen=True, slots=True)
class _Group:
    node: _Node
    index: int


@dataclass(frozen=True, slots=True)
class _Cat:
    items: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Alt:
    items: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Rep:
    node: _Node
    lo: int
    hi: int  # -1: unbounded


_Node = _Lit | _Set | _Assert | _Group | _Cat | _Alt | _Rep


def _any(_: str) -> bool:
    return True


class _Parser:
    def __init__(self, pattern: str, icase: bool) -> None:
        self.p = pattern
        self.i = 0
        self.icase = icase
        self.groups = 0

    def error(self, message: str) -> RegexError:
        return RegexError(message)

    def parse(self) -> _Node:
        node = self.alternation()
        if self.i < len(self.p):
            # Only a stray ')' can stop the top level; glibc reads it as itself.
            self.i += 1
            rest = self.parse()
            return _Cat((node, _Lit(")"), rest))
        return node

    def alternation(self) -> _Node:
        items = [self.branch()]
        while self.i < len(self.p) and self.p[self.i] == "|":
            self.i += 1
            items.append(self.branch())
        return items[0] if len(items) == 1 else _Alt(tuple(items))

    def branch(self) -> _Node:
        items: list[_Node] = []
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            c = self.p[self.i]
            if c in "*+?{":
                # A repetition with nothing to repeat (glibc refuses it too).
                raise self.error("invalid preceding regular expression")
            atom = self.atom()
            while self.i < len(self.p):
                q = self.p[self.i]
                if q == "*":
                    self.i += 1
                    atom = _Rep(atom, 0, -1)
                elif q == "+":
                    self.i += 1
                    atom = _Rep(atom, 1, -1)
                elif q == "?":
                    self.i += 1
                    atom = _Rep(atom, 0, 1)
                elif q == "{":
                    lo, hi = self.interval()
                    atom = _Rep(atom, lo, hi)
                else:
                    break
            items.append(atom)
        return items[0] if len(items) == 1 else _Cat(tuple(items))

    def interval(self) -> tuple[int, int]:
        end = self.p.find("}", self.i)
        if end < 0:
            raise self.error("unmatched \\{")
        body = self.p[self.i + 1 : end]
        self.i = end + 1
        lo_s, sep, hi_s = body.partition(",")
        if not (lo_s.isdigit() or (lo_s == "" and sep)) or (
            hi_s and not hi_s.isdigit()
        ):
            raise self.error("invalid content of \\{\\}")
        lo = int(lo_s) if lo_s else 0
        hi = (int(hi_s) if hi_s else -1) if sep else lo
        if lo > MAX_REPEAT or hi > MAX_REPEAT:
            raise self.error(f"repetition count over {MAX_REPEAT}")
        if hi != -1 and hi < lo:
            raise self.error("invalid content of \\{\\}")
        return lo, hi

    def lit(self, c: str) -> _Node:
        if self.icase and c.isascii() and c.isalpha():
            pair = (c.lower(), c.upper())

            def either(x: str) -> bool:
                return x in pair

            return _Set(either)
        return _Lit(c)

    def atom(self) -> _Node:
        c = self.p[self.i]
        self.i += 1
        if c == "(":
            self.groups += 1
            index = self.groups
            inner = self.alternation()
            if self.i >= len(self.p) or self.p[self.i] != ")":
                raise self.error("unmatched ( or \\(")
            self.i += 1
            return _Group(inner, index)
        if c == ".":
            return _Set(_any)
        if c == "^":
            return _Assert("^")
        if c == "$":
            return _Assert("$")
        if c == "[":
            return self.bracket()
        if c == "\\":
            if self.i >= len(self.p):
                raise self.error("trailing backslash")
            e = self.p[self.i]
            self.i += 1
            if e.isdigit() and e != "0":
                raise self.error("back-references are not supported")
            if e == "w":
                return _Set(_is_word)
            if e == "W":
                return _Set(lambda x: not _is_word(x))
            if e == "s":
                return _Set(_CLASSES["space"])
            if e == "S":
                return _Set(lambda x: not _CLASSES["space"](x))
            if e in "bB<>":
                return _Assert(e)
            if e == "`":
                return _Assert("^")
            if e == "'":
                return _Assert("$")
            return self.lit(e)
        return self.lit(c)

    def bracket(self) -> _Node:
        p = self.p
        negate = False
        if self.i < len(p) and p[self.i] == "^":
            negate = True
            self.i += 1
        ranges: list[tuple[str, str]] = []
        classes: list[Callable[[str], bool]] = []
        first = True
        while True:
            if self.i >= len(p):
                raise self.error("unmatched [, [^, [:, [., or [=")
            c = p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if c == "[" and self.i + 1 < len(p) and p[self.i + 1] in ":=.":
                kind = p[self.i + 1]
                end = p.find(kind + "]", self.i + 2)
                if end < 0:
                    raise self.error("unmatched [, [^, [:, [., or [=")
                name = p[self.i + 2 : end]
                self.i = end + 2
                if kind == ":":
                    pred = _CLASSES.get(name)
                    if pred is None:
                        raise self.error("invalid character class name")
                    classes.append(pred)
                    continue
                if len(name) != 1:
                    raise self.error("invalid collation character")
                lo = name
            else:
                lo = c
                self.i += 1
            if self.i + 1 < len(p) and p[self.i] == "-" and p[self.i + 1] != "]":
                hi = p[self.i + 1]
                self.i += 2
                if hi == "[" and self.i < len(p) and p[self.i] in ".=":
                    kind = p[self.i]
                    end = p.find(kind + "]", self.i + 1)
                    if end < 0 or end != self.i + 2:
                        raise self.error("invalid range end")
                    hi = p[self.i + 1]
                    self.i = end + 2
                if hi < lo:
                    raise self.error("invalid range end")
                ranges.append((lo, hi))
            else:
                ranges.append((lo, lo))
        icase = self.icase
        frozen_ranges = tuple(ranges)
        frozen_classes = tuple(classes)

        def member(x: str) -> bool:
            for lo, hi in frozen_ranges:
                if lo <= x <= hi:
                    return True
            return any(pred(x) for pred in frozen_classes)

        def test(x: str) -> bool:
            hit = member(x)
            if not hit and icase and x.isascii() and x.isalpha():
                hit = member(x.swapcase())
            return hit != negate

        return _Set(test)


# -- program ------------------------------------------------------------------
# Instructions: ("c", ch) literal, ("s", pred) set, ("j", x) jump,
# ("p", x, y) split preferring x, ("v", n) save slot n, ("a", kind) assertion,
# ("m",) match.

_Instr = tuple[object, ...]


class _Emitter:
    def __init__(self) -> None:
        self.prog: list[list[object]] = []

    def emit(self, *ins: object) -> int:
        if len(self.prog) >= MAX_PROGRAM:
            raise RegexError("regular expression too large")
        self.prog.append(list(ins))
        return len(self.prog) - 1

    def node(self, n: _Node) -> None:
        if isinstance(n, _Lit):
            self.emit("c", n.ch)
        elif isinstance(n, _Set):
            self.emit("s", n.pred)
        elif isinstance(n, _Assert):
            self.emit("a", n.kind)
        elif isinstance(n, _Group):
            self.emit("v", 2 * n.index)
            self.node(n.node)
            self.emit("v", 2 * n.index + 1)
        elif isinstance(n, _Cat):
            for item in n.items:
                self.node(item)
        elif isinstance(n, _Alt):
            jumps: list[int] = []
            for k, item in enumerate(n.items):
                if k < len(n.items) - 1:
                    split = self.emit("p", 0, 0)
                    self.prog[split][1] = len(self.prog)
                    self.node(item)
                    jumps.append(self.emit("j", 0))
                    self.prog[split][2] = len(self.prog)
                else:
                    self.node(item)
            for j in jumps:
                self.prog[j][1] = len(self.prog)
        else:
            self.rep(n)

    def rep(self, n: _Rep) -> None:
        for _ in range(n.lo):
            self.node(n.node)
        if n.hi == -1:
            split = self.emit("p", 0, 0)
            self.prog[split][1] = len(self.prog)
            self.node(n.node)
            self.emit("j", split)
            self.prog[split][2] = len(self.prog)
            return
        splits: list[int] = []
        for _ in range(n.hi - n.lo):
            split = self.emit("p", 0, 0)
            self.prog[split][1] = len(self.prog)
            splits.append(split)
            self.node(n.node)
        for split in splits:
            self.prog[split][2] = len(self.prog)


@dataclass(frozen=True, slots=True)
class Regex:
    """A compiled pattern; ``groups`` is the number of parenthesised groups."""

    pattern: str
    program: tuple[_Instr, ...]
    groups: int


@functools.lru_cache(maxsize=256)
def compile_regex(pattern: str, icase: bool = False) -> Regex:
    """Compile a POSIX extended regular expression (raises ``RegexError``)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexError(f"pattern longer than {MAX_PATTERN_LENGTH} characters")
    parser = _Parser(pattern, icase)
    tree = parser.parse()
    em = _Emitter()
    em.emit("v", 0)
    em.node(tree)
    em.emit("v", 1)
    em.emit("m")
    return Regex(pattern, tuple(tuple(i) for i in em.prog), parser.groups)


def _assert_ok(kind: object, text: str, pos: int) -> bool:
    n = len(text)
    if kind == "^":
        return pos == 0
    if kind == "$":
        return pos == n
    before = pos > 0 and _is_word(text[pos - 1])
    after = pos < n and _is_word(text[pos])
    if kind == "b":
        return before != after
    if kind == "B":
        return before == after
    if kind == "<":
        return after and not before
    return before and not after  # ">"


def search(regex: Regex, text: str, budget: StepBudget) -> tuple[str, ...] | None:
    """The leftmost-longest match of ``regex`` anywhere in ``text``: the whole
    match and each group (``""`` for a group that took no part), or ``None``."""
    prog = regex.program
    nslots = 2 * (regex.groups + 1)
    n = len(text)
    best: tuple[int, ...] | None = None
    clist: list[tuple[int, tuple[int, ...]]] = []
    empty = (-1,) * nslots
    steps = 0

    def add(
        out: list[tuple[int, tuple[int, ...]]],
        seen: set[int],
        pc: int,
        caps: tuple[int, ...],
        pos: int,
    ) -> int:
        count = 0
        stack = [(pc, caps)]
        while stack:
            pc, caps = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            count += 1
            ins = prog[pc]
            op = ins[0]
            if op == "j":
                stack.append((ins[1], caps))  # type: ignore[arg-type]
            elif op == "p":
                stack.append((ins[2], caps))  # type: ignore[arg-type]
                stack.append((ins[1], caps))  # type: ignore[arg-type]
            elif op == "v":
                slot = ins[1]
                assert isinstance(slot, int)
                stack.append((pc + 1, (*caps[:slot], pos, *caps[slot + 1 :])))
            elif op == "a":
                if _assert_ok(ins[1], text, pos):
                    stack.append((pc + 1, caps))
            else:
                out.append((pc, caps))
        return count

    cseen: set[int] = set()
    for pos in range(n + 1):
        if best is None:
            # A new start is the lowest-priority thread: earlier starts win.
            steps += add(clist, cseen, 0, empty, pos)
        if not clist:
            if best is not None:
                break
            cseen = set()
            continue
        nlist: list[tuple[int, tuple[int, ...]]] = []
        nseen: set[int] = set()
        ch = text[pos] if pos < n else ""
        for pc, caps in clist:
            steps += 1
            if best is not None and caps[0] > best[0]:
                continue
            ins = prog[pc]
            op = ins[0]
            if op == "m":
                if (
                    best is None
                    or caps[0] < best[0]
                    or (caps[0] == best[0] and pos > best[1])
                ):
                    best = (caps[0], pos, *caps[2:])
                continue
            if pos >= n:
                continue
            if op == "c":
                ok = ch == ins[1]
            else:
                pred = ins[1]
                assert callable(pred)
                ok = bool(pred(ch))
            if ok:
                steps += add(nlist, nseen, pc + 1, caps, pos + 1)
        clist = nlist
        cseen = nseen
        if steps > 4096:
            budget.spend(steps)
            steps = 0
    budget.spend(steps)
    if best is None:
        return None
    out = [text[best[0] : best[1]]]
    for g in range(1, regex.groups + 1):
        s, e = best[2 * g], best[2 * g + 1]
        out.append(text[s:e] if s >= 0 and e >= 0 else "")
    return tuple(out)
