"""The Maildir group commit (server/storage/maildir_commit.py): small
deliveries written on the loop's thread, durable before they return, taken
out again when the sync fails, and never stalling the loop on a busy folder."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time
from pathlib import Path

import pytest

from server import fsutil
from server.errors import PermanentError, StorageFullError
from server.protocols.imap.cache import index_message
from server.queue.spool import new_job_id
from server.storage.base import MailboxChange
from server.storage.maildir import INLINE_DELIVERY_BYTES, MaildirStore
from server.storage.names import MAX_UNIQUE_CHARS, sanitize_unique

from .common import MSG, OWNER


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """Record, for every syncfs, which files were in INBOX's new/ then. The
    committer thread does every round here (the helper process's rounds:
    test_maildir_synchelper.py)."""
    monkeypatch.delenv("QUICKSILVER_NO_SYNCFS", raising=False)
    monkeypatch.setenv("QUICKSILVER_SYNC_HELPER", "0")
    monkeypatch.setattr(fsutil, "syncfs_available", lambda: True)
    real = fsutil.syncfs
    seen: list[set[str]] = []

    def recording(path: Path) -> None:
        new = path / "example.org" / "alice" / "new"
        seen.append(set(os.listdir(new)) if new.is_dir() else set())
        real(path)

    monkeypatch.setattr(fsutil, "syncfs", recording)
    return seen


@pytest.fixture
async def store(root: Path, syncs: list[set[str]]) -> MaildirStore:
    s = MaildirStore(root, hostname="test.host")
    await s.ensure_user(OWNER)
    await s.deliver(OWNER, MSG)  # loads INBOX: later deliveries may go inline
    return s


def forbid_worker(store: MaildirStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_worker(*args: object) -> None:
        raise AssertionError("delivered through a worker thread")

    monkeypatch.setattr(store, "_deliver", no_worker)


def new_files(root: Path) -> list[str]:
    return sorted(os.listdir(root / "example.org" / "alice" / "new"))


async def test_small_delivery_is_written_on_the_loop_and_synced_before_it_returns(
    store: MaildirStore,
    root: Path,
    syncs: list[set[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forbid_worker(store, monkeypatch)
    before = len(syncs)
    infos = await asyncio.gather(*(store.deliver(OWNER, MSG) for _ in range(20)))
    assert sorted(i.uid for i in infos) == list(range(2, 22))
    names = set(new_files(root))
    # every file was on disk when a sync ran, before its delivery returned
    synced: set[str] = set().union(*syncs[before:])
    for info in infos:
        [name] = [n for n in names if n.startswith(info.key + ",")]
        assert name in synced
    # fewer syncs than deliveries: the batch shared them
    assert len(syncs) - before < 20
    again = MaildirStore(root)
    listed = await again.list_messages(OWNER, "INBOX")
    assert {m.uid: m.key for m in listed if m.uid > 1} == {i.uid: i.key for i in infos}


async def test_large_delivery_takes_the_worker_thread(
    store: MaildirStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_inline(*args: object) -> None:
        raise AssertionError("written on the loop")

    monkeypatch.setattr(store, "_deliver_inline", no_inline)
    big = MSG + b"x" * INLINE_DELIVERY_BYTES + b"\r\n"
    info = await store.deliver(OWNER, big)
    assert info.uid == 2
    [name] = [n for n in new_files(root) if n.startswith(info.key + ",")]
    assert os.path.getsize(root / "example.org" / "alice" / "new" / name) == len(
        big.replace(b"\r\n", b"\n")
    )


async def test_busy_folder_does_not_stall_the_loop(
    store: MaildirStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder locked by a long operation (a rescan of a big folder): the
    delivery waits in a worker thread, the loop keeps running."""
    lock = store._lock(OWNER, "INBOX")
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    delivery = asyncio.create_task(store.deliver(OWNER, MSG))
    ticks = 0
    started = time.monotonic()
    while time.monotonic() - started < 0.3:
        await asyncio.sleep(0.01)
        ticks += 1
    assert not delivery.done()
    assert ticks >= 10  # the loop ran all along
    release.set()
    info = await asyncio.wait_for(delivery, 5)
    holder.join()
    assert info.uid == 2


