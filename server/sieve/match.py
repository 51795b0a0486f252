"""Comparators and match types (RFC 5228 section 2.7, RFC 4790, RFC 5231).

A test hands ``match_values`` the values it extracted (header values,
addresses, ...) and the keys the script gave; the answer is whether any value
matches any key, plus the match variables of the first successful
``:matches``/``:regex`` pair (RFC 5229 section 3.2).

Comparators (RFC 4790 section 9): ``i;octet`` compares code points (the same
order as the UTF-8 octets); ``i;ascii-casemap`` folds ASCII letters first;
``i;ascii-numeric`` compares the decimal number each string starts with, a
string without one counting as positive infinity (section 9.1.1), and supports
only equality and order (the compiler refuses it with substring matches).

Match types: ``:is``, ``:contains``, ``:matches`` (``*`` and ``?`` wildcards,
``\\`` escapes; each wildcard matches as little as possible from the left, which
gives RFC 5229's example ``[*] *`` -> ``acme-users``), ``:regex``
(``regex.py``), and RFC 5231's ``:value``/``:count`` with a relation.

``:matches`` runs in linear-ish time: the pattern is cut at its stars into
fixed-length segments, and each segment is found at its leftmost place with
``str.find`` (or a one-shot character scan when it holds ``?``), which is both
the standard greedy algorithm's result and the RFC's leftmost-shortest
assignment of the stars.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from server.sieve.compiler import MatchSpec
from server.sieve.regex import StepBudget, ascii_fold, compile_regex, search

_WILDCARD_SEGMENT_CAP = 64  # '?'-segments longer than this are scanned in chunks


@dataclass(frozen=True, slots=True)
class MatchResult:
    matched: bool
    variables: tuple[str, ...] | None = None  # ${0}, ${1}, ... when captured


NO_MATCH = MatchResult(False)


def numeric_key(value: str) -> tuple[int, str] | None:
    """i;ascii-numeric: the leading digits without leading zeros, as a key that
    orders like the number (length, then digits) -- no int(), which refuses
    more than 4300 digits; None is +infinity (RFC 4790 section 9.1.1)."""
    end = 0
    while end < len(value) and "0" <= value[end] <= "9":
        end += 1
    if not end:
        return None
    digits = value[:end].lstrip("0")
    return (len(digits), digits)


def numeric_order(na: tuple[int, str] | None, nb: tuple[int, str] | None) -> int:
    """-1, 0 or 1 for two ``numeric_key``s (None is +infinity)."""
    if na is None or nb is None:
        return (na is None) - (nb is None)
    return (na > nb) - (na < nb)


def compare(comparator: str, a: str, b: str) -> int:
    """-1, 0 or 1 as a is less than, equal to or greater than b."""
    if comparator == "i;ascii-numeric":
        return numeric_order(numeric_key(a), numeric_key(b))
    if comparator == "i;ascii-casemap":
        a, b = ascii_fold(a), ascii_fold(b)
    return (a > b) - (a < b)


def relation_holds(relation: str, cmp: int) -> bool:
    """RFC 5231 section 5: gt, ge, lt, le, eq, ne."""
    if relation == "gt":
        return cmp > 0
    if relation == "ge":
        return cmp >= 0
    if relation == "lt":
        return cmp < 0
    if relation == "le":
        return cmp <= 0
    if relation == "eq":
        return cmp == 0
    return cmp != 0


# -- :matches -----------------------------------------------------------------

_Unit = tuple[str, str]  # ("lit", c) / ("?", "") / ("*", "")
# Parsed :matches patterns kept, each at most GLOB_CACHE_CHARS long: about
# 512 x 256 units at worst.
GLOB_CACHE = 512
GLOB_CACHE_CHARS = 256


def _glob_units(pattern: str) -> tuple[_Unit, ...]:
    """The pattern as units; short ones (a script's own strings) parsed once,
    long ones (built from variables) each time, so the cache stays small."""
    if len(pattern) <= GLOB_CACHE_CHARS:
        return _glob_units_cached(pattern)
    return parse_glob(pattern)


@functools.lru_cache(maxsize=GLOB_CACHE)
def _glob_units_cached(pattern: str) -> tuple[_Unit, ...]:
    return parse_glob(pattern)


def parse_glob(pattern: str) -> tuple[_Unit, ...]:
    units: list[_Unit] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            units.append(("lit", pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            units.append(("*", ""))
        elif c == "?":
            units.append(("?", ""))
        else:
            units.append(("lit", c))
        i += 1
    return tuple(units)


def _seg_at(seg: Sequence[_Unit], text: str, pos: int) -> bool:
    if pos + len(seg) > len(text):
        return False
    for k, (kind, ch) in enumerate(seg):
        if kind == "lit" and text[pos + k] != ch:
            return False
    return True


def _seg_find(
    seg: Sequence[_Unit], text: str, start: int, end: int, budget: StepBudget | None
) -> int:
    """Leftmost position p in [start, end - len(seg)] where seg matches.

    Each candidate place costs one step of the run's budget: a segment like
    "a?a?b" over a megabyte of "a" tries every place in Python code."""
    size = len(seg)
    if size == 0:
        return start if start <= end else -1
    if all(kind == "lit" for kind, _ in seg):
        return text.find("".join(ch for _, ch in seg), start, end)
    # Anchor on the longest literal run, then verify the whole segment.
    best_off, best_len = -1, 0
    k = 0
    while k < size:
        if seg[k][0] == "lit":
            j = k
            while j < size and seg[j][0] == "lit":
                j += 1
            if j - k > best_len:
                best_off, best_len = k, j - k
            k = j
        else:
            k += 1
    if best_len == 0:
        return start if start + size <= end else -1
    needle = "".join(ch for _, ch in seg[best_off : best_off + best_len])
    p = text.find(needle, start + best_off, end)
    tried = 0
    while p >= 0:
        cand = p - best_off
        if cand + size > end:
            break
        if _seg_at(seg, text, cand):
            break
        tried += 1
        if budget is not None and tried % 1024 == 0:
            budget.spend(1024)
        p = text.find(needle, p + 1, end)
    else:
        cand = -1
    if budget is not None:
        budget.spend(tried % 1024)
    return cand if p >= 0 and cand + size <= end else -1


def glob_match(
    pattern: str, text: str, fold: bool, budget: StepBudget | None = None
) -> tuple[str, ...] | None:
    """Match ``text`` against a Sieve wildcard pattern (RFC 5228 section 2.7.1).

    Returns the match variables (``${0}`` the whole text, then one per ``*``
    and ``?`` in order) or ``None``.
    """
    orig = text
    if fold:
        text = ascii_fold(text)
        pattern = ascii_fold(pattern)
    units = _glob_units(pattern)
    # Split at stars: segments[0] is anchored at the start, segments[-1] at the end.
    segments: list[list[_Unit]] = [[]]
    for u in units:
        if u[0] == "*":
            segments.append([])
        else:
            segments[-1].append(u)
    n = len(text)
    caps: list[str] = [orig]
    if len(segments) == 1:
        seg = segments[0]
        if len(seg) != n or not _seg_at(seg, text, 0):
            return None
        caps.extend(orig[k] for k, (kind, _) in enumerate(seg) if kind == "?")
        return tuple(caps)
    head, tail = segments[0], segments[-1]
    tail_start = n - len(tail)
    if (
        tail_start < len(head)
        or not _seg_at(head, text, 0)
        or not _seg_at(tail, text, tail_start)
    ):
        return None
    pos = len(head)
    placed: list[int] = []
    for seg in segments[1:-1]:
        p = _seg_find(seg, text, pos, tail_start, budget)
        if p < 0:
            return None
        placed.append(p)
        pos = p + len(seg)
    # Build the captures in pattern order.
    caps.extend(orig[k] for k, (kind, _) in enumerate(head) if kind == "?")
    cursor = len(head)
    starts = [*placed, tail_start]
    for seg_index, seg in enumerate(segments[1:]):
        s = starts[seg_index]
        caps.append(orig[cursor:s])
        caps.extend(orig[s + k] for k, (kind, _) in enumerate(seg) if kind == "?")
        cursor = s + len(seg)
    return tuple(caps)


# -- the match ----------------------------------------------------------------


def _one(spec: MatchSpec, value: str, key: str, budget: StepBudget) -> MatchResult:
    mt = spec.match_type
    comparator = spec.comparator
    if mt == "is":
        return MatchResult(compare(comparator, value, key) == 0)
    if mt == "value":
        return MatchResult(
            relation_holds(spec.relation, compare(comparator, value, key))
        )
    if mt == "contains":
        if comparator == "i;ascii-casemap":
            return MatchResult(ascii_fold(key) in ascii_fold(value))
        return MatchResult(key in value)
    if mt == "matches":
        caps = glob_match(key, value, comparator == "i;ascii-casemap", budget)
        return MatchResult(True, caps) if caps is not None else NO_MATCH
    if mt == "regex":
        rx = compile_regex(key, icase=comparator == "i;ascii-casemap")
        found = search(rx, value, budget)
        return MatchResult(True, found) if found is not None else NO_MATCH
    raise ValueError(f"unknown match type {mt}")


def match_values(
    spec: MatchSpec,
    values: Iterable[str],
    keys: Sequence[str],
    budget: StepBudget,
    count: int | None = None,
) -> MatchResult:
    """Whether any value matches any key (values outer, keys inner, as
    Pigeonhole iterates); ``:count`` compares the number of values instead
    (``count`` overrides it when the test counts differently)."""
    if spec.match_type == "count":
        n = count if count is not None else sum(1 for _ in values)
        return MatchResult(
            any(
                relation_holds(spec.relation, compare(spec.comparator, str(n), k))
                for k in keys
            )
        )
    for value in values:
        for key in keys:
            r = _one(spec, value, key, budget)
            if r.matched:
                return r
    return NO_MATCH
