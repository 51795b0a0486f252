"""The spool: one message file plus one envelope/status file per job.

``<id>.msg`` holds the message exactly as accepted; ``<id>.json`` holds the
envelope and per-recipient status. The message is written and fsynced first,
the envelope last: a job exists only once its ``.json`` is in place, so a crash
in between leaves an orphan ``.msg`` that recovery moves to ``corrupt/``.
Only the queue manager writes here (Postfix's rule). ``Job.held`` marks a job
the administrator held; ``Job.notes`` records notices already sent
(``delayed``, ``bounced:<address>``) so a restart never sends them twice.
A file that cannot be read goes to ``corrupt/`` with a log line; nothing here
is ever deleted on an error.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from server.fsutil import atomic_write, fsync_dir, quarantine

log = logging.getLogger("quicksilver.queue")

QUEUED = "queued"
DELIVERING = "delivering"
DEFERRED = "deferred"
DELIVERED = "delivered"
FAILED = "failed"
HELD = "held"
FINAL_STATES = (DELIVERED, FAILED)


@dataclass(frozen=True)
class Recipient:
    address: str
    state: str = QUEUED
    attempts: int = 0
    next_attempt: float = 0.0
    last_error: str = ""
    local: bool = True
    status: str = ""  # RFC 3463 code of the last failure (for DSNs)


@dataclass(frozen=True)
class Job:
    job_id: str
    sender: str
    created: float
    size: int
    recipients: tuple[Recipient, ...]
    peer: str = ""
    authenticated_as: str = ""
    smtputf8: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    held: bool = False  # held by the administrator: not tried until released

    def with_recipient(self, index: int, rcpt: Recipient) -> Job:
        rs = list(self.recipients)
        rs[index] = rcpt
        return replace(self, recipients=tuple(rs))

    def with_note(self, note: str) -> Job:
        return self if note in self.notes else replace(self, notes=(*self.notes, note))

    @property
    def done(self) -> bool:
        return all(r.state in FINAL_STATES for r in self.recipients)

    def to_json(self) -> bytes:
        data = asdict(self)
        return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")

    @staticmethod
    def from_json(raw: bytes) -> Job:
        data: dict[str, Any] = json.loads(raw)
        rcpts = tuple(Recipient(**r) for r in data.pop("recipients"))
        notes = tuple(data.pop("notes", ()))
        return Job(recipients=rcpts, notes=notes, **data)


@dataclass(frozen=True)
class QueueJobView:
    """One job as the window's queue page shows it."""

    job_id: str
    sender: str
    recipients: tuple[tuple[str, str], ...]  # (address, state)
    size: int
    created: float
    attempts: int
    next_attempt: float
    last_error: str


_JOB_TAG = secrets.randbits(32)  # this process's random start
_JOB_COUNTER = itertools.count()


def new_job_id() -> str:
    """Time-ordered, unique, safe in a file name: 13 hex of the time in
    microseconds, then 8 hex of a counter started at a random value per
    process (unique within the process, unlikely to meet another's, and no
    system call per message as a random draw each time was)."""
    tail = (_JOB_TAG + next(_JOB_COUNTER)) & 0xFFFFFFFF
    return f"{time.time_ns() // 1000:013x}{tail:08x}"


def derived_job_id(created: float, digest: str) -> str:
    """The id of a job the core makes because of another one (a Sieve
    redirect, a list's copy): ``new_job_id``'s form, from the cause's time
    and a digest of what it is, so a replay of the cause gets the same id."""
    return f"{int(created * 1_000_000):013x}{digest[:8]}"


class Spool:
    def __init__(self, root: Path, corrupt_dir: Path) -> None:
        self.root = root
        self.corrupt = corrupt_dir
        root.mkdir(parents=True, exist_ok=True)

    def msg_path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.msg"

    def env_path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.json"

    def write_new(self, job: Job, message: bytes) -> None:
        """Blocking: make a new job durable (message first, envelope last)."""
        atomic_write(self.msg_path(job.job_id), message, mode=0o600, sync_dir=False)
        atomic_write(self.env_path(job.job_id), job.to_json(), mode=0o600)

    def update(self, job: Job) -> None:
        atomic_write(self.env_path(job.job_id), job.to_json(), mode=0o600)

    def read_message(self, job_id: str) -> bytes:
        return self.msg_path(job_id).read_bytes()

    def remove(self, job_id: str) -> None:
        """Remove a finished job: envelope first, so a crash leaves no job."""
        for p in (self.env_path(job_id), self.msg_path(job_id)):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        fsync_dir(self.root)

    def load_all(self) -> list[Job]:
        """Read every job; move damaged or orphaned files to ``corrupt/``."""
        jobs: list[Job] = []
        names = {p.name for p in self.root.iterdir()}
        for name in sorted(names):
            path = self.root / name
            if name.startswith("."):
                # ``atomic_write``'s temporary file, cut short by a crash: the
                # job's previous envelope (or, for a new job, none: never
                # acknowledged) is still in place. Never a job itself.
                if name.endswith(".tmp"):
                    dest = quarantine(path, self.corrupt)
                    log.warning("unfinished spool write moved to corrupt/%s", dest.name)
                continue
            if name.endswith(".msg"):
                if name[:-4] + ".json" not in names:
                    dest = quarantine(path, self.corrupt)
                    log.warning(
                        "spool message without an envelope (a job never acknowledged, "
                        "or one finished as the server stopped) moved to corrupt/%s",
                        dest.name,
                    )
                continue
            if not name.endswith(".json"):
                continue
            job_id = name[:-5]
            try:
                job = Job.from_json(path.read_bytes())
                if job.job_id != job_id or name[:-5] + ".msg" not in names:
                    raise ValueError("envelope does not match its message file")
            except (ValueError, TypeError, KeyError, OSError) as exc:
                dest = quarantine(path, self.corrupt)
                msg = self.msg_path(job_id)
                if msg.exists():
                    quarantine(msg, self.corrupt)
                log.error(
                    "damaged spool job %s moved to corrupt/%s: %s",
                    job_id,
                    dest.name,
                    exc,
                )
                continue
            jobs.append(job)
        return jobs
