"""MaildirStore on disk: layout, restarts, index recovery, foreign files, errors."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from server import fsutil
from server.errors import StorageFullError
from server.storage.base import MailboxChange, StoreUnavailable
from server.storage.maildir import MaildirStore

from .common import MSG, OWNER


@pytest.fixture
async def store(root: Path) -> MaildirStore:
    s = MaildirStore(root, hostname="test.host")
    await s.ensure_user(OWNER)
    return s


def user_dir(root: Path) -> Path:
    return root / "example.org" / "alice"


def files(path: Path) -> list[str]:
    return sorted(os.listdir(path))


async def test_layout(store: MaildirStore, root: Path) -> None:
    udir = user_dir(root)
    for sub in ("cur", "new", "tmp"):
        assert (udir / sub).is_dir()
    for name in (".Sent", ".Drafts", ".Trash", ".Junk"):
        assert (udir / name / "cur").is_dir()
        assert (udir / name / "maildirfolder").exists()
        assert (udir / name / "quicksilver-uidlist").exists()
    await store.create_mailbox(OWNER, "Work/2024")
    await store.create_mailbox(OWNER, "a.b/100%")
    assert (udir / ".Work.2024" / "cur").is_dir()
    assert (udir / ".Work" / "cur").is_dir()
    assert (udir / ".a%2Eb.100%25" / "cur").is_dir()
    subs = (udir / "subscriptions").read_text().splitlines()
    assert set(subs) == {"INBOX", "Sent", "Drafts", "Trash", "Junk"}
    assert '"\\\\Sent"' in (udir / "quicksilver-folders.json").read_text()


async def test_message_file_names_and_content(store: MaildirStore, root: Path) -> None:
    udir = user_dir(root)
    info = await store.deliver(OWNER, MSG)
    [name] = files(udir / "new")
    disk = MSG.replace(b"\r\n", b"\n")
    assert name == f"{info.key},S={len(disk)},W={len(MSG)}"
    assert (udir / "new" / name).read_bytes() == disk
    assert info.key.endswith(".test.host")
    assert "P" in info.key and "Q" in info.key and ".M" in info.key

    await store.set_flags(
        OWNER,
        "INBOX",
        [(info.uid, "=", frozenset({"\\Seen", "\\Answered", "$Fwd", "zz"}))],
    )
    assert files(udir / "new") == []
    [name] = files(udir / "cur")
    assert name == f"{info.key},S={len(disk)},W={len(MSG)}:2,RSab"
    assert (udir / "quicksilver-keywords").read_text() == "0 $Fwd\n1 zz\n"
    await store.set_flags(
        OWNER,
        "INBOX",
        [(info.uid, "=", frozenset({"\\Draft", "\\Deleted", "\\Flagged"}))],
    )
    [name] = files(udir / "cur")
    assert name.endswith(":2,DFT")


async def test_internal_date_is_file_mtime(store: MaildirStore, root: Path) -> None:
    await store.deliver(OWNER, MSG, internal_date=1_500_000_000.0)
    [name] = files(user_dir(root) / "new")
    assert os.stat(user_dir(root) / "new" / name).st_mtime == 1_500_000_000.0


async def test_restart_keeps_uids_flags_keywords(
    store: MaildirStore, root: Path
) -> None:
    await store.create_mailbox(OWNER, "Work")
    for _ in range(3):
        await store.deliver(OWNER, MSG, mailbox="Work")
    await store.set_flags(
        OWNER, "Work", [(2, "=", frozenset({"\\Seen", "$Important"}))]
    )
    await store.expunge(OWNER, "Work", [3])
    before = await store.mailbox_info(OWNER, "Work")
    listed = await store.list_messages(OWNER, "Work")

    again = MaildirStore(root, hostname="test.host")
    after = await again.mailbox_info(OWNER, "Work")
    # HIGHESTMODSEQ may move up to the reservation (maildir_modseq.py), never down
    assert after.highestmodseq >= before.highestmodseq
    assert dataclasses.replace(after, highestmodseq=before.highestmodseq) == before
    assert await again.list_messages(OWNER, "Work") == listed  # with the modseqs
    assert before.uidnext == 4
    assert (await again.deliver(OWNER, MSG, mailbox="Work")).uid == 4
    assert (await again.list_subscriptions(OWNER)) == await store.list_subscriptions(
        OWNER
    )


async def test_restart_after_appends_only(store: MaildirStore, root: Path) -> None:
    """The header's N is stale after appends; loading must still be right."""
    for _ in range(3):
        await store.deliver(OWNER, MSG)
    again = MaildirStore(root)
    assert [m.uid for m in await again.list_messages(OWNER, "INBOX")] == [1, 2, 3]
    assert (await again.mailbox_info(OWNER, "INBOX")).uidnext == 4


