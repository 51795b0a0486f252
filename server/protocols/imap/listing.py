"""LIST and LSUB answers (RFC 3501 6.3.8, 6.3.9; LIST-EXTENDED RFC 5258;
CHILDREN RFC 3348; SPECIAL-USE RFC 6154): which mailboxes match the patterns,
and the attributes of each.

Given the user's mailboxes and subscriptions (the handler reads them from the
store), ``list_lines`` returns the untagged responses and the mailboxes whose
STATUS a LIST-STATUS client asked for (RFC 5819). Pure but for yielding to
the loop every ``LIST_YIELD_EVERY`` candidates: a user with thousands of
folders must not hold up the other clients.

Patterns: ``*`` matches anything, ``%`` anything but the hierarchy delimiter
"/"; they are matched in linear time (wildcard.py), never as a backtracking
regex. INBOX is case-insensitive (RFC 3501 5.1), so ``in%`` and ``Inbox/*``
find it and its children, as Dovecot does.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable

from server.storage.base import MailboxInfo

from . import mutf7, wildcard
from . import responses as R
from .command import List, Lsub
from .grammar import ParseError

LIST_YIELD_EVERY = 256  # candidates matched between yields to the loop
SELECT_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"})


def check_options(cmd: List) -> None:
    """RFC 5258 3: an unknown option, or RECURSIVEMATCH alone, is BAD."""
    select = set(cmd.select)
    if select - SELECT_OPTIONS:
        raise ParseError("unknown LIST selection option")
    if set(cmd.returns) - RETURN_OPTIONS:
        raise ParseError("unknown LIST return option")
    if "RECURSIVEMATCH" in select and not select - {"RECURSIVEMATCH", "REMOTE"}:
        raise ParseError("RECURSIVEMATCH needs another selection option")


def root_line(cmd: List) -> bytes | None:
    """RFC 3501 6.3.8: an empty pattern asks for the delimiter and the root
    of the reference (not in the extended form, RFC 5258 3)."""
    if cmd.extended or cmd.patterns != ("",):
        return None
    ref = cmd.reference
    root = ref.split("/", 1)[0] + "/" if "/" in ref else ""
    return R.untagged(f'{cmd.name} (\\Noselect) "/" ' + R.astring(root).decode())


async def list_lines(
    cmd: List, boxes: dict[str, MailboxInfo], subs: set[str]
) -> tuple[list[bytes], list[str]]:
    """The LIST/LSUB responses, and the listed mailboxes to give a STATUS."""
    lsub = isinstance(cmd, Lsub)
    select = set(cmd.select)
    returns = set(cmd.returns)
    ref = cmd.reference
    patterns = cmd.patterns
    names = set(boxes)
    implied = ancestors(names | subs if lsub else names) - names
    wanted = [compile_pattern(ref + p) for p in patterns if p != ""]
    wanted_inbox = [compile_pattern(inbox_pattern(ref + p)) for p in patterns if p]

    def listed(name: str) -> bool:
        """Does ``name`` match one of the patterns (RFC 3501 6.3.8)?"""
        wire = "INBOX" if name == "INBOX" else mutf7.encode(name)
        test = wire if not wire.upper().startswith("INBOX") else fold_inbox(wire)
        pats = wanted_inbox if name.split("/")[0] == "INBOX" else wanted
        return any(p.fullmatch(test) for p in pats)

    only_sub = lsub or "SUBSCRIBED" in select
    show_sub = "SUBSCRIBED" in select or "SUBSCRIBED" in returns
    with_children = ancestors(names)
    with_sub_children = ancestors(subs) if only_sub else set()
    candidates = sorted(
        names | implied | (subs if only_sub else set()),
        key=lambda n: (n != "INBOX", n),
    )
    hits: list[str] = []
    for i, name in enumerate(candidates):
        if i % LIST_YIELD_EVERY == LIST_YIELD_EVERY - 1:
            await asyncio.sleep(0)  # thousands of folders: let others run
        if listed(name):
            hits.append(name)
    # RFC 5258 3.5 (and its example 10): CHILDINFO tells of subscribed
    # descendants the client does not see because they do not match a
    # pattern themselves; one that matches is listed, and says so itself.
    childinfo: set[str] = set()
    if "RECURSIVEMATCH" in select and only_sub:
        shown = set(hits)
        childinfo = ancestors(s for s in subs if s not in shown)
    lines: list[bytes] = []
    status_for: list[str] = []
    for i, name in enumerate(hits):
        if i % LIST_YIELD_EVERY == LIST_YIELD_EVERY - 1:
            await asyncio.sleep(0)
        exists = name in boxes
        attrs: list[str] = []
        extra = b""
        children = name in with_children
        if name in childinfo:
            extra = b' ("CHILDINFO" ("SUBSCRIBED"))'
        if only_sub and name not in subs:
            if (
                lsub  # RFC 3501 6.3.9: "%" shows an unsubscribed parent
                and name in with_sub_children
                and any(p.endswith("%") for p in patterns)
            ):
                attrs.append("\\Noselect")
            elif not extra:
                continue
        info = boxes.get(name)
        if "SPECIAL-USE" in select and not (info and info.special_use):
            continue
        if not exists and not lsub:
            attrs.append("\\NonExistent" if cmd.extended else "\\Noselect")
        if not lsub:
            attrs.append("\\HasChildren" if children else "\\HasNoChildren")
        if show_sub and name in subs:
            attrs.append("\\Subscribed")
        if info is not None and info.special_use and not lsub:
            attrs.append(info.special_use)
        attrs = list(dict.fromkeys(attrs))
        lines.append(
            R.untagged(
                f'{cmd.name} ({" ".join(attrs)}) "/" '.encode()
                + R.mailbox(name)
                + extra
            )
        )
        if exists and "STATUS" in returns:
            status_for.append(name)
    return lines, status_for


def fold_inbox(wire: str) -> str:
    return "INBOX" + wire[5:] if wire[:5].upper() == "INBOX" else wire


def inbox_pattern(pattern: str) -> str:
    """A pattern to test INBOX and its children with: INBOX is case-insensitive
    (RFC 3501 5.1), so ``in%`` or ``Inbox/*`` match it as Dovecot does."""
    m = re.search(r"[%*]", pattern)
    prefix = pattern if m is None else pattern[: m.start()]
    k = min(len(prefix), 5)
    if k and prefix[:k].upper() == "INBOX"[:k]:
        return pattern[:k].upper() + pattern[k:]
    return pattern


def compile_pattern(pattern: str) -> wildcard.Wildcard:
    """LIST wildcards (RFC 3501 6.3.8): ``*`` anything, ``%`` no delimiter;
    matched in linear time (wildcard.py), never as a backtracking regex."""
    return wildcard.compile_pattern(fold_inbox(pattern))


def ancestors(names: Iterable[str]) -> set[str]:
    """Every proper parent of the names ("a/b/c" -> "a", "a/b"): which
    mailboxes have children, in one pass instead of a scan per mailbox."""
    out: set[str] = set()
    for name in names:
        cut = name.rfind("/")
        while cut > 0:
            parent = name[:cut]
            if parent in out:
                break  # and so are its own parents
            out.add(parent)
            cut = name.rfind("/", 0, cut)
    return out
