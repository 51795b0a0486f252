"""Precompiled tests: the common tests of a script as closures.

Most rules of a filtering script are "header X contains Y", "address from is
Z", "exists X" or "size over N" with constant strings, and most of them do not
match. The interpreter (interpreter.py) handles every test in general: it
expands each argument, looks the header up by scanning the list, folds the
same header value and the same key again for every rule and builds a
``MatchResult`` per comparison, about 4.5 us per rule. A 70-rule script then
cost more than the Maildir write it sits in front of.

``precompile`` turns each such test into a closure once, when the script is
compiled: header names already lower case, keys already folded, ``:matches``
patterns already cut at their stars. The closures read a per-delivery
``HeaderFacts`` that indexes the header fields by name and remembers each
value's folded form and parsed addresses, so a script of many rules reads a
field once. A test qualifies only when the answer is the same as the general
path's, step for step:

- every string argument is a constant (no variables to expand);
- no ``:index`` (RFC 5260), no ``:count``, no ``:regex``;
- ``:matches`` only when the script cannot read match variables (it does not
  require "variables") and the pattern has no ``?``: then it is literal
  segments between stars, which the general path finds with ``str.find`` and
  no step budget either (match.py), so no limit can be hit on one path only.

Everything else (and ``envelope``, ``body``, ``date``, ...) goes the general
way.

Two more things are made once per script. Each block gets a plan (the
interpreter walks it without a lookup per command). And a block with two or
more single-branch ifs on the same header (or address part) by equality or
containment (``_Facet``) gets a prefilter: at the start of the block it reads
that header once and says which of those ifs are false, so a script of many
"subject contains X" rules reads the subject once and calls no closure for the
rules that cannot match. The answer holds only while nothing in the block has
run (an action may edit the header): after the first if that matches, or any
other command, the interpreter asks each test again.

Pure: no I/O, no state beyond the per-delivery facts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from server.sieve.addresses import (
    Address,
    format_address,
    parse_header_addresses,
)
from server.sieve.compiler import CompiledScript, MatchSpec, Node, Value
from server.sieve.match import (
    compare,
    numeric_key,
    numeric_order,
    parse_glob,
    relation_holds,
)
from server.sieve.message import HeaderField
from server.sieve.regex import ascii_fold


class HeaderFacts:
    """What the tests of one delivery read from the header, computed once.

    ``headers`` is the delivery's live list of fields (editheader changes it:
    the interpreter then calls ``invalidate``); ``addresses`` caches parsed
    address fields by their unfolded value, shared with the general path.
    """

    __slots__ = (
        "_folded",
        "_named",
        "_named_parts",
        "_numbers",
        "_parts",
        "addresses",
        "headers",
        "index",
        "separator",
        "size",
    )

    def __init__(
        self,
        headers: list[HeaderField],
        addresses: dict[str, tuple[Address, ...]],
        size: int,
        separator: str,
    ) -> None:
        self.headers = headers
        self.addresses = addresses
        self.size = size
        self.separator = separator
        # the fields by lower-case name, in message order (rebuilt on edits)
        self.index: dict[str, list[HeaderField]] = _index(headers)
        self._folded: dict[int, str] = {}
        self._parts: dict[tuple[int, str, bool], tuple[str, ...]] = {}
        self._numbers: dict[int, tuple[int, str] | None] = {}
        # per name: every field's folded value; per (name, part, fold): every
        # address part of those fields (the tests of most rules)
        self._named: dict[str, tuple[str, ...]] = {}
        self._named_parts: dict[tuple[str, str, bool], tuple[str, ...]] = {}

    def invalidate(self) -> None:
        """The header list changed (addheader/deleteheader). The caches keyed
        by a field's id go too: a deleted field's id may be reused."""
        self.index = _index(self.headers)
        self._folded.clear()
        self._parts.clear()
        self._numbers.clear()
        self._named.clear()
        self._named_parts.clear()

    def folded_values(self, key: str) -> tuple[str, ...]:
        """``folded`` of every field named ``key``, in message order."""
        values = self._named.get(key)
        if values is None:
            fold = self.folded
            values = self._named[key] = tuple(fold(f) for f in self.fields(key))
        return values

    def named_address_values(self, key: tuple[str, str, bool]) -> tuple[str, ...]:
        """``address_values`` of every field named ``key[0]`` (part
        ``key[1]``, folded when ``key[2]``), in message order."""
        values = self._named_parts.get(key)
        if values is None:
            name, part, fold = key
            values = self._named_parts[key] = tuple(
                v for f in self.fields(name) for v in self.address_values(f, part, fold)
            )
        return values

    def fields(self, key: str) -> Sequence[HeaderField]:
        """The fields named ``key`` (lower case), in message order."""
        return self.index.get(key, ())

    def folded(self, f: HeaderField) -> str:
        """The field's decoded value with ASCII letters in lower case, keyed
        by the field object's id (valid until ``invalidate``)."""
        key = id(f)
        value = self._folded.get(key)
        if value is None:
            value = self._folded[key] = ascii_fold(f.decoded)
        return value

    def parsed(self, f: HeaderField) -> tuple[Address, ...]:
        value = f.unfolded
        found = self.addresses.get(value)
        if found is None:
            if len(value) <= ADDRESS_CACHE_CHARS:
                found = _parse_cached(value)
            else:
                found = tuple(parse_header_addresses(value))
            self.addresses[value] = found
        return found

    def address_values(self, f: HeaderField, part: str, fold: bool) -> tuple[str, ...]:
        """The ``part`` of each address in the field that has one, folded
        when the comparator folds."""
        key = (id(f), part, fold)
        values = self._parts.get(key)
        if values is None:
            sep = self.separator
            found = [address_part(a, part, sep) for a in self.parsed(f)]
            present = [v for v in found if v is not None]
            values = tuple(ascii_fold(v) for v in present) if fold else tuple(present)
            self._parts[key] = values
        return values

    def number(self, f: HeaderField) -> tuple[int, str] | None:
        """The field's value as i;ascii-numeric sees it (match.numeric_key)."""
        key = id(f)
        if key in self._numbers:
            return self._numbers[key]
        n = self._numbers[key] = numeric_key(f.decoded)
        return n


