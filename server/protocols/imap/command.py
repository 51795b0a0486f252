"""The IMAP commands as typed, frozen values: what parser.py makes of the bytes.

One class per command (RFC 3501 section 6 and the extensions session.py
lists), with the command's arguments as fields: ``Fetch(tag, uid, seqset,
items)``, ``Store(tag, uid, seqset, mode, silent, flags)``... A handler reads
``cmd.seqset``, never a dictionary key, and mypy checks it.

The base class says in which protocol states a command is valid, as RFC 3501
groups them: ``AnyState`` (6.1), ``NotAuthenticated`` (6.2),
``Authenticated`` (6.3: also valid when a mailbox is selected) and
``Selected`` (6.4). session.py checks that in one place, by class.

Commands that take the ``UID`` prefix (RFC 3501 6.4.8; UID EXPUNGE from RFC
4315 2.1, UID MOVE from RFC 6851) carry ``uid``. The RFC 4466 modifiers of
FETCH, STORE and SELECT are RFC 7162's (CONDSTORE, QRESYNC): CHANGEDSINCE and
VANISHED, UNCHANGEDSINCE, CONDSTORE and QRESYNC; any other is a syntax error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .fetchitems import FetchItem
from .grammar import SeqSet
from .searchparse import SearchKey


@dataclass(frozen=True)
class Command:
    """A parsed command; ``name`` is the verb as a client writes it."""

    tag: str
    name: ClassVar[str] = ""

    @property
    def allows_expunge(self) -> bool:
        """May untagged EXPUNGE responses go out while answering this? RFC
        3501 7.4.1: not during FETCH, STORE or SEARCH (their UID forms may)."""
        return True


class AnyState(Command):
    """Valid in every state (RFC 3501 6.1)."""


class NotAuthenticated(Command):
    """Valid only before login (RFC 3501 6.2)."""


class Authenticated(Command):
    """Valid after login, with or without a selected mailbox (RFC 3501 6.3)."""


class Selected(Command):
    """Valid only with a mailbox selected (RFC 3501 6.4)."""


@dataclass(frozen=True)
class UidCommand(Selected):
    """A selected-state command that the ``UID`` prefix can modify."""

    uid: bool


# -- any state (RFC 3501 6.1) --------------------------------------------------
@dataclass(frozen=True)
class Capability(AnyState):
    name = "CAPABILITY"


@dataclass(frozen=True)
class Noop(AnyState):
    name = "NOOP"


@dataclass(frozen=True)
class Logout(AnyState):
    name = "LOGOUT"


@dataclass(frozen=True)
class Id(AnyState):
    """RFC 2971: the client's field/value pairs (NIL values are ``None``)."""

    name = "ID"
    params: tuple[tuple[str, str | None], ...]


# -- not authenticated (RFC 3501 6.2) -----------------------------------------
@dataclass(frozen=True)
class StartTls(NotAuthenticated):
    name = "STARTTLS"


@dataclass(frozen=True)
class Authenticate(NotAuthenticated):
    """``initial`` is the RFC 4959 SASL-IR initial response as sent (base64
    text, or ``=`` for an empty one); ``None`` asks for a continuation."""

    name = "AUTHENTICATE"
    mechanism: str
    initial: bytes | None


@dataclass(frozen=True)
class Login(NotAuthenticated):
    name = "LOGIN"
    user: bytes
    password: bytes


# -- authenticated (RFC 3501 6.3) ---------------------------------------------
@dataclass(frozen=True)
class Qresync:
    """RFC 7162 3.2.5 QRESYNC select parameter: what the client knew (its
    UIDVALIDITY and mod-sequence, maybe the UIDs it has, and maybe pairs of
    sequence numbers and UIDs to tell which of those went)."""

    uidvalidity: int
    modseq: int
    known: SeqSet | None = None
    match: tuple[SeqSet, SeqSet] | None = None


@dataclass(frozen=True)
class Select(Authenticated):
    """``condstore``: the CONDSTORE parameter (RFC 7162 3.1.8);
    ``qresync``: the QRESYNC one (3.2.5)."""

    name = "SELECT"
    readonly: ClassVar[bool] = False
    mailbox: str
    condstore: bool = False
    qresync: Qresync | None = None


@dataclass(frozen=True)
class Examine(Select):
    name = "EXAMINE"
    readonly = True


@dataclass(frozen=True)
class Create(Authenticated):
    """``use``: RFC 6154 5.3 CREATE-SPECIAL-USE attributes, when given."""

    name = "CREATE"
    mailbox: str
    use: tuple[str, ...] | None


@dataclass(frozen=True)
class Delete(Authenticated):
    name = "DELETE"
    mailbox: str


@dataclass(frozen=True)
class Rename(Authenticated):
    name = "RENAME"
    old: str
    new: str


@dataclass(frozen=True)
class Subscribe(Authenticated):
    name = "SUBSCRIBE"
    mailbox: str


@dataclass(frozen=True)
class Unsubscribe(Authenticated):
    name = "UNSUBSCRIBE"
    mailbox: str


@dataclass(frozen=True)
class List(Authenticated):
    """LIST, with the RFC 5258 LIST-EXTENDED forms: selection options,
    several patterns, RETURN options (RFC 5819 STATUS among them).
    ``extended`` says the client used one of those forms."""

    name = "LIST"
    reference: str
    patterns: tuple[str, ...]
    select: tuple[str, ...] = ()
    returns: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    extended: bool = False


