"""Recovery of a spooled job's local delivery from whatever a crash left on disk.

Each test leaves the exact on-disk state a ``kill -9`` (or, where said, a power
loss) at one point of the delivery would leave -- the spooled job, the files in
the user's ``tmp/``, ``new/`` or ``cur/`` and the UID index -- then starts a
fresh store and queue (as a restarted server does) and checks that the message
is in the mailbox exactly once, with its full content, and the job is gone.

The crash points of one local delivery of a spooled job, in order:
1. before the tmp/ file exists        4. after the rename, before syncfs/index
2. in the middle of writing it        5. after the commit, before the spool update
3. written, not yet renamed           6. as 5, and a client then flagged it (cur/)
plus a power loss after 4 (a file renamed into new/ whose data never reached
the disk), a crash while the remote half of the job is in flight, and leftovers
of an earlier process in tmp/ and in the spool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from server.accounts.base import User
from server.config.schema import QueueSettings, Settings
from server.delivery.base import RouteResult
from server.delivery.local import LocalDelivery
from server.events import EventBus
from server.queue.manager import QueueManager
from server.queue.spool import DELIVERED, Job, Recipient, Spool
from server.storage import maildir_format, maildir_sync
from server.storage.maildir import MaildirStore

DOMAIN = "example.test"
ALICE = "alice@example.test"
FAR = "far@remote.test"
JOB_ID = "0000000000001deadbeef"
CREATED = float(int(time.time()))  # one job: every attempt has the same keys
MSG = (
    b"From: alice@example.test\r\nTo: far@remote.test, alice@example.test\r\n"
    b"Subject: crash\r\nMessage-ID: <crash-1@example.test>\r\n\r\n"
    + b"a line of the body\r\n"
    * 200
)


class FakeAccounts:
    users = (ALICE, "bob@example.test")

    def is_local_domain(self, domain: str) -> bool:
        return domain.lower() == DOMAIN

    def resolve(self, address: str) -> list[str] | None:
        return [address] if address in self.users else None

    def get_user(self, address: str) -> User | None:
        if address not in self.users:
            return None
        local, domain = address.split("@")
        return User(address, local, domain)


class Route:
    """A remote route that records what it was given; ``gate`` holds it."""

    name = "test"
    priority = 5

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[str, ...]]] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def deliver_remote(
        self, sender: str, recipients: Sequence[str], message: bytes
    ) -> list[RouteResult]:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        self.sent.append((sender, tuple(recipients)))
        return [RouteResult(r, True, False, "250 ok") for r in recipients]


@dataclasses.dataclass
class Server:
    """One life of the core's delivery parts over a data folder."""

    data: Path
    store: MaildirStore
    queue: QueueManager
    route: Route

    async def stop(self) -> None:
        await self.queue.stop()


async def boot(
    data: Path, route: Route | None = None, clock: Callable[[], float] = time.time
) -> Server:
    settings = dataclasses.replace(
        Settings(),
        general=dataclasses.replace(Settings().general, hostname="mail.example.test"),
        queue=dataclasses.replace(QueueSettings(), delay_notice_after=0),
    )
    accounts = FakeAccounts()
    store = MaildirStore(data / "mail", "mail.example.test")
    local = LocalDelivery(accounts, store, "mail.example.test")  # type: ignore[arg-type]
    queue = QueueManager(
        Spool(data / "spool", data / "corrupt"),
        accounts,  # type: ignore[arg-type]
        local,
        EventBus(),
        lambda: settings,
        clock=clock,
    )
    route = route or Route()
    queue.add_route(route)
    await queue.start()
    return Server(data, store, queue, route)


def udir(data: Path) -> Path:
    return data / "mail" / DOMAIN / "alice"


def mail_files(data: Path) -> list[Path]:
    return sorted(p for sub in ("new", "cur") for p in (udir(data) / sub).iterdir())


def spool_job(data: Path, *rcpts: Recipient) -> Job:
    """The spool as it is once the client heard 250 (local + remote)."""
    job = Job(
        JOB_ID,
        ALICE,
        CREATED,
        len(MSG),
        rcpts or (Recipient(ALICE, local=True), Recipient(FAR, local=False)),
    )
    Spool(data / "spool", data / "corrupt").write_new(job, MSG)
    return job