FastTest = Callable[[HeaderFacts], bool]


def _index(headers: list[HeaderField]) -> dict[str, list[HeaderField]]:
    index: dict[str, list[HeaderField]] = {}
    for f in headers:
        index.setdefault(f.key, []).append(f)
    return index


# Parsed address fields kept across deliveries (the same senders write
# again and again; an Address is immutable): at most ADDRESS_CACHE values of
# at most ADDRESS_CACHE_CHARS characters each.
ADDRESS_CACHE = 1024
ADDRESS_CACHE_CHARS = 256


@functools.lru_cache(maxsize=ADDRESS_CACHE)
def _parse_cached(value: str) -> tuple[Address, ...]:
    return tuple(parse_header_addresses(value))


def address_part(addr: Address, part: str, separator: str) -> str | None:
    """The part of ``addr`` an address test compares (RFC 5228 section
    2.7.4, RFC 5233's ``:user``/``:detail``); None when it has none."""
    if addr.local_part is None:
        if addr.raw == "":
            return ""
        return addr.raw if part == "all" else None
    local = addr.local_part
    if part == "all":
        return format_address(addr)
    if part == "localpart":
        return local
    if part == "domain":
        return addr.domain
    user, found, detail = local.partition(separator)
    if part == "user":
        return user
    return detail if found else None


# -- building ------------------------------------------------------------------


def _constants(v: Value) -> tuple[str, ...] | None:
    """A string or string list with no variables in it, else None."""
    if isinstance(v, str):
        return (v,)
    if isinstance(v, tuple) and all(isinstance(s, str) for s in v):
        return tuple(s for s in v if isinstance(s, str))
    return None


Compare = Callable[[str, HeaderField | None, HeaderFacts], bool]
_Matcher = Callable[[str, str], bool]  # (value as compared, folded or not)


