"""Sieve at local delivery: find a user's scripts, run them off the core loop,
and perform what they decided.

Where it runs. ``LocalDelivery`` asks ``SieveDelivery.wanted(user)`` for every
user a message is delivered to. That probe only stats three paths on the loop
(the global ``before``/``after`` folders and the user's ``.active`` marker), so
a server with no scripts keeps today's path: no thread hop, no parsing. When a
script may exist, one worker-thread hop (``asyncio.to_thread``) loads the
scripts (the global "before" ones, the user's active one, the global "after"
ones, as Pigeonhole's sieve_before/sieve_after), runs them (``run_scripts``)
and renders the copies to store; a second hop happens only when a script asks
RFC 5490's ``mailboxexists`` (the folder list is read first). The common case
skips the hop: a message up to ``INLINE_MESSAGE_BYTES`` whose scripts are
compiled already and cheap (fast.py: header, address, exists and size tests
with constant strings, at most ``fast.MAX_CHEAP_TESTS``) is judged on the
loop, which is bounded by those two limits.

Compiled scripts are cached (``ScriptCache``) by path, inode, mtime and size,
bounded by ``MAX_CACHED_SCRIPTS`` and ``MAX_CACHED_SOURCE_BYTES``. A script
that does not compile is logged once per change of its file and counts as
absent (the implicit keep).

The actions (RFC 5228 section 4 and its extensions):

- ``keep`` stores in INBOX, ``fileinto`` in its folder (``:create``, RFC 5490
  section 3.2, creates it; a missing folder without it means INBOX and a log
  line, as Pigeonhole does), with the RFC 5232 flags and the RFC 5293 header
  edits applied to that stored copy only. Store keys are per (job, user,
  folder) (``delivery_key``), so a replay never stores twice.
- ``redirect`` (section 4.2) becomes a new queue job (``Outbox.submit``:
  spooled, retried, bounced like any job) to the new address. Envelope: the
  original MAIL FROM is kept (Pigeonhole's default ``sieve_redirect_envelope_from
  = sender``; ``<>`` stays ``<>``), no SRS. The copy gets a ``Delivered-To:
  <user>`` loop mark on top; a message that already carries the target's mark
  (or more than ``loops.MAX_HOPS`` hops) is kept instead
  (``loops.redirect_would_loop``); at most ``SieveLimits.max_redirects`` per
  message and user.
- ``reject``/``ereject`` (RFC 5429): inside the SMTP transaction of a message
  with one recipient, nothing is stored and the client hears ``550 5.7.1`` with
  the script's reason (``ScriptRejected``). Otherwise a DSN (RFC 3464, status
  5.7.1, RFC 5429 section 2.1) goes to the envelope sender through the queue
  with MAIL FROM ``<>``; to a ``<>`` sender nothing is sent and the message is
  dropped (RFC 5429 section 2.1; Pigeonhole: "not sending reject message to <>").
- ``vacation`` (RFC 5230, RFC 6131, RFC 3834): ``VacationPolicy`` decides
  (never to ``<>``, lists, bulk, auto-submitted mail, system senders, or
  when the user is not a visible recipient), the "already answered" store
  (``seen.SieveStateStore``, per user, ``seen_key`` and period) remembers, and
  the ``build_reply`` message goes out through the queue with MAIL FROM ``<>``
  to the envelope sender.
- ``discard`` stores nothing.

Never lose mail: a script error, or an action that fails (a folder that cannot
be made, the spool refusing a redirect), ends in the implicit keep in INBOX
with a log line naming the user and the script (never message content). Only
if INBOX itself cannot take the message does the delivery fail (temporarily,
so the queue tries again; the replay is idempotent).

Replays. A job delivered again after a crash repeats the run. Stored copies
dedupe by key. Each redirect, vacation reply and rejection notice gets a job id
derived from (job, user, what), and its key is written to the ``sent`` ledger
after the queue took it: a replay finds the key and sends nothing, and while
the derived job is still in the queue ``submit`` itself is a no-op. The window
left: a crash after the derived job was spooled and before its key reached the
ledger (one SQLite commit, milliseconds), when that job has meanwhile been
delivered and left the queue: then it is sent again (at-least-once, RFC 5321
section 6.1: a duplicate, never a loss).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from server import bytesutil
from server.delivery.base import Accepted
from server.delivery.base import Envelope as MailEnvelope
from server.errors import MailError, PermanentError, QuotaExceededError
from server.queue.bounce import DsnRecipient, build_dsn
from server.queue.spool import derived_job_id
from server.sieve.actions import (
    Discard,
    FileInto,
    HeaderEdit,
    Keep,
    Redirect,
    Reject,
    SieveResult,
    Vacation,
    apply_header_edits,
)
from server.sieve.context import SieveContext, SieveLimits
from server.sieve.loading import LoadedScript, ScriptFinder
from server.sieve.loops import loop_mark, redirect_would_loop
from server.sieve.message import Envelope, MessageView
from server.sieve.runner import run_scripts
from server.sieve.seen import SieveStateStore
from server.sieve.vacation import VacationPolicy, build_reply, seen_key
from server.storage.base import (
    InvalidMailboxName,
    MailboxExists,
    MailboxNotFound,
    MailStore,
)

log = logging.getLogger("quicksilver.sieve")

# The reject reason in an SMTP reply: RFC 5321 4.5.3.1.5 allows 512 octets
# per reply line, code and status included.
MAX_REASON_CHARS = 200
DEFAULT_REJECT_REASON = "Message rejected by the recipient's filter"


# A message up to this size, whose scripts are all cheap (fast.cheap: every
# test precompiled, no variables, at most fast.MAX_CHEAP_TESTS tests) and
# already compiled, is judged on the core loop: the trip to a worker thread
# and back cost more than the run (bench: tests/bench/sieve_delivery.py).
# Anything else (a big message, a body or regex test, a script to compile)
# runs in a worker thread.
INLINE_MESSAGE_BYTES = 64 * 1024


class ScriptRejected(PermanentError):
    """A script rejected the message while the SMTP client still waits
    (RFC 5429 section 2.1/2.2: refuse at the protocol level)."""

    smtp_code = 550
    enhanced = "5.7.1"


class Outbox(Protocol):
    """Where generated mail goes: the queue, under a caller-chosen job id."""

    async def submit(
        self, envelope: MailEnvelope, message: bytes, *, job_id: str
    ) -> Accepted: ...


def sanitize_reason(reason: str) -> str:
    """The reason as one line of printable ASCII for an SMTP reply (no CR/LF
    that could forge a reply line, nothing a client cannot show)."""
    text = "".join(
        c if 0x20 <= ord(c) < 0x7F else ("?" if ord(c) > 0x7F else " ") for c in reason
    )
    text = " ".join(text.split())
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 3].rstrip() + "..."
    return text or DEFAULT_REJECT_REASON


@dataclass(frozen=True)
class SieveDeliveryRequest:
    """One message for one user. ``recipient`` is the address as the sender
    wrote it (an alias, ``alice+tag@``), ``user`` the mailbox it reached;
    ``inbox_key`` names the INBOX copy (``delivery_key``) and ``folder_key``
    the copy in another folder; ``smtp_reject`` is True when a reject may be
    answered in the SMTP transaction."""

    job_id: str
    created: float
    sender: str
    recipient: str
    user: str
    return_path: bytes
    inbox_key: str
    folder_key: Callable[[str], str]
    quota_bytes: int = 0
    smtp_reject: bool = False
    # where keep (explicit or implicit) stores: the Junk folder for a
    # message marked as spam (server/antispam/verdict.py)
    keep_folder: str = "INBOX"


@dataclass
class _Plan:
    result: SieveResult
    scripts: tuple[str, ...]
    view: MessageView | None = None
    env: Envelope | None = None
    # rendered copies: stored ones (Return-Path on top) and redirected ones
    # (loop mark on top), by the header edits they carry
    stored: dict[tuple[HeaderEdit, ...], bytes] = field(default_factory=dict)
    resent: dict[tuple[HeaderEdit, ...], bytes] = field(default_factory=dict)


def _with_edits(
    prefix: bytes, message: bytes, body_offset: int, edits: tuple[HeaderEdit, ...]
) -> bytes:
    """``prefix`` + the message with RFC 5293 edits applied to its header
    block only (the body is joined without being scanned again)."""
    if not edits:
        return b"".join((prefix, message))
    head = apply_header_edits(message[:body_offset], edits)
    return b"".join((prefix, head, memoryview(message)[body_offset:]))


def _folder_exists(names: frozenset[str]) -> Callable[[str], bool]:
    def exists(name: str) -> bool:
        if name.upper() == "INBOX":
            return True
        head, sep, rest = name.partition("/")
        if head.upper() == "INBOX":
            name = "INBOX" + sep + rest
        return name in names

    return exists


@dataclass(frozen=True, slots=True)
class Wanted:
    """``SieveDelivery.wanted``: a script may run; ``loaded`` holds the
    scripts when they were known without I/O (None: look in a thread)."""

    loaded: Sequence[LoadedScript] | None


class SieveDelivery:
    """Runs the scripts for one delivery and performs the actions."""

    def __init__(
        self,
        finder: ScriptFinder,
        state: SieveStateStore,
        store: MailStore,
        hostname: str,
        *,
        clock: Callable[[], float] = time.time,
        limits: SieveLimits | None = None,
    ) -> None:
        self.finder = finder
        self.state = state
        self.store = store
        self.hostname = hostname or "localhost"
        self.clock = clock
        self.limits = limits or SieveLimits()
        self.outbox: Outbox | None = None

    def attach_outbox(self, outbox: Outbox) -> None:
        """Where redirects, vacation replies and rejection notices go (the
        queue; it is built after local delivery)."""
        self.outbox = outbox

    def wanted(self, user: str) -> Wanted | None:
        """None when no script can run for ``user``; stats only, on the loop.
        When the scripts are compiled and unchanged, the answer carries them
        (``ScriptFinder.load_cached``), so ``deliver`` need not look again."""
        loaded = self.finder.load_cached(user)
        if loaded is not None:
            return Wanted(loaded) if loaded else None
        return Wanted(None) if self.finder.probe(user) else None

    # -- running (worker thread) ---------------------------------------------------

    def _evaluate(
        self,
        req: SieveDeliveryRequest,
        message: bytes,
        folders: frozenset[str] | None,
        loaded: Sequence[LoadedScript] | None = None,
    ) -> _Plan | list[LoadedScript]:
        """Blocking. The plan, or the scripts when the folder list is needed
        first (a script uses ``mailboxexists``)."""
        if loaded is None:
            loaded = self.finder.load(req.user)
        scripts = [ls.script for ls in loaded]
        names = tuple(s.name for s in scripts)
        if not scripts:  # all of them gone or broken since the probe
            plan = _Plan(SieveResult((Keep(implicit=True),)), names)
            plan.stored[()] = b"".join((req.return_path, message))
            return plan
        if folders is None and any(ls.needs_folders for ls in loaded):
            return list(loaded)
        view = MessageView(message)
        env = Envelope(mail_from=req.sender, rcpt_to=req.user, orig_rcpt=req.recipient)
        now = self.clock()
        ctx = SieveContext(
            now=datetime.fromtimestamp(now, UTC),
            zone=datetime.fromtimestamp(now).astimezone().tzinfo or UTC,
            mailbox_exists=_folder_exists(folders or frozenset()),
            limits=self.limits,
        )
        result = run_scripts(scripts, view, env, ctx)
        plan = _Plan(result, names, view, env)
        mark = loop_mark(req.user)
        for a in result.actions:
            if isinstance(a, Keep | FileInto) and a.header_edits not in plan.stored:
                plan.stored[a.header_edits] = _with_edits(
                    req.return_path, message, view.body_offset, a.header_edits
                )
            elif isinstance(a, Redirect) and a.header_edits not in plan.resent:
                plan.resent[a.header_edits] = _with_edits(
                    mark, message, view.body_offset, a.header_edits
                )
        return plan

    async def deliver(
        self, req: SieveDeliveryRequest, message: bytes, found: Wanted | None = None
    ) -> None:
        """Run the scripts for ``req`` and perform their actions; ``found``
        is what ``wanted`` said just before, if it was asked.

        Raises ``ScriptRejected`` (reject at SMTP time), or a ``MailError``
        when INBOX cannot take the message (temporary: the queue retries).
        """
        step: _Plan | list[LoadedScript] | None = None
        if len(message) <= INLINE_MESSAGE_BYTES:
            loaded = (
                found.loaded if found is not None else self.finder.load_cached(req.user)
            )
            if loaded is not None and all(ls.cheap for ls in loaded):
                step = self._evaluate(req, message, None, loaded)
        if step is None:
            step = await asyncio.to_thread(self._evaluate, req, message, None)
        if isinstance(step, list):
            folders = frozenset(
                m.name for m in await self.store.list_mailboxes(req.user)
            )
            step = await asyncio.to_thread(self._evaluate, req, message, folders, step)
        assert isinstance(step, _Plan)
        await self._perform(req, step, message)

    # -- performing (core loop; I/O through the store, the queue, threads) ----

    async def _perform(
        self, req: SieveDeliveryRequest, plan: _Plan, message: bytes
    ) -> None:
        result = plan.result
        label = ", ".join(plan.scripts) or "(none)"
        for err in result.errors:
            log.warning(
                "sieve: script %s for %s failed at line %d (%s): kept in INBOX",
                err.script,
                req.user,
                err.line,
                err.message[:120],
            )
        actions = result.actions
        reject = next((a for a in actions if isinstance(a, Reject)), None)
        if (
            reject is not None
            and req.smtp_reject
            and all(isinstance(a, Reject | Discard) for a in actions)
        ):
            log.info(
                "sieve: message for %s rejected at SMTP time by %s", req.user, label
            )
            raise ScriptRejected(sanitize_reason(reject.reason))

        keep_needed = False  # an action failed: the implicit keep in INBOX
        inbox_done = False
        if any(isinstance(a, Keep | FileInto) for a in actions):
            await self._check_quota(req, len(message))
        for a in actions:
            if isinstance(a, Keep):
                await self._keep(req, plan.stored[a.header_edits], a.flags)
                inbox_done = True
            elif isinstance(a, FileInto):
                landed = await self._file_into(req, a, plan.stored[a.header_edits])
                if landed is None:
                    keep_needed = True
                elif landed == "INBOX":
                    inbox_done = True
        redirects = 0
        for a in actions:
            if isinstance(a, Redirect):
                redirects += 1
                if not await self._redirect(req, plan, a, redirects):
                    keep_needed = True
            elif isinstance(a, Reject):
                if not await self._reject(req, a, message):
                    keep_needed = True
            elif isinstance(a, Vacation):
                await self._vacation(req, plan, a)
        if keep_needed and not inbox_done:
            log.warning(
                "sieve: an action failed for %s (scripts %s): kept in INBOX",
                req.user,
                label,
            )
            data = await bytesutil.join((req.return_path, message))
            await self._keep(req, data, ())
        elif not any(isinstance(a, Keep | FileInto | Redirect) for a in actions):
            log.info("sieve: message for %s not stored (scripts %s)", req.user, label)

    async def _check_quota(self, req: SieveDeliveryRequest, size: int) -> None:
        if req.quota_bytes:
            used = await self.store.usage(req.user)
            if used + size > req.quota_bytes:
                raise QuotaExceededError("Mailbox is full")

    async def _keep(
        self, req: SieveDeliveryRequest, data: bytes, flags: Sequence[str]
    ) -> None:
        if req.keep_folder != "INBOX":
            try:
                await self._store(req, req.keep_folder, data, flags)
                return
            except MailboxNotFound:
                log.info("sieve: Junk folder of %s is gone: kept in INBOX", req.user)
        await self._store(req, "INBOX", data, flags)

    async def _store(
        self, req: SieveDeliveryRequest, folder: str, data: bytes, flags: Sequence[str]
    ) -> None:
        key = req.inbox_key if folder == "INBOX" else req.folder_key(folder)
        await self.store.deliver(
            req.user, data, mailbox=folder, flags=flags, unique=key
        )

    async def _file_into(
        self, req: SieveDeliveryRequest, a: FileInto, data: bytes
    ) -> str | None:
        """Store per ``fileinto``; return the folder it went to (INBOX when
        the folder is missing and not to be created), None if it failed."""
        folder = a.mailbox
        if folder.upper() == "INBOX":
            folder = "INBOX"
        try:
            try:
                await self._store(req, folder, data, a.flags)
                return folder
            except MailboxNotFound:
                if not a.create:
                    log.info(
                        "sieve: folder for %s does not exist (fileinto without "
                        ":create): stored in INBOX",
                        req.user,
                    )
                    await self._store(req, "INBOX", data, a.flags)
                    return "INBOX"
            try:
                await self.store.create_mailbox(req.user, folder)
                log.info("sieve: created a folder for %s (fileinto :create)", req.user)
            except MailboxExists:
                pass  # made meanwhile (an IMAP client): fine
            await self._store(req, folder, data, a.flags)
            return folder
        except InvalidMailboxName:
            log.warning(
                "sieve: fileinto for %s names an invalid folder: stored in INBOX",
                req.user,
            )
            await self._store(req, "INBOX", data, a.flags)
            return "INBOX"
        except MailError as exc:
            log.warning(
                "sieve: fileinto for %s failed (%s): kept in INBOX",
                req.user,
                exc.public_message,
            )
            return None

    # -- side effects through the queue ----------------------------------------------

    def _derived(self, req: SieveDeliveryRequest, what: str) -> tuple[str, str]:
        """(job id, ledger key) of the side effect ``what`` of this delivery:
        the same on every replay of the job."""
        digest = hashlib.sha256(
            f"{req.job_id}\x00{req.user}\x00{what}".encode()
        ).hexdigest()
        return derived_job_id(req.created, digest), digest

    async def _send_once(
        self,
        req: SieveDeliveryRequest,
        what: str,
        envelope: MailEnvelope,
        build: Callable[[str], bytes],
        seen: tuple[str, float] | None = None,
        label: str = "",
    ) -> bool:
        """Queue ``build(job_id)`` once per (job, user, what); True if it is
        queued now or was before. ``seen`` = (vacation key, period) is written
        with the ledger entry; ``label`` names it in the log (``what`` may hold
        script text)."""
        label = label or what
        if self.outbox is None:
            log.error("sieve: no queue to send through (%s for %s)", label, req.user)
            return False
        job_id, key = self._derived(req, what)
        if await asyncio.to_thread(self.state.was_sent, key):
            log.info("sieve: %s for %s was queued before (a replay)", label, req.user)
            return True
        # built in a worker thread: a rejection DSN copies the original's
        # header section, which may be most of a large message
        message = await asyncio.to_thread(build, job_id)
        try:
            accepted = await self.outbox.submit(envelope, message, job_id=job_id)
        except MailError as exc:
            log.error(
                "sieve: cannot queue %s for %s: %s", label, req.user, exc.public_message
            )
            return False
        await asyncio.to_thread(self._record, req.user, key, seen)
        log.info("sieve: %s for %s queued as %s", label, req.user, accepted.job_id)
        return True

    def _record(self, user: str, key: str, seen: tuple[str, float] | None) -> None:
        if seen is not None:
            self.state.mark_replied(user, seen[0], seen[1])
        self.state.mark_sent(key)

    async def _redirect(
        self, req: SieveDeliveryRequest, plan: _Plan, a: Redirect, count: int
    ) -> bool:
        assert plan.view is not None
        if count > self.limits.max_redirects:
            log.warning(
                "sieve: more than %d redirects for %s: the rest kept in INBOX",
                self.limits.max_redirects,
                req.user,
            )
            return False
        if redirect_would_loop(plan.view, a.address):
            log.warning(
                "sieve: redirect for %s to <%s> would loop: kept in INBOX",
                req.user,
                a.address,
            )
            return False
        copy = plan.resent[a.header_edits]
        env = MailEnvelope(
            sender=req.sender, recipients=(a.address,), received_via="sieve"
        )
        return await self._send_once(
            req, f"redirect to <{a.address}>", env, lambda _jid: copy
        )

    async def _reject(
        self, req: SieveDeliveryRequest, a: Reject, message: bytes
    ) -> bool:
        if not req.sender:
            log.info(
                "sieve: message for %s rejected; not sending a reject message to <>",
                req.user,
            )
            return True
        reason = sanitize_reason(a.reason)
        now = self.clock()

        def build(job_id: str) -> bytes:
            return build_dsn(
                reporting_mta=self.hostname,
                sender=req.sender,
                job_id=job_id,
                arrival=req.created,
                recipients=[
                    DsnRecipient(
                        req.recipient,
                        "failed",
                        "5.7.1",
                        f"550 5.7.1 {reason}",
                        last_attempt=now,
                    )
                ],
                original=message,
                now=now,
            )

        env = MailEnvelope(sender="", recipients=(req.sender,), received_via="sieve")
        return await self._send_once(req, "rejection notice", env, build)

    async def _vacation(
        self, req: SieveDeliveryRequest, plan: _Plan, a: Vacation
    ) -> None:
        assert plan.view is not None and plan.env is not None
        view, env = plan.view, plan.env
        key = seen_key(a, req.sender)
        replied = bool(req.sender) and await asyncio.to_thread(
            self.state.replied_before, req.user, key
        )
        policy = VacationPolicy(own_addresses=(req.recipient, req.user))
        decision = policy.decide(a, view, env, replied_before=replied)
        if not decision.send:
            log.info("sieve: no vacation reply for %s: %s", req.user, decision.reason)
            return
        date = datetime.fromtimestamp(self.clock(), UTC)

        def build(job_id: str) -> bytes:
            return build_reply(
                a,
                decision,
                view,
                env,
                message_id=f"<{job_id}.vacation@{self.hostname}>",
                date=date,
            )

        out = MailEnvelope(sender="", recipients=(req.sender,), received_via="sieve")
        await self._send_once(
            req,
            f"vacation {a.handle}",
            out,
            build,
            seen=(key, a.period),
            label=f"vacation reply to <{req.sender}>",
        )
