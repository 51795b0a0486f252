"""IMAP URLs (RFC 5092) as CATENATE (RFC 4469) uses them: a message, or a
part of one, in one of the logged-in user's own mailboxes. Pure.

Accepted forms (``enc-mailbox`` is %-encoded UTF-8, RFC 5092 3):
- ``imap://[user[;AUTH=*]@]host[:port]/mailbox[;UIDVALIDITY=n]/;UID=n
  [/;SECTION=s][/;PARTIAL=o[.l]]``: the user, when named, must be the one
  logged in (the host is not checked: the client reached this server);
- the same from ``/mailbox...`` on (absolute path);
- ``;UID=n...`` alone: a message of the selected mailbox.

URLAUTH parameters (``;EXPIRE=``, ``;URLAUTH=``) are not offered, so a URL
with them is refused like any URL this module cannot read: the caller
answers ``NO [BADURL url]``. Limits: ``MAX_URL`` characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from .fetchitems import Section
from .grammar import ParseError, Reader
from .parser import body_section

MAX_URL = 2048

_IURL = re.compile(
    r"""^(?:imap://(?:(?P<user>[^@/;]*)(?:;AUTH=[^@/]*)?@)?[^/]+)?
        (?:/(?P<mailbox>[^;/]*)(?:;UIDVALIDITY=(?P<uidvalidity>[0-9]+))?)?
        /?;UID=(?P<uid>[0-9]+)
        (?:/;SECTION=(?P<section>[^/]+))?
        (?:/;PARTIAL=(?P<start>[0-9]+)(?:\.(?P<count>[0-9]+))?)?$""",
    re.IGNORECASE | re.VERBOSE,
)


class BadUrl(Exception):
    """The URL cannot be used (answered NO [BADURL url])."""


@dataclass(frozen=True)
class MessageUrl:
    user: str | None  # as named in the URL, decoded; None when not named
    mailbox: str | None  # None: the selected mailbox
    uidvalidity: int | None
    uid: int
    section: Section | None
    partial: tuple[int, int | None] | None


def parse(url: str) -> MessageUrl:
    """The message (or part) a URL names; ``BadUrl`` when it names none."""
    if len(url) > MAX_URL:
        raise BadUrl("URL too long")
    m = _IURL.match(url)
    if m is None:
        raise BadUrl("not an IMAP message URL")
    mailbox = m.group("mailbox")
    try:
        name = unquote(mailbox, errors="strict") if mailbox else None
        user = unquote(m.group("user"), errors="strict") if m.group("user") else None
    except UnicodeDecodeError:
        raise BadUrl("not UTF-8") from None
    if mailbox is not None and not mailbox:
        raise BadUrl("empty mailbox name")
    uid = int(m.group("uid"))
    validity = m.group("uidvalidity")
    if uid == 0 or (validity is not None and int(validity) == 0):
        raise BadUrl("UID and UIDVALIDITY are never 0")
    section = None
    if m.group("section"):
        text = unquote(m.group("section"))
        r = Reader(b"[" + text.encode("utf-8") + b"]")
        try:
            section = body_section(r)
        except ParseError:
            raise BadUrl("bad SECTION") from None
        if r.i != len(r.d):
            raise BadUrl("bad SECTION")
    partial = None
    if m.group("start") is not None:
        count = m.group("count")
        partial = (int(m.group("start")), int(count) if count is not None else None)
    return MessageUrl(
        user,
        name,
        int(validity) if validity is not None else None,
        uid,
        section,
        partial,
    )


def code_text(url: str) -> str:
    """The URL as RFC 4469's ``[BADURL url-resp-text]`` may carry it: no CR,
    LF, "]" or 8-bit (those become "?"), at most 200 characters."""
    return "".join(ch if " " <= ch <= "~" and ch != "]" else "?" for ch in url[:200])