def _literal_glob(pattern: str) -> Callable[[str], bool] | None:
    """A ``:matches`` pattern without ``?`` as a function of the text (already
    folded when the comparator folds); None when it has a ``?``."""
    units = parse_glob(pattern)
    if any(kind == "?" for kind, _ in units):
        return None
    segments: list[str] = [""]
    for kind, ch in units:
        if kind == "*":
            segments.append("")
        else:
            segments[-1] += ch
    if len(segments) == 1:
        whole = segments[0]
        return lambda text: text == whole
    head, mids, tail = segments[0], segments[1:-1], segments[-1]
    least = len(head) + len(tail)

    def match(text: str) -> bool:
        if len(text) < least or not text.startswith(head) or not text.endswith(tail):
            return False
        pos, end = len(head), len(text) - len(tail)
        for seg in mids:
            p = text.find(seg, pos, end)
            if p < 0:
                return False
            pos = p + len(seg)
        return True

    return match


def _matcher(
    spec: MatchSpec, keys: tuple[str, ...], variables: bool
) -> tuple[Callable[[str], bool], bool] | None:
    """(does a value match any key, compare folded values?) or None."""
    mt, comparator = spec.match_type, spec.comparator
    if comparator not in ("i;ascii-casemap", "i;octet"):
        if mt == "value" and comparator == "i;ascii-numeric":
            relation = spec.relation
            return (
                lambda v: any(
                    relation_holds(relation, compare(comparator, v, k)) for k in keys
                ),
                False,
            )
        return None
    fold = comparator == "i;ascii-casemap"
    wanted = tuple(ascii_fold(k) for k in keys) if fold else keys
    if mt == "is":
        if len(wanted) == 1:
            only = wanted[0]
            return (lambda v: v == only), fold
        members = frozenset(wanted)
        return (lambda v: v in members), fold
    if mt == "contains":
        if len(wanted) == 1:
            only = wanted[0]
            return (lambda v: only in v), fold
        return (lambda v: any(k in v for k in wanted)), fold
    if mt == "value":
        relation = spec.relation
        return (
            lambda v: any(
                relation_holds(relation, compare("i;octet", v, k)) for k in wanted
            ),
            fold,
        )
    if mt == "matches" and not variables:
        globs = [_literal_glob(k) for k in wanted]
        if any(g is None for g in globs):
            return None
        checks = tuple(g for g in globs if g is not None)
        if len(checks) == 1:
            return checks[0], fold
        return (lambda v: any(g(v) for g in checks)), fold
    return None


# Tags whose meaning the closures carry; any other (":index", ":count",
# ":regex", ...) sends the test the general way.
_PLAIN_TAGS = frozenset(
    {":comparator", ":is", ":contains", ":matches", ":value"}
    | {":all", ":localpart", ":domain", ":user", ":detail"}
)


def _plain(node: Node) -> bool:
    return all(t in _PLAIN_TAGS for t in node.tags)


def _header(node: Node, variables: bool) -> FastTest | None:
    names = _constants(node.args[0])
    keys = _constants(node.args[1])
    if names is None or keys is None or not _plain(node):
        return None
    found = _matcher(node.match or MatchSpec(), keys, variables)
    if found is None:
        return None
    check, fold = found
    lowered = tuple(n.lower() for n in names)
    spec = node.match or MatchSpec()
    if spec.match_type == "value" and spec.comparator == "i;ascii-numeric":
        return _numeric_header(lowered, spec.relation, keys)

    if fold and len(lowered) == 1:
        only = lowered[0]

        def test(facts: HeaderFacts) -> bool:
            for value in facts.folded_values(only):  # noqa: SIM110 (no generator)
                if check(value):
                    return True
            return False

    elif fold:

        def test(facts: HeaderFacts) -> bool:
            for name in lowered:
                for f in facts.fields(name):
                    if check(facts.folded(f)):
                        return True
            return False

    else:

        def test(facts: HeaderFacts) -> bool:
            for name in lowered:
                for f in facts.fields(name):
                    if check(f.decoded):
                        return True
            return False

    return test


