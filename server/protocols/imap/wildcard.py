"""LIST / LSUB mailbox patterns (RFC 3501 6.3.8) matched without backtracking.

``*`` matches zero or more characters; ``%`` matches zero or more characters
but not the hierarchy delimiter. Turned into a regular expression, a pattern
such as ``*****x`` backtracks: every extra ``*`` multiplies the work, and one
LIST against a 250-character name held the core loop for seconds. Here the
pattern is run as a small automaton over the name (bit-parallel "shift-and"):
the set of pattern positions reached so far is one integer, and each character
of the name updates it with a few bit operations. That is O(len(name)) steps of
O(len(pattern) / 64) work, whatever the wildcards, with no recursion.

Pure and separate from the session, so it is tested against a slow reference
on small inputs (tests/unit/imap/test_wildcard.py).
"""

from __future__ import annotations

import re

DELIMITER = "/"
# A pattern with more literal characters than this cannot match any mailbox
# name (storage/names.py: at most 1000 characters, at most ~5,400 octets in
# modified UTF-7), so it matches nothing and costs nothing more.
MAX_LITERALS = 8192
_RUN = re.compile(r"[*%]{2,}")


def _collapse(run: re.Match[str]) -> str:
    """A run of wildcards is one wildcard: ``*`` if it holds a ``*`` (it may
    cross the delimiter), else ``%``."""
    return "*" if "*" in run.group() else "%"


class Wildcard:
    """One compiled pattern; ``fullmatch(name)`` says whether all of ``name``
    matches (the method name keeps the call sites of a ``re.Pattern``)."""

    __slots__ = ("_accept", "_any", "_literal", "_literals", "_no_delim", "_start")

    def __init__(self, pattern: str) -> None:
        # After the collapse no two wildcards are adjacent, so one epsilon
        # step (skip a wildcard that matches nothing) closes a state set.
        tokens = _RUN.sub(_collapse, pattern)
        self._literals = len(tokens) - tokens.count("*") - tokens.count("%")
        self._literal: dict[str, int] = {}
        self._any = self._no_delim = self._accept = self._start = 0
        if self._literals > MAX_LITERALS:
            return  # matches nothing (fullmatch checks _literals first)
        for i, tok in enumerate(tokens):
            bit = 1 << i
            if tok == "*":
                self._any |= bit
                self._no_delim |= bit
            elif tok == "%":
                self._no_delim |= bit
            else:
                self._literal[tok] = self._literal.get(tok, 0) | bit
        self._accept = 1 << len(tokens)
        self._start = 1 | ((1 & self._no_delim) << 1)

    def fullmatch(self, name: str) -> bool:
        # each literal of the pattern needs a character of its own
        if self._literals > len(name):
            return False
        states = self._start
        literal = self._literal
        wild = self._no_delim  # every wildcard position (also may match nothing)
        for ch in name:
            stay = self._any if ch == DELIMITER else wild
            states = ((states & literal.get(ch, 0)) << 1) | (states & stay)
            if not states:
                return False
            states |= (states & wild) << 1
        return bool(states & self._accept)


def compile_pattern(pattern: str) -> Wildcard:
    return Wildcard(pattern)
