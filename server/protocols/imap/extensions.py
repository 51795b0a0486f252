"""The IMAP extensions offered, and the CAPABILITY list made from them.

Each ``Extension`` names its capability, its RFC and the command classes it
brings; it is advertised only when every one of those commands has a handler
(handlers/__init__.py ``HANDLERS``), so a capability cannot be offered for a
command that is not there. What an extension changes in commands that exist
anyway (a fetch item, a search key, a response code) is tested per RFC in
tests/protocol/imap/. The session adds what depends on the moment
(STARTTLS, AUTH=, LOGINDISABLED, APPENDLIMIT=<the size limit>).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from . import command as c


@dataclass(frozen=True)
class Extension:
    capability: str
    rfc: str
    commands: tuple[type[c.Command], ...] = ()


EXTENSIONS: tuple[Extension, ...] = (
    Extension("IMAP4rev1", "RFC 3501"),
    Extension("IMAP4rev2", "RFC 9051", (c.Enable,)),
    Extension("LITERAL+", "RFC 7888"),
    Extension("SASL-IR", "RFC 4959", (c.Authenticate,)),
    Extension("ID", "RFC 2971", (c.Id,)),
    Extension("ENABLE", "RFC 5161", (c.Enable,)),
    Extension("IDLE", "RFC 2177", (c.Idle,)),
    Extension("NAMESPACE", "RFC 2342", (c.Namespace,)),
    Extension("UIDPLUS", "RFC 4315", (c.Expunge,)),
    Extension("MOVE", "RFC 6851", (c.Move,)),
    Extension("UNSELECT", "RFC 3691", (c.Unselect,)),
    Extension("CHILDREN", "RFC 3348", (c.List,)),
    Extension("SPECIAL-USE", "RFC 6154", (c.List,)),
    Extension("CREATE-SPECIAL-USE", "RFC 6154", (c.Create,)),
    Extension("LIST-EXTENDED", "RFC 5258", (c.List,)),
    Extension("LIST-STATUS", "RFC 5819", (c.List, c.Status)),
    Extension("ESEARCH", "RFC 4731", (c.Search,)),
    Extension("SEARCHRES", "RFC 5182", (c.Search,)),
    Extension("WITHIN", "RFC 5032", (c.Search,)),
    Extension("STATUS=SIZE", "RFC 8438", (c.Status,)),
    Extension("MULTIAPPEND", "RFC 3502", (c.Append,)),
    Extension("BINARY", "RFC 3516", (c.Fetch,)),
    Extension("SORT", "RFC 5256", (c.Sort,)),
    Extension("ESORT", "RFC 5267", (c.Sort,)),
    Extension("QUOTA", "RFC 9208", (c.GetQuota, c.GetQuotaRoot, c.SetQuota)),
    Extension("QUOTA=RES-STORAGE", "RFC 9208", (c.GetQuota,)),
    Extension("COMPRESS=DEFLATE", "RFC 4978", (c.Compress,)),
    Extension("UTF8=ACCEPT", "RFC 6855", (c.Enable,)),
    Extension("SAVEDATE", "RFC 8514", (c.Fetch, c.Search)),
    Extension("THREAD=ORDEREDSUBJECT", "RFC 5256", (c.Thread,)),
    Extension("THREAD=REFERENCES", "RFC 5256", (c.Thread,)),
    Extension("CONDSTORE", "RFC 7162", (c.Enable, c.Fetch, c.Store, c.Search)),
    Extension("QRESYNC", "RFC 7162", (c.Enable, c.Select, c.Fetch)),
    Extension("OBJECTID", "RFC 8474", (c.Status, c.Fetch, c.Search)),
    Extension("CATENATE", "RFC 4469", (c.Append,)),
    Extension("CONTEXT=SEARCH", "RFC 5267", (c.Search, c.CancelUpdate)),
    Extension("CONTEXT=SORT", "RFC 5267", (c.Sort, c.CancelUpdate)),
)


def advertised(handlers: Container[type[c.Command]]) -> tuple[str, ...]:
    """The capabilities whose commands all have a handler."""
    return tuple(
        e.capability for e in EXTENSIONS if all(cmd in handlers for cmd in e.commands)
    )
