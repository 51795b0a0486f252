"""The ``MailStore`` contract: users' mailboxes and the messages in them.

Two implementations pass one contract test (tests/unit/storage/test_contract.py):
``MaildirStore`` (the real one: Maildir++ on disk) and ``MemoryStore`` (the
reference). Protocol modules (POP3, IMAP) and local delivery only see this
interface.

Conventions
- A mailbox owner is a full, lower-case address ``local@domain`` (``Owner``).
- Mailbox names use ``/`` as the hierarchy delimiter; ``INBOX`` is
  case-insensitive and always exists once ``ensure_user`` ran. Names are
  Unicode (IMAP's modified UTF-7 is decoded by the IMAP module).
- Every message has an IMAP UID (strictly ascending per mailbox, never reused
  while UIDVALIDITY stays the same) and a ``key``: a stable unique name that never
  changes for the life of the message (POP3 UIDL uses it).
- Flags are IMAP system flags (``\\Seen``, ``\\Answered``, ``\\Flagged``,
  ``\\Deleted``, ``\\Draft``) and keywords. ``\\Recent`` is never stored: it is
  session state, kept by the IMAP module.
- ``read_message`` returns the bytes with CRLF line ends (what the protocols send);
  ``size`` is the length of exactly those bytes (RFC 3501 RFC822.SIZE, RFC 1939).
- All methods are coroutines; blocking disk work runs in a worker thread.
- Writes are durable before the coroutine returns (tmp, fsync, rename).
- ``watch`` lets sessions learn that a mailbox changed (delivery, flags, expunge,
  from any session); the callback runs on the core loop and must not block.
- Mod-sequences (RFC 7162): every message has one (``MessageInfo.modseq``,
  > 0). A message stored, or whose flags change (by anyone: a session, or
  another program renaming its file), gets a new one above every value the
  mailbox had; so does each expunge. ``MailboxInfo.highestmodseq`` is the
  largest so far. They never go back, also across restarts and crashes (the
  Maildir store reserves them on disk ahead of use). ``vanished`` tells which
  UIDs went since a mod-sequence (QRESYNC).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from server.errors import PermanentError, TemporaryError

Owner = str

SYSTEM_FLAGS = frozenset({"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"})
SPECIAL_USE_FOLDERS: tuple[tuple[str, str], ...] = (
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
)


class MailboxNotFound(PermanentError):
    """The mailbox does not exist (IMAP: NO [TRYCREATE] where the RFC says so)."""


class MailboxExists(PermanentError):
    pass


class InvalidMailboxName(PermanentError):
    pass


class MessageNotFound(PermanentError):
    pass


class StoreUnavailable(TemporaryError):
    pass


@dataclass(frozen=True)
class MessageInfo:
    uid: int
    key: str
    flags: frozenset[str]
    internal_date: float  # seconds since the epoch
    size: int  # octets with CRLF line ends
    modseq: int = 0  # the stores always set it (> 0); 0 only in tests' values


@dataclass(frozen=True)
class MailboxInfo:
    name: str
    uidvalidity: int
    uidnext: int
    special_use: str | None = None  # "\\Sent", "\\Drafts", ...
    subscribed: bool = False
    has_children: bool = False
    messages: int = 0
    unseen: int = 0
    highestmodseq: int = 1  # RFC 7162 HIGHESTMODSEQ
    # RFC 8474 MAILBOXID: made when the mailbox is created (also under a name
    # used before), kept across RENAME; letters and digits only
    mailbox_id: str = ""


@dataclass(frozen=True)
class MailboxChange:
    """What changed; sessions re-read ``list_messages`` to learn the details."""

    owner: Owner
    mailbox: str
    kind: str  # "added" | "flags" | "expunged" | "deleted" | "renamed"
    uids: tuple[int, ...] = ()
    origin: object | None = None  # the session that made the change, if any


MailboxWatcher = Callable[[MailboxChange], None]

# Makes a message's metadata record when it is stored: the message (CRLF) in,
# an opaque record (or None: none kept) out. Runs in the store's worker
# thread, never on the core loop; pure (no I/O, no shared state).
Indexer = Callable[[bytes], bytes | None]


def make_record(indexer: Indexer, message: bytes) -> bytes | None:
    """``indexer(message)``, or None when it fails: the record is a cache,
    never a reason to refuse mail. Logged."""
    try:
        return indexer(message)
    except Exception as exc:
        logging.getLogger("quicksilver.storage").warning(
            "cannot make the metadata record of a message: %s", exc
        )
        return None


FlagMode = Literal["+", "-", "="]
# (uid, mode, flags) for ``MailStore.set_flags``
FlagChange = tuple[int, FlagMode, frozenset[str]]


def check_flag_mode(mode: str) -> FlagMode:
    """``mode`` as a ``FlagMode``; ValueError if it is none of + - =."""
    if mode == "+":
        return "+"
    if mode == "-":
        return "-"
    if mode == "=":
        return "="
    raise ValueError(f"unknown flag change mode {mode!r}")


def apply_flag_change(
    current: frozenset[str], mode: str, flags: frozenset[str]
) -> frozenset[str]:
    """The flags a message has after ``set_flags`` applied ``(mode, flags)``."""
    if mode == "+":
        return current | flags
    if mode == "-":
        return current - flags
    if mode == "=":
        return flags
    raise ValueError(f"unknown flag change mode {mode!r}")


class MailStore(Protocol):
    async def ensure_user(self, owner: Owner) -> None:
        """Create the user's INBOX and the special-use folders if missing."""

    async def delete_user(self, owner: Owner) -> None:
        """Move the user's mail aside (never destroyed outright)."""

    async def deliver(
        self,
        owner: Owner,
        message: bytes,
        *,
        mailbox: str = "INBOX",
        flags: Iterable[str] = (),
        internal_date: float | None = None,
        unique: str | None = None,
        origin: object | None = None,
    ) -> MessageInfo:
        """Store a message durably and return its info.

        ``unique`` makes delivery idempotent: when a message with that unique
        name is already in the mailbox, it is not stored again and the existing
        one is returned (crash recovery of the queue relies on this).
        """

    async def list_mailboxes(self, owner: Owner) -> list[MailboxInfo]: ...

    async def mailbox_info(self, owner: Owner, mailbox: str) -> MailboxInfo: ...

    async def create_mailbox(
        self, owner: Owner, mailbox: str, special_use: str | None = None
    ) -> MailboxInfo: ...

    async def delete_mailbox(self, owner: Owner, mailbox: str) -> None: ...

    async def rename_mailbox(self, owner: Owner, old: str, new: str) -> None:
        """Rename with children; renaming INBOX moves its messages (RFC 3501)."""

    async def set_subscribed(self, owner: Owner, mailbox: str, on: bool) -> None: ...

    async def list_subscriptions(self, owner: Owner) -> list[str]: ...

    async def list_messages(self, owner: Owner, mailbox: str) -> list[MessageInfo]:
        """All messages, ascending UID. Picks up mail other programs dropped in."""

    async def read_message(self, owner: Owner, mailbox: str, uid: int) -> bytes: ...

    async def read_messages(
        self, owner: Owner, mailbox: str, uids: Sequence[int]
    ) -> dict[int, bytes]:
        """Several messages in one go (one worker-thread hop for the batch);
        UIDs that do not exist are left out. IMAP FETCH reads ahead with it."""

    async def set_flags(
        self,
        owner: Owner,
        mailbox: str,
        changes: Sequence[FlagChange],
        *,
        origin: object | None = None,
        unchanged_since: int | None = None,
    ) -> list[MessageInfo]:
        """Change the flags of the given UIDs; return the new infos of those found.

        ``unchanged_since`` (RFC 7162 UNCHANGEDSINCE): a message whose
        mod-sequence is above it is left as it is and left out of the
        result; the test and the change are one step under the folder lock.
        A message whose flags do not change keeps its mod-sequence.

        Each change is ``(uid, mode, flags)``: mode ``"+"`` adds ``flags``,
        ``"-"`` removes them, ``"="`` replaces all flags with them. Changes are
        applied atomically (under the folder lock) against the flags the
        message has *now*, never against a caller's possibly stale copy, so
        concurrent sessions do not undo each other's changes. The infos
        returned carry the resulting flags.
        """

    async def expunge(
        self,
        owner: Owner,
        mailbox: str,
        uids: Iterable[int],
        *,
        origin: object | None = None,
    ) -> list[int]:
        """Remove the given messages whatever their flags (POP3 DELE, IMAP
        MOVE); return the UIDs actually removed."""

    async def expunge_deleted(
        self,
        owner: Owner,
        mailbox: str,
        uids: Iterable[int] | None = None,
        *,
        origin: object | None = None,
    ) -> list[int]:
        """Remove exactly the messages whose *current* flags hold ``\\Deleted``
        (IMAP EXPUNGE / CLOSE), only among ``uids`` when given (UID EXPUNGE,
        RFC 4315); decided under the folder lock. Returns the removed UIDs,
        ascending."""

    async def copy(
        self,
        owner: Owner,
        source: str,
        uids: Sequence[int],
        target: str,
        *,
        origin: object | None = None,
    ) -> list[tuple[int, int]]:
        """Copy messages with their flags; return (source uid, new uid) pairs."""

    async def vanished(
        self, owner: Owner, mailbox: str, since: int
    ) -> list[tuple[int, int]]:
        """UIDs expunged after mod-sequence ``since``, as ascending (first,
        last) runs (RFC 7162 QRESYNC). Never short: every UID below UIDNEXT
        that is not in the mailbox is included unless the store knows it
        went at or before ``since`` (the client ignores UIDs it never had)."""

    async def usage(self, owner: Owner) -> int:
        """Bytes used by all of the user's mail (quota display)."""

    def set_indexer(self, indexer: Indexer | None) -> None:
        """From now on, make a metadata record for every message delivered
        (or appended) and keep it with the message (a cache: a record that
        cannot be made or kept is just missing). Copies keep their record."""

    async def read_meta(
        self, owner: Owner, mailbox: str, uids: Sequence[int]
    ) -> dict[int, bytes]:
        """The records kept for these messages (one worker-thread hop); a
        message without one (made before an indexer was set, dropped in by
        another program, or damaged on disk) is left out."""

    async def save_meta(
        self, owner: Owner, mailbox: str, records: Mapping[int, bytes]
    ) -> None:
        """Keep records made later (a FETCH parsed the message) for messages
        that have none; records of gone messages are ignored."""

    def watch(
        self, owner: Owner, mailbox: str, callback: MailboxWatcher
    ) -> Callable[[], None]:
        """Register for changes of one mailbox; returns an unsubscribe function."""
