"""The MailStore contract: every test runs against MaildirStore and MemoryStore."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.errors import PermanentError
from server.storage.base import (
    InvalidMailboxName,
    MailboxChange,
    MailboxExists,
    MailboxNotFound,
    MailStore,
    MessageInfo,
    MessageNotFound,
)
from server.storage.maildir import MaildirStore
from server.storage.memory import MemoryStore

OWNER = "alice@example.org"
MSG = b"From: a@example.org\r\nSubject: hi\r\n\r\nHello\r\nWorld\r\n"


@pytest.fixture(params=["maildir", "memory"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MailStore]:
    s: MailStore
    if request.param == "maildir":
        s = MaildirStore(tmp_path / "mail", hostname="test.host")
    else:
        s = MemoryStore()
    await s.ensure_user(OWNER)
    yield s


async def test_ensure_user_creates_special_folders(store: MailStore) -> None:
    await store.ensure_user(OWNER)  # idempotent
    boxes = await store.list_mailboxes(OWNER)
    assert [b.name for b in boxes] == ["INBOX", "Drafts", "Junk", "Sent", "Trash"]
    uses = {b.name: b.special_use for b in boxes}
    assert uses == {
        "INBOX": None,
        "Sent": "\\Sent",
        "Drafts": "\\Drafts",
        "Trash": "\\Trash",
        "Junk": "\\Junk",
    }
    assert all(b.subscribed for b in boxes)
    assert set(await store.list_subscriptions(OWNER)) == {
        "INBOX",
        "Sent",
        "Drafts",
        "Trash",
        "Junk",
    }


async def test_deliver_list_read_round_trip(store: MailStore) -> None:
    info = await store.deliver(OWNER, MSG)
    assert info.uid == 1
    assert info.size == len(MSG)
    assert info.flags == frozenset()
    [listed] = await store.list_messages(OWNER, "INBOX")
    assert listed == info
    assert await store.read_message(OWNER, "INBOX", 1) == MSG


async def test_read_messages_in_one_call(store: MailStore) -> None:
    a = await store.deliver(OWNER, MSG)
    b = await store.deliver(OWNER, b"Subject: two\n\nbare LF body\n")
    await store.set_flags(OWNER, "INBOX", [(b.uid, "=", frozenset({"\\Seen"}))])
    await store.expunge(OWNER, "INBOX", [a.uid])
    got = await store.read_messages(OWNER, "INBOX", [a.uid, b.uid, 999])
    assert got == {b.uid: b"Subject: two\r\n\r\nbare LF body\r\n"}


async def test_bare_lf_message_is_served_with_crlf(store: MailStore) -> None:
    info = await store.deliver(OWNER, b"Subject: x\n\nline1\nline2\n")
    expected = b"Subject: x\r\n\r\nline1\r\nline2\r\n"
    assert info.size == len(expected)
    assert await store.read_message(OWNER, "inbox", info.uid) == expected


async def test_internal_date_kept(store: MailStore) -> None:
    info = await store.deliver(OWNER, MSG, internal_date=1_600_000_000.0)
    assert info.internal_date == pytest.approx(1_600_000_000.0, abs=1e-3)
    [listed] = await store.list_messages(OWNER, "INBOX")
    assert listed.internal_date == info.internal_date


async def test_flags_round_trip_with_keywords(store: MailStore) -> None:
    a = await store.deliver(OWNER, MSG)
    b = await store.deliver(OWNER, MSG, flags=["\\Seen", "$Forwarded"])
    assert b.flags == {"\\Seen", "$Forwarded"}
    new = frozenset(
        {"\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "Work", "$Junk"}
    )
    result = await store.set_flags(
        OWNER, "INBOX", [(a.uid, "=", new), (999, "=", frozenset())]
    )
    assert [r.uid for r in result] == [a.uid]
    assert result[0].flags == new
    by_uid = {m.uid: m.flags for m in await store.list_messages(OWNER, "INBOX")}
    assert by_uid == {a.uid: new, b.uid: {"\\Seen", "$Forwarded"}}
    await store.set_flags(OWNER, "INBOX", [(a.uid, "=", frozenset({"\\Seen"}))])
    by_uid = {m.uid: m.flags for m in await store.list_messages(OWNER, "INBOX")}
    assert by_uid[a.uid] == {"\\Seen"}


async def test_system_flags_normalised_and_recent_dropped(store: MailStore) -> None:
    info = await store.deliver(OWNER, MSG, flags=["\\seen", "\\Recent"])
    assert info.flags == {"\\Seen"}
    with pytest.raises(PermanentError):
        await store.set_flags(OWNER, "INBOX", [(info.uid, "=", frozenset({"\\Bogus"}))])
    with pytest.raises(PermanentError):
        await store.set_flags(OWNER, "INBOX", [(info.uid, "=", frozenset({"a b"}))])


async def test_keyword_limit(store: MailStore) -> None:
    info = await store.deliver(OWNER, MSG)
    many = frozenset(f"k{i}" for i in range(26))
    await store.set_flags(OWNER, "INBOX", [(info.uid, "=", many)])
    with pytest.raises(PermanentError):
        await store.set_flags(OWNER, "INBOX", [(info.uid, "=", frozenset({"k26"}))])
    [listed] = await store.list_messages(OWNER, "INBOX")
    assert listed.flags == many


async def test_unseen_and_counts(store: MailStore) -> None:
    await store.deliver(OWNER, MSG)
    await store.deliver(OWNER, MSG, flags=["\\Seen"])
    info = await store.mailbox_info(OWNER, "INBOX")
    assert (info.messages, info.unseen, info.uidnext) == (2, 1, 3)


async def test_uids_ascending_and_not_reused(store: MailStore) -> None:
    uids = [(await store.deliver(OWNER, MSG)).uid for _ in range(3)]
    assert uids == [1, 2, 3]
    assert await store.expunge(OWNER, "INBOX", [3, 2, 42]) == [2, 3]
    assert [m.uid for m in await store.list_messages(OWNER, "INBOX")] == [1]
    assert (await store.deliver(OWNER, MSG)).uid == 4
    info = await store.mailbox_info(OWNER, "INBOX")
    assert info.uidnext == 5
    with pytest.raises(MessageNotFound):
        await store.read_message(OWNER, "INBOX", 2)


async def test_uidvalidity_stable(store: MailStore) -> None:
    before = await store.mailbox_info(OWNER, "INBOX")
    await store.deliver(OWNER, MSG)
    await store.expunge(OWNER, "INBOX", [1])
    after = await store.mailbox_info(OWNER, "INBOX")
    assert after.uidvalidity == before.uidvalidity > 0


async def test_create_list_and_children(store: MailStore) -> None:
    info = await store.create_mailbox(OWNER, "Work/2024/Q1")
    assert info.name == "Work/2024/Q1"
    names = [b.name for b in await store.list_mailboxes(OWNER)]
    assert {"Work", "Work/2024", "Work/2024/Q1"} <= set(names)
    assert names[0] == "INBOX"
    work = await store.mailbox_info(OWNER, "Work")
    assert work.has_children
    assert not (await store.mailbox_info(OWNER, "Work/2024/Q1")).has_children
    with pytest.raises(MailboxExists):
        await store.create_mailbox(OWNER, "Work")
    with pytest.raises(MailboxExists):
        await store.create_mailbox(OWNER, "inbox")


async def test_odd_names_round_trip(store: MailStore) -> None:
    odd = ["a.b", "100%", "x%2Ey", "Ünïcødé ✉", 'w:i*n?d"o<w>s|\\', "trail ", "~tilde"]
    for name in odd:
        await store.create_mailbox(OWNER, name)
        await store.deliver(OWNER, MSG, mailbox=name)
    listed = {b.name: b for b in await store.list_mailboxes(OWNER)}
    for name in odd:
        assert name in listed
        assert listed[name].messages == 1
        assert not listed[name].has_children


async def test_special_use_on_create(store: MailStore) -> None:
    info = await store.create_mailbox(OWNER, "Archive", special_use="\\Archive")
    assert info.special_use == "\\Archive"
    with pytest.raises(PermanentError):
        await store.create_mailbox(OWNER, "Bad", special_use="\\Nope")


async def test_rename_with_children(store: MailStore) -> None:
    await store.create_mailbox(OWNER, "A/B")
    await store.deliver(OWNER, MSG, mailbox="A/B", flags=["\\Flagged"])
    await store.set_subscribed(OWNER, "A/B", True)
    before = await store.mailbox_info(OWNER, "A/B")
    await store.rename_mailbox(OWNER, "A", "X/Y")
    names = {b.name for b in await store.list_mailboxes(OWNER)}
    assert {"X", "X/Y", "X/Y/B"} <= names
    assert not {"A", "A/B"} & names
    moved = await store.mailbox_info(OWNER, "X/Y/B")
    assert moved.messages == 1
    assert moved.uidvalidity == before.uidvalidity
    assert moved.subscribed
    [msg] = await store.list_messages(OWNER, "X/Y/B")
    assert msg.flags == {"\\Flagged"}
    assert await store.read_message(OWNER, "X/Y/B", msg.uid) == MSG
    with pytest.raises(MailboxNotFound):
        await store.list_messages(OWNER, "A/B")


async def test_renamed_special_folder_is_not_recreated(store: MailStore) -> None:
    await store.rename_mailbox(OWNER, "Sent", "Sent Items")
    await store.ensure_user(OWNER)
    boxes = {b.name: b.special_use for b in await store.list_mailboxes(OWNER)}
    assert boxes["Sent Items"] == "\\Sent"
    assert "Sent" not in boxes


async def test_rename_errors(store: MailStore) -> None:
    await store.create_mailbox(OWNER, "A")
    await store.create_mailbox(OWNER, "B")
    with pytest.raises(MailboxNotFound):
        await store.rename_mailbox(OWNER, "Nope", "C")
    with pytest.raises(MailboxExists):
        await store.rename_mailbox(OWNER, "A", "B")
    with pytest.raises(MailboxExists):
        await store.rename_mailbox(OWNER, "A", "inbox")
    with pytest.raises(PermanentError):
        await store.rename_mailbox(OWNER, "A", "A/sub")


async def test_rename_inbox_moves_messages(store: MailStore) -> None:
    await store.create_mailbox(OWNER, "INBOX/keep")
    await store.deliver(OWNER, MSG)
    await store.deliver(OWNER, b"two\r\n", flags=["\\Seen", "kw"])
    uidvalidity = (await store.mailbox_info(OWNER, "INBOX")).uidvalidity
    await store.rename_mailbox(OWNER, "INBOX", "Old")
    old = await store.list_messages(OWNER, "Old")
    assert [m.flags for m in old] == [frozenset(), frozenset({"\\Seen", "kw"})]
    assert await store.read_message(OWNER, "Old", old[1].uid) == b"two\r\n"
    inbox = await store.mailbox_info(OWNER, "INBOX")
    assert inbox.messages == 0
    assert inbox.uidvalidity == uidvalidity
    assert inbox.uidnext == 3
    assert "INBOX/keep" in {b.name for b in await store.list_mailboxes(OWNER)}
    assert (await store.deliver(OWNER, MSG)).uid == 3


async def test_delete_mailbox(store: MailStore) -> None:
    await store.create_mailbox(OWNER, "Old")
    await store.deliver(OWNER, MSG, mailbox="Old")
    await store.set_subscribed(OWNER, "Old", True)
    await store.delete_mailbox(OWNER, "Old")
    assert "Old" not in {b.name for b in await store.list_mailboxes(OWNER)}
    # RFC 3501 6.3.4: subscriptions survive a DELETE.
    assert "Old" in await store.list_subscriptions(OWNER)
    with pytest.raises(MailboxNotFound):
        await store.delete_mailbox(OWNER, "Old")
    with pytest.raises(PermanentError):
        await store.delete_mailbox(OWNER, "INBOX")
    await store.create_mailbox(OWNER, "P/C")
    with pytest.raises(PermanentError, match="children"):
        await store.delete_mailbox(OWNER, "P")
    await store.delete_mailbox(OWNER, "P/C")
    await store.delete_mailbox(OWNER, "P")
    # A re-created mailbox gets a new UIDVALIDITY and starts over.
    await store.create_mailbox(OWNER, "Old")
    assert (await store.mailbox_info(OWNER, "Old")).messages == 0


async def test_subscriptions(store: MailStore) -> None:
    await store.create_mailbox(OWNER, "News")
    await store.set_subscribed(OWNER, "News", True)
    await store.set_subscribed(OWNER, "News", True)
    assert (await store.list_subscriptions(OWNER)).count("News") == 1
    assert (await store.mailbox_info(OWNER, "News")).subscribed
    await store.set_subscribed(OWNER, "News", False)
    await store.set_subscribed(OWNER, "Never", False)
    assert "News" not in await store.list_subscriptions(OWNER)
    with pytest.raises(MailboxNotFound):
        await store.set_subscribed(OWNER, "Missing", True)


async def test_copy_keeps_flags_and_date(store: MailStore) -> None:
    a = await store.deliver(OWNER, MSG, flags=["\\Seen", "$Label1"], internal_date=1e9)
    b = await store.deliver(OWNER, b"second\r\n")
    pairs = await store.copy(OWNER, "INBOX", [b.uid, a.uid, 77], "Trash")
    assert pairs == [(a.uid, 1), (b.uid, 2)]
    copied = await store.list_messages(OWNER, "Trash")
    assert [m.flags for m in copied] == [a.flags, frozenset()]
    assert copied[0].internal_date == a.internal_date
    assert copied[0].size == a.size
    assert copied[0].key != a.key
    assert await store.read_message(OWNER, "Trash", 1) == MSG
    # The source is untouched and independent of the copy.
    await store.set_flags(OWNER, "Trash", [(1, "=", frozenset())])
    [src] = [m for m in await store.list_messages(OWNER, "INBOX") if m.uid == a.uid]
    assert src.flags == a.flags
    with pytest.raises(MailboxNotFound):
        await store.copy(OWNER, "INBOX", [a.uid], "Nowhere")


async def test_idempotent_unique(store: MailStore) -> None:
    first = await store.deliver(OWNER, MSG, unique="queue-42/a:b,c")
    again = await store.deliver(OWNER, b"different\r\n", unique="queue-42/a:b,c")
    assert again == first
    assert len(await store.list_messages(OWNER, "INBOX")) == 1
    # Same unique in another mailbox is another delivery.
    other = await store.deliver(OWNER, MSG, mailbox="Junk", unique="queue-42/a:b,c")
    assert other.key == first.key


async def test_keys_unique_and_stable(store: MailStore) -> None:
    infos = [await store.deliver(OWNER, MSG) for _ in range(5)]
    assert len({i.key for i in infos}) == 5
    await store.set_flags(OWNER, "INBOX", [(infos[0].uid, "=", frozenset({"\\Seen"}))])
    listed = await store.list_messages(OWNER, "INBOX")
    assert [m.key for m in listed] == [i.key for i in infos]


async def test_watch_callbacks(store: MailStore) -> None:
    seen: list[MailboxChange] = []
    loop_thread: list[bool] = []
    loop = asyncio.get_running_loop()

    def cb(change: MailboxChange) -> None:
        seen.append(change)
        loop_thread.append(asyncio.get_running_loop() is loop)

    unsubscribe = store.watch(OWNER, "inbox", cb)
    me = object()
    info = await store.deliver(OWNER, MSG, origin=me)
    await store.set_flags(
        OWNER, "INBOX", [(info.uid, "=", frozenset({"\\Seen"}))], origin=me
    )
    await store.expunge(OWNER, "INBOX", [info.uid], origin=me)
    assert [(c.kind, c.uids, c.origin) for c in seen] == [
        ("added", (1,), me),
        ("flags", (1,), me),
        ("expunged", (1,), me),
    ]
    assert all(c.owner == OWNER and c.mailbox == "INBOX" for c in seen)
    assert all(loop_thread)
    unsubscribe()
    await store.deliver(OWNER, MSG)
    assert len(seen) == 3


async def test_watch_rename_delete_and_copy(store: MailStore) -> None:
    kinds: list[tuple[str, str]] = []

    def cb(change: MailboxChange) -> None:
        kinds.append((change.mailbox, change.kind))

    for name in ("A", "B", "C"):
        await store.create_mailbox(OWNER, name)
        store.watch(OWNER, name, cb)
    info = await store.deliver(OWNER, MSG, mailbox="A")
    await store.copy(OWNER, "A", [info.uid], "C")
    await store.rename_mailbox(OWNER, "A", "A2")
    await store.delete_mailbox(OWNER, "B")
    assert kinds == [("A", "added"), ("C", "added"), ("A", "renamed"), ("B", "deleted")]


async def test_failing_watcher_does_not_break_the_store(store: MailStore) -> None:
    got: list[str] = []

    def bad(change: MailboxChange) -> None:
        raise RuntimeError("boom")

    store.watch(OWNER, "INBOX", bad)
    store.watch(OWNER, "INBOX", lambda c: got.append(c.kind))
    await store.deliver(OWNER, MSG)
    assert got == ["added"]


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "a/../b",
        "a//b",
        "/abs",
        "trailing/",
        "",
        ".",
        "nul\x00here",
        "ctl\x07",
        "new\nline",
        "x" * 256,
        "/".join(["y" * 200] * 6),
    ],
)
async def test_invalid_mailbox_names(store: MailStore, name: str) -> None:
    with pytest.raises(InvalidMailboxName):
        await store.create_mailbox(OWNER, name)
    with pytest.raises(InvalidMailboxName):
        await store.deliver(OWNER, MSG, mailbox=name)
    with pytest.raises(InvalidMailboxName):
        await store.list_messages(OWNER, name)


@pytest.mark.parametrize(
    "owner",
    ["nobody", "../x@y", "a@../..", "a/b@c", "a@b@c", "a@", "@b", ".a@b", "a\x00@b"],
)
async def test_invalid_owners(store: MailStore, owner: str) -> None:
    with pytest.raises(InvalidMailboxName):
        await store.ensure_user(owner)
    with pytest.raises(InvalidMailboxName):
        await store.deliver(owner, MSG)


async def test_not_found_cases(store: MailStore) -> None:
    for call in (
        store.list_messages(OWNER, "Missing"),
        store.mailbox_info(OWNER, "Missing"),
        store.deliver(OWNER, MSG, mailbox="Missing"),
        store.read_message(OWNER, "Missing", 1),
        store.set_flags(OWNER, "Missing", [(1, "=", frozenset())]),
        store.expunge(OWNER, "Missing", [1]),
        store.copy(OWNER, "Missing", [1], "INBOX"),
        store.delete_mailbox(OWNER, "Missing"),
        store.list_mailboxes("bob@example.org"),
        store.deliver("bob@example.org", MSG),
        store.usage("bob@example.org"),
    ):
        with pytest.raises(MailboxNotFound):
            await call
    with pytest.raises(MessageNotFound):
        await store.read_message(OWNER, "INBOX", 1)


async def test_owner_case_insensitive(store: MailStore) -> None:
    await store.deliver("Alice@Example.ORG", MSG)
    assert len(await store.list_messages(OWNER, "INBOX")) == 1


async def test_usage(store: MailStore) -> None:
    assert await store.usage(OWNER) == 0
    await store.deliver(OWNER, MSG)
    await store.deliver(OWNER, b"a\nb\n", mailbox="Sent")
    assert await store.usage(OWNER) == len(MSG) + len(b"a\r\nb\r\n")
    # kept as messages come and go: flags, copies, moves, expunges
    size = len(MSG)
    await store.set_flags(OWNER, "INBOX", [(1, "+", frozenset({"\\Seen"}))])
    await store.copy(OWNER, "INBOX", [1], "Trash")
    assert await store.usage(OWNER) == 2 * size + 6
    await store.expunge(OWNER, "INBOX", [1])
    assert await store.usage(OWNER) == size + 6
    await store.delete_mailbox(OWNER, "Sent")
    assert await store.usage(OWNER) == size


async def test_delete_user(store: MailStore) -> None:
    await store.deliver(OWNER, MSG)
    await store.delete_user(OWNER)
    with pytest.raises(MailboxNotFound):
        await store.list_messages(OWNER, "INBOX")
    await store.delete_user(OWNER)  # nothing left: no error
    await store.ensure_user(OWNER)
    assert await store.list_messages(OWNER, "INBOX") == []


async def test_other_users_are_separate(store: MailStore) -> None:
    await store.ensure_user("bob@example.org")
    await store.deliver(OWNER, MSG)
    assert await store.list_messages("bob@example.org", "INBOX") == []


# -- flag changes apply to the current flags (no lost updates) ----------------


def _flags(infos: list[MessageInfo], uid: int) -> frozenset[str]:
    [info] = [i for i in infos if i.uid == uid]
    return info.flags


async def test_set_flags_add_from_two_origins_keeps_both(store: MailStore) -> None:
    info = await store.deliver(OWNER, MSG)
    seen, flagged = frozenset({"\\Seen"}), frozenset({"\\Flagged"})
    # each origin would have computed its flags from the same old view
    first = await store.set_flags(OWNER, "INBOX", [(info.uid, "+", seen)], origin="a")
    assert _flags(first, info.uid) == seen
    second = await store.set_flags(
        OWNER, "INBOX", [(info.uid, "+", flagged)], origin="b"
    )
    assert _flags(second, info.uid) == seen | flagged
    listed = await store.list_messages(OWNER, "INBOX")
    assert _flags(listed, info.uid) == seen | flagged
    # truly concurrent, with keywords
    await asyncio.gather(
        *(
            store.set_flags(
                OWNER, "INBOX", [(info.uid, "+", frozenset({f"k{i}"}))], origin=i
            )
            for i in range(5)
        )
    )
    listed = await store.list_messages(OWNER, "INBOX")
    assert _flags(listed, info.uid) == seen | flagged | {f"k{i}" for i in range(5)}


async def test_set_flags_remove_keeps_what_another_origin_added(
    store: MailStore,
) -> None:
    info = await store.deliver(OWNER, MSG, flags=["\\Seen", "$Work"])
    await store.set_flags(
        OWNER, "INBOX", [(info.uid, "+", frozenset({"\\Flagged"}))], origin="a"
    )
    result = await store.set_flags(
        OWNER, "INBOX", [(info.uid, "-", frozenset({"\\Seen", "$Work"}))], origin="b"
    )
    assert _flags(result, info.uid) == {"\\Flagged"}
    listed = await store.list_messages(OWNER, "INBOX")
    assert _flags(listed, info.uid) == {"\\Flagged"}
    # removing what is not there changes nothing and announces nothing
    seen: list[MailboxChange] = []
    unwatch = store.watch(OWNER, "INBOX", seen.append)
    result = await store.set_flags(
        OWNER, "INBOX", [(info.uid, "-", frozenset({"\\Draft"}))]
    )
    unwatch()
    assert _flags(result, info.uid) == {"\\Flagged"}
    assert [c for c in seen if c.kind == "flags"] == []


async def test_set_flags_replace_and_missing_uids(store: MailStore) -> None:
    a = await store.deliver(OWNER, MSG, flags=["\\Seen", "$Old"])
    b = await store.deliver(OWNER, MSG, flags=["\\Answered"])
    result = await store.set_flags(
        OWNER,
        "INBOX",
        [
            (a.uid, "=", frozenset({"\\Flagged", "$New"})),
            (999, "+", frozenset({"\\Seen"})),
            (b.uid, "+", frozenset({"\\Seen"})),
        ],
    )
    assert [r.uid for r in result] == [a.uid, b.uid]
    by_uid = {m.uid: m.flags for m in await store.list_messages(OWNER, "INBOX")}
    assert by_uid == {a.uid: {"\\Flagged", "$New"}, b.uid: {"\\Answered", "\\Seen"}}
    with pytest.raises(ValueError):
        await store.set_flags(OWNER, "INBOX", [(a.uid, "*", frozenset())])  # type: ignore[list-item]


async def test_removing_keywords_needs_no_free_slot(store: MailStore) -> None:
    info = await store.deliver(OWNER, MSG)
    many = frozenset(f"k{i}" for i in range(26))
    await store.set_flags(OWNER, "INBOX", [(info.uid, "+", many)])
    # an unknown keyword removed: nothing to do, not "too many keywords"
    await store.set_flags(OWNER, "INBOX", [(info.uid, "-", frozenset({"other"}))])
    with pytest.raises(PermanentError):
        await store.set_flags(OWNER, "INBOX", [(info.uid, "+", frozenset({"k26"}))])
    [listed] = await store.list_messages(OWNER, "INBOX")
    assert listed.flags == many


# -- expunge_deleted goes by the current flags ---------------------------------


async def test_expunge_deleted_uses_current_flags(store: MailStore) -> None:
    a = await store.deliver(OWNER, MSG)
    b = await store.deliver(OWNER, MSG)
    c = await store.deliver(OWNER, MSG, flags=["\\Deleted"])
    deleted = frozenset({"\\Deleted"})
    # session A marks a, session B undeletes it and marks b
    await store.set_flags(OWNER, "INBOX", [(a.uid, "+", deleted)], origin="A")
    await store.set_flags(OWNER, "INBOX", [(a.uid, "-", deleted)], origin="B")
    await store.set_flags(OWNER, "INBOX", [(b.uid, "+", deleted)], origin="B")
    changes: list[MailboxChange] = []
    unwatch = store.watch(OWNER, "INBOX", changes.append)
    assert await store.expunge_deleted(OWNER, "INBOX", origin="A") == [b.uid, c.uid]
    unwatch()
    assert [m.uid for m in await store.list_messages(OWNER, "INBOX")] == [a.uid]
    assert [(x.kind, x.uids, x.origin) for x in changes] == [
        ("expunged", (b.uid, c.uid), "A")
    ]
    assert await store.expunge_deleted(OWNER, "INBOX") == []


async def test_expunge_deleted_restricted_to_uids(store: MailStore) -> None:
    infos = [await store.deliver(OWNER, MSG, flags=["\\Deleted"]) for _ in range(3)]
    plain = await store.deliver(OWNER, MSG)
    uids = [i.uid for i in infos]
    # UID EXPUNGE (RFC 4315): only the given ones, and only when \Deleted
    got = await store.expunge_deleted(OWNER, "INBOX", [uids[2], plain.uid, 999])
    assert got == [uids[2]]
    left = [m.uid for m in await store.list_messages(OWNER, "INBOX")]
    assert left == [uids[0], uids[1], plain.uid]
    assert await store.expunge_deleted(OWNER, "INBOX", []) == []
    with pytest.raises(MailboxNotFound):
        await store.expunge_deleted(OWNER, "Missing")


BIDI_CONTROLS = [
    "\u202a",  # LRE
    "\u202b",  # RLE
    "\u202c",  # PDF
    "\u202d",  # LRO
    "\u202e",  # RLO
    "\u2066",  # LRI
    "\u2067",  # RLI
    "\u2068",  # FSI
    "\u2069",  # PDI
    "\u200e",  # LRM
    "\u200f",  # RLM
    "\u061c",  # ALM
]


@pytest.mark.parametrize("mark", BIDI_CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
async def test_bidi_control_characters_refused_in_mailbox_names(
    store: MailStore, mark: str
) -> None:
    """Reproduces folder names with bidirectional override/embedding/isolate
    characters being created ("Invoices" + RLO + "fdp.exe" lists as
    "Invoicesexe.pdf"): both stores refuse them in CREATE and RENAME, with a
    message a person can act on, and nothing is created."""
    name = f"Invoices{mark}fdp.exe"
    with pytest.raises(InvalidMailboxName) as info:
        await store.create_mailbox(OWNER, name)
    assert "bidirectional" in info.value.public_message
    await store.create_mailbox(OWNER, "Plain")
    with pytest.raises(InvalidMailboxName):
        await store.rename_mailbox(OWNER, "Plain", f"Plain/{name}")
    with pytest.raises(InvalidMailboxName):
        await store.deliver(OWNER, MSG, mailbox=name)
    names = [b.name for b in await store.list_mailboxes(OWNER)]
    assert "Plain" in names and not any(mark in n for n in names)


async def test_right_to_left_scripts_stay_valid_mailbox_names(
    store: MailStore,
) -> None:
    """Hebrew and Arabic names (strong right-to-left letters, no formatting
    characters) are ordinary folder names."""
    for name in ("\u05d3\u05d5\u05d7\u05d5\u05ea", "\u0628\u0631\u064a\u062f 2024"):
        await store.create_mailbox(OWNER, name)
    names = [b.name for b in await store.list_mailboxes(OWNER)]
    assert "\u05d3\u05d5\u05d7\u05d5\u05ea" in names
    assert "\u0628\u0631\u064a\u062f 2024" in names


# -- metadata records (set_indexer, read_meta, save_meta) ------------------------
def record_of(message: bytes) -> bytes:
    """A stand-in indexer: the record names the message it was made from."""
    return b"rec:" + message.split(b"\r\n", 1)[0]


async def test_records_made_at_delivery_follow_copies_not_expunges(
    store: MailStore,
) -> None:
    plain = await store.deliver(OWNER, MSG)  # before an indexer: no record
    store.set_indexer(record_of)
    one = await store.deliver(OWNER, b"Subject: one\r\n\r\n1\r\n")
    two = await store.deliver(OWNER, b"Subject: two\r\n\r\n2\r\n", mailbox="Sent")
    assert await store.read_meta(OWNER, "INBOX", [plain.uid, one.uid, 99]) == {
        one.uid: b"rec:Subject: one"
    }
    assert await store.read_meta(OWNER, "Sent", [two.uid]) == {
        two.uid: b"rec:Subject: two"
    }
    ((_, copied),) = await store.copy(OWNER, "INBOX", [one.uid], "Trash")
    assert await store.read_meta(OWNER, "Trash", [copied]) == {
        copied: b"rec:Subject: one"
    }
    await store.expunge(OWNER, "INBOX", [one.uid])
    assert await store.read_meta(OWNER, "INBOX", [one.uid]) == {}
    store.set_indexer(None)
    three = await store.deliver(OWNER, b"Subject: three\r\n\r\n3\r\n")
    assert await store.read_meta(OWNER, "INBOX", [three.uid]) == {}


async def test_save_meta_fills_only_messages_without_a_record(
    store: MailStore,
) -> None:
    plain = await store.deliver(OWNER, MSG)
    store.set_indexer(record_of)
    indexed = await store.deliver(OWNER, b"Subject: x\r\n\r\nx\r\n")
    await store.save_meta(
        OWNER, "INBOX", {plain.uid: b"later", indexed.uid: b"other", 777: b"gone"}
    )
    assert await store.read_meta(OWNER, "INBOX", [plain.uid, indexed.uid, 777]) == {
        plain.uid: b"later",
        indexed.uid: b"rec:Subject: x",
    }


async def test_an_indexer_that_fails_never_fails_delivery(store: MailStore) -> None:
    def broken(message: bytes) -> bytes:
        raise ValueError("cannot parse")

    store.set_indexer(broken)
    info = await store.deliver(OWNER, MSG)
    assert await store.read_message(OWNER, "INBOX", info.uid) == MSG
    assert await store.read_meta(OWNER, "INBOX", [info.uid]) == {}


# -- mod-sequences (RFC 7162) --------------------------------------------------
async def test_modseq_rises_with_each_store_and_flag_change(store: MailStore) -> None:
    one = await store.deliver(OWNER, MSG)
    two = await store.deliver(OWNER, MSG)
    assert 0 < one.modseq < two.modseq
    info = await store.mailbox_info(OWNER, "INBOX")
    assert info.highestmodseq == two.modseq
    [seen] = await store.set_flags(OWNER, "INBOX", [(1, "+", frozenset({"\\Seen"}))])
    assert seen.modseq > two.modseq
    assert (await store.mailbox_info(OWNER, "INBOX")).highestmodseq == seen.modseq
    # a change that changes nothing keeps the value
    [same] = await store.set_flags(OWNER, "INBOX", [(1, "+", frozenset({"\\Seen"}))])
    assert same.modseq == seen.modseq
    assert (await store.mailbox_info(OWNER, "INBOX")).highestmodseq == seen.modseq
    listed = {m.uid: m.modseq for m in await store.list_messages(OWNER, "INBOX")}
    assert listed == {1: seen.modseq, 2: two.modseq}
    # another mailbox counts on its own, and a copy is a new message there
    pairs = await store.copy(OWNER, "INBOX", [1], "Trash")
    [copied] = await store.list_messages(OWNER, "Trash")
    assert pairs == [(1, copied.uid)] and copied.modseq > 0
    assert (await store.mailbox_info(OWNER, "Trash")).highestmodseq == copied.modseq


async def test_unchanged_since_leaves_newer_messages_alone(store: MailStore) -> None:
    await store.deliver(OWNER, MSG)
    await store.deliver(OWNER, MSG)
    [first] = await store.set_flags(OWNER, "INBOX", [(1, "+", frozenset({"$a"}))])
    both = [(u, "+", frozenset({"\\Flagged"})) for u in (1, 2)]
    before = first.modseq - 1  # message 1 changed after this, message 2 not
    done = await store.set_flags(OWNER, "INBOX", both, unchanged_since=before)
    assert [i.uid for i in done] == [2]
    flags = {m.uid: m.flags for m in await store.list_messages(OWNER, "INBOX")}
    assert flags == {1: frozenset({"$a"}), 2: frozenset({"\\Flagged"})}
    done = await store.set_flags(OWNER, "INBOX", both, unchanged_since=10**12)
    assert [i.uid for i in done] == [1, 2]
    assert "\\Flagged" in (await store.list_messages(OWNER, "INBOX"))[0].flags


async def test_expunge_takes_a_modseq_and_vanished_reports_it(
    store: MailStore,
) -> None:
    for _ in range(4):
        await store.deliver(OWNER, MSG)
    start = (await store.mailbox_info(OWNER, "INBOX")).highestmodseq
    assert await store.vanished(OWNER, "INBOX", start) == []
    await store.expunge(OWNER, "INBOX", [2, 3])
    mid = (await store.mailbox_info(OWNER, "INBOX")).highestmodseq
    assert mid > start
    assert await store.vanished(OWNER, "INBOX", start) == [(2, 3)]
    assert await store.vanished(OWNER, "INBOX", mid) == []
    await store.set_flags(OWNER, "INBOX", [(4, "+", frozenset({"\\Deleted"}))])
    assert await store.expunge_deleted(OWNER, "INBOX") == [4]
    end = (await store.mailbox_info(OWNER, "INBOX")).highestmodseq
    assert await store.vanished(OWNER, "INBOX", mid) == [(4, 4)]
    assert await store.vanished(OWNER, "INBOX", start) == [(2, 4)]
    assert await store.vanished(OWNER, "INBOX", 0) == [(2, 4)]
    assert await store.vanished(OWNER, "INBOX", end) == []


async def test_mailbox_ids(store: MailStore) -> None:
    """RFC 8474 MAILBOXID: one per mailbox, kept across RENAME, new for a
    mailbox created again under a name used before."""
    boxes = {b.name: b.mailbox_id for b in await store.list_mailboxes(OWNER)}
    assert all(i.isalnum() and 1 <= len(i) <= 255 for i in boxes.values())
    assert len(set(boxes.values())) == len(boxes)
    made = await store.create_mailbox(OWNER, "Work")
    assert made.mailbox_id and made.mailbox_id not in boxes.values()
    await store.rename_mailbox(OWNER, "Work", "Jobs")
    assert (await store.mailbox_info(OWNER, "Jobs")).mailbox_id == made.mailbox_id
    await store.delete_mailbox(OWNER, "Jobs")
    again = await store.create_mailbox(OWNER, "Jobs")
    assert again.mailbox_id != made.mailbox_id
    inbox = (await store.mailbox_info(OWNER, "INBOX")).mailbox_id
    await store.rename_mailbox(OWNER, "INBOX", "Old")
    assert (await store.mailbox_info(OWNER, "INBOX")).mailbox_id == inbox
    assert (await store.mailbox_info(OWNER, "Old")).mailbox_id != inbox
