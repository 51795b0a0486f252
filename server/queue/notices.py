"""The queue's notices to senders (RFC 3464 DSNs): the failure notice for
recipients that failed since the last one, and the delay notice once a job
has waited ``queue.delay_notice_after``. Mixed into ``QueueManager``, which
calls them when it saves a job; a DSN is mail like any other (``accept``
from the null sender), so it is spooled before the job's notes say it went.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from server.config.schema import Settings
from server.delivery.base import DeliveryTarget, Envelope
from server.errors import MailError
from server.queue.bounce import DELAYED, DsnRecipient, build_dsn, status_of
from server.queue.bounce import FAILED as DSN_FAILED
from server.queue.spool import DEFERRED, FAILED, Job, Recipient, Spool

log = logging.getLogger("quicksilver.queue")

DELAY_NOTE = "delayed"  # a job's note once its delay notice went


class QueueNotices(DeliveryTarget):
    """Mixed into ``QueueManager``, whose ``accept`` queues the notices; these
    are the manager's own attributes."""

    spool: Spool
    settings: Callable[[], Settings]
    clock: Callable[[], float]
    _jobs: dict[str, Job]

    # -- notices (RFC 3464) ----------------------------------------------------------
    def _bounce_pending(self, job: Job) -> bool:
        """A failed recipient whose DSN could not be queued yet: the job must
        stay (and be retried) until the sender has been told."""
        return self._may_notify(job) and any(
            r.state == FAILED and f"bounced:{r.address}" not in job.notes
            for r in job.recipients
        )

    def _may_notify(self, job: Job) -> bool:
        # RFC 5321 4.5.5 / 6.1: never notify the null reverse-path.
        return bool(job.sender) and "@" in job.sender

    async def _send_dsn(
        self, job: Job, rcpts: list[DsnRecipient], message: bytes
    ) -> str:
        mta = self.settings().general.hostname or "localhost"
        dsn = build_dsn(
            reporting_mta=mta,
            sender=job.sender,
            job_id=job.job_id,
            arrival=job.created,
            recipients=rcpts,
            original=message,
            now=self.clock(),
        )
        env = Envelope(sender="", recipients=(job.sender,), received_via="bounce")
        accepted = await self.accept(env, dsn)
        log.info(
            "job %s: %s notice to <%s> as %s",
            job.job_id,
            rcpts[0].action,
            job.sender,
            accepted.job_id,
        )
        return accepted.job_id

    async def _notified(
        self, job: Job, rcpts: list[DsnRecipient], message: bytes, what: str
    ) -> bool:
        """Queue a notice; False (logged) when it could not be spooled: the
        caller leaves the job's notes unset, so the next pass tries again."""
        try:
            await self._send_dsn(job, rcpts, message)
        except MailError as exc:
            log.error("job %s: cannot queue the %s: %s", job.job_id, what, exc)
            return False
        return True

    async def _bounce_failed(self, job: Job, message: bytes | None) -> Job:
        """Queue one DSN for recipients that failed since the last one."""
        new = [
            r
            for r in job.recipients
            if r.state == FAILED and f"bounced:{r.address}" not in job.notes
        ]
        if not new:
            return job
        if self._may_notify(job):
            if message is None:
                message = await asyncio.to_thread(self.spool.read_message, job.job_id)
            rcpts = _dsn_recipients(new, DSN_FAILED, self.clock())
            if not await self._notified(job, rcpts, message, "DSN"):
                return job  # kept, with its notes unset, until the DSN is queued
        else:
            log.info("job %s: no DSN for the null sender", job.job_id)
        for r in new:
            job = job.with_note(f"bounced:{r.address}")
        self._jobs[job.job_id] = job
        return job

    async def _maybe_delay_notice(self, job: Job, message: bytes, now: float) -> Job:
        after = self.settings().queue.delay_notice_after
        if after <= 0 or DELAY_NOTE in job.notes or now - job.created < after:
            return job
        deferred = [r for r in job.recipients if r.state == DEFERRED]
        if not deferred:
            return job
        if self._may_notify(job):
            until = job.created + self.settings().queue.lifetime
            rcpts = _dsn_recipients(deferred, DELAYED, now, until)
            if not await self._notified(job, rcpts, message, "delay notice"):
                return job
        job = job.with_note(DELAY_NOTE)
        self._jobs[job.job_id] = job
        return job


def _dsn_recipients(
    recipients: list[Recipient], action: str, now: float, until: float = 0.0
) -> list[DsnRecipient]:
    """The DSN's per-recipient fields: a failure notice (no ``until``) or a
    delay notice (retried until ``until``)."""
    temporary = until > 0
    return [
        DsnRecipient(
            r.address,
            action,
            r.status or status_of(r.last_error, temporary),
            r.last_error,
            last_attempt=now,
            will_retry_until=until,
        )
        for r in recipients
    ]
