"""The IMAP command handlers, one coroutine per command class, by area:

- auth.py: any state and not authenticated (RFC 3501 6.1, 6.2: CAPABILITY,
  NOOP, LOGOUT, STARTTLS, AUTHENTICATE, LOGIN) and the session-wide
  extensions (ID, ENABLE, NAMESPACE);
- mailbox.py: the authenticated state (6.3: SELECT, EXAMINE, CREATE, DELETE,
  RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND) and IDLE;
- message.py: the selected state (6.4: CHECK, CLOSE, UNSELECT, EXPUNGE,
  SEARCH, STORE, COPY, MOVE);
- fetch.py: FETCH.

A handler is ``async def name(s: Session, cmd: <its class>) -> Step | None``.
It answers through the session (``s.send``, ``s.tagged``, ``s.updates``),
may raise a ``MailError`` or ``ParseError`` (the session turns it into NO or
BAD), and returns a ``steps.Step`` only when the connection has to do
something before the next command. The session has checked the state before
a handler runs.

``HANDLERS`` maps each command class to its handler; ``_entry`` makes mypy
check that a handler takes the class it is registered for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar, cast

from .. import command as c
from ..steps import Step
from . import auth, fetch, mailbox, message

if TYPE_CHECKING:
    from ..session import Session

C = TypeVar("C", bound=c.Command)
Handler = Callable[["Session", c.Command], Awaitable[Step | None]]


def _entry(
    cls: type[C], handler: Callable[[Session, C], Awaitable[Step | None]]
) -> tuple[type[c.Command], Handler]:
    return cls, cast(Handler, handler)


HANDLERS: dict[type[c.Command], Handler] = dict(
    [
        _entry(c.Capability, auth.capability),
        _entry(c.Noop, auth.noop),
        _entry(c.Logout, auth.logout),
        _entry(c.Id, auth.id_),
        _entry(c.StartTls, auth.starttls),
        _entry(c.Authenticate, auth.authenticate),
        _entry(c.Login, auth.login),
        _entry(c.Enable, auth.enable),
        _entry(c.Namespace, auth.namespace),
        _entry(c.Compress, auth.compress),
        _entry(c.GetQuota, mailbox.getquota),
        _entry(c.GetQuotaRoot, mailbox.getquotaroot),
        _entry(c.SetQuota, mailbox.setquota),
        _entry(c.Select, mailbox.select),
        _entry(c.Examine, mailbox.select),
        _entry(c.Create, mailbox.create),
        _entry(c.Delete, mailbox.delete),
        _entry(c.Rename, mailbox.rename),
        _entry(c.Subscribe, mailbox.subscribe),
        _entry(c.Unsubscribe, mailbox.unsubscribe),
        _entry(c.List, mailbox.list_),
        _entry(c.Lsub, mailbox.list_),
        _entry(c.Status, mailbox.status),
        _entry(c.Append, mailbox.append),
        _entry(c.Idle, mailbox.idle),
        _entry(c.Check, message.check),
        _entry(c.Close, message.close),
        _entry(c.Unselect, message.unselect),
        _entry(c.Expunge, message.expunge),
        _entry(c.Search, message.search_),
        _entry(c.Sort, message.sort_),
        _entry(c.Thread, message.thread),
        _entry(c.Store, message.store),
        _entry(c.Copy, message.copy),
        _entry(c.Move, message.copy),
        _entry(c.Fetch, fetch.fetch),
        _entry(c.CancelUpdate, message.cancelupdate),
    ]
)
