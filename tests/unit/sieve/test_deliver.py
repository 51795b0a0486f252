"""Sieve at local delivery: ``LocalDelivery`` + ``SieveDelivery`` with a real
Maildir store, a real script store and a real state file; the queue is an
outbox that records what it was given (and, like the queue, takes one job id
once while it holds it)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from server.accounts.base import User
from server.delivery.base import Accepted, Envelope
from server.delivery.local import LocalDelivery
from server.errors import TemporaryError
from server.sieve.deliver import ScriptRejected, SieveDelivery, sanitize_reason
from server.sieve.loading import RECHECK_SECONDS, ScriptCache, ScriptFinder
from server.sieve.seen import SieveStateStore
from server.sieve.store import ScriptStore
from server.storage.maildir import MaildirStore

DOMAIN = "example.test"
ALICE = "alice@example.test"
BOB = "bob@example.test"
SENDER = "carol@outside.test"


def msg(subject: str = "hello", *extra: str, to: str = ALICE) -> bytes:
    head = [
        f"From: Carol <{SENDER}>",
        f"To: <{to}>",
        f"Subject: {subject}",
        f"Message-ID: <{subject.replace(' ', '-')}@outside.test>",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\nbody text\r\n").encode()


class Accounts:
    users = (ALICE, BOB)

    def resolve(self, address: str) -> list[str] | None:
        if address == f"team@{DOMAIN}":
            return [ALICE, BOB]
        local, _, domain = address.partition("@")
        base = local.split("+")[0] + "@" + domain
        return [base] if base in self.users else None

    def get_user(self, address: str) -> User | None:
        if address not in self.users:
            return None
        local, domain = address.split("@")
        return User(address, local, domain)


@dataclass
class Outbox:
    sent: list[tuple[Envelope, bytes, str]] = field(default_factory=list)
    fail: bool = False
    _ids: set[str] = field(default_factory=set)

    async def submit(
        self, envelope: Envelope, message: bytes, *, job_id: str
    ) -> Accepted:
        if self.fail:
            raise TemporaryError("Cannot queue the message now; try again later")
        if job_id not in self._ids:
            self._ids.add(job_id)
            self.sent.append((envelope, message, job_id))
        return Accepted(job_id, queued=envelope.recipients)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    tmp: Path
    store: MaildirStore
    scripts: ScriptStore
    state: SieveStateStore
    sieve: SieveDelivery
    local: LocalDelivery
    outbox: Outbox
    clock: Clock
    jobs: int = 0

    async def deliver(
        self,
        message: bytes,
        rcpt: str = ALICE,
        *,
        sender: str = SENDER,
        job: str | None = None,
        at_smtp: bool = False,
    ) -> str:
        if job is None:
            self.jobs += 1
            job = f"job{self.jobs:04d}"
        await self.local.deliver(
            job, 1_700_000_000.0, sender, rcpt, message, at_smtp=at_smtp
        )
        return job

    async def folder(self, name: str, user: str = ALICE) -> list[bytes]:
        infos = await self.store.list_messages(user, name)
        return [await self.store.read_message(user, name, i.uid) for i in infos]

    def user_script(self, text: str, user: str = ALICE, name: str = "main") -> None:
        self.scripts.put(user, name, text)
        self.scripts.set_active(user, name)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = MaildirStore(tmp_path / "mail", "mail.example.test")
    for u in (ALICE, BOB):
        await store.ensure_user(u)
    scripts = ScriptStore(tmp_path / "sieve")
    clock = Clock()
    state = SieveStateStore(
        tmp_path / "state.sqlite3", tmp_path / "corrupt", clock=clock
    )
    sieve = SieveDelivery(
        ScriptFinder(scripts, clock=clock),
        state,
        store,
        "mail.example.test",
        clock=clock,
    )
    outbox = Outbox()
    sieve.attach_outbox(outbox)
    local = LocalDelivery(Accounts(), store, "mail.example.test", sieve)  # type: ignore[arg-type]
    try:
        yield Rig(tmp_path, store, scripts, state, sieve, local, outbox, clock)
    finally:
        state.close()


# -- no scripts: today's path --


async def test_no_scripts_takes_the_plain_path(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No script anywhere: the probe says no, the scripts never load (no
    thread hop into Sieve), and the copy lands in INBOX as before."""
    calls: list[str] = []

    async def spy(*a: object, **k: object) -> None:
        calls.append("sieve")

    monkeypatch.setattr(rig.sieve, "deliver", spy)
    assert not rig.sieve.wanted(ALICE)
    await rig.deliver(msg())
    assert calls == []
    monkeypatch.undo()
    (copy,) = await rig.folder("INBOX")
    assert copy.startswith(b"Return-Path: <carol@outside.test>\r\n")
    # an empty global folder, once it is old enough, is remembered as empty;
    # made by hand (not through a ScriptStore), it is seen within
    # RECHECK_SECONDS
    before = rig.scripts.global_dir("before")
    before.mkdir(parents=True)
    os.utime(before, (1_000_000, 1_000_000))
    rig.clock.now += RECHECK_SECONDS
    assert rig.sieve.wanted(ALICE)  # not listed yet
    await rig.deliver(msg("two"))
    assert not rig.sieve.wanted(ALICE)
    assert len(await rig.folder("INBOX")) == 2


