"""Mod-sequences of the Maildir store on disk (maildir_modseq.py): they
survive restarts, follow changes other programs make, and never go back, also
when a crash took the lines written last."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.storage import maildir_modseq
from server.storage.maildir import MaildirStore
from server.storage.maildir_modseq import MODSEQ_FILE, RESERVE_BLOCK

from .common import MSG, OWNER


@pytest.fixture
async def store(root: Path) -> MaildirStore:
    s = MaildirStore(root, hostname="test.host")
    await s.ensure_user(OWNER)
    return s


def inbox(root: Path) -> Path:
    return root / "example.org" / "alice"


def reservations(root: Path) -> list[int]:
    lines = (inbox(root) / MODSEQ_FILE).read_text().splitlines()
    return [int(line[1:]) for line in lines if line.startswith("R")]


async def modseqs(store: MaildirStore) -> dict[int, int]:
    return {m.uid: m.modseq for m in await store.list_messages(OWNER, "INBOX")}


async def highest(store: MaildirStore) -> int:
    return (await store.mailbox_info(OWNER, "INBOX")).highestmodseq


async def test_restart_keeps_each_message_modseq(
    store: MaildirStore, root: Path
) -> None:
    for _ in range(3):
        await store.deliver(OWNER, MSG)
    await store.set_flags(OWNER, "INBOX", [(2, "+", frozenset({"\\Seen"}))])
    await store.expunge(OWNER, "INBOX", [3])
    before, top = await modseqs(store), await highest(store)
    again = MaildirStore(root, hostname="test.host")
    assert await modseqs(again) == before
    assert await highest(again) >= top
    assert await again.vanished(OWNER, "INBOX", top - 1) == [(3, 3)]
    assert await again.vanished(OWNER, "INBOX", top) == []
    # and the next change goes above everything handed out before
    [info] = await again.set_flags(OWNER, "INBOX", [(1, "+", frozenset({"$x"}))])
    assert info.modseq > top


async def test_every_value_handed_out_is_covered_by_a_reservation_on_disk(
    store: MaildirStore, root: Path
) -> None:
    for _ in range(5):
        await store.deliver(OWNER, MSG)
    assert max(reservations(root)) >= await highest(store)
    assert max(reservations(root)) == await highest(store) + RESERVE_BLOCK - 4


async def test_another_program_renaming_a_file_gets_a_new_modseq(
    store: MaildirStore, root: Path
) -> None:
    await store.deliver(OWNER, MSG)
    await store.deliver(OWNER, MSG)
    top = await highest(store)
    [name] = [
        n
        for n in os.listdir(inbox(root) / "new")
        if n.startswith((await store.list_messages(OWNER, "INBOX"))[0].key)
    ]
    # mutt marks message 1 seen while the server runs
    os.rename(inbox(root) / "new" / name, inbox(root) / "cur" / f"{name}:2,S")
    now = await modseqs(store)
    assert now[1] > top and now[2] < top + 1
    # and while it is stopped: flagged
    top = await highest(store)
    os.rename(inbox(root) / "cur" / f"{name}:2,S", inbox(root) / "cur" / f"{name}:2,FS")
    again = MaildirStore(root, hostname="test.host")
    after = await modseqs(again)
    assert after[1] > top
    assert after[2] == now[2]


async def test_lost_lines_after_a_crash_never_give_lower_values(
    store: MaildirStore, root: Path
) -> None:
    """A power cut can take the lines not fsynced (all but reservations): the
    flag change (its rename is fsynced) and the expunge must still come out
    above every value a client may have seen."""
    for _ in range(3):
        await store.deliver(OWNER, MSG)
    path = inbox(root) / MODSEQ_FILE
    kept = path.read_text()  # what reached the disk before the cut
    seen_before = await highest(store)
    await store.set_flags(OWNER, "INBOX", [(1, "+", frozenset({"\\Answered"}))])
    await store.expunge(OWNER, "INBOX", [2])
    seen = await highest(store)  # a client saw this
    path.write_text(kept)  # the lines written since are lost
    again = MaildirStore(root, hostname="test.host")
    after = await modseqs(again)
    assert after[1] > seen  # the change is found again, above
    assert after[3] < seen_before + 1  # untouched: as before
    assert await again.vanished(OWNER, "INBOX", seen) == [(2, 2)]


async def test_a_torn_last_line_is_ignored(store: MaildirStore, root: Path) -> None:
    await store.deliver(OWNER, MSG)
    path = inbox(root) / MODSEQ_FILE
    with open(path, "a") as f:
        f.write("1 99")  # cut short: no letters field, no newline
    before = await modseqs(store)
    again = MaildirStore(root, hostname="test.host")
    assert await modseqs(again) == before


async def test_the_file_is_rewritten_when_it_grows(
    store: MaildirStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maildir_modseq, "COMPACT_SLACK", 10)
    await store.deliver(OWNER, MSG)
    await store.deliver(OWNER, MSG)
    for i in range(30):
        mode = "+" if i % 2 == 0 else "-"
        await store.set_flags(OWNER, "INBOX", [(1, mode, frozenset({"\\Seen"}))])
    await store.expunge(OWNER, "INBOX", [2])
    lines = (inbox(root) / MODSEQ_FILE).read_text().splitlines()
    assert len(lines) < 20
    before, top = await modseqs(store), await highest(store)
    again = MaildirStore(root, hostname="test.host")
    assert await modseqs(again) == before
    assert await again.vanished(OWNER, "INBOX", top - 1) == [(2, 2)]


async def test_mailbox_id_survives_a_restart_and_is_given_to_old_indexes(
    store: MaildirStore, root: Path
) -> None:
    await store.create_mailbox(OWNER, "Work")
    before = (await store.mailbox_info(OWNER, "Work")).mailbox_id
    again = MaildirStore(root, hostname="test.host")
    assert (await again.mailbox_info(OWNER, "Work")).mailbox_id == before
    # an index written before MAILBOXID existed (no M in its header)
    index = inbox(root) / "quicksilver-uidlist"
    header, _, rest = index.read_text().partition("\n")
    index.write_text(" ".join(t for t in header.split() if t[0] != "M") + "\n" + rest)
    third = MaildirStore(root, hostname="test.host")
    made = (await third.mailbox_info(OWNER, "INBOX")).mailbox_id
    assert made.isalnum() and " M" + made in index.read_text().split("\n")[0]
    fourth = MaildirStore(root, hostname="test.host")
    assert (await fourth.mailbox_info(OWNER, "INBOX")).mailbox_id == made