async def settle(s: Server) -> None:
    s.queue.poke()
    await asyncio.sleep(0)
    assert await s.queue.wait_idle(10)


async def delivered_once(data: Path) -> None:
    """Restart the store and queue; the message is there once, whole."""
    s = await boot(data)
    try:
        await settle(s)
        assert s.queue.pending_count() == 0, await s.queue.views()
        assert s.route.sent == [(ALICE, (FAR,))]
        infos = await s.store.list_messages(ALICE, "INBOX")
        assert len(infos) == 1, infos
        body = await s.store.read_message(ALICE, "INBOX", infos[0].uid)
        assert body == b"Return-Path: <alice@example.test>\r\n" + MSG
    finally:
        await s.stop()
    assert len(mail_files(data)) == 1
    assert not list((data / "spool").iterdir())


async def reference_file(tmp_path: Path) -> tuple[str, bytes]:
    """The name and bytes a complete delivery of the job gives (in a scratch
    folder), so the crash states below are built without knowing the naming."""
    scratch = tmp_path / "scratch"
    spool_job(scratch)
    s = await boot(scratch)
    try:
        await settle(s)
    finally:
        await s.stop()
    [path] = mail_files(scratch)
    return path.name, path.read_bytes()


@pytest.fixture
async def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    store = MaildirStore(d / "mail", "mail.example.test")
    await store.ensure_user(ALICE)
    return d


async def test_crash_before_the_tmp_file(data: Path) -> None:
    spool_job(data)
    await delivered_once(data)


