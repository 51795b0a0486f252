"""The administrator's actions on the queue (hold, release, retry, delete,
bounce, read the headers) and the rows of the queue viewer: the part of the
queue manager the window drives. ``QueueManager`` inherits them; they act
under the same per-job lock as deliveries, so an action never races a try.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass

from server.delivery.base import RemoteRoute
from server.errors import ValidationError
from server.events import EventBus, MessageBounced, QueueChanged
from server.queue.spool import (
    DEFERRED,
    DELIVERED,
    FAILED,
    HELD,
    Job,
    QueueJobView,
    Spool,
)

log = logging.getLogger("quicksilver.queue")

NO_ROUTE = "Waiting: no remote delivery module (relay or mx) is switched on."
ADMIN_HELD = "Held by the administrator."
ADMIN_BOUNCED = "Returned to the sender by the postmaster"


@dataclass(frozen=True)
class QueueActionResult:
    """What a queue action did, for the window."""

    job_id: str
    action: str
    ok: bool
    message: str


@dataclass(frozen=True)
class JobHeaders:
    job_id: str
    headers: str  # the spooled message's header section, decoded leniently


class QueueAdmin:
    """Mixed into ``QueueManager``; these are the manager's own attributes."""

    spool: Spool
    events: EventBus
    remote: RemoteRoute | None
    _jobs: dict[str, Job]
    _locks: dict[str, asyncio.Lock]
    _save_locks: dict[str, asyncio.Lock]

    def _lock(self, job_id: str) -> asyncio.Lock:
        raise NotImplementedError

    async def _save(self, job: Job, message: bytes | None = None) -> None:
        raise NotImplementedError

    def poke(self) -> None:
        raise NotImplementedError

    # -- administrator actions -------------------------------------------------------
    def _get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise ValidationError(
                f"There is no job {job_id} in the queue (it may have just been "
                "delivered).",
                field="job_id",
            )
        return job

    async def hold(self, job_id: str) -> QueueActionResult:
        """Keep a job from being tried until it is released."""
        self._get(job_id)
        async with self._lock(job_id):
            job = dataclasses.replace(self._get(job_id), held=True)
            await self._save(job)
        log.info("job %s held by the administrator", job_id)
        return QueueActionResult(job_id, "hold", True, "The message is held.")

    async def release(self, job_id: str) -> QueueActionResult:
        """Undo ``hold``; waiting recipients are tried at once."""
        self._get(job_id)
        async with self._lock(job_id):
            job = dataclasses.replace(self._get(job_id), held=False)
            job = self._due_now(job)
            await self._save(job)
        self.poke()
        log.info("job %s released by the administrator", job_id)
        return QueueActionResult(job_id, "release", True, "The message is released.")

    def _due_now(self, job: Job) -> Job:
        for i, r in enumerate(job.recipients):
            if r.state == DEFERRED:
                job = job.with_recipient(i, dataclasses.replace(r, next_attempt=0.0))
        return job

    async def retry(self, job_id: str) -> QueueActionResult:
        """Try every waiting recipient now (also releases a held job)."""
        self._get(job_id)
        async with self._lock(job_id):
            job = self._due_now(dataclasses.replace(self._get(job_id), held=False))
            await self._save(job)
        self.poke()
        held = any(r.state == HELD and r.last_error == NO_ROUTE for r in job.recipients)
        msg = NO_ROUTE if held and self.remote is None else "Trying again now."
        log.info("job %s: retry requested by the administrator", job_id)
        return QueueActionResult(job_id, "retry", True, msg)

    async def delete(self, job_id: str) -> QueueActionResult:
        """Remove a job without notice to anyone."""
        self._get(job_id)
        async with self._lock(job_id):
            self._get(job_id)
            await asyncio.to_thread(self.spool.remove, job_id)
            self._jobs.pop(job_id, None)
        self._locks.pop(job_id, None)
        self._save_locks.pop(job_id, None)
        self.events.publish(QueueChanged(job_id))
        log.warning("job %s deleted by the administrator", job_id)
        return QueueActionResult(job_id, "delete", True, "The message was deleted.")

    async def bounce(self, job_id: str) -> QueueActionResult:
        """Give up on every waiting recipient now and tell the sender."""
        self._get(job_id)
        async with self._lock(job_id):
            job = self._get(job_id)
            for i, r in enumerate(job.recipients):
                if r.state not in (DELIVERED, FAILED):
                    why = ADMIN_BOUNCED + (
                        f" (last error: {r.last_error})"
                        if (r.last_error and r.last_error != NO_ROUTE)
                        else ""
                    )
                    job = job.with_recipient(
                        i,
                        dataclasses.replace(
                            r, state=FAILED, last_error=why, status="5.0.0"
                        ),
                    )
                    self.events.publish(MessageBounced(job_id, r.address, why))
            await self._save(job)
        log.warning("job %s returned to its sender by the administrator", job_id)
        return QueueActionResult(
            job_id,
            "bounce",
            True,
            "The message was returned to its sender."
            if job.sender
            else "The message was removed (it had no sender to return it to).",
        )

    async def headers(self, job_id: str) -> JobHeaders:
        from server.queue.bounce import header_section

        self._get(job_id)
        raw = await asyncio.to_thread(self.spool.read_message, job_id)
        text = header_section(raw).decode("utf-8", "replace")
        return JobHeaders(job_id, text)

    # -- views -------------------------------------------------------------------------
    async def views(self) -> tuple[QueueJobView, ...]:
        out = []
        for job in sorted(self._jobs.values(), key=lambda j: j.created):
            pend = [r for r in job.recipients if r.state not in (DELIVERED, FAILED)]
            states = tuple(
                (r.address, HELD if job.held and r in pend else r.state)
                for r in job.recipients
            )
            err = next((r.last_error for r in pend if r.last_error), "")
            out.append(
                QueueJobView(
                    job_id=job.job_id,
                    sender=job.sender,
                    recipients=states,
                    size=job.size,
                    created=job.created,
                    attempts=max((r.attempts for r in job.recipients), default=0),
                    next_attempt=min(
                        (r.next_attempt for r in pend if r.state == DEFERRED),
                        default=0.0,
                    ),
                    last_error=ADMIN_HELD if job.held else err,
                )
            )
        return tuple(out)