def _numeric_header(
    names: tuple[str, ...], relation: str, keys: tuple[str, ...]
) -> FastTest:
    """``header :value REL :comparator "i;ascii-numeric"``: each field's
    number read once per delivery, each key's once per script."""
    wanted = tuple(numeric_key(k) for k in keys)

    def test(facts: HeaderFacts) -> bool:
        for name in names:
            for f in facts.fields(name):
                n = facts.number(f)
                for k in wanted:
                    if relation_holds(relation, numeric_order(n, k)):
                        return True
        return False

    return test


def _address(node: Node, variables: bool) -> FastTest | None:
    names = _constants(node.args[0])
    keys = _constants(node.args[1])
    if names is None or keys is None or not _plain(node):
        return None
    found = _matcher(node.match or MatchSpec(), keys, variables)
    if found is None:
        return None
    check, fold = found
    keys_ = tuple((n.lower(), node.address_part, fold) for n in names)
    if len(keys_) == 1:
        only = keys_[0]

        def test(facts: HeaderFacts) -> bool:
            for value in facts.named_address_values(only):  # noqa: SIM110
                if check(value):
                    return True
            return False

        return test

    def test_all(facts: HeaderFacts) -> bool:
        for key in keys_:
            for value in facts.named_address_values(key):
                if check(value):
                    return True
        return False

    return test_all


def _exists(node: Node) -> FastTest | None:
    names = _constants(node.args[0])
    if names is None or node.tags:
        return None
    lowered = tuple(n.lower() for n in names)
    return lambda facts: all(facts.fields(n) for n in lowered)


def _size(node: Node) -> FastTest | None:
    if node.has(":over"):
        over = node.tags[":over"]
        if isinstance(over, int) and not isinstance(over, bool):
            return lambda facts: facts.size > over
        return None
    under = node.tags.get(":under")
    if isinstance(under, int) and not isinstance(under, bool):
        return lambda facts: facts.size < under
    return None


def _build(node: Node, variables: bool, out: dict[int, FastTest]) -> FastTest | None:
    """The closure for ``node`` (recorded in ``out`` by the node's id), or
    None; the nested tests of any node are visited either way."""
    name = node.name
    inner = [_build(t, variables, out) for t in node.tests]
    test: FastTest | None = None
    if name == "true":
        test = _always
    elif name == "false":
        test = _never
    elif name in ("not", "allof", "anyof"):
        if all(t is not None for t in inner):
            parts = tuple(t for t in inner if t is not None)
            if name == "not":
                only = parts[0]
                test = lambda facts: not only(facts)  # noqa: E731
            elif name == "allof":
                test = _all_of(parts)
            else:
                test = _any_of(parts)
    elif name == "header":
        test = _header(node, variables)
    elif name == "address":
        test = _address(node, variables)
    elif name == "exists":
        test = _exists(node)
    elif name == "size":
        test = _size(node)
    if test is not None:
        out[id(node)] = test
    return test


def _any_of(parts: tuple[FastTest, ...]) -> FastTest:
    if len(parts) == 2:
        a, b = parts
        return lambda facts: a(facts) or b(facts)

    def test(facts: HeaderFacts) -> bool:
        for t in parts:  # noqa: SIM110 (a loop: no generator per call)
            if t(facts):
                return True
        return False

    return test


def _all_of(parts: tuple[FastTest, ...]) -> FastTest:
    if len(parts) == 2:
        a, b = parts
        return lambda facts: a(facts) and b(facts)

    def test(facts: HeaderFacts) -> bool:
        for t in parts:  # noqa: SIM110 (a loop: no generator per call)
            if not t(facts):
                return False
        return True

    return test


def _always(facts: HeaderFacts) -> bool:
    return True


def _never(facts: HeaderFacts) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class FastIf:
    """An if/elsif/else chain whose every test has a closure: (test, block,
    line) per branch, and the else block."""

    branches: tuple[tuple[FastTest, tuple[Node, ...], int], ...]
    otherwise: tuple[Node, ...] | None


