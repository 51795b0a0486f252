"""Authenticated-state commands (RFC 3501 6.3) and IDLE (RFC 2177).

SELECT/EXAMINE open a ``SelectedMailbox`` (selected.py: the numbering,
``\\Recent`` and updates of one session); CREATE (with RFC 6154 USE), DELETE,
RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS and APPEND go to the ``MailStore``;
LIST and LSUB are matched in listing.py. INBOX cannot be created, deleted or
renamed over; a mailbox with children is not deleted (RFC 3501 6.3.4 lets a
server refuse, and says why).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from server import bytesutil
from server.errors import QuotaExceededError
from server.mailtext import crlf_size
from server.storage.base import (
    SYSTEM_FLAGS,
    InvalidMailboxName,
    MailboxInfo,
    MailboxNotFound,
    MessageNotFound,
)

from .. import command as c
from .. import imapurl, listing, mime
from .. import responses as R
from ..grammar import ParseError
from ..selected import SelectedMailbox
from ..steps import Idling, Step

if TYPE_CHECKING:
    from ..session import Session

# RFC 6154 2: the special-use attributes CREATE may set.
SPECIAL_USE_ATTRS = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
)
LIST_DRAIN_EVERY = 200  # LIST responses written between waits for the client


async def select(s: Session, cmd: c.Select) -> None:
    """SELECT, and EXAMINE (``cmd.readonly``): RFC 3501 6.3.1, 6.3.2; with
    RFC 7162's CONDSTORE and QRESYNC parameters. HIGHESTMODSEQ is given once
    CONDSTORE is on (3.1.2.1), never before (no answer mentions mod-sequences
    until the client asks); a mailbox that was selected is said to be closed
    first (3.2.11, as Dovecot)."""
    if cmd.qresync is not None and not s.qresync:
        raise ParseError("QRESYNC is not enabled")  # RFC 7162 3.2.5: BAD
    if s.selected is not None:
        s.deselect()
        s.send(R.untagged("OK [CLOSED] Previous mailbox closed"))
    if cmd.condstore:
        s.condstore = True  # RFC 7162 3.1.8; HIGHESTMODSEQ comes below
    sel = SelectedMailbox(
        s.sv.store, s.owner, cmd.mailbox, cmd.readonly, s.sv.recent, s
    )
    sel.rev2 = s.rev2
    try:
        await sel.open()
    except BaseException:
        sel.close()
        raise
    s.selected_mailbox(sel)
    for line in sel.flags_lines():
        s.send(line)
    s.send(R.untagged(f"{sel.exists} EXISTS"))
    if s.rev2:  # RFC 9051 6.3.2: LIST with the name, no RECENT or UNSEEN
        s.send(R.untagged(b'LIST () "/" ' + R.mailbox(sel.name)))
    else:
        s.send(R.untagged(f"{len(sel.recent)} RECENT"))
        unseen = sel.first_unseen()
        if unseen is not None:
            s.send(R.untagged(f"OK [UNSEEN {unseen}] First unseen"))
    s.send(R.untagged(f"OK [UIDVALIDITY {sel.uidvalidity}] UIDs valid"))
    s.send(R.untagged(f"OK [UIDNEXT {sel.uidnext}] Predicted next UID"))
    if s.condstore:  # RFC 7162 3.1.2.1; nothing of it before it is on
        s.send(R.untagged(f"OK [HIGHESTMODSEQ {sel.highestmodseq}] Highest"))
    s.send(R.untagged(f"OK [MAILBOXID ({sel.mailbox_id})] Ok"))  # RFC 8474 4.3
    if cmd.qresync is not None and cmd.qresync.uidvalidity == sel.uidvalidity:
        await _resync(s, sel, cmd.qresync)
    code = "READ-ONLY" if cmd.readonly else "READ-WRITE"
    s.tagged(cmd.tag, "OK", f"{cmd.name} completed", code)


async def _resync(s: Session, sel: SelectedMailbox, q: c.Qresync) -> None:
    """RFC 7162 3.2.5.1: what went since the client's mod-sequence (among
    the UIDs it says it knows), then the flags of every message changed
    since. The sequence-match data is an optional hint to shorten VANISHED;
    ours is exact without it, so it is not used."""
    gone = await s.sv.store.vanished(s.owner, sel.name, q.modseq)
    if q.known is not None:
        gone = R.intersect(gone, q.known.resolve(max(sel.uidnext - 1, 1)))
    for line in R.vanished(gone, earlier=True):
        s.send(line)
    await send_changed(s, sel, [(i, u) for i, u in enumerate(sel.uids, 1)], q.modseq)


async def send_changed(
    s: Session, sel: SelectedMailbox, msgs: list[tuple[int, int]], since: int
) -> None:
    """``* n FETCH (UID u FLAGS (...) MODSEQ (m))`` for each of ``msgs``
    changed after ``since`` (QRESYNC's resync), waiting for the client every
    ``LIST_DRAIN_EVERY`` lines."""
    sent = 0
    for seq, uid in msgs:
        info = sel.infos.get(uid)
        if info is None or info.modseq <= since:
            continue
        flags = R.flag_list(sel.flags_of(uid)).decode()
        s.send(
            R.untagged(f"{seq} FETCH (UID {uid} FLAGS {flags} MODSEQ ({info.modseq}))")
        )
        sent += 1
        if sent % LIST_DRAIN_EVERY == 0:
            await s.drain()


async def create(s: Session, cmd: c.Create) -> None:
    name = cmd.mailbox.rstrip("/")
    if not name:
        s.tagged(cmd.tag, "NO", "Invalid mailbox name", "CANNOT")
        return
    if name.upper() == "INBOX":
        s.tagged(cmd.tag, "NO", "INBOX always exists", "ALREADYEXISTS")
        return
    use = None
    if cmd.use:
        if len(cmd.use) != 1 or cmd.use[0] not in SPECIAL_USE_ATTRS:
            s.tagged(cmd.tag, "NO", "Unsupported special-use attribute", "USEATTR")
            return
        use = cmd.use[0]
    made = await s.sv.store.create_mailbox(s.owner, name, use)
    # RFC 8474 4.1: the new mailbox's id in the tagged OK
    s.tagged(cmd.tag, "OK", "CREATE completed", f"MAILBOXID ({made.mailbox_id})")


async def delete(s: Session, cmd: c.Delete) -> None:
    name = cmd.mailbox
    if name == "INBOX":
        s.tagged(cmd.tag, "NO", "INBOX cannot be deleted", "CANNOT")
        return
    boxes = await s.sv.store.list_mailboxes(s.owner)
    if any(b.name.startswith(name + "/") for b in boxes):
        # RFC 3501 6.3.4 lets a server refuse; say why and what to do
        s.tagged(
            cmd.tag,
            "NO",
            "Mailbox has child mailboxes; delete or move them first",
            "CANNOT",
        )
        return
    if s.selected is not None and s.selected.name == name:
        s.deselect()
    await s.sv.store.delete_mailbox(s.owner, name)
    s.tagged(cmd.tag, "OK", "DELETE completed")


async def rename(s: Session, cmd: c.Rename) -> None:
    old, new = cmd.old, cmd.new.rstrip("/")
    if new == "INBOX":
        s.tagged(cmd.tag, "NO", "Mailbox already exists", "ALREADYEXISTS")
        return
    await s.sv.store.rename_mailbox(s.owner, old, new)
    sel = s.selected
    if (
        sel is not None
        and old != "INBOX"
        and (sel.name == old or sel.name.startswith(old + "/"))
    ):
        sel.follow_rename(new + sel.name[len(old) :])
    await s.updates(cmd)
    s.tagged(cmd.tag, "OK", "RENAME completed")


async def subscribe(s: Session, cmd: c.Subscribe) -> None:
    await s.sv.store.set_subscribed(s.owner, cmd.mailbox, True)
    s.tagged(cmd.tag, "OK", "SUBSCRIBE completed")


async def unsubscribe(s: Session, cmd: c.Unsubscribe) -> None:
    await s.sv.store.set_subscribed(s.owner, cmd.mailbox, False)
    s.tagged(cmd.tag, "OK", "UNSUBSCRIBE completed")


async def list_(s: Session, cmd: c.List) -> None:
    """LIST and LSUB (RFC 3501 6.3.8-9), LIST-EXTENDED (RFC 5258), with
    LIST-STATUS (RFC 5819) answered after the list."""
    listing.check_options(cmd)
    if "HIGHESTMODSEQ" in cmd.status:
        await s.enable_condstore()  # as STATUS (RFC 7162 3.1)
    root = listing.root_line(cmd)
    if root is not None:
        s.send(root)
        s.tagged(cmd.tag, "OK", f"{cmd.name} completed")
        return
    boxes = {b.name: b for b in await s.sv.store.list_mailboxes(s.owner)}
    subs = set(await s.sv.store.list_subscriptions(s.owner))
    lines, status_for = await listing.list_lines(cmd, boxes, subs)
    for i, line in enumerate(lines):
        s.send(line)
        if i % LIST_DRAIN_EVERY == LIST_DRAIN_EVERY - 1:
            await s.drain()
    for name in status_for:
        try:
            await _status_line(s, name, cmd.status)
        except MailboxNotFound:
            pass  # removed meanwhile: listed, but no STATUS
    await s.updates(cmd)
    s.tagged(cmd.tag, "OK", f"{cmd.name} completed")


async def _status_line(s: Session, name: str, items: tuple[str, ...]) -> None:
    """One untagged STATUS response (RFC 3501 7.2.4)."""
    info: MailboxInfo = await s.sv.store.mailbox_info(s.owner, name)
    uids: list[int] | None = None
    size = 0
    deleted = 0
    if "RECENT" in items or "SIZE" in items or "DELETED" in items:
        msgs = await s.sv.store.list_messages(s.owner, name)
        uids = [m.uid for m in msgs]
        size = sum(m.size for m in msgs)
        deleted = sum(1 for m in msgs if "\\Deleted" in m.flags)
    out = []
    for item in items:
        if item == "MESSAGES":
            out.append(f"MESSAGES {info.messages}")
        elif item == "RECENT":
            n = s.sv.recent.count(s.owner, name, info.uidvalidity, uids or [])
            if s.selected is not None and s.selected.name == name:
                n = len(s.selected.recent)
            out.append(f"RECENT {n}")
        elif item == "UIDNEXT":
            out.append(f"UIDNEXT {info.uidnext}")
        elif item == "UIDVALIDITY":
            out.append(f"UIDVALIDITY {info.uidvalidity}")
        elif item == "UNSEEN":
            out.append(f"UNSEEN {info.unseen}")
        elif item == "SIZE":
            out.append(f"SIZE {size}")
        elif item == "HIGHESTMODSEQ":
            out.append(f"HIGHESTMODSEQ {info.highestmodseq}")
        elif item == "MAILBOXID":  # RFC 8474 4.2
            out.append(f"MAILBOXID ({info.mailbox_id})")
        elif item == "DELETED":  # RFC 9051 6.3.11
            out.append(f"DELETED {deleted}")
    s.send(R.untagged(b"STATUS " + R.mailbox(name) + f" ({' '.join(out)})".encode()))


async def status(s: Session, cmd: c.Status) -> None:
    if "HIGHESTMODSEQ" in cmd.items:
        await s.enable_condstore()  # RFC 7162 3.1: an enabling command
    await _status_line(s, cmd.mailbox, cmd.items)
    await s.updates(cmd)
    s.tagged(cmd.tag, "OK", "STATUS completed")


# -- QUOTA (RFC 9208): one root per user, "", with STORAGE in units of 1024
ROOT = ""


async def _quota_line(s: Session) -> bytes | None:
    """``* QUOTA "" (STORAGE used limit)``; None for a user with no quota."""
    limit = s.sv.quota(s.owner)
    if not limit:
        return None
    used = await s.sv.store.usage(s.owner)
    kib = -(-used // 1024)  # rounded up: a byte over is a unit used
    return R.untagged(f'QUOTA "" (STORAGE {kib} {limit // 1024})')


async def getquota(s: Session, cmd: c.GetQuota) -> None:
    line = await _quota_line(s) if cmd.root == ROOT else None
    if line is None:
        s.tagged(cmd.tag, "NO", "No such quota root", "NONEXISTENT")
        return
    s.send(line)
    s.tagged(cmd.tag, "OK", "GETQUOTA completed")


async def getquotaroot(s: Session, cmd: c.GetQuotaRoot) -> None:
    await s.sv.store.mailbox_info(s.owner, cmd.mailbox)  # NO [NONEXISTENT]
    line = await _quota_line(s)
    roots = b' ""' if line is not None else b""
    s.send(R.untagged(b"QUOTAROOT " + R.mailbox(cmd.mailbox) + roots))
    if line is not None:
        s.send(line)
    s.tagged(cmd.tag, "OK", "GETQUOTAROOT completed")


async def setquota(s: Session, cmd: c.SetQuota) -> None:
    s.tagged(cmd.tag, "NO", "Quotas are set by the administrator", "NOPERM")


async def check_room(s: Session, adding: int | list[bytes]) -> None:
    """``adding`` more bytes fit the user's quota, or NO [OVERQUOTA]. Messages
    given as they are are measured (``_wire_size``) only when there is a
    quota to measure them against."""
    limit = s.sv.quota(s.owner)
    if not limit:
        return
    if not isinstance(adding, int):
        adding = await _wire_size(adding)
    if await s.sv.store.usage(s.owner) + adding > limit:
        raise QuotaExceededError("Quota exceeded (mailbox is full)")


async def _wire_size(messages: list[bytes]) -> int:
    """The messages' size with CRLF line ends, as a quota counts them. The
    count reads every octet (about 36 ms for 20 MB): a large one is made in
    a worker thread, off the loop every client shares."""
    if sum(len(m) for m in messages) < bytesutil.OFF_LOOP_COPY:
        return sum(crlf_size(m) for m in messages)
    return await asyncio.to_thread(lambda: sum(crlf_size(m) for m in messages))


def check_flags(flags: tuple[str, ...]) -> frozenset[str]:
    """Flags a client may set: ``\\Recent`` is the server's (RFC 3501
    2.3.2) and an unknown system flag is an error; both are BAD."""
    out = set()
    for f in flags:
        if f == "\\Recent":
            raise ParseError("\\Recent cannot be set")
        if f.startswith("\\") and f not in SYSTEM_FLAGS:
            raise ParseError(f"unknown system flag {f}")
        out.add(f)
    return frozenset(out)


async def append(s: Session, cmd: c.Append) -> None:
    """RFC 3501 6.3.11, with the RFC 4315 APPENDUID code; several messages
    (RFC 3502 MULTIAPPEND) are stored all or none: a failure takes out the
    ones stored before it. A message may be put together from text and
    parts of messages the user has (RFC 4469 CATENATE)."""
    wanted = [(check_flags(cmd.flags), cmd.date, cmd.message)]
    wanted += [(check_flags(f), d, m) for f, d, m in cmd.more]  # BAD before any
    items: list[tuple[frozenset[str], float | None, bytes]] = []
    for flags, date, message in wanted:
        try:
            items.append((flags, date, await _catenated(s, message)))
        except imapurl.BadUrl as exc:
            s.tagged(cmd.tag, "NO", "That URL names no message of yours", exc.args[0])
            return
        except _TooBig:
            s.tagged(cmd.tag, "NO", "Message too large", "TOOBIG")
            return
    if any(not m for _, _, m in items):
        s.tagged(cmd.tag, "NO", "Empty messages are not accepted")
        return
    info = await s.sv.store.mailbox_info(s.owner, cmd.mailbox)
    await check_room(s, [m for _, _, m in items])
    uids: list[int] = []
    try:
        for flags, date, message in items:
            stored = await s.sv.store.deliver(
                s.owner,
                message,
                mailbox=cmd.mailbox,
                flags=flags,
                internal_date=date if date is not None else s.sv.clock(),
                origin=s,
            )
            uids.append(stored.uid)
    except BaseException:
        if uids:  # RFC 3502 6.3.11: none of them, then
            await s.sv.store.expunge(s.owner, cmd.mailbox, uids, origin=s)
        raise
    for _ in uids:
        s.sv.count("appends")
    await s.updates(cmd)
    done = R.uid_set(uids)
    s.tagged(cmd.tag, "OK", "APPEND completed", f"APPENDUID {info.uidvalidity} {done}")


class _TooBig(Exception):
    pass


async def _catenated(s: Session, message: bytes | tuple[c.CatPart, ...]) -> bytes:
    """The message, or its CATENATE parts put together (RFC 4469 5): text
    as sent, URLs as the bytes they name. ``imapurl.BadUrl`` (its args: the
    BADURL code) for a URL that names nothing of this user's; ``_TooBig``
    past the message size limit."""
    if isinstance(message, bytes):
        return message
    limit = int(s.sv.settings().general.max_message_size)
    out: list[bytes] = []
    total = 0
    for kind, data in message:
        if kind == "TEXT":
            piece = data
        else:
            url = data.decode("utf-8", "replace")
            try:
                piece = await _url_bytes(s, url)
            except imapurl.BadUrl:
                raise imapurl.BadUrl(f"BADURL {imapurl.code_text(url)}") from None
        total += len(piece)
        if total > limit:
            raise _TooBig
        out.append(piece)
    return b"".join(out)


async def _url_bytes(s: Session, url: str) -> bytes:
    """What an IMAP URL names (imapurl.py), read from the store."""
    u = imapurl.parse(url)
    if u.user is not None and u.user.lower() != s.owner.lower():
        raise imapurl.BadUrl("another user")
    name = u.mailbox
    if name is None:
        if s.selected is None:
            raise imapurl.BadUrl("no mailbox")
        name = s.selected.name
    try:
        info = await s.sv.store.mailbox_info(s.owner, name)
        if u.uidvalidity is not None and u.uidvalidity != info.uidvalidity:
            raise imapurl.BadUrl("UIDVALIDITY changed")
        raw = await s.sv.store.read_message(s.owner, name, u.uid)
    except (MailboxNotFound, MessageNotFound, InvalidMailboxName):
        raise imapurl.BadUrl("no such message") from None
    data = raw
    sec = u.section
    if sec is not None:  # a MIME parse: off the loop
        data = await asyncio.to_thread(
            mime.section, raw, None, sec.part, sec.text, sec.fields
        )
    if u.partial is not None:
        start, count = u.partial
        data = data[start:] if count is None else data[start : start + count]
    return data


async def idle(s: Session, cmd: c.Idle) -> Step:
    """RFC 2177: a ``+``, the pending updates, then the connection streams
    updates until the client says DONE (``Session.idle_update``)."""
    s.send(b"+ idling\r\n")
    await s.updates(None, force=True)
    await s.drain()
    return Idling(cmd)
