"""Sieve compiler: a syntax tree in, a checked ``CompiledScript`` out.

Everything a script could get wrong without looking at a message is found here,
with its line and column, so that ManageSieve's PUTSCRIPT and CHECKSCRIPT can
refuse it (RFC 5804 section 2.6) and delivery never meets it:

- every command and test exists and its extension was required (RFC 5228
  section 3.2: "it is an error to use an extension without requiring it"), and
  ``require`` comes first, at the top level;
- tagged arguments come before positional ones, are known for that command,
  appear once, do not clash with another of their group (two match types, two
  comparators...), and carry an argument of the right type; positional
  arguments have the right number and types; tests and blocks are where the
  command takes them (RFC 5228 sections 2.6 and 8.2) -- all from ``spec.py``;
- literal values that can be checked are: comparators and relations (RFC 4790,
  RFC 5231), header names (RFC 5322 field-name), the address test's headers,
  envelope parts, redirect and vacation addresses, variable names (RFC 5229),
  date parts and zones (RFC 5260), regular expressions (their syntax, once);
- strings are prepared: ``${hex:..}``/``${unicode:..}`` decoded when
  encoded-character is required (RFC 5228 section 2.4.2.4), then, when
  variables is required, split into literal text and variable references
  (RFC 5229 section 3), so that running a script never parses a string again.

The result is immutable and holds no reference to a message: one compiled
script serves every delivery until the person changes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from server.sieve import spec
from server.sieve.addresses import parse_mailbox
from server.sieve.errors import SieveSyntaxError
from server.sieve.parser import (
    Argument,
    CommandNode,
    NumberArg,
    StringArg,
    TagArg,
    TestNode,
    parse,
)

if TYPE_CHECKING:
    from server.sieve.fast import FastIf, FastTest, Plans, Prefilter
from server.sieve.regex import RegexError, compile_regex

# RFC 5229 section 3: implementations MAY limit the number of variables;
# Pigeonhole's sieve_variables_max_scope_size is 255.
MAX_VARIABLES = 255
# RFC 5229 section 3.2: match variables ${0}..${9} MUST be supported; higher
# ones read as empty (as Pigeonhole does).
MAX_MATCH_INDEX = 9

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_VARREF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*|[0-9]+)\}")
_HEX_PAIR = re.compile(r"[0-9A-Fa-f]{1,2}")
_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]+")
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+\Z")
_ZONE = re.compile(r"[+-][0-9]{4}\Z")


@dataclass(frozen=True, slots=True)
class VarRef:
    """``${name}`` (``index`` -1) or the match variable ``${index}``;
    ``name`` is in lower case (variable names are case-insensitive)."""

    name: str
    index: int = -1


@dataclass(frozen=True, slots=True)
class Template:
    """A string with variable references (RFC 5229 section 3)."""

    parts: tuple[str | VarRef, ...]


SString = str | Template
StrList = tuple[SString, ...]
Value = bool | int | str | Template | StrList


@dataclass(frozen=True, slots=True)
class MatchSpec:
    """How a test compares (RFC 5228 sections 2.7.1-2.7.3, RFC 5231)."""

    comparator: str = "i;ascii-casemap"
    match_type: str = "is"
    relation: str = ""


@dataclass(frozen=True, slots=True)
class Node:
    """A compiled command or test.

    ``tags`` maps each tag given (``":copy"``) to its argument (``True`` for
    tags without one); ``args`` are the positional arguments, with ``None``-free
    defaults filled in where the grammar lets one be left out; ``branches`` and
    ``else_block`` hold an if/elsif/else chain.
    """

    name: str
    line: int
    tags: Mapping[str, Value] = field(default_factory=dict)
    args: tuple[Value, ...] = ()
    tests: tuple[Node, ...] = ()
    block: tuple[Node, ...] = ()
    branches: tuple[tuple[Node, tuple[Node, ...]], ...] = ()
    else_block: tuple[Node, ...] | None = None
    match: MatchSpec | None = None
    address_part: str = "all"

    def has(self, tag: str) -> bool:
        return tag in self.tags


@dataclass(frozen=True, slots=True)
class CompiledScript:
    """A script ready to run; ``extensions`` are those it required."""

    name: str
    commands: tuple[Node, ...]
    extensions: frozenset[str]
    variable_names: frozenset[str] = frozenset()
    # closures for the common tests, by the test node's id, and the if
    # chains made only of those, by the if node's id (fast.py)
    fast: Mapping[int, FastTest] = field(
        default_factory=dict, compare=False, repr=False
    )
    fast_ifs: Mapping[int, FastIf] = field(
        default_factory=dict, compare=False, repr=False
    )
    # each block's steps, by the id of the block's tuple (fast.precompile)
    plans: Plans = field(default_factory=dict, compare=False, repr=False)
    # for some blocks: which of their ifs are surely false (fast._prefilter)
    prefilters: Mapping[int, Prefilter] = field(
        default_factory=dict, compare=False, repr=False
    )


def _err(at: Argument | CommandNode | TestNode, message: str) -> SieveSyntaxError:
    return SieveSyntaxError(at.line, at.col, message)


class _Compiler:
    def __init__(self) -> None:
        self.extensions: set[str] = set()
        self.variables: set[str] = set()

    # -- strings ---------------------------------------------------------------

    def _decode_one(self, kind: str, body: str, at: Argument) -> str | None:
        """The characters of one ``${hex:..}``/``${unicode:..}``, or None when
        it is not well formed (then it stays as written, RFC 5228 2.4.2.4)."""
        items = body.replace("\r", " ").replace("\n", " ").replace("\t", " ").split()
        if not items:
            return None
        if kind == "hex":
            if not all(_HEX_PAIR.fullmatch(x) for x in items):
                return None
            data = bytes(int(x, 16) for x in items)
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                raise _err(at, "encoded characters do not form valid UTF-8") from None
        if not all(_HEX_DIGITS.fullmatch(x) for x in items):
            return None
        out: list[str] = []
        for x in items:
            cp = int(x[-8:], 16) if len(x.lstrip("0")) <= 8 else 0x110000
            if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                raise _err(
                    at, f"invalid unicode character 0x{x.upper()} (encoded character)"
                )
            out.append(chr(cp))
        return "".join(out)

    def _decode_encoded(self, text: str, at: Argument) -> str:
        # One pass with str.find: a regex over "${hex:" repeated without a
        # closing brace would take quadratic time.
        out: list[str] = []
        pos = 0
        while True:
            start = text.find("${", pos)
            if start < 0:
                break
            head = text[start + 2 : start + 10].lower()
            kind = (
                "hex"
                if head.startswith("hex:")
                else ("unicode" if head.startswith("unicode:") else "")
            )
            if not kind:
                out.append(text[pos : start + 2])
                pos = start + 2
                continue
            body_start = start + 2 + len(kind) + 1
            end = text.find("}", body_start)
            if end < 0:
                break  # no closing brace anywhere after this point
            decoded = self._decode_one(kind, text[body_start:end], at)
            out.append(text[pos:start])
            out.append(text[start : end + 1] if decoded is None else decoded)
            pos = end + 1
        out.append(text[pos:])
        return "".join(out)

    def string(self, text: str, at: Argument) -> SString:
        if "encoded-character" in self.extensions and "${" in text:
            text = self._decode_encoded(text, at)
        if "variables" not in self.extensions or "${" not in text:
            return text
        parts: list[str | VarRef] = []
        pos = 0
        for m in _VARREF.finditer(text):
            if m.start() > pos:
                parts.append(text[pos : m.start()])
            name = m.group(1)
            if name.isdigit():
                index = int(name)
                if index <= MAX_MATCH_INDEX:
                    parts.append(VarRef("", index))
            elif "." in name:
                # RFC 5229 section 3: no namespace is supported here; like
                # Pigeonhole, the reference reads as empty.
                pass
            else:
                parts.append(VarRef(name.lower()))
            pos = m.end()
        if pos < len(text):
            parts.append(text[pos:])
        if all(isinstance(p, str) for p in parts):
            return "".join(p for p in parts if isinstance(p, str))
        return Template(tuple(parts))

    def strings(self, arg: StringArg) -> StrList:
        return tuple(self.string(v, arg) for v in arg.values)

    # -- generic argument checking ---------------------------------------------

    def need_extension(
        self, ext: str | None, at: Argument | CommandNode | TestNode, what: str
    ) -> None:
        if ext is not None and ext not in self.extensions:
            raise _err(
                at, f"{what} needs the extension '{ext}' (add: require \"{ext}\";)"
            )

    def arguments(
        self, node: CommandNode | TestNode, cspec: spec.CommandSpec
    ) -> tuple[dict[str, Value], dict[str, Argument], list[Argument]]:
        kind = cspec.kind.value
        tags: dict[str, Value] = {}
        tag_args: dict[str, Argument] = {}
        groups: dict[str, str] = {}
        positional: list[Argument] = []
        args = node.arguments
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if isinstance(arg, TagArg):
                if positional:
                    raise _err(
                        arg,
                        f"tagged argument {arg.name} after a positional argument "
                        f"of {kind} '{node.name}'",
                    )
                tspec = cspec.tag(arg.name)
                if tspec is None:
                    raise _err(
                        arg,
                        f"unknown tagged argument {arg.name} for {kind} '{node.name}'",
                    )
                self.need_extension(tspec.extension, arg, f"tag {arg.name}")
                if arg.name in tags:
                    raise _err(arg, f"tag {arg.name} given twice")
                if tspec.group is not None:
                    other = groups.get(tspec.group)
                    if other is not None:
                        raise _err(
                            arg, f"tags {other} and {arg.name} cannot be used together"
                        )
                    groups[tspec.group] = arg.name
                value: Value = True
                if tspec.param is not None:
                    if i >= len(args) or isinstance(args[i], TagArg):
                        raise _err(
                            arg, f"tag {arg.name} needs a {tspec.param.value} argument"
                        )
                    value = self.typed(
                        args[i], tspec.param, f"the argument of {arg.name}"
                    )
                    tag_args[arg.name] = args[i]
                    i += 1
                tags[arg.name] = value
            else:
                positional.append(arg)
        want = cspec.positional
        n_min = len(want) - cspec.optional
        if not n_min <= len(positional) <= len(want):
            expected = (
                str(len(want)) if cspec.optional == 0 else f"{n_min} to {len(want)}"
            )
            raise _err(
                node,
                f"{kind} '{node.name}' takes {expected} positional argument(s), "
                f"{len(positional)} given",
            )
        return tags, tag_args, positional

    def typed(self, arg: Argument, param: spec.Param, what: str) -> Value:
        if param is spec.Param.NUMBER:
            if not isinstance(arg, NumberArg):
                raise _err(arg, f"{what} must be a number")
            return arg.value
        if not isinstance(arg, StringArg):
            raise _err(arg, f"{what} must be a {param.value}")
        if param is spec.Param.STRING:
            if arg.is_list:
                raise _err(arg, f"{what} must be a single string, not a list")
            return self.string(arg.values[0], arg)
        return self.strings(arg)

    def positionals(
        self, cspec: spec.CommandSpec, positional: list[Argument], name: str
    ) -> tuple[Value, ...]:
        want = list(cspec.positional)
        missing = len(want) - len(positional)
        if missing and cspec.optional_side == "lead":
            want = want[missing:]
        elif missing:
            want = want[: len(positional)]
        values = [
            self.typed(a, p, f"argument {n + 1} of '{name}'")
            for n, (a, p) in enumerate(zip(positional, want, strict=True))
        ]
        if missing and cspec.optional_side == "lead":
            empty: Value = "" if cspec.positional[0] is spec.Param.STRING else ()
            values = [empty] * missing + values
        return tuple(values)

    # -- match, comparator and address part ------------------------------------

    def match_spec(
        self,
        node: CommandNode | TestNode,
        tags: dict[str, Value],
        tag_args: dict[str, Argument],
    ) -> MatchSpec:
        comparator = "i;ascii-casemap"
        if ":comparator" in tags:
            value = tags[":comparator"]
            if not isinstance(value, str):
                raise _err(
                    tag_args[":comparator"], "the comparator name must be a constant"
                )
            comparator = value.lower()
            if comparator not in spec.COMPARATORS:
                raise _err(tag_args[":comparator"], f"unknown comparator '{value}'")
            self.need_extension(
                spec.COMPARATORS[comparator],
                tag_args[":comparator"],
                f"comparator '{value}'",
            )
        match_type = "is"
        relation = ""
        for mt in ("is", "contains", "matches", "regex", "value", "count"):
            if ":" + mt in tags:
                match_type = mt
        if match_type in ("value", "count"):
            rel = tags[":" + match_type]
            if not isinstance(rel, str) or rel.lower() not in spec.RELATIONS:
                raise _err(
                    tag_args[":" + match_type],
                    f"invalid relation '{rel}' for :{match_type} "
                    f"(one of {', '.join(spec.RELATIONS)})",
                )
            relation = rel.lower()
        if comparator == "i;ascii-numeric" and match_type in (
            "contains",
            "matches",
            "regex",
        ):
            raise _err(
                node,
                f"the comparator i;ascii-numeric cannot be used with :{match_type} "
                "(RFC 4790 section 9.1: it only compares for equality and order)",
            )
        return MatchSpec(comparator, match_type, relation)

    def check_regex_keys(self, keys: Value, match: MatchSpec, at: Argument) -> None:
        if match.match_type != "regex" or not isinstance(keys, tuple):
            return
        for key in keys:
            if isinstance(key, str):
                try:
                    compile_regex(key, icase=match.comparator == "i;ascii-casemap")
                except RegexError as exc:
                    raise _err(
                        at, f"invalid regular expression '{key}': {exc}"
                    ) from None

    # -- nodes -----------------------------------------------------------------

    def test(self, node: TestNode) -> Node:
        cspec = spec.TESTS.get(node.name)
        if cspec is None:
            if node.name in spec.COMMANDS:
                raise _err(node, f"'{node.name}' is a command, not a test")
            raise _err(node, f"unknown test '{node.name}'")
        self.need_extension(cspec.extension, node, f"test '{node.name}'")
        self.check_tests(node, cspec)
        tags, tag_args, positional = self.arguments(node, cspec)
        args = self.positionals(cspec, positional, node.name)
        tests = tuple(self.test(t) for t in node.tests)
        match: MatchSpec | None = None
        if cspec.tag(":comparator") is not None:
            match = self.match_spec(node, tags, tag_args)
        address_part = "all"
        for part in ("localpart", "domain", "user", "detail", "all"):
            if ":" + part in tags:
                address_part = part
        out = Node(
            node.name,
            node.line,
            tags,
            args,
            tests,
            match=match,
            address_part=address_part,
        )
        self.check_test(out, node, positional, tag_args)
        return out

    def check_tests(
        self, node: CommandNode | TestNode, cspec: spec.CommandSpec
    ) -> None:
        kind = cspec.kind.value
        if cspec.tests is spec.Tests.NONE and node.tests:
            raise _err(node, f"{kind} '{node.name}' takes no test")
        if cspec.tests is spec.Tests.ONE and (len(node.tests) != 1 or node.test_list):
            raise _err(
                node, f"{kind} '{node.name}' needs exactly one test (not a list)"
            )
        if cspec.tests is spec.Tests.LIST and not node.test_list:
            raise _err(
                node, f"{kind} '{node.name}' needs a list of tests in parentheses"
            )

    def check_index(
        self, node: Node, tag_args: dict[str, Argument], at: TestNode | CommandNode
    ) -> None:
        if node.has(":last") and not node.has(":index"):
            raise _err(at, "the :last tag needs the :index tag")
        if node.has(":index"):
            idx = node.tags[":index"]
            if isinstance(idx, int) and idx < 1 and node.name != "deleteheader":
                raise _err(tag_args[":index"], "the :index must be 1 or more")

    def check_header_names(self, names: Value, at: Argument) -> None:
        if not isinstance(names, tuple):
            names = (names,) if isinstance(names, str | Template) else ()
        for name in names:
            if isinstance(name, str) and not _FIELD_NAME.match(name):
                raise _err(at, f"invalid header name '{name}'")

    def check_test(
        self,
        node: Node,
        src: TestNode,
        positional: list[Argument],
        tag_args: dict[str, Argument],
    ) -> None:
        name = node.name
        if name in ("header", "address", "date"):
            self.check_index(node, tag_args, src)
        if name == "address":
            names = node.args[0]
            assert isinstance(names, tuple)
            for h in names:
                if isinstance(h, str) and h.lower() not in spec.ADDRESS_HEADERS:
                    raise _err(
                        positional[0],
                        f"the header '{h}' does not hold addresses (address test)",
                    )
        if name == "envelope":
            parts = node.args[0]
            assert isinstance(parts, tuple)
            for p in parts:
                if isinstance(p, str) and p.lower() not in ("from", "to", "auth"):
                    raise _err(positional[0], f"unknown envelope part '{p}'")
        if name == "size" and not (node.has(":over") or node.has(":under")):
            raise _err(src, "the size test needs :over or :under")
        if name in ("date", "currentdate"):
            zone = node.tags.get(":zone")
            if isinstance(zone, str) and not _ZONE.match(zone):
                raise _err(
                    tag_args[":zone"], f"invalid time zone '{zone}' (expected +hhmm)"
                )
        if name == "hasflag" and positional and len(positional) == 2:
            self.check_variable_name(node.args[0], positional[0], many=True)
        if node.match is not None and positional:
            self.check_regex_keys(node.args[-1], node.match, positional[-1])

    def check_variable_name(
        self, value: Value, at: Argument, many: bool = False
    ) -> None:
        names = value if isinstance(value, tuple) else (value,)
        for v in names:
            if not isinstance(v, str):
                raise _err(at, "a variable name must be a constant string")
            if v.isdigit():
                raise _err(at, "cannot assign to a match variable")
            if "." in v and _IDENTIFIER.match(v.split(".", 1)[0]):
                raise _err(at, f"unknown variable namespace '{v.split('.', 1)[0]}'")
            if not _IDENTIFIER.match(v):
                raise _err(at, f"invalid variable name '{v}'")
            self.variables.add(v.lower())
            if len(self.variables) > MAX_VARIABLES:
                raise _err(at, f"too many variables (more than {MAX_VARIABLES})")

    def command(self, node: CommandNode) -> Node:
        cspec = spec.COMMANDS.get(node.name)
        if cspec is None:
            if node.name in spec.TESTS:
                raise _err(node, f"'{node.name}' is a test, not a command")
            raise _err(node, f"unknown command '{node.name}'")
        self.need_extension(cspec.extension, node, f"command '{node.name}'")
        self.check_tests(node, cspec)
        if cspec.block and node.block is None:
            raise _err(node, f"command '{node.name}' needs a block")
        if not cspec.block and node.block is not None:
            raise _err(node, f"command '{node.name}' takes no block")
        tags, tag_args, positional = self.arguments(node, cspec)
        args = self.positionals(cspec, positional, node.name)
        tests = tuple(self.test(t) for t in node.tests)
        block = self.block(node.block) if node.block is not None else ()
        match: MatchSpec | None = None
        if cspec.tag(":comparator") is not None:
            match = self.match_spec(node, tags, tag_args)
        out = Node(node.name, node.line, tags, args, tests, block, match=match)
        self.check_command(out, node, positional, tag_args)
        return out

    def check_command(
        self,
        node: Node,
        src: CommandNode,
        positional: list[Argument],
        tag_args: dict[str, Argument],
    ) -> None:
        name = node.name
        if name == "redirect":
            addr = node.args[0]
            if isinstance(addr, str) and parse_mailbox(addr) is None:
                raise _err(positional[0], f"invalid redirect address '{addr}'")
        elif name == "vacation":
            frm = node.tags.get(":from")
            if isinstance(frm, str) and parse_mailbox(frm) is None:
                raise _err(tag_args[":from"], f"invalid :from address '{frm}'")
            # An invalid :addresses item is only ignored (with a warning) when
            # the script runs, as Pigeonhole does.
        elif name == "set" or (
            name in ("setflag", "addflag", "removeflag") and len(positional) == 2
        ):
            self.check_variable_name(node.args[0], positional[0])
        elif name in ("addheader", "deleteheader"):
            self.check_header_names(node.args[0], positional[0])
            if name == "deleteheader":
                self.check_index(node, tag_args, src)
                if node.match is not None and len(positional) == 2:
                    self.check_regex_keys(node.args[1], node.match, positional[1])

    def block(self, commands: tuple[CommandNode, ...]) -> tuple[Node, ...]:
        out: list[Node] = []
        i = 0
        while i < len(commands):
            cmd = commands[i]
            if cmd.name == "require":
                raise _err(cmd, "require must come first, at the top of the script")
            if cmd.name in ("elsif", "else"):
                raise _err(cmd, f"'{cmd.name}' without a preceding 'if'")
            if cmd.name != "if":
                out.append(self.command(cmd))
                i += 1
                continue
            branches: list[tuple[Node, tuple[Node, ...]]] = []
            first = self.command(cmd)
            branches.append((first.tests[0], first.block))
            i += 1
            else_block: tuple[Node, ...] | None = None
            while i < len(commands) and commands[i].name in ("elsif", "else"):
                nxt = self.command(commands[i])
                i += 1
                if nxt.name == "else":
                    else_block = nxt.block
                    break
                branches.append((nxt.tests[0], nxt.block))
            out.append(
                Node("if", cmd.line, branches=tuple(branches), else_block=else_block)
            )
        return tuple(out)

    def script(self, commands: tuple[CommandNode, ...]) -> tuple[Node, ...]:
        i = 0
        while i < len(commands) and commands[i].name == "require":
            cmd = commands[i]
            cspec = spec.COMMANDS["require"]
            self.check_tests(cmd, cspec)
            if cmd.block is not None:
                raise _err(cmd, "command 'require' takes no block")
            _, _, positional = self.arguments(cmd, cspec)
            arg = positional[0]
            assert isinstance(arg, StringArg)
            for cap in arg.values:
                if not spec.known_capability(cap):
                    raise _err(arg, f"unknown extension '{cap}'")
                self.extensions.add(cap)
            i += 1
        return self.block(commands[i:])


def compile_script(text: bytes | str, name: str = "script") -> CompiledScript:
    """Parse and check a script.

    Raises ``SieveSyntaxError`` (line, column, message) at the first error.
    """
    from server.sieve.fast import precompile  # fast.py builds on this module

    tree = parse(text)
    compiler = _Compiler()
    commands = compiler.script(tree)
    tests, chains, plans, prefilters = precompile(
        commands, "variables" in compiler.extensions
    )
    return CompiledScript(
        name,
        commands,
        frozenset(compiler.extensions),
        frozenset(compiler.variables),
        tests,
        chains,
        plans,
        prefilters,
    )
