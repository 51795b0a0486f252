"""Where the window's rules live in the script store, and trying them out.

A user's rules, "Out of office" and "Forward to" are one script named
``USER_SCRIPT`` (rules.py renders it), made the user's active script when
saved. The global rules are ``GLOBAL_SCRIPT`` among the global "before"
scripts (they run before every user's own, as Pigeonhole's sieve_before).

A user whose active script is another one (uploaded over ManageSieve,
written by hand) or whose script of ours was changed by hand gets it back as
text, not editable: saving then refuses, so nothing a person wrote is ever
replaced by the window. Blocking file I/O: the facade calls these in a
worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from server.errors import ValidationError
from server.sieve.actions import (
    Discard,
    FileInto,
    Keep,
    Redirect,
    Reject,
    SieveResult,
    Vacation,
)
from server.sieve.addresses import parse_header_addresses
from server.sieve.compiler import compile_script
from server.sieve.context import SieveContext
from server.sieve.errors import SieveSyntaxError
from server.sieve.message import Envelope, MessageView
from server.sieve.rules import RuleSet, check, parse, render
from server.sieve.runner import run_scripts
from server.sieve.store import ScriptStore, ScriptStoreError

log = logging.getLogger("quicksilver.sieve")

USER_SCRIPT = "quicksilver"
GLOBAL_SCRIPT = "quicksilver-rules"
MAX_TRIAL_MESSAGE = 1024 * 1024  # a pasted message to try the rules on


@dataclass(frozen=True)
class RulesView:
    """What the window shows: ``editable`` with ``rules``, or the ``text``
    of a script written elsewhere (``script`` names it), read-only."""

    editable: bool
    rules: RuleSet
    text: str = ""
    script: str = ""


def _view(name: str, text: str, ours: str) -> RulesView:
    rs = parse(text) if name == ours else None
    if rs is None:
        return RulesView(False, RuleSet(), text, name)
    return RulesView(True, rs, text, name)


def load_user(store: ScriptStore, user: str) -> RulesView:
    active = store.active(user)
    if active is None:
        return RulesView(True, RuleSet())
    return _view(active[0], active[1], USER_SCRIPT)


def _empty(rs: RuleSet) -> bool:
    return not rs.rules and rs.auto_reply is None and rs.forwarding is None


def _compiled(text: str, name: str) -> None:
    try:
        compile_script(text, name)
    except SieveSyntaxError as exc:  # a defect of rules.render, not the person's
        log.error("rules rendered into a script that does not compile: %s", exc)
        raise ValidationError(
            "These rules cannot be saved (an internal error)."
        ) from None


def save_user(store: ScriptStore, user: str, rs: RuleSet) -> RulesView:
    """Write ``rs`` as the user's active script (none at all when empty)."""
    current = load_user(store, user)
    if not current.editable:
        raise ValidationError(
            f"This user's active script '{current.script}' was written elsewhere "
            "(a mail client or by hand); it is left as it is. Deactivate it first "
            "to use rules here."
        )
    rs = check(rs)
    if _empty(rs):
        if current.script == USER_SCRIPT:
            store.set_active(user, None)
            store.delete(user, USER_SCRIPT)
        return RulesView(True, rs)
    text = render(rs)
    _compiled(text, USER_SCRIPT)
    try:
        store.put(user, USER_SCRIPT, text)
        store.set_active(user, USER_SCRIPT)
    except ScriptStoreError as exc:
        raise ValidationError(str(exc)) from None
    return RulesView(True, rs, text, USER_SCRIPT)


def load_global(store: ScriptStore) -> RulesView:
    for name, text in store.global_scripts("before"):
        if name == GLOBAL_SCRIPT:
            return _view(name, text, GLOBAL_SCRIPT)
    return RulesView(True, RuleSet())


def save_global(store: ScriptStore, rs: RuleSet) -> RulesView:
    if rs.auto_reply is not None or rs.forwarding is not None:
        raise ValidationError("Out of office and forwarding are set per user.")
    current = load_global(store)
    if not current.editable:
        raise ValidationError(
            "The global rules script was changed by hand; it is left as it is. "
            f"Remove sieve/@global/before/{GLOBAL_SCRIPT}.sieve to use rules here."
        )
    rs = check(rs)
    if not rs.rules:
        if current.script == GLOBAL_SCRIPT:
            store.delete_global("before", GLOBAL_SCRIPT)
        return RulesView(True, rs)
    text = render(rs)
    _compiled(text, GLOBAL_SCRIPT)
    store.put_global("before", GLOBAL_SCRIPT, text)
    return RulesView(True, rs, text, GLOBAL_SCRIPT)


# -- trying rules on a message ------------------------------------------------------


def _describe(result: SieveResult, sender: str) -> tuple[str, ...]:
    out: list[str] = []
    for err in result.errors:
        out.append(
            f"The rules stopped at line {err.line} ({err.message}): kept in INBOX"
        )
    for a in result.actions:
        flags = (
            f" with flags {' '.join(a.flags)}"
            if isinstance(a, Keep | FileInto) and a.flags
            else ""
        )
        if isinstance(a, Keep):
            out.append(f"Keep in INBOX{flags}")
        elif isinstance(a, FileInto):
            copy = "A copy to" if a.copy else "Move to"
            out.append(f"{copy} folder '{a.mailbox}'{flags}")
        elif isinstance(a, Redirect):
            copy = "Forward a copy to" if a.copy else "Forward to"
            out.append(f"{copy} {a.address}")
        elif isinstance(a, Discard):
            out.append("Delete (nothing is stored)")
        elif isinstance(a, Reject):
            out.append(f"Refuse, saying: {a.reason}")
        elif isinstance(a, Vacation):
            subject = f" '{a.subject}'" if a.subject else ""
            out.append(
                f"Reply{subject} to {sender or 'the sender'} (at most once every "
                f"{max(1, a.period // 86400)} days per sender)"
            )
    return tuple(out) or ("Keep in INBOX",)


def try_rules(
    rs: RuleSet, message: str, recipient: str, now: datetime | None = None
) -> tuple[str, ...]:
    """What ``rs`` would do with ``message`` (pasted text) for ``recipient``,
    one line per action; nothing is delivered or sent. The envelope sender
    is the message's From address."""
    data = message.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    if len(data) > MAX_TRIAL_MESSAGE:
        raise ValidationError(
            f"Paste at most {MAX_TRIAL_MESSAGE // 1024} KB of the message."
        )
    if b"\r\n\r\n" not in data:
        data += b"\r\n" if data.endswith(b"\r\n") else b"\r\n\r\n"
    text = render(rs)
    script = compile_script(text, "rules")
    view = MessageView(data)
    sender = ""
    for f in view.headers:
        if f.key == "from":
            found = [a for a in parse_header_addresses(f.unfolded) if a.local_part]
            if found:
                sender = f"{found[0].local_part}@{found[0].domain}"
            break
    env = Envelope(mail_from=sender, rcpt_to=recipient)
    moment = now or datetime.now(UTC)
    ctx = SieveContext(
        now=moment,
        zone=moment.astimezone().tzinfo or UTC,
        mailbox_exists=lambda name: True,
    )
    return _describe(run_scripts([script], view, env, ctx), sender)