async def test_failed_sync_takes_the_batch_out(
    store: MaildirStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline = store._deliver_inline
    placed: list[object] = []

    def counting(*args: object) -> object:
        entry = inline(*args)  # type: ignore[arg-type]
        placed.append(entry)
        return entry

    monkeypatch.setattr(store, "_deliver_inline", counting)

    def full(path: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsutil, "syncfs", full)
    results = await asyncio.gather(
        *(store.deliver(OWNER, MSG) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, StorageFullError) for r in results), results
    # some were written on the loop (the rest found the folder locked by the
    # committer's rollback and went to a worker thread)
    assert any(entry is not None for entry in placed)
    assert len(new_files(root)) == 1  # the fixture's message only
    assert len(await store.list_messages(OWNER, "INBOX")) == 1
    monkeypatch.undo()
    again = MaildirStore(root)
    assert [m.uid for m in await again.list_messages(OWNER, "INBOX")] == [1]


async def test_watchers_hear_of_a_delivery_whose_caller_went_away(
    store: MaildirStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SMTP client hung up while its message was being committed: the
    message is stored all the same, and IDLE sessions must hear of it."""
    forbid_worker(store, monkeypatch)
    heard: list[MailboxChange] = []
    store.watch(OWNER, "INBOX", heard.append)
    delivery = asyncio.create_task(store.deliver(OWNER, MSG))
    await asyncio.sleep(0)  # written and registered; the commit is pending
    delivery.cancel()
    for _ in range(200):
        if heard:
            break
        await asyncio.sleep(0.01)
    assert [(c.kind, c.uids) for c in heard] == [("added", (2,))]
    assert [m.uid for m in await store.list_messages(OWNER, "INBOX")] == [1, 2]


def test_unique_names_kept_or_escaped() -> None:
    assert sanitize_unique("1700000000.Qabc.host") == "1700000000.Qabc.host"
    assert sanitize_unique("a/b:c,d") == "a%2Fb%3Ac%2Cd"
    for bad in ("", ".hidden", "x" * (MAX_UNIQUE_CHARS + 1)):
        with pytest.raises(PermanentError):
            sanitize_unique(bad)


def test_job_ids_are_unique_and_time_ordered() -> None:
    ids = [new_job_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 21 and int(i, 16) >= 0 for i in ids)
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)


async def test_messages_costly_to_index_stay_off_the_loop(
    store: MaildirStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the IMAP module's indexer on, a small message whose metadata
    parse could hold the loop (many parts, many addresses) is stored by a
    worker thread; a plain one on the loop. Both get their record."""
    store.set_indexer(index_message)
    inline = store._deliver_inline
    placed: list[bool] = []

    def watching(*args: object) -> object:
        entry = inline(*args)  # type: ignore[arg-type]
        placed.append(entry is not None)
        return entry

    monkeypatch.setattr(store, "_deliver_inline", watching)
    parts = b"".join(
        b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(300)
    )
    many_parts = (
        b"From: a@example.org\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n"
    )
    many_addresses = (
        b"From: a@example.org\r\nTo: "
        + b", ".join(f"u{i}@example.org".encode() for i in range(300))
        + b"\r\nSubject: all\r\n\r\nhi\r\n"
    )
    for costly in (many_parts, many_addresses):
        assert len(costly) < INLINE_DELIVERY_BYTES
        await store.deliver(OWNER, costly)
    assert placed == []  # never offered to the loop's path
    await store.deliver(OWNER, MSG)
    assert placed == [True]
    records = await store.read_meta(OWNER, "INBOX", [2, 3, 4])
    assert sorted(records) == [2, 3, 4]


async def test_committer_survives_a_fault_in_its_round(
    store: MaildirStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync that fails and a rollback that fails too (a bug): the waiting
    deliveries hear an error, and the next delivery is committed as usual."""

    def broken_sync(path: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    def broken_rollback(*args: object) -> None:
        raise RuntimeError("bug")

    real_sync, real_rollback = fsutil.syncfs, store._committer._rollback
    monkeypatch.setattr(fsutil, "syncfs", broken_sync)
    monkeypatch.setattr(store._committer, "_rollback", broken_rollback)
    with pytest.raises(Exception):  # noqa: B017 -- any error, never a hang
        await asyncio.wait_for(store.deliver(OWNER, MSG), 5)
    monkeypatch.setattr(fsutil, "syncfs", real_sync)
    monkeypatch.setattr(store._committer, "_rollback", real_rollback)
    info = await asyncio.wait_for(store.deliver(OWNER, MSG), 5)
    assert info.uid >= 3
