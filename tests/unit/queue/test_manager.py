"""QueueManager with an injected clock, a fake route and a fake local store.

Time never passes by sleeping here: the test moves ``clock.now`` and pokes the
queue, so retry schedules and lifetimes of days run in milliseconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from server.config.schema import QueueSettings, Settings
from server.delivery.base import Envelope, RouteResult
from server.errors import PermanentError, TemporaryError, ValidationError
from server.events import EventBus
from server.queue.manager import NO_ROUTE, QueueManager
from server.queue.spool import DEFERRED, DELIVERING, HELD, Job, Recipient, Spool
from tests.waiting import until

LOCAL = "example.test"
MSG = (
    b"From: alice@example.test\r\nTo: x@remote.test\r\nSubject: hi there\r\n"
    b"Message-ID: <q1@example.test>\r\n\r\nbody\r\n"
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeAccounts:
    users = ("alice@example.test", "bob@example.test")

    def is_local_domain(self, domain: str) -> bool:
        return domain.lower() == LOCAL

    def resolve(self, address: str) -> list[str] | None:
        return [address] if address in self.users else None


class FakeLocal:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, str, bytes]] = []

    async def deliver(
        self,
        job_id: str,
        created: float,
        sender: str,
        recipient: str,
        message: bytes,
        *,
        already: set[str] | None = None,
        at_smtp: bool = False,
    ) -> list[str]:
        if recipient not in FakeAccounts.users:
            raise PermanentError("No such user here")
        self.delivered.append((sender, recipient, message))
        return [recipient]


class FakeRoute:
    """Answers from a script: a list of (ok, temporary, reply) per call."""

    name = "fake"
    priority = 5

    def __init__(self, *script: tuple[bool, bool, str]) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.active = 0
        self.max_active = 0
        self.gate: asyncio.Event | None = None

    async def deliver_remote(
        self, sender: str, recipients: Sequence[str], message: bytes
    ) -> list[RouteResult]:
        self.calls.append((sender, tuple(recipients)))
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.gate is not None:
                await self.gate.wait()
            ok, temp, reply = self.script.pop(0) if self.script else (True, False, "")
            return [RouteResult(r, ok, temp, reply or "250 ok") for r in recipients]
        finally:
            self.active -= 1


@dataclasses.dataclass
class Rig:
    q: QueueManager
    clock: Clock
    local: FakeLocal
    events: list[Any]
    settings: dict[str, Settings]

    async def tick(self, seconds: float = 0.0) -> None:
        self.clock.now += seconds
        self.q.poke()
        await asyncio.sleep(0)
        assert await self.q.wait_idle(5)

    def set_queue(self, **kw: Any) -> None:
        s = self.settings["s"]
        self.settings["s"] = dataclasses.replace(
            s, queue=dataclasses.replace(s.queue, **kw)
        )


def make_rig(tmp_path: Path, **queue: Any) -> Rig:
    s = Settings()
    s = dataclasses.replace(
        s,
        general=dataclasses.replace(s.general, hostname="mail.example.test"),
        queue=dataclasses.replace(QueueSettings(), **queue),
    )
    box = {"s": s}
    events: list[Any] = []
    bus = EventBus()
    bus.subscribe(events.append)
    clock = Clock()
    local = FakeLocal()
    q = QueueManager(
        Spool(tmp_path / "spool", tmp_path / "corrupt"),
        FakeAccounts(),  # type: ignore[arg-type]
        local,  # type: ignore[arg-type]
        bus,
        lambda: box["s"],
        clock=clock,
    )
    return Rig(q, clock, local, events, box)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = make_rig(tmp_path, retry_schedule=(60, 300, 900), delay_notice_after=0)
    await r.q.start()
    try:
        yield r
    finally:
        await r.q.stop()


async def submit(rig: Rig, *rcpts: str, sender: str = "alice@example.test") -> str:
    acc = await rig.q.accept(Envelope(sender, tuple(rcpts)), MSG)
    await rig.tick()
    return acc.job_id


def dsns(rig: Rig) -> list[email.message.EmailMessage]:
    out = []
    for sender, _rcpt, data in rig.local.delivered:
        if sender == "":
            out.append(email.message_from_bytes(data, policy=email.policy.default))
    return out  # type: ignore[return-value]


async def test_no_route_holds_then_route_delivers(rig: Rig) -> None:
    job = await submit(rig, "x@remote.test")
    (view,) = await rig.q.views()
    assert view.recipients == (("x@remote.test", HELD),)
    assert view.last_error == NO_ROUTE
    route = FakeRoute()
    rig.q.add_route(route)
    await rig.tick()
    assert route.calls == [("alice@example.test", ("x@remote.test",))]
    assert rig.q.job(job) is None
    assert not list((rig.q.spool.root).iterdir())


async def test_retry_schedule_is_followed(rig: Rig) -> None:
    route = FakeRoute(
        (False, True, "451 4.3.0 busy"),
        (False, True, "451 4.3.0 busy"),
        (False, True, "451 4.3.0 busy"),
    )
    rig.q.add_route(route)
    job = await submit(rig, "x@remote.test")
    r = rig.q.job(job).recipients[0]  # type: ignore[union-attr]
    assert (r.state, r.attempts, r.next_attempt) == (DEFERRED, 1, rig.clock.now + 60)
    await rig.tick(59)
    assert len(route.calls) == 1  # not yet
    await rig.tick(1)
    assert len(route.calls) == 2
    r = rig.q.job(job).recipients[0]  # type: ignore[union-attr]
    assert r.next_attempt == rig.clock.now + 300  # second delay
    await rig.tick(300)
    assert len(route.calls) == 3
    r = rig.q.job(job).recipients[0]  # type: ignore[union-attr]
    assert r.next_attempt == rig.clock.now + 900  # third
    await rig.tick(900)
    assert len(route.calls) == 4  # the script is empty: delivered
    assert rig.q.job(job) is None
    # persisted state survived each step: the spool file is gone only now
    assert not list(rig.q.spool.root.glob("*.json"))


async def test_lifetime_expiry_bounces_with_447(rig: Rig) -> None:
    rig.set_queue(lifetime=3600, retry_schedule=(1000,))
    route = FakeRoute(*[(False, True, "421 4.4.2 go away")] * 10)
    rig.q.add_route(route)
    job = await submit(rig, "x@remote.test")
    for _ in range(3):
        await rig.tick(1000)
    r = rig.q.job(job).recipients[0]  # type: ignore[union-attr]
    assert r.next_attempt == rig.clock.now + 600  # capped at the lifetime's end
    await rig.tick(600)
    assert rig.q.job(job) is None  # the try at the lifetime's end was the last
    (dsn,) = dsns(rig)
    assert dsn["To"].addresses[0].addr_spec == "alice@example.test"
    report = [
        p for p in dsn.walk() if p.get_content_type() == "message/delivery-status"
    ]
    text = report[0].as_string()
    assert "Status: 4.4.7" in text and "Action: failed" in text
    assert "Diagnostic-Code: smtp; 421 4.4.2 go away" in text


async def test_permanent_failure_bounces_once_to_sender(rig: Rig) -> None:
    rig.q.add_route(FakeRoute((False, False, "mx said: 550 5.1.1 No such user")))
    await submit(rig, "x@remote.test")
    await rig.tick()
    (dsn,) = dsns(rig)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    assert rig.local.delivered[-1][1] == "alice@example.test"


async def test_null_sender_never_bounces(rig: Rig) -> None:
    rig.q.add_route(FakeRoute((False, False, "550 5.1.1 nope")))
    await submit(rig, "x@remote.test", sender="")
    await rig.tick()
    assert dsns(rig) == []
    assert rig.q.pending_count() == 0


async def test_bounce_to_remote_sender_goes_through_route_with_null_sender(
    rig: Rig,
) -> None:
    # the DSN fails too: it has the null sender, so nothing more happens
    route = FakeRoute((False, False, "550 5.1.1 nope"), (False, False, "550 gone"))
    rig.q.add_route(route)
    await submit(rig, "x@remote.test", sender="someone@far.test")
    await rig.tick()
    await rig.tick()
    assert route.calls == [
        ("someone@far.test", ("x@remote.test",)),
        ("", ("someone@far.test",)),
    ]
    assert rig.q.pending_count() == 0


async def test_delay_notice_once(rig: Rig) -> None:
    rig.set_queue(delay_notice_after=100, retry_schedule=(60,))
    route = FakeRoute(*[(False, True, "451 4.7.1 greylisted")] * 5)
    rig.q.add_route(route)
    job = await submit(rig, "x@remote.test")
    assert dsns(rig) == []
    await rig.tick(60)
    await rig.tick(60)  # 120 s > 100 s
    await rig.tick(60)
    (dsn,) = dsns(rig)
    text = dsn.as_string()
    assert "Action: delayed" in text and "Will-Retry-Until:" in text
    assert "delayed" in rig.q.job(job).notes  # type: ignore[union-attr]


async def test_per_domain_concurrency(rig: Rig) -> None:
    rig.set_queue(per_domain_concurrency=2, max_deliveries=20)
    route = FakeRoute()
    route.gate = asyncio.Event()
    rig.q.add_route(route)
    for i in range(6):
        await rig.q.accept(Envelope("alice@example.test", (f"u{i}@one.test",)), MSG)
    for i in range(3):
        await rig.q.accept(Envelope("alice@example.test", (f"u{i}@two.test",)), MSG)
    await until(lambda: route.active >= 4, "four deliveries started")
    # two per domain: no fifth one starts however long the gate stays shut
    end = asyncio.get_running_loop().time() + 0.5
    while asyncio.get_running_loop().time() < end:
        assert route.active == 4, route.active
        await asyncio.sleep(0.01)
    route.gate.set()
    assert await rig.q.wait_idle(5)
    assert route.max_active == 4 and len(route.calls) == 9


async def test_actions_hold_release_retry_delete_bounce(rig: Rig) -> None:
    route = FakeRoute(*[(False, True, "451 4.3.0 later")] * 3)
    rig.q.add_route(route)
    job = await submit(rig, "x@remote.test")
    await rig.q.hold(job)
    (view,) = await rig.q.views()
    assert view.recipients[0][1] == HELD
    await rig.tick(10_000)
    assert len(route.calls) == 1  # held: not tried
    await rig.q.release(job)
    await rig.tick()
    assert len(route.calls) == 2  # release tries at once
    await rig.q.retry(job)
    await rig.tick()
    assert len(route.calls) == 3
    res = await rig.q.bounce(job)
    assert res.ok and rig.q.job(job) is None
    (dsn,) = dsns(rig)
    assert "Returned to the sender by the postmaster" in dsn.as_string()
    route.script = [(False, True, "451 4.3.0 later")]
    job2 = await submit(rig, "y@remote.test")
    await rig.q.delete(job2)
    assert rig.q.job(job2) is None and not list(rig.q.spool.root.iterdir())
    with pytest.raises(ValidationError):
        await rig.q.hold(job2)


async def test_headers_action(rig: Rig) -> None:
    job = await submit(rig, "x@remote.test")
    h = await rig.q.headers(job)
    assert "Subject: hi there" in h.headers and "body" not in h.headers


async def test_restart_retries_a_recipient_left_delivering(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", tmp_path / "corrupt")
    job = Job(
        "00000000000011234abcd",
        "alice@example.test",
        1_000_000.0,
        len(MSG),
        (Recipient("x@remote.test", DELIVERING, 1, 0.0, "", False),),
    )
    spool.write_new(job, MSG)
    rig = make_rig(tmp_path)
    route = FakeRoute()
    rig.q.add_route(route)
    await rig.q.start()
    try:
        assert await rig.q.wait_idle(5)
        assert route.calls == [("alice@example.test", ("x@remote.test",))]
        assert not list(spool.root.iterdir())
    finally:
        await rig.q.stop()


async def test_failed_local_and_remote_mix(rig: Rig) -> None:
    rig.q.add_route(FakeRoute((False, False, "550 5.7.1 refused")))
    await submit(rig, "bob@example.test", "x@remote.test")
    await rig.tick()
    assert next(r for _s, r, _m in rig.local.delivered) == "bob@example.test"
    (dsn,) = dsns(rig)
    assert "x@remote.test" in dsn.as_string()
    assert "bob@example.test" not in dsn.as_string().split("text/rfc822-headers")[0]


async def test_a_dsn_that_cannot_be_queued_keeps_the_job_until_it_can(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full while queueing the bounce: the failed job is not dropped (the
    sender would never hear); the DSN goes out on a later pass."""
    broken = {"on": True}
    write_new = rig.q.spool.write_new

    def failing_write(job: Job, message: bytes) -> None:
        if broken["on"] and job.sender == "":
            raise OSError(28, "No space left on device")
        write_new(job, message)

    real_deliver = rig.local.deliver

    async def failing_deliver(
        job_id: str, created: float, sender: str, *a: Any, **kw: Any
    ) -> list[str]:
        if broken["on"] and sender == "":
            raise TemporaryError("Mailbox storage is full")
        return await real_deliver(job_id, created, sender, *a, **kw)

    monkeypatch.setattr(rig.q.spool, "write_new", failing_write)
    monkeypatch.setattr(rig.local, "deliver", failing_deliver)
    rig.q.add_route(FakeRoute((False, False, "550 5.1.1 No such user")))
    job = await submit(rig, "x@remote.test")
    await rig.tick()
    assert dsns(rig) == []
    assert [v.job_id for v in await rig.q.views()] == [job]  # kept, not lost
    assert rig.q.spool.env_path(job).exists()
    broken["on"] = False
    await rig.tick(61)
    (dsn,) = dsns(rig)
    assert dsn.get_content_type() == "multipart/report"
    assert rig.q.pending_count() == 0
    assert not rig.q.spool.env_path(job).exists()


async def test_a_pending_dsn_is_retried_after_a_restart(tmp_path: Path) -> None:
    r = make_rig(tmp_path, retry_schedule=(60,), delay_notice_after=0)
    spool = r.q.spool
    job = Job(
        "00000000000aa0000beef",
        "alice@example.test",
        r.clock.now,
        len(MSG),
        (Recipient("x@remote.test", "failed", 1, 0.0, "550 no", False),),
    )
    spool.write_new(job, MSG)
    await r.q.start()
    try:
        await r.tick()
        (dsn,) = dsns(r)
        assert "x@remote.test" in dsn.as_string()
        assert r.q.pending_count() == 0
    finally:
        await r.q.stop()
