"""The queue manager: takes accepted mail, delivers it, retries, gives up.

What it does
- ``accept`` (the ``DeliveryTarget`` the protocol modules see) makes a message
  durable before it returns. Mail for local users only takes the fast path: it is
  written straight into each user's Maildir (tmp, fsync, rename) -- as durable as
  the spool and half the disk writes. Anything else (remote recipients, a local
  failure that may pass) is written to the spool first.
- A worker delivers spooled jobs: local recipients into Maildir, remote ones to
  the ``RemoteRoute`` (relay or mx) when one is set, else they are held. A job
  is removed only when every recipient is final and durable.
- After a crash, jobs still in the spool are delivered again; local delivery is
  idempotent per (job, user), so nothing acknowledged is lost or doubled.

What it does not do: talk SMTP to other servers (``relay``/``mx`` do) or decide
who may relay (the protocol modules do). It is the only writer of the spool.
Settings: ``[queue]`` (retry schedule, lifetime).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from server.accounts.base import AccountStore
from server.delivery.base import Accepted, Envelope, RemoteRoute
from server.delivery.local import LocalDelivery
from server.errors import MailError, TemporaryError
from server.events import (
    EventBus,
    MessageBounced,
    MessageDeferred,
    MessageDelivered,
    MessageQueued,
    QueueChanged,
)
from server.queue.spool import (
    DEFERRED,
    DELIVERED,
    FAILED,
    HELD,
    QUEUED,
    Job,
    QueueJobView,
    Recipient,
    Spool,
    new_job_id,
)

log = logging.getLogger("quicksilver.queue")

NO_ROUTE = "Waiting: no remote delivery module (relay or mx) is switched on."


class QueueManager:
    def __init__(
        self,
        spool: Spool,
        accounts: AccountStore,
        local: LocalDelivery,
        events: EventBus,
        settings: Callable[[], Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spool = spool
        self.accounts = accounts
        self.local = local
        self.events = events
        self.settings = settings
        self.clock = clock
        self.remote: RemoteRoute | None = None
        self._jobs: dict[str, Job] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[str] = set()

    # -- life --------------------------------------------------------------------
    async def start(self) -> None:
        jobs = await asyncio.to_thread(self.spool.load_all)
        for job in jobs:
            # A crash may have left a recipient "delivering": try it again.
            self._jobs[job.job_id] = job
        if jobs:
            log.info("recovered %d job(s) from the spool", len(jobs))
        self._task = asyncio.create_task(self._worker(), name="queue-worker")
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def set_remote_route(self, route: RemoteRoute | None) -> None:
        self.remote = route
        self._wake.set()

    def is_local(self, address: str) -> bool:
        domain = address.rsplit("@", 1)[-1] if "@" in address else ""
        return self.accounts.is_local_domain(domain)

    # -- accepting -----------------------------------------------------------------
    async def accept(self, envelope: Envelope, message: bytes) -> Accepted:
        job_id = new_job_id()
        now = self.clock()
        locals_ = [r for r in envelope.recipients if self.is_local(r)]
        remotes = [r for r in envelope.recipients if not self.is_local(r)]
        pending: list[Recipient] = [Recipient(r, local=False) for r in remotes]
        delivered: list[str] = []
        if not remotes:
            done_users: set[str] = set()
            for rcpt in locals_:
                try:
                    await self.local.deliver(
                        job_id, now, envelope.sender, rcpt, message, already=done_users
                    )
                    delivered.append(rcpt)
                    self.events.publish(MessageDelivered(job_id, rcpt, "INBOX"))
                except MailError as exc:
                    pending.append(
                        Recipient(rcpt, last_error=exc.public_message, local=True)
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
        try:
            await asyncio.to_thread(self.spool.write_new, job, message)
        except OSError as exc:
            log.error("spool write failed for job %s: %s", job_id, exc)
            raise TemporaryError(
                "Cannot queue the message now; try again later"
            ) from exc
        self._jobs[job_id] = job
        self.events.publish(
            MessageQueued(
                job_id, envelope.sender, tuple(r.address for r in pending), len(message)
            )
        )
        self._wake.set()
        return Accepted(
            job_id,
            local_delivered=tuple(delivered),
            queued=tuple(r.address for r in pending),
        )

    # -- delivering ------------------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            self._wake.clear()
            now = self.clock()
            due = [
                j
                for j in list(self._jobs.values())
                if j.job_id not in self._running and self._is_due(j, now)
            ]
            for job in due:
                self._running.add(job.job_id)
                try:
                    await self._process(job.job_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception(
                        "queue job %s failed unexpectedly; will retry", job.job_id
                    )
                finally:
                    self._running.discard(job.job_id)
            timeout = self._next_wait()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    def _is_due(self, job: Job, now: float) -> bool:
        for r in job.recipients:
            if r.state in (QUEUED,) or (r.state == DEFERRED and r.next_attempt <= now):
                return True
            if (
                r.state == HELD
                and not r.local
                and self.remote is not None
                and (r.last_error == NO_ROUTE)
            ):
                return True
        return False

    def _next_wait(self) -> float:
        now = self.clock()
        nexts = [
            r.next_attempt
            for j in self._jobs.values()
            for r in j.recipients
            if r.state == DEFERRED
        ]
        if not nexts:
            return 60.0
        return max(0.05, min(60.0, min(nexts) - now))

    def _retry_delay(self, attempts: int) -> float:
        sched = self.settings().queue.retry_schedule or (300,)
        return float(sched[min(attempts - 1, len(sched) - 1)])

    async def _process(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is None:
            return
        message = await asyncio.to_thread(self.spool.read_message, job_id)
        now = self.clock()
        lifetime = self.settings().queue.lifetime
        users_done: set[str] = set()
        remote_due: list[int] = []
        for i, r in enumerate(job.recipients):
            if r.state in (DELIVERED, FAILED):
                continue
            if r.state == DEFERRED and r.next_attempt > now:
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
                    i, Recipient(r.address, DELIVERED, r.attempts + 1, 0.0, "", True)
                )
                self.events.publish(MessageDelivered(job_id, r.address, "INBOX"))
            except MailError as exc:
                job = self._failed_attempt(
                    job, i, exc.public_message, exc.temporary, now, lifetime
                )
        if remote_due:
            job = await self._deliver_remote(job, remote_due, message, now, lifetime)
        await self._save(job)

    async def _deliver_remote(
        self, job: Job, indexes: list[int], message: bytes, now: float, lifetime: int
    ) -> Job:
        route = self.remote
        if route is None:
            for i in indexes:
                r = job.recipients[i]
                if r.state != HELD:
                    job = job.with_recipient(
                        i, Recipient(r.address, HELD, r.attempts, 0.0, NO_ROUTE, False)
                    )
            return job
        addresses = [job.recipients[i].address for i in indexes]
        results = await route.deliver_remote(job.sender, addresses, message)
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
                self.events.publish(MessageDelivered(job.job_id, r.address, route.name))
            else:
                reply = res.reply if res else "No answer from the remote route"
                temporary = res.temporary if res else True
                job = self._failed_attempt(job, i, reply, temporary, now, lifetime)
        return job

    def _failed_attempt(
        self, job: Job, i: int, reason: str, temporary: bool, now: float, lifetime: int
    ) -> Job:
        r = job.recipients[i]
        attempts = r.attempts + 1
        if temporary and now - job.created < lifetime:
            nxt = now + self._retry_delay(attempts)
            self.events.publish(MessageDeferred(job.job_id, r.address, reason))
            log.info("job %s to %s deferred: %s", job.job_id, r.address, reason)
            return job.with_recipient(
                i, Recipient(r.address, DEFERRED, attempts, nxt, reason, r.local)
            )
        self.events.publish(MessageBounced(job.job_id, r.address, reason))
        log.warning("job %s to %s failed: %s", job.job_id, r.address, reason)
        return job.with_recipient(
            i, Recipient(r.address, FAILED, attempts, 0.0, reason, r.local)
        )

    async def _save(self, job: Job) -> None:
        if job.done:
            await self.on_job_finished(job)
            await asyncio.to_thread(self.spool.remove, job.job_id)
            self._jobs.pop(job.job_id, None)
        else:
            await asyncio.to_thread(self.spool.update, job)
            self._jobs[job.job_id] = job
        self.events.publish(QueueChanged(job.job_id))

    async def on_job_finished(self, job: Job) -> None:
        """Hook for bounces (DSN) of failed recipients; see the outbound issue."""
        failed = [r for r in job.recipients if r.state == FAILED]
        if failed:
            log.warning(
                "job %s finished with %d failed recipient(s)", job.job_id, len(failed)
            )

    # -- views -------------------------------------------------------------------------
    async def views(self) -> tuple[QueueJobView, ...]:
        out = []
        for job in sorted(self._jobs.values(), key=lambda j: j.created):
            pend = [r for r in job.recipients if r.state not in (DELIVERED, FAILED)]
            out.append(
                QueueJobView(
                    job_id=job.job_id,
                    sender=job.sender,
                    recipients=tuple((r.address, r.state) for r in job.recipients),
                    size=job.size,
                    created=job.created,
                    attempts=max((r.attempts for r in job.recipients), default=0),
                    next_attempt=min((r.next_attempt for r in pend), default=0.0),
                    last_error=next((r.last_error for r in pend if r.last_error), ""),
                )
            )
        return tuple(out)

    def pending_count(self) -> int:
        return len(self._jobs)

    async def wait_idle(self, timeout: float = 10.0) -> bool:
        """Test helper: wait until no job is due now."""
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