@dataclass(frozen=True, slots=True)
class _Facet:
    """A top-level test that compares one header's values (or one address
    part of them) with constant keys by equality or containment: the tests a
    block's prefilter answers together (``_prefilter``)."""

    source: tuple[str, str, str]  # ("h", name, "") or ("a", name, part)
    fold: bool
    kind: str  # "is" or "contains"
    keys: tuple[str, ...]  # folded when ``fold``


def _facet(node: Node, variables: bool) -> _Facet | None:
    """The facet of a test that ``_build`` made a closure of, when it has one:
    one name, ``:is``/``:contains`` (or ``:matches`` of a pattern that is
    ``*text*`` or has no wildcard), i;ascii-casemap or i;octet."""
    if node.name not in ("header", "address") or not _plain(node):
        return None
    names = _constants(node.args[0])
    keys = _constants(node.args[1])
    spec = node.match or MatchSpec()
    if names is None or keys is None or len(names) != 1:
        return None
    if spec.comparator not in ("i;ascii-casemap", "i;octet"):
        return None
    fold = spec.comparator == "i;ascii-casemap"
    wanted = tuple(ascii_fold(k) for k in keys) if fold else keys
    kind = spec.match_type
    if kind == "matches":
        if variables:
            return None
        simple = [_simple_glob(k) for k in wanted]
        kinds = {k for k, _ in simple}
        if len(kinds) != 1 or None in kinds:
            return None
        kind = simple[0][0] or ""
        wanted = tuple(text for _, text in simple)
    if kind not in ("is", "contains"):
        return None
    name = names[0].lower()
    if node.name == "header":
        return _Facet(("h", name, ""), fold, kind, wanted)
    return _Facet(("a", name, node.address_part), fold, kind, wanted)


def _simple_glob(pattern: str) -> tuple[str | None, str]:
    """("is", text) for a pattern without wildcards, ("contains", text) for
    ``*text*`` (text without wildcards), else (None, "")."""
    units = parse_glob(pattern)
    stars = [i for i, (kind, _) in enumerate(units) if kind != "lit"]
    text = "".join(ch for kind, ch in units if kind == "lit")
    if not stars:
        return "is", text
    if (
        stars == [0, len(units) - 1]
        and len(units) > 2
        and units[0][0] == units[-1][0] == "*"
    ):
        return "contains", text
    return None, ""


def _facet_values(facts: HeaderFacts, facet: _Facet) -> tuple[str, ...]:
    kind, name, part = facet.source
    if kind == "a":
        return facts.named_address_values((name, part, facet.fold))
    if facet.fold:
        return facts.folded_values(name)
    return tuple(f.decoded for f in facts.fields(name))


Prefilter = Callable[[HeaderFacts], frozenset[int]]


def _prefilter(facets: list[tuple[int, _Facet]]) -> Prefilter | None:
    """For a block whose single-branch ifs include two or more tests of the
    same header (``_Facet``): a function that reads each such header once and
    returns the plan indices of the ifs whose test is false. Exact, but only
    while the header is as it was: the interpreter drops the answer as soon
    as anything in the block runs."""
    groups: dict[tuple[tuple[str, str, str], bool], list[tuple[int, _Facet]]] = {}
    for index, facet in facets:
        groups.setdefault((facet.source, facet.fold), []).append((index, facet))
    useful = [g for g in groups.values() if len(g) > 1]
    if not useful:
        return None
    prepared: list[
        tuple[_Facet, frozenset[int], dict[str, list[int]], list[tuple[int, str]]]
    ] = []
    for group in useful:
        equal: dict[str, list[int]] = {}
        inside: list[tuple[int, str]] = []
        for index, facet in group:
            for key in facet.keys:
                if facet.kind == "is":
                    equal.setdefault(key, []).append(index)
                else:
                    inside.append((index, key))
        indices = frozenset(index for index, _ in group)
        prepared.append((group[0][1], indices, equal, inside))

    def false_steps(facts: HeaderFacts) -> frozenset[int]:
        false: set[int] = set()
        for facet, indices, equal, inside in prepared:
            values = _facet_values(facts, facet)
            true: set[int] = set()
            for value in values:
                hit = equal.get(value)
                if hit:
                    true.update(hit)
                for index, key in inside:
                    if key in value:
                        true.add(index)
            false |= indices - true
        return frozenset(false)

    return false_steps


