"""server/lists: the store's checks and the copy members get."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.errors import ValidationError
from server.lists.service import ListService, verp
from server.lists.store import BOUNCES_TO_DISABLE, ListStore, MailList


@pytest.fixture
def store(tmp_path: Path) -> ListStore:
    s = ListStore(tmp_path / "lists.sqlite3")
    s.save(MailList("team@example.test", "Team", prefix="[team]"))
    return s


def service(store: ListStore) -> ListService:
    return ListService(store, None)  # type: ignore[arg-type]  # not used here


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("team-request@example.test", "may not end"),
        ("bad name@example.test", "letters, digits"),
        ("nodomain", "name@domain"),
    ],
)
def test_bad_list_addresses(store: ListStore, address: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        store.save(MailList(address))


def test_routes(store: ListStore) -> None:
    svc = service(store)
    assert svc.route("TEAM@example.test") is not None
    assert svc.route("team-request@example.test")[1] == "request"  # type: ignore[index]
    assert svc.route("team-bounces+a=b.c@example.test")[1:] == ("bounces", "a=b.c")  # type: ignore[index]
    assert svc.route("team-confirm+abc@example.test")[1:] == ("confirm", "abc")  # type: ignore[index]
    for other in ("team+x@example.test", "team@other.test", "teams@example.test"):
        assert svc.route(other) is None, other
    assert (
        verp(MailList("team@example.test"), "a@b.c")
        == "team-bounces+a=b.c@example.test"
    )


def test_the_members_copy(store: ListStore) -> None:
    ml = store.get("team@example.test")
    assert ml is not None
    msg = (
        b"From: a@b.c\r\nSubject: Re: [TEAM] hi\r\nList-Id: <other.list>\r\n"
        b"Reply-To: a@b.c\r\nReturn-Path: <x@y>\r\n\r\nbody\r\n"
    )
    copy = service(store).list_copy(ml, msg)
    head, body = copy.split(b"\r\n\r\n", 1)
    assert body == b"body\r\n"
    assert b"Subject: Re: [TEAM] hi" in head  # one prefix is enough
    assert b"<other.list>" not in head and b"Return-Path" not in head
    assert head.count(b"Reply-To:") == 1 and b"Reply-To: team@example.test" in head
    sender = MailList("team@example.test", reply_to="sender", prefix="[team]")
    kept = service(store).list_copy(sender, b"Subject: x\r\nReply-To: a@b.c\r\n\r\nb")
    assert b"Reply-To: a@b.c" in kept and b"Subject: [team] x" in kept


def test_bounce_count_switches_off(store: ListStore) -> None:
    store.add_member("team@example.test", "A@B.c")
    for i in range(1, BOUNCES_TO_DISABLE + 1):
        m = store.count_bounce("team@example.test", "a@b.c")
        assert m is not None and m.bounces == i
    assert m is not None and not m.enabled
    store.add_member("team@example.test", "a@b.c")  # added again: on, count reset
    (back,) = store.members("team@example.test")
    assert back.enabled and back.bounces == 0


def test_another_process_s_new_list_is_seen_within_a_second(
    store: ListStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """addresses() is a set in memory; a list made by another connection (the
    shell) shows once NAMES_RECHECK has passed."""
    import server.lists.store as mod

    assert store.addresses() == {"team@example.test"}
    other = ListStore(tmp_path / "lists.sqlite3")
    other.save(MailList("news@example.test"))
    assert store.addresses() == {"team@example.test"}  # within the second
    monkeypatch.setattr(mod, "NAMES_RECHECK", 0.0)
    assert store.addresses() == {"team@example.test", "news@example.test"}
    store.remove("news@example.test")  # our own change: at once
    monkeypatch.setattr(mod, "NAMES_RECHECK", 60.0)
    assert store.addresses() == {"team@example.test"}
    other.close()
