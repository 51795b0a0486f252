"""Pure helpers shared by the mail stores: names, flags, line ends.

What it does
- Validates owners (``local@domain``) and mailbox names so that no name can
  reach outside the mail root or display as something else (no controls, no
  bidirectional formatting characters), and normalises ``INBOX``
  (case-insensitive, RFC 3501 5.1) in the first hierarchy component.
- Encodes mailbox names to Maildir++ folder directory names and back:
  ``Work/2024`` <-> ``.Work.2024``; inside a component ``%`` ``.`` and the
  characters Windows forbids in file names are written ``%XX`` (UTF-8 bytes),
  so every valid IMAP name round-trips and ``.`` stays the hierarchy mark.
- Converts IMAP flags to and from the Maildir info letters (``:2,DFRST``).
- Plans renames (which names move where) identically for both stores.

- Hands out fresh UIDVALIDITY values and keeps the watcher callbacks.

What it does not do: no I/O, no locking. Keyword letters (``a``..``z``) are
per folder and live with the folder (see ``maildir_index.py``).

Limits: a component is at most 255 characters, a name at most 1000; at most
26 keywords per mailbox (one Maildir letter each, as Dovecot).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from server.errors import PermanentError
from server.storage.base import (
    InvalidMailboxName,
    MailboxChange,
    MailboxExists,
    MailboxNotFound,
    MailboxWatcher,
)

log = logging.getLogger("quicksilver.storage")

INBOX = "INBOX"
DELIMITER = "/"
MAX_COMPONENT_CHARS = 255
MAX_NAME_CHARS = 1000
MAX_KEYWORDS = 26  # one Maildir info letter a..z each
MAX_UNIQUE_CHARS = 200

# RFC 6154 special-use attributes.
SPECIAL_USES = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
)

# Maildir info letters for IMAP system flags (cr.yp.to/proto/maildir.html).
# "P" (passed) has no IMAP flag; it is kept untouched in file names.
FLAG_TO_LETTER = {
    "\\Draft": "D",
    "\\Flagged": "F",
    "\\Answered": "R",
    "\\Seen": "S",
    "\\Deleted": "T",
}
LETTER_TO_FLAG = {letter: flag for flag, letter in FLAG_TO_LETTER.items()}
_CANONICAL_FLAG = {flag.lower(): flag for flag in FLAG_TO_LETTER}

# RFC 3501 atom-specials plus "\" (only system flags start with it).
_KEYWORD_FORBIDDEN = re.compile(r'[\x00-\x20\x7f(){%*"\\\]]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Unicode bidirectional formatting characters (UAX #9 2.1-2.6): embeddings and
# overrides U+202A-U+202E, isolates U+2066-U+2069, and the implicit marks
# U+200E/U+200F/U+061C. In a folder name they make the name display as
# something else ("Inbox" + RLO + "txt.exe"), so a list can show two folders
# that look alike or one whose name reads backwards (CVE-2021-42574's trick).
# They have no place in a folder name; RFC 5198 3 also keeps controls out of
# text meant for display.
_BIDI_CONTROL = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Path separators and the drive mark in the owner's two directory names: on
# Windows "x@d:" would put the mail on another drive, outside the mail root.
_OWNER_FORBIDDEN = re.compile(r"[/\\:]")
# Windows opens these as devices whatever the folder ("nul" swallows mail).
WINDOWS_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"com{i}" for i in "123456789"}
    | {f"lpt{i}" for i in "123456789"}
)
# Escaped inside a folder component: the escape char, the Maildir++
# hierarchy mark and what Windows refuses in file names.
_COMPONENT_ESCAPE = frozenset('%.\\:*?"<>|')
_UNIQUE_SAFE = re.compile(r"[A-Za-z0-9._\-+=@]")
_UNIQUE_ALL_SAFE = re.compile(r"[A-Za-z0-9._\-+=@]+")


def normalize_owner(owner: str) -> tuple[str, str]:
    """Return ``(local, domain)`` of a valid owner, lower-cased.

    Both parts become directory names, so anything that could climb out of
    the mail root (``..``, separators, a drive ``:``, NUL, controls, a leading
    or trailing dot) is refused, and so are Windows device names (``nul``).
    """
    if not isinstance(owner, str) or owner.count("@") != 1:
        raise InvalidMailboxName("Invalid mailbox owner")
    local, domain = owner.lower().split("@")
    for part in (local, domain):
        if (
            not part
            or len(part) > MAX_COMPONENT_CHARS
            or part.startswith(".")
            or part.endswith((".", " "))
            or _OWNER_FORBIDDEN.search(part)
            or _CONTROL.search(part)
            or part.split(".", 1)[0] in WINDOWS_DEVICE_NAMES
        ):
            raise InvalidMailboxName("Invalid mailbox owner")
    return local, domain


def normalize_mailbox(name: str) -> str:
    """Validate a mailbox name and return its canonical form.

    ``inbox``, ``Inbox/x`` -> ``INBOX``, ``INBOX/x``: INBOX is case-insensitive
    (RFC 3501 5.1), and normalising the first component keeps one spelling.
    """
    if not isinstance(name, str) or not name:
        raise InvalidMailboxName("Invalid mailbox name")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidMailboxName("Mailbox name too long")
    if name.startswith(DELIMITER) or _CONTROL.search(name):
        raise InvalidMailboxName("Invalid mailbox name")
    if _BIDI_CONTROL.search(name):
        raise InvalidMailboxName(
            "Mailbox names cannot contain bidirectional control characters"
        )
    parts = name.split(DELIMITER)
    for part in parts:
        if not part or part in (".", ".."):
            raise InvalidMailboxName("Invalid mailbox name")
        if len(part) > MAX_COMPONENT_CHARS:
            raise InvalidMailboxName("Mailbox name too long")
    if parts[0].upper() == INBOX:
        parts[0] = INBOX
    return DELIMITER.join(parts)


def is_inbox(name: str) -> bool:
    return name == INBOX


def parents(name: str) -> list[str]:
    """Superior hierarchical names, outermost first: ``a/b/c`` -> ``a``, ``a/b``."""
    parts = name.split(DELIMITER)
    return [DELIMITER.join(parts[:i]) for i in range(1, len(parts))]


def is_inferior(name: str, parent: str) -> bool:
    return name.startswith(parent + DELIMITER)


def _escape_component(part: str) -> str:
    out: list[str] = []
    for ch in part:
        if ch in _COMPONENT_ESCAPE:
            out.append(f"%{ord(ch):02X}")
        else:
            out.append(ch)
    text = "".join(out)
    # Windows drops a trailing space from file names; keep it visible.
    if text.endswith(" "):
        text = text[:-1] + "%20"
    return text


def _unescape_component(part: str) -> str:
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), part)


def encode_folder(name: str) -> str:
    """Maildir++ directory name of a (normalised, non-INBOX) mailbox name."""
    return "." + ".".join(_escape_component(p) for p in name.split(DELIMITER))


def decode_folder(dirname: str) -> str | None:
    """Mailbox name of a Maildir++ folder directory, or None if not ours.

    Only names that encode back to exactly ``dirname`` are accepted, so two
    directories can never claim one mailbox (``.inbox`` vs ``.INBOX``).
    """
    if not dirname.startswith(".") or dirname in (".", ".."):
        return None
    parts = dirname[1:].split(".")
    try:
        name = normalize_mailbox(DELIMITER.join(_unescape_component(p) for p in parts))
    except InvalidMailboxName:
        return None
    if name == INBOX or encode_folder(name) != dirname:
        return None
    return name


def normalize_flags(flags: Iterable[str]) -> frozenset[str]:
    """Canonical system-flag spelling; ``\\Recent`` dropped (session state).

    Keywords keep their case. Anything that cannot be a flag is refused.
    """
    out: set[str] = set()
    for flag in flags:
        if flag.startswith("\\"):
            low = flag.lower()
            if low == "\\recent":
                continue
            canonical = _CANONICAL_FLAG.get(low)
            if canonical is None:
                raise PermanentError("Invalid flag")
            out.add(canonical)
        else:
            if not flag or len(flag) > 100 or _KEYWORD_FORBIDDEN.search(flag):
                raise PermanentError("Invalid keyword")
            out.add(flag)
    return frozenset(out)


def keywords_of(flags: Iterable[str]) -> list[str]:
    return sorted(f for f in flags if not f.startswith("\\"))


def check_special_use(special_use: str | None) -> None:
    if special_use is not None and special_use not in SPECIAL_USES:
        raise PermanentError("Unknown special-use attribute")


def sanitize_unique(unique: str) -> str:
    """Make a caller-chosen unique name safe as a Maildir base name.

    Deterministic (so ``deliver(unique=...)`` stays idempotent): characters
    outside a small safe set become ``%XX`` of their UTF-8 bytes, which keeps
    ``/``, ``:`` and ``,`` (Maildir's own separators) out of the name.
    """
    if not unique:
        raise PermanentError("Invalid unique name")
    if _UNIQUE_ALL_SAFE.fullmatch(unique):  # the usual case: nothing to escape
        if len(unique) > MAX_UNIQUE_CHARS or unique.startswith("."):
            raise PermanentError("Invalid unique name")
        return unique
    out: list[str] = []
    for ch in unique:
        if _UNIQUE_SAFE.match(ch):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    text = "".join(out)
    if len(text) > MAX_UNIQUE_CHARS or text.startswith("."):
        raise PermanentError("Invalid unique name")
    return text


def plan_rename(existing: Iterable[str], old: str, new: str) -> list[tuple[str, str]]:
    """The (old, new) pairs a RENAME moves: the mailbox and its inferiors.

    Raises the contract's errors so both stores refuse the same things. INBOX
    is special (RFC 3501 6.3.5) and handled by the callers; only the mailbox
    itself moves then, never its inferiors.
    """
    names = set(existing)
    if old not in names:
        raise MailboxNotFound("Mailbox does not exist")
    if new == INBOX or new in names:
        raise MailboxExists("Mailbox already exists")
    if is_inferior(new, old):
        raise PermanentError("Cannot rename a mailbox into itself")
    if old == INBOX:
        return [(old, new)]
    moves = [(old, new)]
    moves.extend((n, new + n[len(old) :]) for n in sorted(names) if is_inferior(n, old))
    for _, target in moves:
        if target in names:
            raise MailboxExists("Mailbox already exists")
        normalize_mailbox(target)  # the new names must be valid too (length)
    return moves


def sorted_mailboxes(existing: Iterable[str]) -> list[str]:
    """INBOX first, then by name (what LIST shows)."""
    return sorted(existing, key=lambda n: (n != INBOX, n))


def missing_parents(existing: Iterable[str], name: str) -> list[str]:
    """Superior names to create first (RFC 3501 6.3.3 / 6.3.5 SHOULD)."""
    names = set(existing)
    return [p for p in parents(name) if p not in names and p != INBOX]


_uidvalidity_lock = threading.Lock()
_last_uidvalidity = 0


def next_uidvalidity() -> int:
    """A fresh UIDVALIDITY: the time in seconds, strictly increasing per process.

    RFC 3501 2.3.1.1 only needs a value never used before for the name; time
    based values also stay fresh across restarts.
    """
    global _last_uidvalidity
    with _uidvalidity_lock:
        value = max(int(time.time()), _last_uidvalidity + 1) & 0xFFFFFFFF or 1
        _last_uidvalidity = value
        return value


class WatcherRegistry:
    """Callbacks per (owner, mailbox); both stores notify through this.

    ``notify`` runs on the event loop thread (callers call it after their
    ``await`` returns). A failing callback is logged and does not stop the
    others nor the store operation that changed the mailbox.
    """

    def __init__(self) -> None:
        self._watchers: dict[tuple[str, str], list[MailboxWatcher]] = {}

    def add(
        self, owner: str, mailbox: str, callback: MailboxWatcher
    ) -> Callable[[], None]:
        key = (owner, mailbox)
        self._watchers.setdefault(key, []).append(callback)

        def unsubscribe() -> None:
            callbacks = self._watchers.get(key, [])
            if callback in callbacks:
                callbacks.remove(callback)
            if not callbacks:
                self._watchers.pop(key, None)

        return unsubscribe

    def notify(self, change: MailboxChange) -> None:
        for callback in list(self._watchers.get((change.owner, change.mailbox), [])):
            try:
                callback(change)
            except Exception:
                log.exception("mailbox watcher failed for %s", change.mailbox)


def uid_ranges(uids: Iterable[int]) -> list[tuple[int, int]]:
    """Ascending UIDs as (first, last) runs."""
    out: list[tuple[int, int]] = []
    for uid in sorted(uids):
        if out and uid == out[-1][1] + 1:
            out[-1] = (out[-1][0], uid)
        elif not out or uid > out[-1][1]:
            out.append((uid, uid))
    return out


def vanished_ranges(
    present: Iterable[int],
    uidnext: int,
    expunged: Mapping[int, int],
    since: int,
) -> list[tuple[int, int]]:
    """The UIDs below ``uidnext`` that are not ``present``, except those
    known (``expunged``: uid -> mod-sequence) to have gone at or before
    ``since``; as ascending (first, last) runs. Both stores' ``vanished``."""
    known_before = sorted(u for u, m in expunged.items() if m <= since)
    out: list[tuple[int, int]] = []
    k = 0
    prev = 0
    for uid in [*sorted(present), uidnext]:
        lo, hi = prev + 1, min(uid, uidnext) - 1
        prev = uid
        if lo > hi:
            continue
        while k < len(known_before) and known_before[k] < lo:
            k += 1
        start = lo
        while k < len(known_before) and known_before[k] <= hi:
            if known_before[k] > start:
                out.append((start, known_before[k] - 1))
            start = known_before[k] + 1
            k += 1
        if start <= hi:
            out.append((start, hi))
    return out


def new_mailbox_id() -> str:
    """A fresh RFC 8474 MAILBOXID: "F" and 24 random hex digits."""
    return "F" + secrets.token_hex(12)
