"""Distribution lists end to end: real SMTP to the running core, copies read
back from the members' Maildirs and from the relay's sink (remote members,
confirmations), membership read from the list store."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.lists.store import BOUNCES_TO_DISABLE, MailList
from tests.conftest import ALICE, BOB, RunningCore, start_core
from tests.integration.outbound.conftest import use_relay
from tests.integration.outbound.sink import Sink
from tests.waiting import run_cli as cli
from tests.waiting import wait_until

LIST = "team@example.test"
DAVE = "dave@remote.test"  # a remote member: his copy goes to the sink
CAROL = "carol@outside.test"


@pytest.fixture
def lcore(tmp_path: Path, sink: Sink) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp",))
    try:
        use_relay(c, sink)
        c.run(c.api.save_list(MailList(LIST, "The team", prefix="[team]")))
        for m in (ALICE, BOB, DAVE):
            c.run(c.api.add_list_member(LIST, m))
        yield c
    finally:
        c.runtime.stop()


def send(
    core: RunningCore,
    to: str,
    subject: str,
    *,
    sender: str = ALICE,
    extra: str = "",
    body: str = "hello all",
) -> None:
    host, port = core.endpoint("smtp")
    head = f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n{extra}"
    with smtplib.SMTP(host, port) as c:
        c.sendmail(sender, [to], f"{head}\r\n{body}\r\n".encode())


def inbox(core: RunningCore, user: str) -> list[bytes]:
    md = core.maildir(user)
    return [p.read_bytes() for sub in ("new", "cur") for p in (md / sub).glob("*")]


def reply_to_of(data: bytes) -> str:
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"reply-to:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError("no Reply-To")


def settle(core: RunningCore) -> None:
    assert core.run(core.runtime.services.queue.wait_idle(10))


def test_a_members_post_reaches_every_member_with_the_list_headers(
    lcore: RunningCore, sink: Sink
) -> None:
    send(lcore, LIST, "Lunch on Friday?")
    settle(lcore)
    assert sink.wait_messages(1)
    for user in (ALICE, BOB):
        wait_until(lambda u=user: inbox(lcore, u), f"the post reached {user}")
        (copy,) = inbox(lcore, user)
        local = user.replace("@", "=")
        assert copy.startswith(
            f"Return-Path: <team-bounces+{local}@example.test>\n".encode()
        )
        assert b'List-Id: "The team" <team.example.test>' in copy
        assert (
            b"List-Unsubscribe: <mailto:team-request@example.test?subject=unsubscribe>"
            in copy
        )
        assert b"List-Post: <mailto:team@example.test>" in copy
        assert b"Subject: [team] Lunch on Friday?" in copy
        assert b"Reply-To: team@example.test" in copy
        assert b"Precedence: list" in copy
    remote = sink.messages[0]
    assert remote.rcpts == [DAVE]
    assert remote.mail_from == "team-bounces+dave=remote.test@example.test"
    # a reply keeps one prefix, not two
    send(lcore, LIST, "Re: [team] Lunch on Friday?", sender=BOB)
    settle(lcore)
    wait_until(lambda: len(inbox(lcore, ALICE)) == 2, "the reply reached alice")
    assert any(
        b"Subject: Re: [team] Lunch on Friday?\n" in m for m in inbox(lcore, ALICE)
    )


def test_a_strangers_post_waits_for_a_moderator(lcore: RunningCore, sink: Sink) -> None:
    lcore.run(lcore.api.set_list_moderators(LIST, (BOB,)))
    send(lcore, LIST, "Buy my stuff", sender=CAROL)
    settle(lcore)
    (held,) = lcore.run(lcore.api.held_posts())
    assert held.sender == CAROL and held.subject == "Buy my stuff"
    assert inbox(lcore, ALICE) == []
    notice = inbox(lcore, BOB)  # the moderator is told
    assert len(notice) == 1 and b"waits for a moderator" in notice[0]
    assert lcore.run(lcore.api.approve_post(held.id)) == 3
    settle(lcore)
    wait_until(lambda: inbox(lcore, ALICE), "the approved post reached alice")
    assert b"Subject: [team] Buy my stuff" in inbox(lcore, ALICE)[0]
    assert lcore.run(lcore.api.held_posts()) == ()
    send(lcore, LIST, "Again", sender=CAROL)
    settle(lcore)
    (again,) = lcore.run(lcore.api.held_posts())
    lcore.run(lcore.api.reject_post(again.id))
    assert lcore.run(lcore.api.held_posts()) == ()


def test_approved_from_the_shell_is_sent_by_the_running_core(
    lcore: RunningCore,
) -> None:
    send(lcore, LIST, "From outside", sender=CAROL)
    settle(lcore)
    (held,) = lcore.run(lcore.api.held_posts())
    assert cli(["--data-dir", str(lcore.data_dir), "list", "approve", held.id]) == 0
    wait_until(
        lambda: inbox(lcore, ALICE),
        "the post approved in the shell arrived",
        within=10,
    )
    wait_until(
        lambda: lcore.run(lcore.api.held_posts()) == (), "the post left the queue"
    )


def test_subscribe_by_mail_needs_the_confirmation(
    lcore: RunningCore, sink: Sink
) -> None:
    send(lcore, "team-request@example.test", "subscribe", sender=CAROL, body="")
    settle(lcore)
    assert sink.wait_messages(1)
    confirm = sink.messages[-1]
    assert confirm.rcpts == [CAROL]
    assert not any(m.address == CAROL for m in lcore.run(lcore.api.list_members(LIST)))
    reply_to = reply_to_of(confirm.data)
    assert reply_to.startswith("team-confirm+") and reply_to.endswith("@example.test")
    send(lcore, "team-confirm+0123456789abcdef@example.test", "Re: wrong", sender=CAROL)
    settle(lcore)
    assert not any(m.address == CAROL for m in lcore.run(lcore.api.list_members(LIST)))
    send(lcore, reply_to, "Re: Confirm subscribe", sender=CAROL)
    settle(lcore)
    assert any(m.address == CAROL for m in lcore.run(lcore.api.list_members(LIST)))
    # and leaving works the same way
    send(lcore, "team-request@example.test", "unsubscribe", sender=CAROL, body="")
    settle(lcore)
    wait_until(lambda: len(sink.messages) >= 3, "the unsubscribe confirmation")
    leave = reply_to_of(sink.messages[-1].data)
    send(lcore, leave, "Re: Confirm unsubscribe", sender=CAROL)
    settle(lcore)
    assert not any(m.address == CAROL for m in lcore.run(lcore.api.list_members(LIST)))


def test_bounces_are_counted_and_switch_a_member_off(lcore: RunningCore) -> None:
    verp = "team-bounces+dave=remote.test@example.test"
    for _ in range(BOUNCES_TO_DISABLE):
        send(lcore, verp, "Undelivered Mail", sender="")
    settle(lcore)
    (dave,) = [m for m in lcore.run(lcore.api.list_members(LIST)) if m.address == DAVE]
    assert dave.bounces == BOUNCES_TO_DISABLE and not dave.enabled


def test_loops_and_automatic_mail_are_not_posted(lcore: RunningCore) -> None:
    send(lcore, LIST, "loop", extra=f"X-Loop: {LIST}\r\n")
    send(lcore, LIST, "auto", extra="Auto-Submitted: auto-replied\r\n")
    send(lcore, LIST, "bounce", sender="")
    settle(lcore)
    time.sleep(0.3)
    assert inbox(lcore, BOB) == []


def test_rcpt_takes_the_lists_addresses_only(lcore: RunningCore) -> None:
    host, port = lcore.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        c.mail(CAROL)
        for ok in (
            LIST,
            "team-request@example.test",
            "team-bounces+x=y.z@example.test",
        ):
            assert c.rcpt(ok)[0] == 250, ok
        for bad in (
            "team-other@example.test",
            "team+x@example.test",
            "nolist-request@example.test",
        ):
            assert c.rcpt(bad)[0] == 550, bad


def test_a_catch_all_does_not_swallow_the_list(lcore: RunningCore) -> None:
    """A domain's catch-all takes unknown addresses, not a list's."""
    lcore.run(lcore.api.set_alias("*@example.test", (BOB,)))
    send(lcore, LIST, "still a post")
    send(lcore, "nobody@example.test", "for the catch-all")
    settle(lcore)
    wait_until(lambda: inbox(lcore, ALICE), "the post reached alice")
    assert any(b"Subject: [team] still a post" in m for m in inbox(lcore, ALICE))
    wait_until(lambda: len(inbox(lcore, BOB)) == 2, "bob's two messages")
