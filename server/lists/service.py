"""The list server: what happens to mail for a list's addresses.

For a list ``team@example.org`` (store.py) these addresses are local:

- ``team@`` -- a post. From a member (or anyone, or a moderator, as the
  list says) it goes to every member that is on, one queue job per member
  with the envelope sender ``team-bounces+alice=example.net@example.org``
  (VERP: a bounce names the member without parsing it). The copy gets RFC
  2919 ``List-Id``, RFC 2369 ``List-Post``/``-Help``/``-Subscribe``/
  ``-Unsubscribe`` (mailto:, and when the ``web`` module is on, first an
  HTTPS link of the member's own with RFC 8058 ``List-Unsubscribe-Post``:
  tokens.py, server/protocols/web/), ``Precedence: list``,
  ``X-Loop``, the subject prefix (not twice) and the Reply-To the list asks
  for. Anyone else's post waits for a moderator (the moderators get a
  notice). Our own ``X-Loop`` coming back, a null sender or an automatic
  message (RFC 3834 ``Auto-Submitted``) is dropped with a log line.
- ``team-request@`` -- "subscribe" / "unsubscribe" (subject or first body
  line) from the envelope sender: a confirmation goes to that address and
  asks for a reply to ``team-confirm+TOKEN@``; only that reply changes the
  membership (Mercury's Maiser, Mailman's confirm). Tokens expire after
  ``CONFIRM_SECONDS``.
- ``team-bounces[+member]@`` -- a bounce: the member's count goes up; at
  ``store.BOUNCES_TO_DISABLE`` the member is switched off (not removed).

Everything the list sends goes through the queue (spooled, retried) under
job ids derived from the incoming job, so a replayed delivery sends nothing
twice.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from server import mailtext
from server.accounts.base import AccountStore
from server.delivery.base import Accepted
from server.delivery.base import Envelope as MailEnvelope
from server.errors import ValidationError
from server.lists.store import (
    HeldMessage,
    ListStore,
    MailList,
    Member,
    Pending,
)
from server.lists.tokens import UnsubscribeTokens
from server.queue.spool import derived_job_id

log = logging.getLogger("quicksilver.lists")

CONFIRM_SECONDS = 3 * 86400
MAX_HEADER_SCAN = 256 * 1024  # bytes of header block read for a decision

# a list's other addresses: team-request@, team-bounces[+x]@, team-confirm+t@
_SUFFIXES = ("-request", "-bounces", "-confirm")
_SUBSCRIBE = re.compile(
    rb"^\s*(subscribe|unsubscribe|help)\b", re.IGNORECASE | re.MULTILINE
)
_FINAL_RECIPIENT = re.compile(
    rb"^Final-Recipient:\s*rfc822;\s*<?([^\s<>]+@[^\s<>]+)>?",
    re.IGNORECASE | re.MULTILINE,
)
# headers a list replaces on the copies it sends
_REPLACED = (
    b"list-id",
    b"list-post",
    b"list-help",
    b"list-subscribe",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"list-archive",
    b"list-owner",
    b"precedence",
    b"x-loop",
    b"return-path",
    b"delivered-to",
)


class Outbox(Protocol):
    async def submit(
        self, envelope: MailEnvelope, message: bytes, *, job_id: str
    ) -> Accepted: ...


def split_header(message: bytes) -> tuple[list[bytes], bytes]:
    """(header fields, each with its folds and line end; the body after the
    empty line)."""
    head, body = mailtext.split_header(message)
    lines: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break  # the empty line that ends the header
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] += line
        else:
            lines.append(line)
    return lines, body


def _name(line: bytes) -> bytes:
    return line.split(b":", 1)[0].strip().lower()


def header(lines: list[bytes], name: bytes) -> str | None:
    for line in lines:
        if _name(line) == name:
            value = line.split(b":", 1)[1] if b":" in line else b""
            return " ".join(value.decode("utf-8", "replace").split())
    return None


def _from_address(lines: list[bytes]) -> str:
    value = header(lines, b"from") or ""
    addrs = email.utils.getaddresses([value])
    return addrs[0][1].lower() if addrs and "@" in addrs[0][1] else ""


def _job_id(cause: str, what: str, created: float) -> str:
    digest = hashlib.sha256(f"{cause}\x00{what}".encode()).hexdigest()
    return derived_job_id(created, digest)


def check_list_address(address: str, accounts: AccountStore) -> str:
    """A new list's address, lower case: on one of our domains, and neither
    a user's nor an alias (the window and the shell ask the same)."""
    a = address.strip().lower()
    domain = a.rpartition("@")[2]
    if not domain or not accounts.is_local_domain(domain):
        raise ValidationError(
            f"A list's address must be on one of this server's domains, not "
            f"'{domain}'.",
            field="address",
        )
    if accounts.get_user(a) is not None or any(
        x.address == a for x in accounts.list_aliases()
    ):
        raise ValidationError(f"{a} is already a user or an alias.")
    return a


