"""The queue manager: takes accepted mail, delivers it, retries, gives up.

What it does
- ``accept`` (the ``DeliveryTarget`` the protocol modules see) makes a message
  durable before it returns. Mail for local users only takes the fast path: it is
  written straight into each user's Maildir (tmp, fsync, rename) -- as durable as
  the spool and half the disk writes. Anything else (remote recipients, a local
  failure that may pass) is written to the spool first.
- Workers deliver spooled jobs, up to ``queue.max_deliveries`` jobs at once:
  local recipients into Maildir, remote ones to the ``RemoteRoute`` (relay or
  mx), grouped by recipient domain, at most ``queue.per_domain_concurrency``
  deliveries per domain at a time. With no route, remote recipients are held
  with ``NO_ROUTE`` as the reason the queue view shows.
- Retries follow ``queue.retry_schedule`` (the n-th failure waits the n-th
  delay, the last one repeats); after ``queue.lifetime`` (5 days) a temporary
  failure becomes permanent (status 4.4.7, RFC 3463). RFC 5321 4.5.4.1 asks for
  at least 30 minutes between tries and 4-5 days before giving up.
- DSNs (RFC 3464, built by ``server.queue.bounce``, sent by the
  ``QueueNotices`` mixin in ``server.queue.notices``) go to the sender for
  recipients that failed permanently, and once per job an optional "delayed"
  notice after ``queue.delay_notice_after`` seconds (0 = never). Never to the
  null reverse-path ``<>``; a DSN is itself sent from ``<>`` (RFC 5321
  4.5.5), so a failing DSN can never bounce again. A DSN to a local sender is delivered
  locally, to a remote one through the route, like any other mail.
- ``submit`` queues mail the core made itself (Sieve redirects, vacation
  replies, rejection notices) under a job id derived from its cause, always
  through the spool; while that job is queued, submitting it again is a no-op.
- Administrator actions: hold, release, retry now, delete, bounce now.

Crash safety and the at-least-once window
- After a crash, jobs still in the spool are delivered again. Local delivery is
  idempotent per (job, user), so nothing acknowledged is lost or doubled there,
  whatever the crash left in the Maildir (``tmp/`` files get fresh names, a
  replay finds the copy an earlier attempt renamed in). A job's local outcome
  is written to the spool before its remote attempt starts, so a crash during
  a long remote attempt does not bring back a copy the user already deleted.
- Remote delivery is at-least-once (RFC 5321 6.1: never lose, duplicates are the
  lesser evil). The window for a duplicate is from the moment the remote server
  has the whole message (it receives the final ``.``) until the job's new state
  is renamed into place after its ``250`` reply: one network round trip plus one
  fsynced write, milliseconds. A ``kill -9`` in that window delivers those
  recipients again after the restart; outside it, nothing is sent twice.
  "delivering" is an in-memory state only; a recipient found "delivering" on
  disk is retried. A job found with every recipient final (a crash between
  writing its outcome and removing it) is finished at once: DSNs still owed
  are sent, then it leaves the spool.
- A DSN is spooled (durably) before the failed job's state is written, so a
  crash in between may send a DSN twice, never zero times. A DSN that cannot be
  queued (disk full) keeps its job in the queue; it is tried again every minute.
- The local fast path writes each local recipient's copy before the 250. When a
  later step fails (another recipient's copy and then the spool, e.g. a full
  disk) the client hears 4xx and sends again: recipients already written get a
  second copy. That is the at-least-once choice: a duplicate, never a loss.

What it does not do: talk SMTP to other servers (``relay``/``mx`` do) or decide
who may relay (the protocol modules do). It is the only writer of the spool.
Settings: ``[queue]`` retry_schedule, lifetime, delay_notice_after,
per_domain_concurrency, max_deliveries.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import errno
import logging
import time
from collections.abc import Callable

from server.accounts.base import AccountStore
from server.config.schema import Settings
from server.delivery.base import Accepted, Envelope, RemoteRoute, RouteResult
from server.delivery.local import LocalDelivery, ScriptRejected
from server.dkim.signer import DkimSigner
from server.errors import (
    MailError,
    OverQuotaForGood,
    QuotaExceededError,
    StorageFullError,
    TemporaryError,
)
from server.events import (
    EventBus,
    MessageBounced,
    MessageDeferred,
    MessageDelivered,
    MessageQueued,
    QueueChanged,
)
from server.queue.admin import (
    NO_ROUTE,
    QueueAdmin,
)
from server.queue.bounce import status_of
from server.queue.notices import QueueNotices
from server.queue.spool import (
    DEFERRED,
    DELIVERED,
    DELIVERING,
    FAILED,
    HELD,
    QUEUED,
    Job,
    Recipient,
    Spool,
    new_job_id,
)

log = logging.getLogger("quicksilver.queue")

EXPIRED_STATUS = "4.4.7"  # RFC 3463: delivery time expired
LOCAL_FANOUT = 16  # local recipients of one message delivered at the same time
DSN_RETRY = 60.0  # seconds before trying again to finish a job (its DSN, its removal)
# the reason recorded when a remote route raised (a fault of ours; retried)
ROUTE_FAULT = "Delivery failed: internal error in the {} module (see the server log)"


def _span(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} seconds"


class QueueManager(QueueAdmin, QueueNotices):
    def __init__(
        self,
        spool: Spool,
        accounts: AccountStore,
        local: LocalDelivery,
        events: EventBus,
        settings: Callable[[], Settings],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spool = spool
        self.accounts = accounts
        self.local = local
        self.events = events
        self.settings = settings
        self.clock = clock
        self.remote: RemoteRoute | None = None
        self.signer: DkimSigner | None = None  # the runtime sets it
        self._routes: list[RemoteRoute] = []
        self._remote_suspended = False  # capture mode (suspend_remote)
        self._jobs: dict[str, Job] = {}
        # job -> when to try again to finish it (queue the DSN it owes, or
        # take it out of the spool once every recipient is final)
        self._finish_retry: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._save_locks: dict[str, asyncio.Lock] = {}
        self._domain_slots: dict[str, tuple[int, asyncio.Semaphore]] = {}
        self._ready: collections.deque[str] = collections.deque()
        self._ready_set: set[str] = set()
        self._rescan = True
        self._next_due = 0.0

    # -- life --------------------------------------------------------------------
    async def start(self) -> None:
        jobs = await asyncio.to_thread(self.spool.load_all)
        for job in jobs:
            # A crash may have left a recipient "delivering": try it again.
            for i, r in enumerate(job.recipients):
                if r.state == DELIVERING:
                    job = job.with_recipient(i, dataclasses.replace(r, state=QUEUED))
            self._jobs[job.job_id] = job
            if self._bounce_pending(job):  # its DSN never got queued: try now
                self._finish_retry[job.job_id] = self.clock()
        if jobs:
            log.info("recovered %d job(s) from the spool", len(jobs))
        self._task = asyncio.create_task(self._worker(), name="queue-worker")
        self._wake.set()

    async def stop(self) -> None:
        tasks = list(self._running.values())
        if self._task is not None:
            tasks.append(self._task)
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("queue task failed while stopping")
        self._task = None
        self._running.clear()

    def set_remote_route(self, route: RemoteRoute | None) -> None:
        """Make ``route`` the remote route (None: remote mail waits, held)."""
        self.remote = route
        self._rescan = True
        self._wake.set()

    def add_route(self, route: RemoteRoute) -> None:
        """Offer a route; the one with the highest ``priority`` is used.

        ``relay`` (priority 20) wins over ``mx`` (10) when both are on: someone
        who set up a smart host usually cannot send on port 25 directly.
        """
        if route not in self._routes:
            self._routes.append(route)
        self._pick_route()

    def remove_route(self, route: RemoteRoute) -> None:
        if route in self._routes:
            self._routes.remove(route)
        if self.remote is route or self.remote not in self._routes:
            self._pick_route()

    def suspend_remote(self, on: bool) -> None:
        """Capture mode: no remote route while ``on`` (remote mail waits,
        held, as with no route), the best one again when off."""
        if on != self._remote_suspended:
            self._remote_suspended = on
            log.info("remote delivery %s", "paused (capture mode)" if on else "resumed")
            self._pick_route()

    def _pick_route(self) -> None:
        best = max(self._routes, key=lambda r: r.priority, default=None)
        if self._remote_suspended:
            best = None
        if best is not self.remote:
            log.info("remote route: %s", best.name if best else "none (held)")
        self.set_remote_route(best)

    def poke(self) -> None:
        """Look at the queue now (after a clock change in tests, or an action)."""
        self._rescan = True
        self._wake.set()

    def is_local(self, address: str) -> bool:
        domain = address.rsplit("@", 1)[-1] if "@" in address else ""
        return self.accounts.is_local_domain(domain)

    # -- accepting -----------------------------------------------------------------
    async def accept(
        self,
        envelope: Envelope,
        message: bytes,
        *,
        job_id: str | None = None,
        created: float | None = None,
    ) -> Accepted:
        if job_id is not None and job_id in self._jobs:
            job = self._jobs[job_id]  # a replay while its job is still queued
            return Accepted(job_id, queued=tuple(r.address for r in job.recipients))
        job_id = job_id or new_job_id()
        now = self.clock() if created is None else created
        locals_ = [r for r in envelope.recipients if self.is_local(r)]
        remotes = [r for r in envelope.recipients if not self.is_local(r)]
        pending: list[Recipient] = [Recipient(r, local=False) for r in remotes]
        delivered: list[str] = []
        if not remotes:
            done_users: set[str] = set()
            # RFC 5429: a Sieve reject of a one-recipient message is answered
            # in the SMTP transaction itself (550 5.7.1), nothing stored.
            # (mail the core made itself, a bounce or a Sieve reply, has no
            # SMTP client waiting)
            at_smtp = len(envelope.recipients) == 1 and envelope.received_via not in (
                "bounce",
                "sieve",
                "fetch",
            )
            # the recipients' deliveries run side by side (their Maildir
            # group commits then share their syncs: a 50-recipient message
            # no longer waits for 50 commits one after the other), at most
            # LOCAL_FANOUT at once; a user reached twice (an alias and the
            # address) is stored once, by its delivery key
            slots = asyncio.Semaphore(LOCAL_FANOUT)

            async def one(rcpt: str) -> MailError | None:
                async with slots:
                    try:
                        await self.local.deliver(
                            job_id,
                            now,
                            envelope.sender,
                            rcpt,
                            message,
                            already=done_users,
                            at_smtp=at_smtp,
                        )
                    except ScriptRejected:
                        raise
                    except MailError as exc:
                        return exc
                    return None

            if len(locals_) == 1:
                outcomes = [await one(locals_[0])]
                if at_smtp and isinstance(
                    outcomes[0], QuotaExceededError | OverQuotaForGood
                ):
                    # one recipient with a full mailbox: the client hears it
                    # at DATA (452 4.2.2, or 552 5.2.2 when it can never
                    # fit) rather than a bounce later
                    raise outcomes[0]
            else:
                outcomes = list(await asyncio.gather(*(one(r) for r in locals_)))
            for rcpt, failed in zip(locals_, outcomes, strict=True):
                if failed is None:
                    delivered.append(rcpt)
                    self.events.publish(MessageDelivered(job_id, rcpt, "INBOX"))
                else:
                    pending.append(
                        Recipient(rcpt, last_error=failed.public_message, local=True)
                    )
            if not pending:
                return Accepted(job_id, local_delivered=tuple(delivered))
        else:
            pending = [Recipient(r, local=True) for r in locals_] + pending
        job = Job(
            job_id=job_id,
            sender=envelope.sender,
            created=now,
            size=len(message),
            recipients=tuple(pending),
            peer=envelope.peer,
            authenticated_as=envelope.authenticated_as,
            smtputf8=envelope.smtputf8,
        )
        await self._queue_new(job, message)
        return Accepted(
            job_id,
            local_delivered=tuple(delivered),
            queued=tuple(r.address for r in pending),
        )

    async def submit(
        self, envelope: Envelope, message: bytes, *, job_id: str
    ) -> Accepted:
        """Queue mail the core made itself (a Sieve redirect, vacation reply or
        rejection notice) under ``job_id``, derived from what caused it.

        Always through the spool, never the fast path: it is durable, retried
        and bounced like any job, and it never delivers (nor runs another
        user's scripts) inside the delivery that asked for it. Idempotent while
        the job is queued: the same ``job_id`` again returns at once (a replay
        of the job that caused it).
        """
        if job_id in self._jobs:
            return Accepted(job_id, queued=envelope.recipients)
        job = Job(
            job_id=job_id,
            sender=envelope.sender,
            created=self.clock(),
            size=len(message),
            recipients=tuple(
                Recipient(r, local=self.is_local(r)) for r in envelope.recipients
            ),
            smtputf8=envelope.smtputf8,
        )
        await self._queue_new(job, message)
        return Accepted(job_id, queued=envelope.recipients)

    async def _queue_new(self, job: Job, message: bytes) -> None:
        """Write a new job to the spool (durably) and schedule it."""
        try:
            await asyncio.to_thread(self.spool.write_new, job, message)
        except OSError as exc:
            log.error("spool write failed for job %s: %s", job.job_id, exc)
            if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                raise StorageFullError("Insufficient system storage") from exc
            raise TemporaryError(
                "Cannot queue the message now; try again later"
            ) from exc
        self._jobs[job.job_id] = job
        self.events.publish(
            MessageQueued(
                job.job_id,
                job.sender,
                tuple(r.address for r in job.recipients),
                len(message),
            )
        )
        self._enqueue(job.job_id)

    # -- scheduling ------------------------------------------------------------------
    async def _worker(self) -> None:
        """Start due jobs, at most ``max_deliveries`` at once.

        Due job ids wait in ``_ready`` (new mail goes straight there); the whole
        queue is scanned only when something may have become due (a retry time
        passed, a route came on, an action), so a large queue costs O(n) per
        scan, not per delivered message.
        """
        while True:
            self._wake.clear()
            now = self.clock()
            if self._rescan or now >= self._next_due:
                self._scan(now)
            limit = max(1, self.settings().queue.max_deliveries)
            while self._ready and len(self._running) < limit:
                job_id = self._ready.popleft()
                self._ready_set.discard(job_id)
                job = self._jobs.get(job_id)
                if job is None or job_id in self._running or not self._is_due(job, now):
                    continue
                self._running[job_id] = asyncio.create_task(
                    self._run_job(job_id), name=f"queue-job-{job_id}"
                )
            timeout = max(0.05, min(60.0, self._next_due - self.clock()))
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
            # cancel that lands in the same turn as the wake-up, and stop()
            # would then wait for ever.
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _scan(self, now: float) -> None:
        self._rescan = False
        due = sorted(
            (
                j
                for j in self._jobs.values()
                if j.job_id not in self._running
                and j.job_id not in self._ready_set
                and self._is_due(j, now)
            ),
            key=lambda j: j.created,
        )
        for j in due:
            self._ready.append(j.job_id)
            self._ready_set.add(j.job_id)
        self._next_due = self._compute_next_due(now)

    def _enqueue(self, job_id: str) -> None:
        if job_id not in self._ready_set:
            self._ready.append(job_id)
            self._ready_set.add(job_id)
        self._wake.set()

    async def _run_job(self, job_id: str) -> None:
        try:
            await self._process(job_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("queue job %s failed unexpectedly; will retry", job_id)
            job = self._jobs.get(job_id)
            if job is not None:  # do not spin on a job that keeps crashing
                now = self.clock()
                for i, r in enumerate(job.recipients):
                    if r.state in (QUEUED, DELIVERING):
                        job = job.with_recipient(
                            i,
                            dataclasses.replace(
                                r, state=DEFERRED, next_attempt=now + 60
                            ),
                        )
                if job.done:  # finishing it failed: not again at once
                    self._finish_retry[job_id] = now + DSN_RETRY
                self._jobs[job_id] = job
                self._next_due = min(self._next_due, now + 60)
        finally:
            self._running.pop(job_id, None)
            job = self._jobs.get(job_id)
            if job is not None and self._is_due(job, self.clock()):
                self._enqueue(job_id)  # e.g. a route came on while it ran
            self._wake.set()

    def _expired(self, job: Job, now: float) -> bool:
        return bool(now - job.created >= self.settings().queue.lifetime)

    def _is_due(self, job: Job, now: float) -> bool:
        if job.held:
            return False
        if self._finish_retry.get(job.job_id, now + 1) <= now:
            return True
        if job.done and job.job_id not in self._finish_retry:
            return True  # a crash came between its outcome and its removal
        for r in job.recipients:
            if r.state == QUEUED or (r.state == DEFERRED and r.next_attempt <= now):
                return True
            if (
                r.state == HELD
                and not r.local
                and r.last_error == NO_ROUTE
                and (self.remote is not None or self._expired(job, now))
            ):
                return True
        return False

    def _compute_next_due(self, now: float) -> float:
        nexts = [
            r.next_attempt
            for j in self._jobs.values()
            if not j.held
            for r in j.recipients
            if r.state == DEFERRED and r.next_attempt > now
        ]
        nexts += [t for t in self._finish_retry.values() if t > now]
        # held-for-no-route jobs expire at their lifetime: look again each minute
        return min(nexts, default=now + 60.0)

    def _retry_delay(self, attempts: int) -> float:
        sched = self.settings().queue.retry_schedule or (300,)
        return float(sched[min(attempts - 1, len(sched) - 1)])

    def _lock(self, job_id: str) -> asyncio.Lock:
        lock = self._locks.get(job_id)
        if lock is None:
            lock = self._locks[job_id] = asyncio.Lock()
        return lock

    def _domain_slot(self, domain: str) -> asyncio.Semaphore:
        size = max(1, int(self.settings().queue.per_domain_concurrency))
        cur = self._domain_slots.get(domain)
        if cur is None or cur[0] != size:
            cur = (size, asyncio.Semaphore(size))
            self._domain_slots[domain] = cur
        return cur[1]

    # -- delivering ------------------------------------------------------------------
    async def _process(self, job_id: str) -> None:
        async with self._lock(job_id):
            job = self._jobs.get(job_id)
            if job is None or job.held:
                return
            message = await asyncio.to_thread(self.spool.read_message, job_id)
            now = self.clock()
            users_done: set[str] = set()
            remote_due: list[int] = []
            for i, r in enumerate(job.recipients):
                if r.state in (DELIVERED, FAILED):
                    continue
                if r.state == DEFERRED and r.next_attempt > now:
                    continue
                if r.state == HELD and r.last_error != NO_ROUTE:
                    continue
                if not r.local:
                    remote_due.append(i)
                    continue
                try:
                    await self.local.deliver(
                        job_id,
                        job.created,
                        job.sender,
                        r.address,
                        message,
                        already=users_done,
                    )
                    job = job.with_recipient(
                        i,
                        Recipient(r.address, DELIVERED, r.attempts + 1, 0.0, "", True),
                    )
                    self.events.publish(MessageDelivered(job_id, r.address, "INBOX"))
                except MailError as exc:
                    job = self._failed_attempt(
                        job, i, exc.public_message, exc.temporary, now
                    )
            local_changed = job != self._jobs[job_id]
            self._jobs[job_id] = job
            if remote_due:
                if local_changed:
                    # Record the local outcome before the remote attempt,
                    # which may take minutes: a crash meanwhile must not
                    # deliver a copy the user may already have deleted.
                    await self._persist(job_id)
                await self._deliver_remote(job_id, remote_due, message, now)
            job = self._jobs[job_id]
            job = await self._maybe_delay_notice(job, message, now)
            await self._save(job, message)

    async def _deliver_remote(
        self, job_id: str, indexes: list[int], message: bytes, now: float
    ) -> None:
        route = self.remote
        job = self._jobs[job_id]
        if route is None:
            for i in indexes:
                r = job.recipients[i]
                if self._expired(job, now):
                    job = self._failed_attempt(job, i, NO_ROUTE, True, now)
                elif r.state != HELD or r.last_error != NO_ROUTE:
                    job = job.with_recipient(
                        i,
                        Recipient(r.address, HELD, r.attempts, 0.0, NO_ROUTE, False),
                    )
            self._jobs[job_id] = job
            return
        if self.signer is not None:  # DKIM: signed as it leaves (server/dkim/)
            message = await asyncio.to_thread(self.signer.sign, job.sender, message)
        groups: dict[str, list[int]] = {}
        for i in indexes:
            addr = job.recipients[i].address
            dom = addr.rsplit("@", 1)[-1].lower() if "@" in addr else ""
            groups.setdefault(dom, []).append(i)
        for i in indexes:
            r = job.recipients[i]
            job = job.with_recipient(i, dataclasses.replace(r, state=DELIVERING))
        self._jobs[job_id] = job
        self.events.publish(QueueChanged(job_id))
        several = len(groups) > 1 or any(r.state == DELIVERED for r in job.recipients)

        async def one_domain(domain: str, idx: list[int]) -> None:
            addresses = [self._jobs[job_id].recipients[i].address for i in idx]
            async with self._domain_slot(domain):
                try:
                    results = await route.deliver_remote(
                        self._jobs[job_id].sender, addresses, message
                    )
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # A fault of ours, not the remote side's: the traceback
                    # goes to the log; the reason (the window's last error,
                    # and a DSN's diagnostic if the job expires) says no more
                    # than that, never a path or a setting.
                    log.exception("remote route %s failed", route.name)
                    results = [
                        RouteResult(a, False, True, ROUTE_FAULT.format(route.name))
                        for a in addresses
                    ]
            self._apply_results(job_id, idx, results, route.name, now)
            if several:
                # Record this domain's outcome before the others finish, so a
                # crash does not send it again (shrinks the duplicate window).
                await self._persist(job_id)

        await asyncio.gather(*(one_domain(d, idx) for d, idx in groups.items()))

    def _apply_results(
        self,
        job_id: str,
        indexes: list[int],
        results: list[RouteResult],
        route_name: str,
        now: float,
    ) -> None:
        job = self._jobs[job_id]
        by_addr = {res.recipient: res for res in results}
        for i in indexes:
            r = job.recipients[i]
            res = by_addr.get(r.address)
            if res is not None and res.ok:
                job = job.with_recipient(
                    i,
                    Recipient(
                        r.address, DELIVERED, r.attempts + 1, 0.0, res.reply, False
                    ),
                )
                self.events.publish(MessageDelivered(job_id, r.address, route_name))
            else:
                reply = res.reply if res else "No answer from the remote route"
                temporary = res.temporary if res else True
                job = self._failed_attempt(job, i, reply, temporary, now)
        self._jobs[job_id] = job

    def _failed_attempt(
        self, job: Job, i: int, reason: str, temporary: bool, now: float
    ) -> Job:
        r = job.recipients[i]
        attempts = r.attempts + 1
        status = status_of(reason, temporary)
        if temporary and not self._expired(job, now):
            # The last try falls on the lifetime's end, not after it.
            lifetime_end = job.created + self.settings().queue.lifetime
            nxt = min(now + self._retry_delay(attempts), lifetime_end)
            self._next_due = min(self._next_due, nxt)
            self.events.publish(MessageDeferred(job.job_id, r.address, reason))
            log.info("job %s to %s deferred: %s", job.job_id, r.address, reason)
            return job.with_recipient(
                i,
                Recipient(r.address, DEFERRED, attempts, nxt, reason, r.local, status),
            )
        if temporary:
            span = _span(self.settings().queue.lifetime)
            reason = f"Gave up after {span} in the queue. Last error: {reason}"
            status = EXPIRED_STATUS
        self.events.publish(MessageBounced(job.job_id, r.address, reason))
        log.warning("job %s to %s failed: %s", job.job_id, r.address, reason)
        return job.with_recipient(
            i, Recipient(r.address, FAILED, attempts, 0.0, reason, r.local, status)
        )

    async def _persist(self, job_id: str) -> None:
        lock = self._save_locks.setdefault(job_id, asyncio.Lock())
        async with lock:
            job = self._jobs.get(job_id)
            if job is not None:
                await asyncio.to_thread(self.spool.update, job)

    async def _save(self, job: Job, message: bytes | None = None) -> None:
        job = await self._bounce_failed(job, message)
        if self._bounce_pending(job):
            retry = self.clock() + DSN_RETRY
            self._finish_retry[job.job_id] = retry
            self._next_due = min(self._next_due, retry)
        else:
            self._finish_retry.pop(job.job_id, None)
        if job.done and job.job_id not in self._finish_retry:
            await self.on_job_finished(job)
            await asyncio.to_thread(self.spool.remove, job.job_id)
            self._jobs.pop(job.job_id, None)
            self._locks.pop(job.job_id, None)
            self._save_locks.pop(job.job_id, None)
        else:
            self._jobs[job.job_id] = job
            await self._persist(job.job_id)
        self.events.publish(QueueChanged(job.job_id))

    async def on_job_finished(self, job: Job) -> None:
        """Called once a job is final, before it leaves the spool.

        DSNs for its failed recipients have been queued by then (see
        ``_bounce_failed``); this logs the outcome and is the hook subclasses or
        tests may extend.
        """
        failed = [r for r in job.recipients if r.state == FAILED]
        if failed:
            log.warning(
                "job %s finished with %d failed recipient(s)", job.job_id, len(failed)
            )

    def pending_count(self) -> int:
        return len(self._jobs)

    def job(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def wait_idle(self, timeout: float = 10.0) -> bool:
        """Test helper: wait until no job is due now and none is running."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            now = self.clock()
            if (
                not any(self._is_due(j, now) for j in self._jobs.values())
                and not self._running
            ):
                return True
            await asyncio.sleep(0.02)
        return False
