"""What a Sieve run is given and bound by (``SieveContext``, ``SieveLimits``),
and the small rules the interpreter applies to flags (RFC 5232), header
edits (RFC 5293) and redirect targets. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from server.sieve.regex import DEFAULT_STEP_BUDGET

# RFC 5293 section 4 lets an implementation limit added fields; Pigeonhole's
# sieve_editheader_max_header_size is 2048.
MAX_HEADER_VALUE = 2048
# RFC 5293 section 5: removing these would hide a message's history or turn
# an auto-reply into something that can be answered automatically.
PROTECTED_HEADERS = frozenset({"received", "auto-submitted"})
# RFC 5232 section 3: system flags (\\Recent is not settable).
SYSTEM_FLAGS = {
    "\\answered": "\\Answered",
    "\\flagged": "\\Flagged",
    "\\deleted": "\\Deleted",
    "\\seen": "\\Seen",
    "\\draft": "\\Draft",
}
ATOM_SPECIALS = set('(){ %*"\\]')


@dataclass(frozen=True, slots=True)
class SieveLimits:
    """Run-time limits (Pigeonhole's defaults)."""

    max_actions: int = 32
    max_redirects: int = 4
    max_variable_size: int = 4096
    # A string after variable expansion (a script of ${a}${a}... must not
    # build hundreds of megabytes).
    max_expanded_size: int = 1024 * 1024
    regex_steps: int = DEFAULT_STEP_BUDGET
    # RFC 5230 section 4.1 / RFC 6131: a shorter vacation period is raised to
    # this (Pigeonhole's sieve_vacation_min_period); 0 means no upper bound.
    vacation_min_period: int = 86400
    vacation_max_period: int = 0
    vacation_default_period: int = 7 * 86400


def inbox_only(name: str) -> bool:
    return name.upper() == "INBOX"


@dataclass(frozen=True, slots=True)
class SieveContext:
    """What the engine needs from outside, for one delivery.

    ``mailbox_exists`` answers RFC 5490's mailboxexists from a snapshot the
    caller took (no I/O happens through it); ``zone`` is the local time zone of
    the date tests (RFC 5260 section 4.2: "local time zone"); ``now`` feeds
    currentdate.
    """

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    zone: tzinfo = UTC
    mailbox_exists: Callable[[str], bool] = inbox_only
    default_mailbox: str = "INBOX"
    subaddress_separator: str = "+"
    limits: SieveLimits = field(default_factory=SieveLimits)


def is_default(mailbox: str, default: str) -> bool:
    if mailbox.upper() == "INBOX" and default.upper() == "INBOX":
        return True
    return mailbox == default


def redirect_key(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def valid_flag(flag: str) -> str | None:
    """The flag as stored, or None if IMAP would refuse it (RFC 3501 flag)."""
    low = flag.lower()
    if low in SYSTEM_FLAGS:
        return SYSTEM_FLAGS[low]
    if flag.startswith("\\"):
        return None
    if not flag or any(
        c in ATOM_SPECIALS or ord(c) < 0x21 or ord(c) > 0x7E for c in flag
    ):
        return None
    return flag


def flag_words(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(v.split())
    return out


def add_flags(current: list[str], new: Sequence[str]) -> list[str]:
    out = list(current)
    seen = {f.lower() for f in out}
    for f in new:
        if f.lower() not in seen:
            seen.add(f.lower())
            out.append(f)
    return out


def truncate_utf8(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")