def verp(ml: MailList, member: str) -> str:
    """``team-bounces+alice=example.net@example.org`` for ``alice@example.net``."""
    return f"{ml.local}-bounces+{member.replace('@', '=')}@{ml.domain}"


@dataclass(frozen=True)
class Unsubscribed:
    """What a one-click unsubscribe did: ``removed`` is False when the
    address was not on the list (any more): the same page, no error."""

    list_address: str
    title: str
    member: str
    removed: bool


def _no_links() -> str:
    return ""


class ListService:
    def __init__(
        self,
        store: ListStore,
        accounts: AccountStore,
        tokens: UnsubscribeTokens | None = None,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.outbox: Outbox | None = None
        self.clock = time.time
        self.tokens = tokens
        # the HTTPS base of one-click links ("https://host:port"), "" for
        # none: the runtime points it at the web module's settings
        self.unsubscribe_base: Callable[[], str] = _no_links

    def attach_outbox(self, outbox: Outbox) -> None:
        self.outbox = outbox

    # -- which addresses are ours --
    def route(self, address: str) -> tuple[MailList, str, str] | None:
        """(list, kind, detail) when ``address`` is one of a list's: kind is
        "post", "request", "bounces" (detail: the VERP member) or "confirm"
        (detail: the token). A set lookup (ListStore.addresses); a query
        only for a list's own address: fine on the loop."""
        local, at, domain = address.lower().rpartition("@")
        if not at:
            return None
        base, plus, detail = local.partition("+")
        kind, name = "post", base
        for suffix in _SUFFIXES:
            if base.endswith(suffix):
                kind, name = suffix[1:], base[: -len(suffix)]
                break
        if kind == "post" and plus:
            return None  # a list's own address has no +detail
        address = f"{name}@{domain}"
        if address not in self.store.addresses():
            return None  # the common case: no list, no query
        ml = self.store.get(address)
        return (ml, kind, detail if plus else "") if ml is not None else None

    def is_list_address(self, address: str) -> bool:
        return self.route(address) is not None

    # -- delivery --
    async def deliver(
        self, job_id: str, created: float, sender: str, recipient: str, message: bytes
    ) -> None:
        found = self.route(recipient)
        if found is None:
            raise ValidationError("not a list address")
        ml, kind, detail = found
        lines, body = split_header(message)
        cause = f"{job_id}\x00{recipient}"
        if kind == "post":
            await self._post(ml, cause, created, sender, message)
        elif kind == "request":
            await self._request(ml, cause, created, sender, lines, body)
        elif kind == "confirm":
            await self._confirm(ml, cause, created, sender, detail)
        else:
            await asyncio.to_thread(self._bounce, ml, detail, message)

    def _automatic(self, ml: MailList, sender: str, lines: list[bytes]) -> str:
        """Why a message must not be answered or posted (RFC 3834), or ''."""
        if not sender:
            return "null sender"
        if (header(lines, b"x-loop") or "").lower() == ml.address:
            return "our own X-Loop: a loop"
        auto = (header(lines, b"auto-submitted") or "no").lower()
        if auto != "no":
            return f"Auto-Submitted: {auto}"
        if (header(lines, b"precedence") or "").lower() in ("bulk", "list", "junk"):
            return "bulk or list mail"
        return ""

    async def _post(
        self, ml: MailList, cause: str, created: float, sender: str, message: bytes
    ) -> None:
        lines, _ = split_header(message)
        why = self._automatic(ml, sender, lines)
        if why and not (why == "bulk or list mail" and ml.policy == "anyone"):
            log.info("list %s: post from <%s> dropped (%s)", ml.address, sender, why)
            return
        poster = _from_address(lines) or sender.lower()
        allowed = self._may_post(ml, {poster, sender.lower()})
        if not allowed:
            held_id = hashlib.sha256(cause.encode()).hexdigest()[:32]
            held = HeldMessage(
                held_id, ml.address, sender, header(lines, b"subject") or "", created
            )
            stored = await asyncio.to_thread(self.store.hold, held, message)
            if not stored:
                log.warning("list %s: moderation queue full; post dropped", ml.address)
                return
            log.info("list %s: post from <%s> held for moderation", ml.address, sender)
            await self._notify_moderators(ml, cause, created, held)
            return
        await self.distribute(ml, cause, created, message)

    def _may_post(self, ml: MailList, posters: set[str]) -> bool:
        if ml.policy == "anyone":
            return True
        moderators = set(self.store.moderators(ml.address))
        if posters & moderators:
            return True
        if ml.policy == "moderators":
            return False
        return any(self.store.is_member(ml.address, p) for p in posters if p)

    async def distribute(
        self, ml: MailList, cause: str, created: float, message: bytes
    ) -> int:
        """Send the post to every member that is on; the number of copies."""
        members = [m for m in self.store.members(ml.address) if m.enabled]
        copy = await asyncio.to_thread(self.list_copy, ml, message)
        base = self.unsubscribe_base()
        for m in members:
            await self._send(
                MailEnvelope(verp(ml, m.address), (m.address,)),
                self.unsubscribe_header(ml, m.address, base) + copy,
                _job_id(cause, f"post\x00{m.address}", created),
            )
        log.info("list %s: post sent to %d members", ml.address, len(members))
        return len(members)

    def unsubscribe_header(self, ml: MailList, member: str, base: str) -> bytes:
        """The member's ``List-Unsubscribe`` (RFC 2369): with an HTTPS base,
        first the member's one-click link and ``List-Unsubscribe-Post``
        (RFC 8058 3.1), then the mailto: that always works."""
        mailto = f"<mailto:{ml.local}-request@{ml.domain}?subject=unsubscribe>"
        if not base or self.tokens is None:
            return f"List-Unsubscribe: {mailto}\r\n".encode()
        link = f"{base}/unsubscribe/{self.tokens.make(ml.address, member)}"
        return (
            f"List-Unsubscribe: <{link}>,\r\n {mailto}\r\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        ).encode()

    def unsubscribe_target(self, token: str) -> tuple[MailList, str] | None:
        """The list and member a one-click token names, if genuine and the
        list still exists."""
        found = self.tokens.check(token) if self.tokens is not None else None
        if found is None:
            return None
        ml = self.store.get(found[0])
        return (ml, found[1]) if ml is not None else None

    def unsubscribe(self, token: str) -> Unsubscribed | None:
        """RFC 8058 one-click: take the token's member off the list at once
        (no confirmation: the signed link is it). Blocking (SQLite): called
        in a worker thread. None for a token that is not ours."""
        target = self.unsubscribe_target(token)
        if target is None:
            return None
        ml, member = target
        removed = self.store.remove_member(ml.address, member)
        if removed:
            log.info("list %s: <%s> unsubscribed (one-click)", ml.address, member)
        return Unsubscribed(ml.address, ml.title or ml.local, member, removed)

    def list_copy(self, ml: MailList, message: bytes) -> bytes:
        """The message as the members get it, but for ``List-Unsubscribe``
        (each member's own: ``unsubscribe_header``): our List-* headers,
        prefix, Reply-To (RFC 2369, RFC 2919)."""
        lines, body = split_header(message)
        out: list[bytes] = []
        nl = b"\r\n"
        request = f"{ml.local}-request@{ml.domain}"
        title = ml.title or ml.local
        prefix = ml.prefix.strip()
        for line in lines:
            name = _name(line)
            if name in _REPLACED:
                continue
            if name == b"reply-to" and ml.reply_to == "list":
                continue
            if name == b"subject" and prefix:
                value = line.split(b":", 1)[1].decode("utf-8", "replace").strip()
                if prefix.lower() not in value.lower():
                    line = f"Subject: {prefix} {value}".encode() + nl
            out.append(line)
        if prefix and header(lines, b"subject") is None:
            out.append(f"Subject: {prefix}".encode() + nl)
        added = [
            f'List-Id: "{_quoted(title)}" <{ml.list_id}>',
            f"List-Post: <mailto:{ml.address}>",
            f"List-Help: <mailto:{request}?subject=help>",
            f"List-Subscribe: <mailto:{request}?subject=subscribe>",
            "Precedence: list",
            f"X-Loop: {ml.address}",
        ]
        if ml.reply_to == "list":
            added.append(f"Reply-To: {ml.address}")
        head = b"".join(a.encode() + nl for a in added) + b"".join(out)
        return head + nl + body

    async def _notify_moderators(
        self, ml: MailList, cause: str, created: float, held: HeldMessage
    ) -> None:
        moderators = self.store.moderators(ml.address)
        if not moderators:
            return
        text = (
            f"A post to {ml.address} waits for a moderator.\r\n\r\n"
            "Approve or reject it in Quicksilver's window (Lists) or with\r\n"
            "quicksilver-server list moderation.\r\n"
        )
        msg = self._notice(
            ml, ", ".join(moderators), "A post waits for moderation", text
        )
        await self._send(
            MailEnvelope("", tuple(moderators)),
            msg,
            _job_id(cause, "moderators", created),
        )

    async def _request(
        self,
        ml: MailList,
        cause: str,
        created: float,
        sender: str,
        lines: list[bytes],
        body: bytes,
    ) -> None:
        why = self._automatic(ml, sender, lines)
        if why:
            log.info("list %s: request from <%s> ignored (%s)", ml.address, sender, why)
            return
        subject = (header(lines, b"subject") or "").encode()
        m = _SUBSCRIBE.search(subject) or _SUBSCRIBE.search(body[:4096])
        word = m.group(1).decode().lower() if m else "help"
        address = sender.lower()
        if word == "help":
            text = (
                f"This is the list {ml.address}.\r\n\r\n"
                f"To join, send a message with the subject 'subscribe' to "
                f"{ml.local}-request@{ml.domain};\r\nto leave, 'unsubscribe'.\r\n"
            )
            msg = self._notice(ml, address, f"Help for {ml.address}", text)
        else:
            token = secrets.token_hex(16)
            await asyncio.to_thread(
                self.store.add_pending,
                Pending(
                    token, ml.address, address, word, self.clock() + CONFIRM_SECONDS
                ),
            )
            confirm = f"{ml.local}-confirm+{token}@{ml.domain}"
            to_from = "to" if word == "subscribe" else "from"
            text = (
                f"Someone asked to {word} {address} {to_from} "
                f"the list {ml.address}.\r\n\r\n"
                f"To confirm, reply to this message (it goes to {confirm}).\r\n"
                "If you did not ask for this, ignore it: nothing changes.\r\n"
            )
            msg = self._notice(
                ml, address, f"Confirm {word} {token}", text, reply_to=confirm
            )
            log.info(
                "list %s: %s request from <%s>, confirmation sent",
                ml.address,
                word,
                address,
            )
        await self._send(
            MailEnvelope(f"{ml.local}-bounces@{ml.domain}", (address,)),
            msg,
            _job_id(cause, "request", created),
        )

    async def _confirm(
        self, ml: MailList, cause: str, created: float, sender: str, token: str
    ) -> None:
        pending = await asyncio.to_thread(
            self.store.take_pending, token.lower(), self.clock()
        )
        if pending is None or pending.list != ml.address:
            log.info(
                "list %s: unknown or expired confirmation from <%s>", ml.address, sender
            )
            return
        if pending.action == "subscribe":
            await asyncio.to_thread(self.store.add_member, ml.address, pending.address)
            text = f"You are now a member of {ml.address}.\r\n"
            subject = f"Welcome to {ml.address}"
        else:
            await asyncio.to_thread(
                self.store.remove_member, ml.address, pending.address
            )
            text = f"You are no longer a member of {ml.address}.\r\n"
            subject = f"Goodbye from {ml.address}"
        log.info(
            "list %s: %s of <%s> confirmed", ml.address, pending.action, pending.address
        )
        await self._send(
            MailEnvelope(f"{ml.local}-bounces@{ml.domain}", (pending.address,)),
            self._notice(ml, pending.address, subject, text),
            _job_id(cause, "confirmed", created),
        )

    def _bounce(self, ml: MailList, detail: str, message: bytes) -> Member | None:
        member = ""
        if "=" in detail:
            local, _, domain = detail.rpartition("=")
            member = f"{local}@{domain}"
        else:
            m = _FINAL_RECIPIENT.search(message[:MAX_HEADER_SCAN])
            if m:
                member = m.group(1).decode("utf-8", "replace").lower()
        if not member:
            log.info("list %s: a bounce that names no member", ml.address)
            return None
        counted = self.store.count_bounce(ml.address, member)
        if counted is None:
            log.info("list %s: a bounce for <%s>, not a member", ml.address, member)
        elif not counted.enabled:
            log.warning(
                "list %s: <%s> switched off after %d bounces",
                ml.address,
                member,
                counted.bounces,
            )
        else:
            log.info("list %s: bounce %d for <%s>", ml.address, counted.bounces, member)
        return counted

    # -- moderation actions (the facade) --
    async def approve(self, held_id: str) -> int:
        held, data = await asyncio.to_thread(self.store.held_message, held_id)
        ml = self.store.get(held.list)
        if ml is None:
            raise ValidationError(f"There is no list {held.list}.")
        count = await self.distribute(ml, f"approved\x00{held_id}", held.received, data)
        await asyncio.to_thread(self.store.release, held_id)
        return count

    async def process_approved(self) -> int:
        """Send the posts approved from the shell; how many."""
        ids = await asyncio.to_thread(self.store.approved_ids)
        for held_id in ids:
            await self.approve(held_id)
        return len(ids)

    async def reject(self, held_id: str, notify: bool = False) -> None:
        held, _ = await asyncio.to_thread(self.store.held_message, held_id)
        ml = self.store.get(held.list)
        if notify and ml is not None and held.sender:
            text = f"Your post to {ml.address} was not accepted by its moderators.\r\n"
            await self._send(
                MailEnvelope("", (held.sender,)),
                self._notice(ml, held.sender, f"Your post to {ml.address}", text),
                _job_id(f"rejected\x00{held_id}", "notice", held.received),
            )
        await asyncio.to_thread(self.store.release, held_id)

    # -- sending --
    def _notice(
        self, ml: MailList, to: str, subject: str, text: str, reply_to: str = ""
    ) -> bytes:
        request = f"{ml.local}-request@{ml.domain}"
        head = [
            f"From: {request}",
            f"To: {to}",
            f"Subject: {subject}",
            f"Date: {email.utils.formatdate(self.clock(), localtime=True)}",
            f"Message-ID: {email.utils.make_msgid(domain=ml.domain)}",
            "Auto-Submitted: auto-replied",
            "Precedence: list",
            f"X-Loop: {ml.address}",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
        ]
        if reply_to:
            head.append(f"Reply-To: {reply_to}")
        return ("\r\n".join(head) + "\r\n\r\n" + text).encode("utf-8")

    async def _send(self, envelope: MailEnvelope, message: bytes, job_id: str) -> None:
        if self.outbox is None:
            raise RuntimeError("the list service has no outbox")
        await self.outbox.submit(envelope, message, job_id=job_id)


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