async def test_lost_index_is_rebuilt_with_new_uidvalidity(
    store: MaildirStore, root: Path
) -> None:
    await store.deliver(OWNER, MSG)
    await store.deliver(OWNER, MSG)
    await store.expunge(OWNER, "INBOX", [1])
    old = await store.mailbox_info(OWNER, "INBOX")
    (user_dir(root) / "quicksilver-uidlist").unlink()
    for s in (store, MaildirStore(root)):  # same instance and a restart
        info = await s.mailbox_info(OWNER, "INBOX")
        assert info.uidvalidity != old.uidvalidity
        assert info.messages == 1
    assert (user_dir(root) / "quicksilver-uidlist").exists()


async def test_corrupt_index_moved_aside_and_rebuilt(
    store: MaildirStore, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await store.deliver(OWNER, MSG, flags=["\\Seen"])
    old = await store.mailbox_info(OWNER, "INBOX")
    index = user_dir(root) / "quicksilver-uidlist"
    index.write_bytes(b"\x00garbage\xff\nnot a line\n")
    with caplog.at_level(logging.WARNING, logger="quicksilver.storage"):
        again = MaildirStore(root)
        info = await again.mailbox_info(OWNER, "INBOX")
    assert info.uidvalidity != old.uidvalidity
    assert info.messages == 1
    [msg] = await again.list_messages(OWNER, "INBOX")
    assert msg.flags == {"\\Seen"}
    corrupt = root.parent / "corrupt"
    [kept] = os.listdir(corrupt)
    assert (corrupt / kept).read_bytes() == b"\x00garbage\xff\nnot a line\n"
    assert "alice@example.org" in kept
    assert any("unreadable" in r.getMessage() for r in caplog.records)
    assert index.read_text().startswith(f"V{info.uidvalidity} ")


async def test_torn_last_index_line_is_tolerated(
    store: MaildirStore, root: Path
) -> None:
    await store.deliver(OWNER, MSG)
    old = await store.mailbox_info(OWNER, "INBOX")
    with open(user_dir(root) / "quicksilver-uidlist", "ab") as f:
        f.write(b"2 17000")  # a crash in the middle of an append
    again = MaildirStore(root)
    info = await again.mailbox_info(OWNER, "INBOX")
    assert (info.uidvalidity, info.messages) == (old.uidvalidity, 1)
    assert not (root.parent / "corrupt").exists()


async def test_foreign_file_dropped_into_new(store: MaildirStore, root: Path) -> None:
    udir = user_dir(root)
    await store.deliver(OWNER, MSG)
    seen: list[MailboxChange] = []
    store.watch(OWNER, "INBOX", seen.append)
    body = b"Subject: dropped\n\nby hand\n"
    (udir / "new" / "1700000000.12345_1.otherhost").write_bytes(body)
    os.utime(udir / "new", ns=(0, 0))  # even with an odd dir mtime
    listed = await store.list_messages(OWNER, "INBOX")
    assert [m.uid for m in listed] == [1, 2]
    dropped = listed[1]
    assert dropped.size == len(body.replace(b"\n", b"\r\n"))
    assert dropped.key == "1700000000.12345_1.otherhost"
    assert await store.read_message(OWNER, "INBOX", 2) == body.replace(b"\n", b"\r\n")
    assert [(c.kind, c.uids) for c in seen] == [("added", (2,))]
    # The size is remembered in the index, the UID survives a restart.
    assert f" W{dropped.size}\n" in (udir / "quicksilver-uidlist").read_text()
    again = MaildirStore(root)
    assert await again.list_messages(OWNER, "INBOX") == listed


async def test_foreign_cur_file_with_flags(store: MaildirStore, root: Path) -> None:
    udir = user_dir(root)
    (udir / "cur" / "1700000001.abc.host:2,PS").write_bytes(b"x\n")
    [msg] = await store.list_messages(OWNER, "INBOX")
    assert msg.flags == {"\\Seen"}
    await store.set_flags(OWNER, "INBOX", [(msg.uid, "=", frozenset({"\\Flagged"}))])
    # "P" (passed) has no IMAP flag but is kept for the program that set it.
    assert files(udir / "cur") == ["1700000001.abc.host:2,FP"]


async def test_external_rename_and_delete_are_seen(
    store: MaildirStore, root: Path
) -> None:
    udir = user_dir(root)
    a = await store.deliver(OWNER, MSG)
    b = await store.deliver(OWNER, MSG)
    seen: list[tuple[str, tuple[int, ...]]] = []
    store.watch(OWNER, "INBOX", lambda c: seen.append((c.kind, c.uids)))
    # Another MUA marks a as read (new -> cur with info) and deletes b.
    name_a = next(n for n in files(udir / "new") if n.startswith(a.key))
    os.rename(udir / "new" / name_a, udir / "cur" / (name_a + ":2,S"))
    name_b = next(n for n in files(udir / "new") if n.startswith(b.key))
    os.unlink(udir / "new" / name_b)
    listed = await store.list_messages(OWNER, "INBOX")
    assert [(m.uid, m.flags) for m in listed] == [(a.uid, frozenset({"\\Seen"}))]
    assert sorted(seen) == [("expunged", (b.uid,)), ("flags", (a.uid,))]
    assert await store.read_message(OWNER, "INBOX", a.uid) == MSG


async def test_read_after_rename_behind_our_back(
    store: MaildirStore, root: Path
) -> None:
    udir = user_dir(root)
    a = await store.deliver(OWNER, MSG)
    await store.list_messages(OWNER, "INBOX")
    [name] = files(udir / "new")
    os.rename(udir / "new" / name, udir / "cur" / (name + ":2,F"))
    assert await store.read_message(OWNER, "INBOX", a.uid) == MSG
    await store.set_flags(OWNER, "INBOX", [(a.uid, "=", frozenset({"\\Seen"}))])
    assert files(udir / "cur") == [name + ":2,S"]


async def test_no_tmp_leftovers(store: MaildirStore, root: Path) -> None:
    udir = user_dir(root)
    for i in range(5):
        await store.deliver(OWNER, MSG, flags=["\\Seen"] if i % 2 else ())
    await store.copy(OWNER, "INBOX", [1, 2, 3], "Trash")
    await store.set_flags(OWNER, "INBOX", [(1, "=", frozenset({"kw"}))])
    await store.create_mailbox(OWNER, "Gone")
    await store.delete_mailbox(OWNER, "Gone")
    for tmp in udir.glob("**/tmp"):
        assert os.listdir(tmp) == [], tmp
    assert not [p for p in udir.rglob("*.tmp.*")]


async def test_copy_hard_links_or_copies(store: MaildirStore, root: Path) -> None:
    info = await store.deliver(OWNER, MSG, flags=["\\Seen"])
    await store.copy(OWNER, "INBOX", [info.uid], "Trash")
    [src] = files(user_dir(root) / "cur")
    [dst] = files(user_dir(root) / ".Trash" / "cur")
    assert dst.endswith(":2,S")
    a = os.stat(user_dir(root) / "cur" / src)
    b = os.stat(user_dir(root) / ".Trash" / "cur" / dst)
    assert a.st_mtime == b.st_mtime


async def test_copy_falls_back_when_links_fail(
    store: MaildirStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = await store.deliver(OWNER, MSG, internal_date=1e9)

    def no_link(*args: object) -> None:
        raise OSError(errno.EPERM, "no hard links")

    monkeypatch.setattr(os, "link", no_link)
    assert await store.copy(OWNER, "INBOX", [info.uid], "Junk") == [(1, 1)]
    [copied] = await store.list_messages(OWNER, "Junk")
    assert (copied.internal_date, copied.size) == (info.internal_date, info.size)
    assert await store.read_message(OWNER, "Junk", 1) == MSG


async def test_disk_full_raises_and_leaves_nothing(
    store: MaildirStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_then_full(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsutil, "write_all", half_then_full)
    with pytest.raises(StorageFullError, match="Mailbox storage is full"):
        await store.deliver(OWNER, MSG * 10)
    udir = user_dir(root)
    assert files(udir / "tmp") == files(udir / "new") == files(udir / "cur") == []
    monkeypatch.undo()
    assert (await store.deliver(OWNER, MSG)).uid == 1
    assert len(await store.list_messages(OWNER, "INBOX")) == 1


async def test_fsync_failure_quota(
    store: MaildirStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object) -> None:
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(os, "fsync", fail)
    monkeypatch.setattr(fsutil, "syncfs", fail)  # the group-commit path
    with pytest.raises(StorageFullError):
        await store.deliver(OWNER, MSG)
    monkeypatch.undo()
    udir = user_dir(root)
    assert files(udir / "tmp") == files(udir / "new") == []


async def test_other_os_errors_are_store_unavailable(
    store: MaildirStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error", str(root / "secret"))

    monkeypatch.setattr(fsutil, "write_new_file", broken)
    with pytest.raises(StoreUnavailable) as caught:
        await store.deliver(OWNER, MSG)
    assert str(root) not in caught.value.public_message
    assert str(root) not in str(caught.value)


async def test_delete_user_moves_mail_aside(store: MaildirStore, root: Path) -> None:
    await store.deliver(OWNER, MSG)
    await store.delete_user(OWNER)
    assert not user_dir(root).exists()
    [kept] = os.listdir(root.parent / "deleted" / "example.org")
    assert kept.startswith("alice-")
    assert len(os.listdir(root.parent / "deleted" / "example.org" / kept / "new")) == 1


@pytest.mark.parametrize("group_commit", [True, False])
async def test_concurrent_deliveries(
    store: MaildirStore, root: Path, monkeypatch: pytest.MonkeyPatch, group_commit: bool
) -> None:
    """Durable either way: one syncfs per batch, or fsync per file + directory."""
    if not group_commit:
        monkeypatch.setenv("QUICKSILVER_NO_SYNCFS", "1")
    infos = await asyncio.gather(*(store.deliver(OWNER, MSG) for _ in range(50)))
    assert sorted(i.uid for i in infos) == list(range(1, 51))
    again = MaildirStore(root)
    listed = await again.list_messages(OWNER, "INBOX")
    assert {m.uid: m.key for m in listed} == {i.uid: i.key for i in infos}


async def test_idempotent_unique_across_restart(
    store: MaildirStore, root: Path
) -> None:
    first = await store.deliver(OWNER, MSG, unique="job-7")
    again = MaildirStore(root)
    assert await again.deliver(OWNER, MSG, unique="job-7") == first
    assert len(files(user_dir(root) / "new")) == 1


async def test_listing_5000_messages(store: MaildirStore, root: Path) -> None:
    """Prints timings; asserts only a generous bound (CI machines vary)."""
    udir = user_dir(root)
    # Write the files directly (as an importer or another MDA would) to keep
    # the test fast; half carry our S=/W= names, half are foreign.
    for i in range(5000):
        name = f"{1700000000 + i}.M{i}P1Q{i}.bench"
        if i % 2:
            name += f",S={len(MSG) - 4},W={len(MSG)}:2,S"
            (udir / "cur" / name).write_bytes(MSG.replace(b"\r\n", b"\n"))
        else:
            (udir / "new" / name).write_bytes(MSG.replace(b"\r\n", b"\n"))
    t0 = time.perf_counter()
    first = await store.list_messages(OWNER, "INBOX")
    t1 = time.perf_counter()
    for _ in range(10):
        again = await store.list_messages(OWNER, "INBOX")
    t2 = time.perf_counter()
    restarted = MaildirStore(root)
    await restarted.list_messages(OWNER, "INBOX")
    t3 = time.perf_counter()
    print(
        f"\n5000 messages: first scan {t1 - t0:.3f}s, cached list "
        f"{(t2 - t1) / 10 * 1000:.1f}ms, after restart {t3 - t2:.3f}s"
    )
    assert len(first) == len(again) == 5000
    assert all(m.size == len(MSG) for m in first)
    assert (t2 - t1) / 10 < 0.5


async def test_failed_index_append_takes_the_message_back(
    store: MaildirStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = await store.deliver(OWNER, MSG)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(MaildirStore, "_flush_index", full)
    with pytest.raises(StorageFullError):
        await store.deliver(OWNER, MSG)
    with pytest.raises(StorageFullError):
        await store.copy(OWNER, "INBOX", [kept.uid], "Trash")
    monkeypatch.undo()
    udir = user_dir(root)
    assert len(files(udir / "new")) == 1
    assert files(udir / ".Trash" / "new") == []
    assert [m.uid for m in await store.list_messages(OWNER, "INBOX")] == [kept.uid]
    assert await store.list_messages(OWNER, "Trash") == []
    again = MaildirStore(root)
    assert [m.uid for m in await again.list_messages(OWNER, "INBOX")] == [kept.uid]


async def test_hostname_is_sanitised(root: Path) -> None:
    store = MaildirStore(root, hostname="odd/host:name")
    await store.ensure_user(OWNER)
    info = await store.deliver(OWNER, MSG)
    assert info.key.endswith(".odd\\057host\\072name")
    assert await store.read_message(OWNER, "INBOX", info.uid) == MSG


async def test_folders_made_by_other_programs(store: MaildirStore, root: Path) -> None:
    udir = user_dir(root)
    for sub in ("cur", "new", "tmp"):
        (udir / ".Lists.python" / sub).mkdir(parents=True)
        (udir / ".inbox" / sub).mkdir(parents=True)  # would alias INBOX: ignored
    (udir / ".Lists.python" / "new" / "1.2.host").write_bytes(b"hi\n")
    boxes = {b.name: b for b in await store.list_mailboxes(OWNER)}
    assert boxes["Lists/python"].messages == 1
    assert "Lists" not in boxes  # Maildir++ allows a missing parent
    assert list(boxes).count("INBOX") == 1


@pytest.mark.parametrize("meanwhile", ["expunge", "copy", "both"])
async def test_index_stays_valid_when_group_commit_races(
    store: MaildirStore,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    meanwhile: str,
) -> None:
    """A delivery has its UID but waits for the group commit while an EXPUNGE
    rewrites the index (which then holds its line) and/or a COPY appends a
    higher UID. The index must get no duplicate and no out-of-order line, or
    the next start would quarantine it and change UIDVALIDITY."""
    first = await store.deliver(OWNER, MSG)
    before = await store.mailbox_info(OWNER, "INBOX")
    entered, release = threading.Event(), threading.Event()

    def slow_syncfs(path: Path) -> None:
        entered.set()
        assert release.wait(10)

    monkeypatch.delenv("QUICKSILVER_NO_SYNCFS", raising=False)
    monkeypatch.setattr(fsutil, "syncfs_available", lambda: True)
    monkeypatch.setattr(fsutil, "syncfs", slow_syncfs)
    # m0's group commit takes the batch and blocks in syncfs (commit lock held)
    t0 = asyncio.create_task(store.deliver(OWNER, MSG + b"m0\r\n"))
    assert await asyncio.to_thread(entered.wait, 10)
    # m1 gets its UID and queues for the next batch, behind m0's commit
    t1 = asyncio.create_task(store.deliver(OWNER, MSG + b"m1\r\n"))
    for _ in range(500):
        if len(await store.list_messages(OWNER, "INBOX")) == 3:
            break
        await asyncio.sleep(0.01)
    assert [m.uid for m in await store.list_messages(OWNER, "INBOX")] == [1, 2, 3]
    assert not t1.done()
    try:
        if meanwhile in ("expunge", "both"):
            assert await store.expunge(OWNER, "INBOX", [first.uid]) == [first.uid]
        if meanwhile in ("copy", "both"):
            pairs = await store.copy(OWNER, "INBOX", [2], "INBOX")
            assert pairs == [(2, 4)]
    finally:
        release.set()
    infos = await asyncio.gather(t0, t1)
    assert [i.uid for i in infos] == [2, 3]
    monkeypatch.undo()
    listed = {m.uid: m.key for m in await store.list_messages(OWNER, "INBOX")}

    index = (user_dir(root) / "quicksilver-uidlist").read_text().splitlines()
    uids = [int(line.split()[0]) for line in index[1:]]
    assert uids == sorted(set(uids)), index

    again = MaildirStore(root)  # = after a restart
    after = await again.mailbox_info(OWNER, "INBOX")
    assert after.uidvalidity == before.uidvalidity
    assert {m.uid: m.key for m in await again.list_messages(OWNER, "INBOX")} == listed
    assert not (root.parent / "corrupt").exists()


async def test_duplicate_index_line_is_not_corruption(
    store: MaildirStore, root: Path
) -> None:
    """Indexes written by older versions may hold a line twice."""
    for _ in range(3):
        await store.deliver(OWNER, MSG)
    before = await store.mailbox_info(OWNER, "INBOX")
    path = user_dir(root) / "quicksilver-uidlist"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([*lines[:3], lines[2], *lines[3:], lines[3]]))
    again = MaildirStore(root)
    after = await again.mailbox_info(OWNER, "INBOX")
    assert after.uidvalidity == before.uidvalidity
    assert [m.uid for m in await again.list_messages(OWNER, "INBOX")] == [1, 2, 3]
    assert not (root.parent / "corrupt").exists()
    assert (await again.deliver(OWNER, MSG)).uid == 4


async def test_one_sync_serves_many_folders(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deliveries to 30 users at once share their syncs (one syncfs serves
    every folder of the file system), each returns only after a sync that
    followed its rename, and all are there after a restart; a failing sync
    fails every delivery it would have served and leaves no file."""
    monkeypatch.delenv("QUICKSILVER_NO_SYNCFS", raising=False)
    monkeypatch.setattr(fsutil, "syncfs_available", lambda: True)
    real = fsutil.syncfs
    syncs: list[float] = []

    def counting(path: Path) -> None:
        time.sleep(0.005)  # a disk that takes its time: batches form
        real(path)
        syncs.append(time.monotonic())

    monkeypatch.setattr(fsutil, "syncfs", counting)
    store = MaildirStore(root)
    owners = [f"user{i}@example.org" for i in range(30)]
    for o in owners:
        await store.ensure_user(o)
    infos = await asyncio.gather(*(store.deliver(o, MSG) for o in owners))
    assert [i.uid for i in infos] == [1] * 30
    assert 1 <= len(syncs) < 30
    again = MaildirStore(root)
    for o in owners:
        assert len(await again.list_messages(o, "INBOX")) == 1

    def broken(path: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(fsutil, "syncfs", broken)
    results = await asyncio.gather(
        *(store.deliver(o, MSG + b"again\r\n") for o in owners[:10]),
        return_exceptions=True,
    )
    assert all(isinstance(r, Exception) for r in results)
    monkeypatch.setattr(fsutil, "syncfs", real)
    for o in owners[:10]:
        assert len(await MaildirStore(root).list_messages(o, "INBOX")) == 1


async def test_ensuring_a_user_again_does_not_fsync_what_is_already_made(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every IMAP and POP3 login ensures the user's folders. The first time a
    store sees them, and whenever something had to be made again, the parent
    directory is fsynced; a login that finds everything in place and already
    made durable by this store costs no fsync (it was 8% of the IMAP worker
    threads' time under load)."""
    synced: list[Path] = []
    real = fsutil.fsync_dir

    def counting(path: Path) -> None:
        synced.append(Path(path))
        real(path)

    monkeypatch.setattr(fsutil, "fsync_dir", counting)
    store = MaildirStore(root, hostname="test.host")
    await store.ensure_user(OWNER)
    assert synced  # made: INBOX and the special-use folders
    synced.clear()
    await store.ensure_user(OWNER)
    assert synced == []
    # a folder another program removed is made again, and synced
    udir = user_dir(root)
    (udir / "new").rmdir()
    await store.ensure_user(OWNER)
    assert (udir / "new").is_dir()
    assert synced == [udir.parent]
    # a restarted store syncs each folder once, whoever made it
    synced.clear()
    again = MaildirStore(root, hostname="test.host")
    await again.ensure_user(OWNER)
    assert udir.parent in synced
    synced.clear()
    await again.ensure_user(OWNER)
    assert synced == []


async def test_a_file_where_a_folder_directory_belongs_is_an_error(
    root: Path,
) -> None:
    """A regular file named ``cur`` (another program's mistake) is not taken
    for the directory: ensuring the user fails as a storage error."""
    store = MaildirStore(root, hostname="test.host")
    udir = user_dir(root)
    udir.mkdir(parents=True)
    (udir / "cur").write_bytes(b"not a directory")
    with pytest.raises(StoreUnavailable):
        await store.ensure_user(OWNER)
    assert (udir / "cur").read_bytes() == b"not a directory"