async def test_crash_mid_write_leaves_a_half_file_of_the_same_name(
    data: Path, tmp_path: Path
) -> None:
    """Issue 10: the half-written tmp/ file of the job blocked every retry with
    ``[Errno 17] File exists`` (its name came from the job id) until the job
    expired. Failed on the old code: the job stayed deferred, nothing delivered.
    """
    name, raw = await reference_file(tmp_path)
    spool_job(data)
    (udir(data) / "tmp" / name).write_bytes(raw[: len(raw) // 3])
    await delivered_once(data)


async def test_crash_after_the_write_before_the_rename(
    data: Path, tmp_path: Path
) -> None:
    name, raw = await reference_file(tmp_path)
    spool_job(data)
    (udir(data) / "tmp" / name).write_bytes(raw)
    await delivered_once(data)


async def test_crash_after_the_rename_before_the_commit(
    data: Path, tmp_path: Path
) -> None:
    """The file is in new/ but neither synced nor in the UID index."""
    name, raw = await reference_file(tmp_path)
    spool_job(data)
    (udir(data) / "new" / name).write_bytes(raw)
    await delivered_once(data)


def saved_spool(data: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (data / "spool").iterdir()}


def restore_spool(data: Path, saved: dict[str, bytes]) -> None:
    for name, raw in saved.items():
        (data / "spool" / name).write_bytes(raw)


async def test_crash_after_the_commit_before_the_spool_update(data: Path) -> None:
    """The copy is committed (file and index line); the spool still says
    queued for both recipients, as it did when the client heard 250."""
    spool_job(data)
    saved = saved_spool(data)
    s = await boot(data)
    await settle(s)
    await s.stop()
    assert len(mail_files(data)) == 1
    restore_spool(data, saved)
    await delivered_once(data)


async def test_replay_after_a_client_flagged_the_copy(data: Path) -> None:
    """As above, and a client read the copy meanwhile (new/ -> cur/ ``:2,S``)."""
    spool_job(data)
    saved = saved_spool(data)
    s = await boot(data)
    await settle(s)
    [info] = await s.store.list_messages(ALICE, "INBOX")
    await s.store.set_flags(ALICE, "INBOX", [(info.uid, "+", frozenset({"\\Seen"}))])
    await s.stop()
    [path] = mail_files(data)
    assert path.parent.name == "cur"
    restore_spool(data, saved)
    await delivered_once(data)
    [path] = mail_files(data)
    assert path.name.endswith(":2,S")


async def test_power_loss_after_the_rename_leaves_an_empty_copy(data: Path) -> None:
    """A power loss between the rename and ``syncfs`` can leave the renamed
    file without its data. The replay must not take it for the delivered
    copy: it goes to ``corrupt/`` (never deleted) and the message is stored
    again, whole."""
    spool_job(data)
    saved = saved_spool(data)
    s = await boot(data)
    await settle(s)
    await s.stop()
    [path] = mail_files(data)
    path.write_bytes(b"")
    restore_spool(data, saved)
    await delivered_once(data)
    [kept] = (data / "corrupt").iterdir()
    assert kept.read_bytes() == b""
    assert path.name.split(",")[0] in kept.name


async def test_replay_makes_the_copy_it_finds_durable(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy renamed in by a process killed before its ``syncfs`` is still
    only in the page cache: the replay that takes it as delivered (and lets
    the job leave the spool) fsyncs it and its directory first."""
    spool_job(data)
    saved = saved_spool(data)
    s = await boot(data)
    await settle(s)
    await s.stop()
    [path] = mail_files(data)
    restore_spool(data, saved)
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    await delivered_once(data)
    assert os.stat(path).st_ino in synced
    assert os.stat(path.parent).st_ino in synced


async def test_crash_during_the_remote_attempt_keeps_the_local_outcome(
    data: Path,
) -> None:
    """The local copy is recorded as delivered before the remote attempt
    starts: a crash while the remote server takes its time does not bring back
    a copy the user has read and deleted meanwhile. Failed on the old code
    (the job was written only after the remote answer: the copy came back)."""
    spool_job(data)
    route = Route()
    route.gate = asyncio.Event()
    s = await boot(data, route)
    await asyncio.wait_for(route.entered.wait(), 10)
    crashed = saved_spool(data)  # what a kill -9 now would leave
    [info] = await s.store.list_messages(ALICE, "INBOX")
    await s.store.set_flags(ALICE, "INBOX", [(info.uid, "+", frozenset({"\\Deleted"}))])
    await s.store.expunge_deleted(ALICE, "INBOX")
    await s.stop()
    assert route.sent == []
    shutil.rmtree(data / "spool")
    (data / "spool").mkdir()
    restore_spool(data, crashed)
    [envelope] = [n for n in crashed if n.endswith(".json")]
    state = Job.from_json(crashed[envelope])
    assert [r.state for r in state.recipients if r.local] == [DELIVERED]

    s = await boot(data)
    try:
        await settle(s)
        assert s.route.sent == [(ALICE, (FAR,))]
        assert await s.store.list_messages(ALICE, "INBOX") == []
        assert s.queue.pending_count() == 0
    finally:
        await s.stop()


async def test_leftovers_of_an_earlier_process_in_tmp_do_not_matter(
    data: Path,
) -> None:
    """Whatever is in tmp/ -- files of any name, a directory -- a delivery
    writes its own file next to them and leaves them alone (they are young)."""
    tmp = udir(data) / "tmp"
    for name in ("x", "1.M1P1Q1R00000000.tmp", "half,S=10,W=12"):
        (tmp / name).write_bytes(b"left by a crash")
    (tmp / "a-directory").mkdir()
    spool_job(data)
    await delivered_once(data)
    assert sorted(os.listdir(tmp)) == sorted(
        ["x", "1.M1P1Q1R00000000.tmp", "half,S=10,W=12", "a-directory"]
    )


async def test_a_long_address_gets_a_valid_key(tmp_path: Path) -> None:
    """A valid but long address (64-character local part, long domain) made a
    store key over the 200-character limit: its delivery failed for good as
    an "invalid unique name". The key now holds a hash of such an address and
    stays the same on a replay."""
    long_user = "l" * 64 + "@" + "d" * 60 + "." + "e" * 60 + ".example.test"
    FakeAccounts.users = (*FakeAccounts.users, long_user)
    try:
        store = MaildirStore(tmp_path / "mail", "mail.example.test")
        local = LocalDelivery(FakeAccounts(), store, "mail.example.test")  # type: ignore[arg-type]
        for _ in range(2):  # the second time is a replay of the same job
            got = await local.deliver(JOB_ID, 1e9, ALICE, long_user, MSG)
            assert got == [long_user]
        assert len(await store.list_messages(long_user, "INBOX")) == 1
    finally:
        FakeAccounts.users = FakeAccounts.users[:-1]


# -- the spool's own leftovers ---------------------------------------------------


async def test_spool_leftovers_are_never_taken_for_jobs(data: Path) -> None:
    """A crash in ``atomic_write`` leaves a ``.<name>.<...>.tmp`` file: of a
    new job's message or envelope (never acknowledged) or of an envelope
    update (the previous envelope is still in place). None is a job, none
    blocks the job beside it; they go to ``corrupt/`` (never deleted)."""
    job = spool_job(data)
    spool = data / "spool"
    (spool / f".{JOB_ID}.json.4242.99999abcd.tmp").write_bytes(b'{"job_id": "x"')
    (spool / ".0000000000002cafebabe.msg.1.2.tmp").write_bytes(MSG[:10])
    (spool / ".0000000000002cafebabe.json.1.3.tmp").write_bytes(job.to_json())
    await delivered_once(data)
    assert len(list((data / "corrupt").iterdir())) == 3


def test_spool_write_is_not_blocked_by_a_leftover_of_the_same_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pid and monotonic clock repeat after a reboot (a container's server is
    often pid 1): a leftover temporary file of the crashed process must not
    block the write that happens to get the same pid and clock reading.
    Failed on the old code (EEXIST): the name now has a random part."""
    from server import fsutil

    monkeypatch.setattr(fsutil.os, "getpid", lambda: 1)
    monkeypatch.setattr(fsutil.time, "monotonic_ns", lambda: 12345)
    (tmp_path / ".f.1.12345.tmp").write_bytes(b"left by a crash")
    fsutil.atomic_write(tmp_path / "f", b"new", sync_dir=False)
    assert (tmp_path / "f").read_bytes() == b"new"


# -- index and small files --------------------------------------------------------


async def test_index_rewrite_ignores_leftovers_with_the_old_naming(
    data: Path,
) -> None:
    """The index used to be rewritten through ``quicksilver-uidlist.tmp.<pid>.
    <counter>`` beside it. After a restart pid and counter repeat (always so
    for a server that is pid 1 in a container): a leftover of the crashed
    process made EXPUNGE (and a folder load that repairs the index) fail with
    EEXIST. Failed on the old code. Now these writes go through tmp/ with
    fresh names."""
    store = MaildirStore(data / "mail", "mail.example.test")
    info = await store.deliver(ALICE, MSG)
    first = next(maildir_format.counter)
    for n in range(first, first + 100):
        name = f"quicksilver-uidlist.tmp.{os.getpid()}.{n}"
        (udir(data) / name).write_bytes(b"left by a crash")
    await store.set_flags(ALICE, "INBOX", [(info.uid, "+", frozenset({"\\Deleted"}))])
    assert await store.expunge_deleted(ALICE, "INBOX") == [info.uid]
    assert await store.list_messages(ALICE, "INBOX") == []
    assert os.listdir(udir(data) / "tmp") == []


# -- tmp/ cleanup ------------------------------------------------------------------

HOURS = 3600.0


async def test_tmp_files_older_than_36_hours_are_removed_and_logged(
    data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tmp = udir(data) / "tmp"
    (tmp / "stale-1").write_bytes(b"x")
    (tmp / "stale-2").write_bytes(b"y")
    (tmp / "a-directory").mkdir()
    now = [time.time()]
    store = MaildirStore(data / "mail", "h", clock=lambda: now[0])
    await store.list_messages(ALICE, "INBOX")  # loads the folder: first pass
    assert sorted(os.listdir(tmp)) == ["a-directory", "stale-1", "stale-2"]

    now[0] += 36 * HOURS - 60  # a pass (8 h passed), but not yet 36 hours
    await store.list_messages(ALICE, "INBOX")
    assert len(os.listdir(tmp)) == 3

    now[0] += 120  # 36 hours passed; a restarted server loads the folder
    store = MaildirStore(data / "mail", "h", clock=lambda: now[0])
    with caplog.at_level("INFO", logger="quicksilver.storage"):
        await store.deliver(ALICE, MSG)  # a delivery loads it too
    assert os.listdir(tmp) == ["a-directory"]
    [line] = [r.getMessage() for r in caplog.records if "tmp/" in r.getMessage()]
    assert "stale-1" in line and "stale-2" in line and "2 file(s)" in line


async def test_a_pass_runs_at_most_every_8_hours(data: Path) -> None:
    tmp = udir(data) / "tmp"
    now = [time.time() + 40 * HOURS]
    store = MaildirStore(data / "mail", "h", clock=lambda: now[0])
    await store.list_messages(ALICE, "INBOX")
    (tmp / "stale").write_bytes(b"x")
    now[0] += 8 * HOURS - 1
    await store.list_messages(ALICE, "INBOX")
    assert os.listdir(tmp) == ["stale"]
    now[0] += 1
    await store.list_messages(ALICE, "INBOX")
    assert os.listdir(tmp) == []


async def test_a_tmp_file_with_an_old_mtime_but_fresh_ctime_stays(
    data: Path,
) -> None:
    """A delivery gives its tmp/ file the message's internal date (maybe
    years ago) before the rename: a pass meanwhile must not take it for stale.
    Its ctime (set by that utime) says it is young."""
    tmp = udir(data) / "tmp"
    (tmp / "in-flight").write_bytes(b"x")
    os.utime(tmp / "in-flight", (1e9, 1e9))
    store = MaildirStore(data / "mail", "h")
    await store.list_messages(ALICE, "INBOX")
    assert os.listdir(tmp) == ["in-flight"]


async def test_a_pass_is_bounded(
    data: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(maildir_sync, "TMP_SCAN_LIMIT", 5)
    tmp = udir(data) / "tmp"
    for n in range(8):
        (tmp / f"stale-{n}").write_bytes(b"x")
    store = MaildirStore(data / "mail", "h", clock=lambda: time.time() + 37 * HOURS)
    with caplog.at_level("INFO", logger="quicksilver.storage"):
        await store.list_messages(ALICE, "INBOX")
    assert len(os.listdir(tmp)) == 3
    assert any("more than 5 entries" in r.getMessage() for r in caplog.records)


async def test_every_folder_cleans_its_own_tmp(data: Path) -> None:
    store = MaildirStore(data / "mail", "h", clock=lambda: time.time() + 37 * HOURS)
    (udir(data) / ".Trash" / "tmp" / "stale").write_bytes(b"x")
    (udir(data) / "tmp" / "stale").write_bytes(b"x")
    await store.list_messages(ALICE, "Trash")
    assert os.listdir(udir(data) / ".Trash" / "tmp") == []
    assert os.listdir(udir(data) / "tmp") == ["stale"]  # INBOX not loaded yet


async def test_a_finished_job_left_in_the_spool_is_removed(data: Path) -> None:
    """A crash between writing a job's final outcome (every recipient
    delivered) and removing it left a job that was never due again: stuck in
    the queue for ever. Found by the kill -9 test; failed on the old code."""
    spool_job(
        data,
        Recipient(ALICE, state=DELIVERED, attempts=1, local=True),
        Recipient(FAR, state=DELIVERED, attempts=1, local=False),
    )
    s = await boot(data)
    try:
        await settle(s)
        assert s.queue.pending_count() == 0
        assert s.route.sent == []
        assert await s.store.list_messages(ALICE, "INBOX") == []
    finally:
        await s.stop()
    assert not list((data / "spool").iterdir())


async def test_a_finished_job_that_cannot_leave_the_spool_is_not_spun_on(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If taking the finished job out fails (an I/O error), it is tried again
    a minute later, not in a tight loop."""
    spool_job(
        data,
        Recipient(ALICE, state=DELIVERED, attempts=1, local=True),
        Recipient(FAR, state=DELIVERED, attempts=1, local=False),
    )
    now = [time.time()]
    calls: list[float] = []
    s = await boot(data, clock=lambda: now[0])
    real_remove = s.queue.spool.remove

    def remove(job_id: str) -> None:
        calls.append(now[0])
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        real_remove(job_id)

    monkeypatch.setattr(s.queue.spool, "remove", remove)
    try:
        s.queue.poke()
        await settle(s)
        await asyncio.sleep(0.2)
        assert len(calls) == 1
        assert s.queue.pending_count() == 1
        now[0] += 61
        await settle(s)
        assert len(calls) == 2
        assert s.queue.pending_count() == 0
    finally:
        await s.stop()
    assert not list((data / "spool").iterdir())
