"""Running the scripts of one delivery: ``run_scripts`` and ``run_script``.

Several scripts (``run_scripts``) run as Pigeonhole runs sieve_before, the
user's script and sieve_after: one after the other, the next one only while
the message would still be kept (an explicit or implicit keep); ``stop`` ends
only its own script. Each script's actions stand once it has finished; the
keep of a script that is not the last is not performed (the next script decides
instead). A script that fails ends the sequence with the implicit keep; actions
of the scripts before it stand. The IMAP flags of RFC 5232's internal variable
and the header edits carry over from one script to the next.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from server.sieve.actions import Action, Keep, ScriptError, SieveResult
from server.sieve.compiler import CompiledScript
from server.sieve.context import SieveContext
from server.sieve.fast import HeaderFacts
from server.sieve.interpreter import _Outcome, _Run, _Shared
from server.sieve.message import Envelope, MessageView

log = logging.getLogger("quicksilver.sieve")


def run_scripts(
    scripts: Sequence[CompiledScript],
    msg: MessageView,
    env: Envelope,
    ctx: SieveContext | None = None,
) -> SieveResult:
    """Run a sequence of scripts (global before, the user's, global after) on
    one message for one recipient; see the module docstring for the rules.

    With no script the message is kept. Never raises for a script's sake.
    """
    context = ctx or SieveContext()
    headers = list(msg.headers)
    facts = HeaderFacts(headers, {}, msg.size, context.subaddress_separator)
    shared = _Shared(headers, [], [], facts)
    actions: list[Action] = []
    errors: list[ScriptError] = []
    warnings: list[str] = []
    # The keep still in effect; with no script at all, the message is kept.
    pending: Keep | None = Keep(implicit=True)
    for index, script in enumerate(scripts):
        edits_before = len(shared.edits)
        try:
            outcome = _Run(script, msg, env, context, shared).run()
        except Exception:
            # A defect of the engine must not cost a message either: the
            # edge of the engine logs it and keeps the message.
            log.exception("sieve engine failure in script %s", script.name)
            outcome = _Outcome(
                [], None, ScriptError(script.name, 0, "internal error in the engine")
            )
        warnings.extend(f"{script.name}: {w}" for w in outcome.warnings)
        if outcome.error is not None:
            errors.append(outcome.error)
            log.info(
                "sieve script %s failed at line %d (%s): keeping the message",
                outcome.error.script,
                outcome.error.line,
                outcome.error.message,
            )
            # The failed script's header edits go with its other actions.
            pending = Keep(
                implicit=True, header_edits=tuple(shared.edits[:edits_before])
            )
            break
        last = index == len(scripts) - 1
        # A script's keep is performed only by the last script run; before
        # that it only lets the next script run.
        actions.extend(a for a in outcome.actions if last or not isinstance(a, Keep))
        pending = outcome.keep
        if pending is None:
            break
        if last and not pending.implicit:
            pending = None  # the explicit keep is already in the list
    if pending is not None:
        actions.append(pending)
    return SieveResult(tuple(actions), tuple(errors), tuple(warnings))


def run_script(
    script: CompiledScript,
    msg: MessageView,
    env: Envelope,
    ctx: SieveContext | None = None,
) -> SieveResult:
    """Run one script (``run_scripts`` with a sequence of one)."""
    return run_scripts((script,), msg, env, ctx)
