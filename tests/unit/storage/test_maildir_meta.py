"""The Maildir store's metadata records on disk (``quicksilver-meta``): kept
across restarts, never served for a message they were not made for, and
robust against damage, other programs and a rebuilt index."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.storage import maildir_meta
from server.storage.maildir import MaildirStore

from .common import OWNER


def record_of(message: bytes) -> bytes:
    return b"rec:" + message.split(b"\r\n", 1)[0]


def message(i: int, pad: int = 0) -> bytes:
    return f"Subject: m{i}\r\n\r\n{'x' * pad}body {i}\r\n".encode()


def inbox(root: Path) -> Path:
    return root / "example.org" / "alice"


async def new_store(root: Path, indexer: bool = True) -> MaildirStore:
    s = MaildirStore(root, hostname="test.host")
    await s.ensure_user(OWNER)
    if indexer:
        s.set_indexer(record_of)
    return s


async def fill(s: MaildirStore, n: int, pad: int = 0) -> list[int]:
    return [(await s.deliver(OWNER, message(i, pad))).uid for i in range(n)]


async def test_records_survive_a_restart(root: Path) -> None:
    uids = await fill(await new_store(root), 5)
    again = await new_store(root, indexer=False)
    got = await again.read_meta(OWNER, "INBOX", uids)
    assert got == {u: f"rec:Subject: m{i}".encode() for i, u in enumerate(uids)}


async def test_mail_another_program_drops_in_has_no_record(root: Path) -> None:
    s = await new_store(root)
    (mine,) = await fill(s, 1)
    (inbox(root) / "new" / "1700000000.M1P1.other").write_bytes(b"Subject: x\n\nx\n")
    infos = await s.list_messages(OWNER, "INBOX")
    foreign = [i.uid for i in infos if i.uid != mine]
    assert len(foreign) == 1
    assert await s.read_meta(OWNER, "INBOX", [mine, *foreign]) == {
        mine: b"rec:Subject: m0"
    }
    # a record given for it later is kept, and found after a restart
    await s.save_meta(OWNER, "INBOX", {foreign[0]: b"parsed later"})
    again = await new_store(root)
    assert (await again.read_meta(OWNER, "INBOX", foreign)) == {
        foreign[0]: b"parsed later"
    }


async def test_a_rebuilt_index_makes_every_record_stale(root: Path) -> None:
    uids = await fill(await new_store(root), 3)
    (inbox(root) / "quicksilver-uidlist").unlink()
    again = await new_store(root)
    infos = await again.list_messages(OWNER, "INBOX")  # a new UIDVALIDITY
    assert len(infos) == 3
    assert await again.read_meta(OWNER, "INBOX", [i.uid for i in infos]) == {}
    # the stale file is emptied before the next record goes in
    new = await again.deliver(OWNER, message(9))
    assert await again.read_meta(OWNER, "INBOX", [new.uid, *uids]) == {
        new.uid: b"rec:Subject: m9"
    }
    third = await new_store(root)
    assert await third.read_meta(OWNER, "INBOX", [new.uid, *uids]) == {
        new.uid: b"rec:Subject: m9"
    }


async def test_a_torn_tail_is_cut_back_and_later_records_follow(root: Path) -> None:
    uids = await fill(await new_store(root), 3)
    meta = inbox(root) / maildir_meta.META
    with open(meta, "ab") as f:
        f.write(b"\x07\x00\x00\x00 half a record")  # a crash mid-append
    again = await new_store(root)
    assert len(await again.read_meta(OWNER, "INBOX", uids)) == 3
    new = await again.deliver(OWNER, message(7))
    third = await new_store(root)
    got = await third.read_meta(OWNER, "INBOX", [*uids, new.uid])
    assert got[new.uid] == b"rec:Subject: m7" and len(got) == 4


async def test_a_damaged_record_ends_the_usable_part(root: Path) -> None:
    uids = await fill(await new_store(root), 4)
    meta = inbox(root) / maildir_meta.META
    data = bytearray(meta.read_bytes())
    at = data.index(b"rec:Subject: m2")
    data[at + 5] ^= 0xFF  # a flipped bit in the third record
    meta.write_bytes(bytes(data))
    again = await new_store(root)
    got = await again.read_meta(OWNER, "INBOX", uids)
    assert got == {uids[0]: b"rec:Subject: m0", uids[1]: b"rec:Subject: m1"}


async def test_a_file_that_is_not_ours_gives_nothing_and_is_replaced(
    root: Path,
) -> None:
    uids = await fill(await new_store(root), 2)
    (inbox(root) / maildir_meta.META).write_bytes(os.urandom(5000))
    again = await new_store(root)
    assert await again.read_meta(OWNER, "INBOX", uids) == {}
    new = await again.deliver(OWNER, message(5))
    assert await (await new_store(root)).read_meta(OWNER, "INBOX", [new.uid]) == {
        new.uid: b"rec:Subject: m5"
    }


async def test_expunged_records_are_compacted_away(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maildir_meta, "COMPACT_MIN", 10_000)
    s = await new_store(root)

    def big_record(msg: bytes) -> bytes:
        return record_of(msg) + b"." * 2000

    s.set_indexer(big_record)
    uids = await fill(s, 20)
    meta = inbox(root) / maildir_meta.META
    await s.read_meta(OWNER, "INBOX", uids)  # positions known: dead bytes counted
    full = meta.stat().st_size
    await s.expunge(OWNER, "INBOX", uids[:15])
    assert meta.stat().st_size < full // 3
    kept = await s.read_meta(OWNER, "INBOX", uids)
    assert sorted(kept) == uids[15:]
    assert kept[uids[19]].startswith(b"rec:Subject: m19")
    again = await new_store(root)
    assert sorted(await again.read_meta(OWNER, "INBOX", uids)) == uids[15:]


async def test_a_record_is_only_served_for_its_own_message(root: Path) -> None:
    """A record names its message's unique name and size: one that names
    another message (a later record for the UID wins) is never served."""
    s = await new_store(root)
    one, two = await fill(s, 2)
    (info_one, info_two) = await s.list_messages(OWNER, "INBOX")
    with open(inbox(root) / maildir_meta.META, "ab") as f:
        f.write(maildir_meta._frame(one, "someone-else", info_one.size, b"forged"))
        f.write(maildir_meta._frame(two, info_two.key, info_two.size + 1, b"forged"))
    again = await new_store(root)
    assert await again.read_meta(OWNER, "INBOX", [one, two]) == {}


async def test_many_records_are_read_back_whole(root: Path) -> None:
    s = await new_store(root)
    uids = await fill(s, 300, pad=300)
    again = await new_store(root)
    got = await again.read_meta(OWNER, "INBOX", uids[::-1])
    assert got == {u: f"rec:Subject: m{i}".encode() for i, u in enumerate(uids)}
    some = await again.read_meta(OWNER, "INBOX", uids[::7])
    assert some == {u: got[u] for u in uids[::7]}


async def test_records_are_read_where_there_is_no_pread(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows has no ``os.pread``: seek and read give the same records."""
    uids = await fill(await new_store(root), 50, pad=100)
    monkeypatch.delattr(os, "pread")
    got = await (await new_store(root)).read_meta(OWNER, "INBOX", uids[::3])
    assert got == {u: f"rec:Subject: m{uids.index(u)}".encode() for u in uids[::3]}
