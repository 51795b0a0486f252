"""fanout.py (who a collected message is for, loops) and store.py (account
checks; the pending/done steps that make a collection exactly-once)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.errors import ValidationError
from server.fetch import fanout
from server.fetch.store import FetchAccount, FetchStore, check_account


def view(head: str) -> fanout.HeaderView:
    return fanout.read_header((head + "\r\n\r\nbody\r\n").encode())


def test_delivery_headers_come_before_to_and_cc() -> None:
    v = view(
        "Delivered-To: Bob@Example.test\r\nX-Original-To: carol@example.test\r\n"
        "To: Alice <alice@example.test>, bob@example.test\r\n"
        'Cc: "Dave, D." <dave@example.test>\r\n  (folded)'
    )
    delivered, addressed = fanout.candidates(v)
    assert delivered == ["bob@example.test", "carol@example.test"]
    assert addressed == ["alice@example.test", "bob@example.test", "dave@example.test"]


def test_our_own_mark_or_too_many_hops_is_a_loop() -> None:
    assert fanout.been_here(view("To: a@b.c"), "mail.example.test") == ""
    marked = view(f"{fanout.LOOP_HEADER}: MAIL.example.test\r\nTo: a@b.c")
    assert "mark" in fanout.been_here(marked, "mail.example.test")
    other = view(f"{fanout.LOOP_HEADER}: other.host\r\nTo: a@b.c")
    assert fanout.been_here(other, "mail.example.test") == ""
    hops = "".join(f"Received: from h{i}\r\n" for i in range(fanout.MAX_RECEIVED + 1))
    assert "Received" in fanout.been_here(view(hops + "To: a@b.c"), "x")


def test_return_path() -> None:
    assert fanout.return_path(view("Return-Path: <bob@x.test>")) == "bob@x.test"
    assert fanout.return_path(view("Return-Path: <>")) == ""
    assert fanout.return_path(view("To: a@b.c")) == ""


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_header_is_read_without_an_exception(raw: bytes) -> None:
    v = fanout.read_header(raw)
    delivered, addressed = fanout.candidates(v)
    assert len(delivered) <= fanout.MAX_CANDIDATES
    assert len(addressed) <= fanout.MAX_CANDIDATES
    fanout.been_here(v, "h")


GOOD = FetchAccount(
    id="Office",
    server="POP.Example.test.",
    username=" u ",
    destination="Alice@Example.test",
)


def test_an_account_is_normalized() -> None:
    a = check_account(GOOD)
    assert (a.id, a.server, a.username, a.destination) == (
        "office",
        "pop.example.test",
        "u",
        "alice@example.test",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "bad name"}, "id"),
        ({"server": ""}, "server"),
        ({"server": "a b"}, "server"),
        ({"protocol": "smtp"}, "protocol"),
        ({"security": "maybe"}, "security"),
        ({"port": 0}, "port"),
        ({"username": ""}, "username"),
        ({"interval": 5}, "interval"),
        ({"folder": 'a"b'}, "folder"),
        ({"destination": "", "default_user": ""}, "destination"),
        ({"fingerprint": "12:34"}, "fingerprint"),
        ({"delete_after_days": -1}, "delete_after_days"),
    ],
)
def test_bad_accounts_name_their_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        check_account(dataclasses.replace(GOOD, **change))  # type: ignore[arg-type]
    assert exc.value.field == field


def test_pending_keeps_its_time_and_done_is_remembered(tmp_path: Path) -> None:
    s = FetchStore(tmp_path / "fetch.sqlite3")
    s.save(GOOD)
    first = s.begin("office", "uid-1", 100.0)
    assert s.begin("office", "uid-1", 200.0) == first == 100.0  # a replay: same time
    assert s.seen("office")["uid-1"].state == "pending"
    s.mark("office", "uid-1", "done")
    s.mark("office", "uid-2", "big")
    assert {k: v.state for k, v in s.seen("office").items()} == {
        "uid-1": "done",
        "uid-2": "big",
    }
    assert s.forget_missing("office", {"uid-2"}) == 1
    assert set(s.seen("office")) == {"uid-2"}
    s.request_check("office", 50.0)
    assert s.take_check_requests() == ["office"]
    assert s.take_check_requests() == []  # taken once
    s.record_poll("office", 60.0, 3, "", 0)
    st = s.statuses()["office"]
    assert (st.total, st.check_requested) == (3, 0)
    assert s.remove("office") and s.seen("office") == {}
    s.close()