@dataclass(frozen=True)
class Lsub(List):
    """LSUB (RFC 3501 6.3.9): one pattern, no extended forms."""

    name = "LSUB"


@dataclass(frozen=True)
class Status(Authenticated):
    name = "STATUS"
    mailbox: str
    items: tuple[str, ...]


# RFC 4469 CATENATE: ("TEXT", the literal) or ("URL", the IMAP URL as sent)
CatPart = tuple[str, bytes]
# one message of an APPEND: (flags, date, the bytes or the CATENATE parts)
AppendItem = tuple[tuple[str, ...], float | None, bytes | tuple[CatPart, ...]]


@dataclass(frozen=True)
class Append(Authenticated):
    """``date`` is the INTERNALDATE asked for, as a POSIX time; ``message``
    the bytes, or RFC 4469 CATENATE parts to put together. ``more``: the
    further messages of a MULTIAPPEND (RFC 3502), stored together with the
    first or not at all."""

    name = "APPEND"
    mailbox: str
    flags: tuple[str, ...]
    date: float | None
    message: bytes | tuple[CatPart, ...]
    more: tuple[AppendItem, ...] = ()


@dataclass(frozen=True)
class Compress(Authenticated):
    """RFC 4978: COMPRESS mechanism (DEFLATE)."""

    name = "COMPRESS"
    mechanism: str


@dataclass(frozen=True)
class GetQuota(Authenticated):
    """RFC 9208 4.2: the quota root's resources."""

    name = "GETQUOTA"
    root: str


@dataclass(frozen=True)
class GetQuotaRoot(Authenticated):
    """RFC 9208 4.3: the mailbox's quota roots, and their resources."""

    name = "GETQUOTAROOT"
    mailbox: str


@dataclass(frozen=True)
class SetQuota(Authenticated):
    """RFC 9208 4.1: refused here (quotas are the administrator's)."""

    name = "SETQUOTA"
    root: str


@dataclass(frozen=True)
class Namespace(Authenticated):
    name = "NAMESPACE"


@dataclass(frozen=True)
class Enable(Authenticated):
    name = "ENABLE"
    caps: tuple[str, ...]


@dataclass(frozen=True)
class Idle(Authenticated):
    name = "IDLE"


# -- selected (RFC 3501 6.4) ---------------------------------------------------
@dataclass(frozen=True)
class Check(Selected):
    name = "CHECK"


@dataclass(frozen=True)
class Close(Selected):
    name = "CLOSE"


@dataclass(frozen=True)
class Unselect(Selected):
    name = "UNSELECT"


@dataclass(frozen=True)
class Expunge(UidCommand):
    """``seqset`` only with UID EXPUNGE (RFC 4315 2.1)."""

    name = "EXPUNGE"
    seqset: SeqSet | None = None


@dataclass(frozen=True)
class Sort(UidCommand):
    """RFC 5256 SORT: (criterion, reverse) pairs, the charset, the program."""

    name = "SORT"
    criteria: tuple[tuple[str, bool], ...]
    charset: str
    key: SearchKey
    returns: tuple[str, ...] | None = None  # RFC 5267 ESORT
    partial: tuple[int, int] | None = None  # RFC 5267 4.4: positions wanted


@dataclass(frozen=True)
class Thread(UidCommand):
    """RFC 5256 THREAD: the algorithm, the charset, the search program."""

    name = "THREAD"
    algorithm: str
    charset: str
    key: SearchKey


@dataclass(frozen=True)
class Search(UidCommand):
    """``returns`` is ``None`` for a plain SEARCH and the RFC 4731 RETURN
    options (maybe none) for an ESEARCH."""

    name = "SEARCH"
    charset: str | None
    returns: tuple[str, ...] | None
    key: SearchKey
    partial: tuple[int, int] | None = None  # RFC 5267 4.4: positions wanted

    @property
    def allows_expunge(self) -> bool:
        return self.uid


@dataclass(frozen=True)
class CancelUpdate(Selected):
    """RFC 5267 4.3.5: stop updating the results of these commands."""

    name = "CANCELUPDATE"
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Fetch(UidCommand):
    """``changedsince``: RFC 7162 3.1.4.1 CHANGEDSINCE; ``vanished``: its
    VANISHED modifier (3.2.6, UID FETCH with QRESYNC on)."""

    name = "FETCH"
    seqset: SeqSet
    items: tuple[FetchItem, ...]
    changedsince: int | None = None
    vanished: bool = False

    @property
    def allows_expunge(self) -> bool:
        return self.uid


@dataclass(frozen=True)
class Store(UidCommand):
    """``mode``: "" replaces (FLAGS), "+" adds, "-" removes; ``silent`` for
    the .SILENT forms (RFC 3501 6.4.6); ``unchanged_since``: RFC 7162
    3.1.3 UNCHANGEDSINCE."""

    name = "STORE"
    seqset: SeqSet
    mode: str
    silent: bool
    flags: tuple[str, ...]
    unchanged_since: int | None = None

    @property
    def allows_expunge(self) -> bool:
        return self.uid


@dataclass(frozen=True)
class Copy(UidCommand):
    name = "COPY"
    seqset: SeqSet
    mailbox: str


@dataclass(frozen=True)
class Move(Copy):
    """RFC 6851 MOVE: COPY, then EXPUNGE of the originals."""

    name = "MOVE"
