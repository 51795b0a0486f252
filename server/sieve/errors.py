"""Errors of the Sieve engine.

Two kinds, both with a position a person can find in the script:

- ``SieveSyntaxError``: the script cannot be compiled (lexical, grammar or
  validation error: an unknown command, a missing ``require``, a wrong argument).
  ManageSieve shows its text to the client (PUTSCRIPT/CHECKSCRIPT), so the
  message names the construct and never contains a path or a setting.
- ``SieveRuntimeError``: the script failed while it ran (two conflicting actions,
  a limit exceeded). The interpreter catches it and falls back to the implicit
  keep (RFC 5228 section 2.10.6): a script error never loses mail.
"""

from __future__ import annotations


class SieveError(Exception):
    """Base class of the engine's errors."""


class SieveSyntaxError(SieveError):
    """A script that cannot be compiled; ``line``/``col`` are 1-based."""

    def __init__(self, line: int, col: int, message: str) -> None:
        super().__init__(f"line {line}, column {col}: {message}")
        self.line = line
        self.col = col
        self.message = message


class SieveRuntimeError(SieveError):
    """A failure while running a script (the message then takes the implicit keep)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message
