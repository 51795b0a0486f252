"""The Sieve mail filtering engine (RFC 5228 and the extensions in ``spec.py``).

What it does: compiles scripts (``compile_script``: parse, check, prepare --
errors are ``SieveSyntaxError`` with a line and column) and runs them against one
message for one recipient (``run_scripts``: the global "before" scripts, the
user's active script, the global "after" scripts, with Pigeonhole's rules for
such sequences), returning typed actions (``actions.py``). ``capabilities()`` is
the SIEVE capability list for ManageSieve. ``vacation.py`` holds the RFC 3834 /
RFC 5230 rules for auto-replies and builds the reply.

What it does not do: any I/O. It reads no file, keeps no state between
deliveries (the vacation "already answered" store belongs to the caller) and
sends nothing. The caller compiles once per script change, runs
``run_scripts`` in a worker thread (``asyncio.to_thread``: the body test parses
MIME and ``:regex`` costs CPU, so never on the core loop), then performs the
actions: stores, redirects (adding its loop mark), rejects or DSNs, vacation
replies after ``VacationPolicy`` agrees. A script error never loses mail: the
result then holds the implicit keep and the error.

Modules: ``lexer`` and ``parser`` (grammar), ``spec`` (the one table of
commands, tests and tags), ``compiler`` (checks), ``interpreter`` (runs),
``message`` (the message as tests see it), ``addresses``, ``match``
(comparators and match types), ``regex`` (linear-time POSIX regex), ``dates``,
``actions``, ``vacation``, ``loops`` (redirect loop marks).
"""

from __future__ import annotations

from server.sieve.actions import (
    Action,
    AddHeader,
    DeleteHeader,
    Discard,
    FileInto,
    HeaderEdit,
    Keep,
    Redirect,
    Reject,
    ScriptError,
    SieveResult,
    Vacation,
    apply_header_edits,
)
from server.sieve.compiler import CompiledScript, compile_script
from server.sieve.context import SieveContext, SieveLimits
from server.sieve.errors import SieveError, SieveRuntimeError, SieveSyntaxError
from server.sieve.message import Envelope, MessageView
from server.sieve.runner import run_script, run_scripts
from server.sieve.spec import capabilities

__all__ = [
    "Action",
    "AddHeader",
    "CompiledScript",
    "DeleteHeader",
    "Discard",
    "Envelope",
    "FileInto",
    "HeaderEdit",
    "Keep",
    "MessageView",
    "Redirect",
    "Reject",
    "ScriptError",
    "SieveContext",
    "SieveError",
    "SieveLimits",
    "SieveResult",
    "SieveRuntimeError",
    "SieveSyntaxError",
    "Vacation",
    "apply_header_edits",
    "capabilities",
    "compile_script",
    "run_script",
    "run_scripts",
]