# -- storing --


async def test_fileinto_create_files_into_a_new_folder(rig: Rig) -> None:
    rig.user_script('require ["fileinto", "mailbox"]; fileinto :create "Lists";')
    await rig.deliver(msg())
    (copy,) = await rig.folder("Lists")
    assert b"Subject: hello" in copy and copy.startswith(b"Return-Path: ")
    assert await rig.folder("INBOX") == []


async def test_fileinto_missing_folder_without_create_goes_to_inbox(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.user_script('require "fileinto"; fileinto "Nowhere";')
    with caplog.at_level(logging.INFO, logger="quicksilver.sieve"):
        await rig.deliver(msg())
    assert len(await rig.folder("INBOX")) == 1
    names = {m.name for m in await rig.store.list_mailboxes(ALICE)}
    assert "Nowhere" not in names
    assert "does not exist" in caplog.text and "body text" not in caplog.text


async def test_flags_copy_and_keep(rig: Rig) -> None:
    rig.user_script(
        'require ["fileinto", "copy", "imap4flags", "mailbox"];'
        'addflag "\\\\Flagged"; addflag "project";'
        'fileinto :copy :create "Archive";'
    )
    await rig.deliver(msg())
    (arch,) = await rig.store.list_messages(ALICE, "Archive")
    (inbox,) = await rig.store.list_messages(ALICE, "INBOX")
    assert {"\\Flagged", "project"} <= set(arch.flags)
    assert {"\\Flagged", "project"} <= set(inbox.flags)


async def test_discard_stores_nothing(rig: Rig) -> None:
    rig.user_script('if header :contains "subject" "spam" { discard; }')
    await rig.deliver(msg("buy spam now"))
    await rig.deliver(msg("real mail"))
    (kept,) = await rig.folder("INBOX")
    assert b"real mail" in kept


async def test_editheader_changes_the_stored_copy_only(rig: Rig) -> None:
    rig.user_script(
        'require ["editheader", "fileinto", "copy"];'
        'addheader "X-Filed" "by sieve"; deleteheader "Message-ID";'
        'redirect :copy "dave@remote.test";'
    )
    await rig.deliver(msg())
    (stored,) = await rig.folder("INBOX")
    assert b"X-Filed: by sieve" in stored and b"Message-ID" not in stored
    assert stored.startswith(b"Return-Path: <carol@outside.test>\r\nX-Filed:")
    assert stored.endswith(b"\r\n\r\nbody text\r\n")
    # the edits were made before the redirect: its copy carries them too
    (_env, sent, _jid) = rig.outbox.sent[0]
    assert b"X-Filed: by sieve" in sent


async def test_global_before_user_and_after_run_in_order(rig: Rig) -> None:
    rig.scripts.put_global(
        "before",
        "spam",
        'require ["fileinto", "mailbox"];'
        'if header :contains "subject" "SPAM" { fileinto :create "Junk"; stop; }',
    )
    rig.user_script('require ["fileinto", "mailbox"]; fileinto :create "Mine";')
    rig.scripts.put_global(
        "after", "tag", 'require "imap4flags"; addflag "$seen-by-after";'
    )
    await rig.deliver(msg("SPAM offer"))
    await rig.deliver(msg("normal"))
    assert len(await rig.folder("Junk")) == 1
    (mine,) = await rig.folder("Mine")
    assert b"normal" in mine
    assert await rig.folder("INBOX") == []


async def test_replay_stores_once_per_folder(rig: Rig) -> None:
    """A job delivered again (a crash before the queue recorded it) finds its
    copies by their per-folder keys and stores nothing twice."""
    rig.user_script(
        'require ["fileinto", "copy", "mailbox"]; fileinto :copy :create "A";'
        'fileinto :create "B";'
    )
    for _ in range(2):
        await rig.deliver(msg(), job="replayed")
    assert len(await rig.folder("A")) == 1
    assert len(await rig.folder("B")) == 1
    assert await rig.folder("INBOX") == []


# -- errors keep the message --


async def test_runtime_error_keeps_in_inbox(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.user_script(
        'require ["regex", "variables", "fileinto"];'
        'set "p" "(unclosed"; fileinto "Elsewhere";'
        'if header :regex "subject" "${p}" { discard; }'
    )
    with caplog.at_level(logging.INFO, logger="quicksilver.sieve"):
        await rig.deliver(msg())
    assert len(await rig.folder("INBOX")) == 1
    assert f"script main for {ALICE} failed at line 1" in caplog.text


async def test_broken_script_is_logged_once_per_change(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.user_script("fileinto 'oops")
    with caplog.at_level(logging.WARNING, logger="quicksilver.sieve"):
        await rig.deliver(msg("one"))
        await rig.deliver(msg("two"))
    assert caplog.text.count("does not compile") == 1
    assert len(await rig.folder("INBOX")) == 2
    rig.user_script('require "fileinto"; fileinto "INBOX"; if true {')
    with caplog.at_level(logging.WARNING, logger="quicksilver.sieve"):
        await rig.deliver(msg("three"))
    assert caplog.text.count("does not compile") == 2


async def test_cache_recompiles_only_on_change(rig: Rig) -> None:
    cache = rig.sieve.finder.cache
    rig.user_script("keep;")
    await rig.deliver(msg("1"))
    await rig.deliver(msg("2"))
    assert cache.compiles == 1
    rig.user_script("discard;")  # same name, new file
    await rig.deliver(msg("3"))
    assert cache.compiles == 2
    assert len(await rig.folder("INBOX")) == 2


def test_cache_is_bounded(tmp_path: Path) -> None:
    cache = ScriptCache(max_scripts=3, max_bytes=10_000)
    for i in range(5):
        p = tmp_path / f"s{i}.sieve"
        p.write_text("keep;" + " " * 100)
        assert cache.load(p, p.name) is not None
    assert len(cache) == 3
    small = ScriptCache(max_scripts=100, max_bytes=250)
    for i in range(5):
        small.load(tmp_path / f"s{i}.sieve", "x")
    assert len(small) == 2


async def test_failed_redirect_keeps_in_inbox(rig: Rig) -> None:
    rig.user_script('redirect "dave@remote.test";')
    rig.outbox.fail = True
    await rig.deliver(msg())
    assert len(await rig.folder("INBOX")) == 1


# -- redirect --


async def test_redirect_keeps_sender_marks_and_sends_once(rig: Rig) -> None:
    rig.user_script('redirect "dave@remote.test";')
    await rig.deliver(msg(), job="r1")
    await rig.deliver(msg(), job="r1")  # the replay of the same job
    assert await rig.folder("INBOX") == []
    (env, data, job_id) = rig.outbox.sent[0]
    assert len(rig.outbox.sent) == 1
    assert env.sender == SENDER and env.recipients == ("dave@remote.test",)
    assert data.startswith(b"Delivered-To: alice@example.test\r\nFrom: Carol")
    # the queue forgot the job (delivered): the ledger still stops a resend
    rig.outbox._ids.clear()
    await rig.deliver(msg(), job="r1")
    assert len(rig.outbox.sent) == 1
    await rig.deliver(msg(), job="r2")
    assert len(rig.outbox.sent) == 2 and rig.outbox.sent[1][2] != job_id


async def test_redirect_loop_is_kept_not_resent(rig: Rig) -> None:
    rig.user_script('redirect "dave@remote.test";')
    looped = msg("loop", "Delivered-To: dave@remote.test")
    await rig.deliver(looped)
    assert rig.outbox.sent == []
    assert len(await rig.folder("INBOX")) == 1


# -- reject --


async def test_reject_at_smtp_time_raises_with_a_clean_reason(rig: Rig) -> None:
    rig.user_script('require "reject"; reject "No thanks.\r\n250 fake ok\tbye";')
    with pytest.raises(ScriptRejected) as info:
        await rig.deliver(msg(), at_smtp=True)
    assert info.value.smtp_reply() == "550 5.7.1 No thanks. 250 fake ok bye"
    assert await rig.folder("INBOX") == [] and rig.outbox.sent == []


async def test_reject_after_smtp_sends_a_dsn_from_null(rig: Rig) -> None:
    rig.user_script('require "ereject"; ereject "Go away";')
    await rig.deliver(msg())
    assert await rig.folder("INBOX") == []
    (env, data, _jid) = rig.outbox.sent[0]
    assert env.sender == "" and env.recipients == (SENDER,)
    dsn = email.message_from_bytes(data, policy=email.policy.default)
    assert dsn.get_content_type() == "multipart/report"
    assert b"Status: 5.7.1" in data and b"550 5.7.1 Go away" in data
    # a team alias (two users): never at SMTP time, a DSN instead
    await rig.deliver(msg("team"), f"team@{DOMAIN}", at_smtp=True)
    assert len(rig.outbox.sent) == 2
    assert len(await rig.folder("INBOX", BOB)) == 1


async def test_reject_to_null_sender_sends_nothing(rig: Rig) -> None:
    rig.user_script('require "reject"; reject "no";')
    await rig.deliver(msg(), sender="")
    assert rig.outbox.sent == [] and await rig.folder("INBOX") == []


def test_sanitize_reason() -> None:
    assert sanitize_reason("a\r\nb\x00c é") == "a b c ?"
    assert sanitize_reason("") == "Message rejected by the recipient's filter"
    assert len(sanitize_reason("x" * 1000)) == 200


# -- vacation --

VACATION = 'require "vacation"; vacation :days 3 :subject "Away" "I am away.";'


async def test_vacation_once_per_period(rig: Rig) -> None:
    rig.user_script(VACATION)
    await rig.deliver(msg("first"))
    await rig.deliver(msg("second"))
    assert len(rig.outbox.sent) == 1
    env, data, _ = rig.outbox.sent[0]
    assert env.sender == "" and env.recipients == (SENDER,)
    reply = email.message_from_bytes(data, policy=email.policy.default)
    assert reply["Subject"] == "Away" and reply["In-Reply-To"] == "<first@outside.test>"
    assert reply["Auto-Submitted"].startswith("auto-replied")
    assert len(await rig.folder("INBOX")) == 2  # vacation keeps the mail
    rig.clock.now += 3 * 86400 + 1
    await rig.deliver(msg("third"))
    assert len(rig.outbox.sent) == 2


async def test_vacation_never_to_lists_bulk_or_null(rig: Rig) -> None:
    rig.user_script(VACATION)
    await rig.deliver(msg("list", "List-Id: <news.outside.test>"))
    await rig.deliver(msg("bulk", "Precedence: bulk"))
    await rig.deliver(msg("auto", "Auto-Submitted: auto-generated"))
    await rig.deliver(msg("bounce"), sender="")
    await rig.deliver(msg("bcc", to="someone@else.test"))
    assert rig.outbox.sent == []
    assert len(await rig.folder("INBOX")) == 5


async def test_vacation_replay_sends_once(rig: Rig) -> None:
    rig.user_script(VACATION)
    await rig.deliver(msg(), job="v1")
    rig.outbox._ids.clear()
    await rig.deliver(msg(), job="v1")
    assert len(rig.outbox.sent) == 1
    assert len(await rig.folder("INBOX")) == 1


# -- the state store --


def test_state_store_expires_and_is_bounded(tmp_path: Path) -> None:
    clock = Clock()
    st = SieveStateStore(
        tmp_path / "s.sqlite3", tmp_path / "corrupt", clock=clock, max_seen=10
    )
    st.mark_replied("u", "k", 60)
    assert st.replied_before("u", "k") and not st.replied_before("v", "k")
    clock.now += 61
    assert not st.replied_before("u", "k")
    for i in range(30):
        st.mark_replied("u", f"k{i}", 1000 + i)
    st.prune()
    db = st._conn()
    assert db.execute("SELECT count(*) FROM vacation_seen").fetchone()[0] == 10
    assert st.replied_before("u", "k29") and not st.replied_before("u", "k0")
    st.mark_sent("x")
    assert st.was_sent("x") and not st.was_sent("y")
    st.close()


def test_state_store_moves_a_damaged_file_aside(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    st = SieveStateStore(path, tmp_path / "corrupt")
    assert not st.was_sent("x")
    st.mark_sent("x")
    assert st.was_sent("x")
    st.close()
    (moved,) = (tmp_path / "corrupt").iterdir()
    assert moved.read_bytes().startswith(b"this is not a database")


async def test_scripts_run_off_the_loop(rig: Rig) -> None:
    """The run happens in a worker thread: a script holding the CPU for a
    while (a large body search) never runs on the loop's thread."""
    import threading

    seen: list[str] = []
    real = rig.sieve._evaluate

    def spy(*a: object, **k: object) -> object:
        seen.append(threading.current_thread().name)
        return real(*a, **k)  # type: ignore[arg-type]

    rig.sieve._evaluate = spy  # type: ignore[method-assign]
    rig.user_script('require "body"; if body :contains "text" { keep; }')
    await rig.deliver(msg())
    assert seen and all(n != threading.main_thread().name for n in seen)
    await asyncio.sleep(0)


async def test_mailboxexists_sees_the_folders_and_create_alone_does_not_list(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 5490 mailboxexists answers from the user's real folder list; a
    script that only uses ``:create`` never pays for listing the folders."""
    listed: list[str] = []
    real = rig.store.list_mailboxes

    async def spy(owner: str) -> object:
        listed.append(owner)
        return await real(owner)

    monkeypatch.setattr(rig.store, "list_mailboxes", spy)
    rig.user_script('require ["fileinto", "mailbox"]; fileinto :create "Made";')
    await rig.deliver(msg("one"))
    assert listed == [] and len(await rig.folder("Made")) == 1
    rig.user_script(
        'require ["fileinto", "mailbox"];'
        'if mailboxexists "Made" { fileinto "Made"; } else { discard; }'
        'if mailboxexists "Absent" { fileinto "Made"; }'
    )
    await rig.deliver(msg("two"))
    assert listed == [ALICE]
    assert len(await rig.folder("Made")) == 2