# One step of a block's plan (``precompile``): (test, body, line, chain,
# node), one of three shapes: an if with one branch and no else is (its
# closure, its block, its line, None, None); any other FastIf is (None, (), 0,
# the chain, None); anything else is (None, (), 0, None, the node).
Step = tuple[FastTest | None, tuple[Node, ...], int, "FastIf | None", Node | None]


Plans = Mapping[int, tuple[Step, ...]]


def precompile(
    commands: Sequence[Node], variables: bool
) -> tuple[
    Mapping[int, FastTest], Mapping[int, FastIf], Plans, Mapping[int, Prefilter]
]:
    """Closures for the tests of ``commands`` that qualify (see the module
    docstring), by the id of the test node; the if-chains made only of
    such tests, by the id of the if node; and for every block of the script
    (by the id of its tuple) the plan the interpreter walks, so a run looks
    nothing up per command. ``variables``: the script requires "variables"
    (match variables are read)."""
    tests: dict[int, FastTest] = {}
    chains: dict[int, FastIf] = {}
    plans: dict[int, tuple[Step, ...]] = {}
    prefilters: dict[int, Prefilter] = {}

    def walk(nodes: tuple[Node, ...]) -> None:
        steps: list[Step] = []
        facets: list[tuple[int, _Facet]] = []
        for n in nodes:
            built = [(_build(t, variables, tests), b, t.line) for t, b in n.branches]
            if built and all(fn is not None for fn, _, _ in built):
                chain = FastIf(
                    tuple((fn, b, line) for fn, b, line in built if fn is not None),
                    n.else_block,
                )
                chains[id(n)] = chain
                if len(chain.branches) == 1 and chain.otherwise is None:
                    fn, body, line = chain.branches[0]
                    facet = _facet(n.branches[0][0], variables)
                    if facet is not None:
                        facets.append((len(steps), facet))
                    steps.append((fn, body, line, None, None))
                else:
                    steps.append((None, (), 0, chain, None))
            else:
                steps.append((None, (), 0, None, n))
            for _, block in n.branches:
                walk(block)
            if n.else_block is not None:
                walk(n.else_block)
            walk(n.block)
        plans[id(nodes)] = tuple(steps)
        prefilter = _prefilter(facets)
        if prefilter is not None:
            prefilters[id(nodes)] = prefilter

    walk(tuple(commands))
    return tests, chains, plans, prefilters


# A script whose every test has a closure and that does not require
# "variables" costs at most this many tests over the header of a message
# (each a dict lookup and a str.find or comparison over the named fields):
# deliver.py runs such a script on the core loop for a small message,
# saving the trip to a worker thread. 256 tests over the 64 KiB header of
# deliver.INLINE_MESSAGE_BYTES are a few milliseconds at worst.
MAX_CHEAP_TESTS = 256


def cheap(script: CompiledScript) -> bool:
    """Whether ``script`` may run on the core loop for a small message."""
    if "variables" in script.extensions:
        return False
    count = 0

    def walk(nodes: Sequence[Node]) -> bool:
        nonlocal count
        for n in nodes:
            for test, block in n.branches:
                if id(test) not in script.fast:
                    return False
                count += _size_of(test)
                if count > MAX_CHEAP_TESTS or not walk(block):
                    return False
            if n.else_block is not None and not walk(n.else_block):
                return False
            if n.tests or not walk(n.block):
                return False  # a test outside an if: not ours to judge
        return True

    return walk(script.commands)


def _size_of(test: Node) -> int:
    return 1 + sum(_size_of(t) for t in test.tests)
