"""The window's rules, "Out of office" and "Forward to", end to end: set
through the facade (as the window does) or the CLI (``user vacation``,
``user forward``), then real mail over SMTP to the running core, read back
from the Maildir and from the relay's sink (replies, forwards)."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.errors import ValidationError
from server.sieve.rules import AutoReply, Forwarding, Rule, RuleSet
from server.sieve.store import ScriptStore
from tests.conftest import ALICE, BOB, RunningCore, start_core
from tests.integration.outbound.conftest import use_relay
from tests.integration.outbound.sink import Sink
from tests.waiting import run_cli as cli

SENDER = "carol@outside.test"


@pytest.fixture
def rcore(tmp_path: Path, sink: Sink) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp",))
    try:
        use_relay(c, sink)
        yield c
    finally:
        c.runtime.stop()


def send(
    core: RunningCore,
    subject: str,
    *,
    sender: str = SENDER,
    to: str = ALICE,
    extra: str = "",
) -> None:
    host, port = core.endpoint("smtp")
    head = f"From: Carol <{SENDER}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
    msg = f"{head}{extra}\r\nbody\r\n"
    with smtplib.SMTP(host, port) as c:
        c.sendmail(sender, [to], msg.encode())


def folder(core: RunningCore, name: str = "", user: str = ALICE) -> list[bytes]:
    md = core.maildir(user) / (f".{name}" if name else "")
    return [p.read_bytes() for sub in ("new", "cur") for p in (md / sub).glob("*")]


def settle(core: RunningCore) -> None:
    assert core.run(core.runtime.services.queue.wait_idle(10))


def test_a_rule_set_in_the_window_files_mail(rcore: RunningCore) -> None:
    rules = RuleSet(
        (
            Rule("subject", "contains", "[club]", "move", "Club", name="club mail"),
            Rule("from", "contains", "carol@", "flag"),
        )
    )
    view = rcore.run(rcore.api.set_user_rules(ALICE, rules))
    assert view.editable and view.rules == rules
    again = rcore.run(rcore.api.user_rules(ALICE))
    assert again.editable and again.rules == rules and "fileinto" in again.text
    send(rcore, "[club] meeting")
    send(rcore, "something else")
    club = folder(rcore, "Club")
    assert len(club) == 1 and b"Subject: [club] meeting" in club[0]
    (inbox,) = list((rcore.maildir(ALICE) / "new").glob("*")) + list(
        (rcore.maildir(ALICE) / "cur").glob("*")
    )
    assert inbox.name.endswith(",F") or ":2,F" in inbox.name  # flagged
    lines = rcore.run(
        rcore.api.try_rules(
            ALICE, rules, "From: carol@outside.test\nSubject: [club] x\n\nhi"
        )
    )
    # the flag rule comes after the move: Sieve applies flags to later stores
    assert lines == ("Move to folder 'Club'",)


def test_global_rules_run_before_the_users(rcore: RunningCore) -> None:
    rcore.run(
        rcore.api.set_global_rules(
            RuleSet(
                (Rule("subject", "contains", "lottery", "move", "Junk", stop=True),)
            )
        )
    )
    rcore.run(
        rcore.api.set_user_rules(
            ALICE, RuleSet((Rule("subject", "contains", "o", "move", "Mine"),))
        )
    )
    send(rcore, "you won the lottery")
    send(rcore, "hello")
    assert len(folder(rcore, "Junk")) == 1
    assert len(folder(rcore, "Mine")) == 1
    with pytest.raises(ValidationError, match="per user"):
        rcore.run(rcore.api.set_global_rules(RuleSet(forwarding=Forwarding((BOB,)))))


def test_a_script_written_elsewhere_is_shown_and_never_replaced(
    rcore: RunningCore,
) -> None:
    store = ScriptStore(rcore.data_dir / "sieve")
    own = 'require "fileinto";\nif true { fileinto "Mine"; }\n'
    store.put(ALICE, "from-thunderbird", own)
    store.set_active(ALICE, "from-thunderbird")
    view = rcore.run(rcore.api.user_rules(ALICE))
    assert not view.editable and view.text == own and view.script == "from-thunderbird"
    with pytest.raises(ValidationError, match="written elsewhere"):
        rcore.run(
            rcore.api.set_user_rules(
                ALICE, RuleSet((Rule("subject", "is", "x", "delete"),))
            )
        )
    assert (
        cli(["--data-dir", str(rcore.data_dir), "user", "forward", ALICE, "--to", BOB])
        == 2
    )
    assert store.get(ALICE, "from-thunderbird") == own
    assert store.active_name(ALICE) == "from-thunderbird"
    assert [s.name for s in store.list_scripts(ALICE)] == ["from-thunderbird"]


def test_vacation_from_the_cli_answers_once_never_to_lists_or_bounces(
    rcore: RunningCore, sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(rcore.data_dir)
    assert (
        cli(
            [
                "--data-dir",
                data,
                "user",
                "vacation",
                ALICE,
                "--on",
                "--subject",
                "Away",
                "--text",
                "Back on Monday.",
                "--days",
                "3",
            ]
        )
        == 0
    )
    assert "out of office: on" in capsys.readouterr().out
    send(rcore, "first")
    send(rcore, "second")
    send(rcore, "list post", extra="List-Id: <club.outside.test>\r\n")
    send(rcore, "bounce", sender="")
    settle(rcore)
    assert sink.wait_messages(1)
    time.sleep(0.3)
    settle(rcore)
    assert len(sink.messages) == 1
    reply = sink.messages[0]
    assert reply.mail_from == "" and reply.rcpts == [SENDER]
    assert b"Subject: Away" in reply.data and b"Back on Monday." in reply.data
    assert len(folder(rcore)) == 4  # every message is still kept
    assert cli(["--data-dir", data, "user", "vacation", ALICE, "--off"]) == 0
    assert rcore.run(rcore.api.user_rules(ALICE)).rules.auto_reply is None


@pytest.mark.parametrize("keep", [True, False])
def test_forward_from_the_cli_with_and_without_a_copy(
    rcore: RunningCore, sink: Sink, keep: bool
) -> None:
    data = str(rcore.data_dir)
    flag = "--keep" if keep else "--no-keep"
    assert (
        cli(
            [
                "--data-dir",
                data,
                "user",
                "forward",
                ALICE,
                "--to",
                "dave@remote.test",
                flag,
            ]
        )
        == 0
    )
    send(rcore, "pass it on")
    assert sink.wait_messages(1)
    settle(rcore)
    assert sink.messages[0].rcpts == ["dave@remote.test"]
    assert b"Subject: pass it on" in sink.messages[0].data
    assert len(folder(rcore)) == (1 if keep else 0)
    view = rcore.run(rcore.api.user_rules(ALICE))
    assert view.rules.forwarding == Forwarding(("dave@remote.test",), keep)


def test_dated_out_of_office_outside_its_dates_sends_nothing(
    rcore: RunningCore, sink: Sink
) -> None:
    rcore.run(
        rcore.api.set_user_rules(
            ALICE,
            RuleSet(
                auto_reply=AutoReply("Away", "Gone.", 1, "2001-01-01", "2001-01-31")
            ),
        )
    )
    send(rcore, "anyone there?")
    settle(rcore)
    time.sleep(0.3)
    assert sink.messages == []
    assert len(folder(rcore)) == 1
