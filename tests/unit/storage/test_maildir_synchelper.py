"""The group commit's helper process (server/storage/maildir_synchelper.py):
deliveries made on the loop are synced by a child process before they
return; a failed sync takes them out; a child that dies or leaves hands its
round to the committer thread, and nothing waits for ever."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path

import pytest

from server import fsutil
from server.errors import TemporaryError
from server.storage import maildir_synchelper
from server.storage.maildir import MaildirStore
from server.storage.maildir_synchelper import CHILD, SyncHelper
from tests.waiting import until

from .common import MSG, OWNER

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="syncfs is Linux's"
)

# The real child, which first writes what it saw to a record file: for each
# request, INBOX's new/ as it was before the ``syncfs`` and the time the
# ``syncfs`` returned.
RECORDING = CHILD.replace(
    "import ctypes, os, select, sys", "import ctypes, json, os, select, sys, time"
).replace(
    "    if libc.syncfs(fd) == 0:",
    "    seen = sorted(os.listdir(sys.argv[1] + '/example.org/alice/new'))\n"
    "    r = libc.syncfs(fd)\n"
    "    with open(sys.argv[1] + '/../syncs.jsonl', 'a') as f:\n"
    "        f.write(json.dumps([seen, time.time()]) + '\\n')\n"
    "    if r == 0:",
)
assert RECORDING != CHILD

# A child that says it is ready and fails every sync with EIO.
FAILING = (
    "import os, sys\n"
    "os.write(1, b'ready\\n')\n"
    "while os.read(0, 64):\n"
    "    os.write(1, b'err 5\\n')\n"
)

# A child that says it is ready and dies at the first request.
DYING = "import os\nos.write(1, b'ready\\n')\nos.read(0, 64)\nos._exit(3)\n"


@pytest.fixture
def thread_syncs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The committer thread's syncs (their times), counted."""
    monkeypatch.delenv("QUICKSILVER_NO_SYNCFS", raising=False)
    monkeypatch.delenv("QUICKSILVER_SYNC_HELPER", raising=False)
    if not maildir_synchelper.wanted():
        pytest.skip("no helper process here (one core, or no syncfs)")
    real = fsutil.syncfs
    seen: list[float] = []

    def recording(path: Path) -> None:
        real(path)
        seen.append(time.time())

    monkeypatch.setattr(fsutil, "syncfs", recording)
    return seen


async def store_with(
    root: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> MaildirStore:
    """A store whose helper runs ``command``, started and ready."""
    monkeypatch.setattr(SyncHelper, "command", command)
    store = MaildirStore(root, hostname="test.host")
    await store.ensure_user(OWNER)
    await store.deliver(OWNER, MSG)  # loads INBOX (in a worker thread)
    await store.deliver(OWNER, MSG)  # on the loop: starts the helper
    await until(lambda: helper_ready(store), "the helper process is ready")
    return store


def helper_ready(store: MaildirStore) -> bool:
    helper = store._committer._helper
    return helper is not None and helper.ready


def new_files(root: Path) -> list[str]:
    return sorted(os.listdir(root / "example.org" / "alice" / "new"))


async def test_loop_deliveries_are_synced_by_the_helper_before_they_return(
    root: Path, monkeypatch: pytest.MonkeyPatch, thread_syncs: list[float]
) -> None:
    store = await store_with(root, monkeypatch, RECORDING)
    threads_before = len(thread_syncs)
    returned: dict[int, float] = {}

    async def one() -> None:
        info = await store.deliver(OWNER, MSG)
        returned[info.uid] = time.time()

    await asyncio.gather(*(one() for _ in range(30)))
    assert sorted(returned) == list(range(3, 33))
    records = [
        json.loads(line)
        for line in (root.parent / "syncs.jsonl").read_text().splitlines()
    ]
    infos = {m.uid: m for m in await store.list_messages(OWNER, "INBOX")}
    for uid, at in returned.items():
        name = next(n for n in new_files(root) if n.startswith(infos[uid].key + ","))
        # the first sync that saw the file had finished before it returned
        synced_at = min(t for seen, t in records if name in seen)
        assert synced_at <= at
    # the helper did these rounds, fewer than the deliveries (batched), and
    # the committer thread none of them
    assert 0 < len(records) < 32
    assert len(thread_syncs) == threads_before


async def test_a_failed_helper_sync_takes_the_round_out(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    thread_syncs: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = await store_with(root, monkeypatch, FAILING)
    # the two deliveries of store_with went through the thread meanwhile, or
    # failed once the helper was ready: whatever stayed is listed
    kept = new_files(root)
    results = await asyncio.gather(
        *(store.deliver(OWNER, MSG) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, TemporaryError) for r in results), results
    assert new_files(root) == kept
    assert len(await store.list_messages(OWNER, "INBOX")) == len(kept)
    again = MaildirStore(root)
    assert len(await again.list_messages(OWNER, "INBOX")) == len(kept)


async def test_a_helper_that_dies_hands_its_round_to_the_thread(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    thread_syncs: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = await store_with(root, monkeypatch, DYING)
    helper = store._committer._helper
    assert helper is not None and helper._proc is not None
    proc = helper._proc
    before = len(thread_syncs)
    with caplog.at_level(logging.WARNING, logger="quicksilver.storage"):
        infos = await asyncio.wait_for(
            asyncio.gather(*(store.deliver(OWNER, MSG) for _ in range(5))), 10
        )
    assert len({i.uid for i in infos}) == 5
    # the thread made them durable, and serves alone for a while
    assert len(thread_syncs) > before
    assert store._committer._helper is None
    assert "sync helper process stopped" in caplog.text
    assert proc.poll() == 3  # reaped
    await store.deliver(OWNER, MSG)
    assert store._committer._helper is None
    assert len(await store.list_messages(OWNER, "INBOX")) == 8


async def test_an_idle_helper_leaves_and_the_next_delivery_starts_another(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    thread_syncs: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(maildir_synchelper, "IDLE_SECONDS", 0.3)
    store = await store_with(root, monkeypatch, CHILD)
    helper = store._committer._helper
    assert helper is not None and helper._proc is not None
    proc = helper._proc
    with caplog.at_level(logging.WARNING, logger="quicksilver.storage"):
        await until(lambda: store._committer._helper is None, "the helper left")
    assert proc.poll() == 0  # it left by itself and was reaped
    assert "sync helper" not in caplog.text  # leaving idle is no failure
    await store.deliver(OWNER, MSG)
    await until(lambda: helper_ready(store), "another helper is ready")
    assert store._committer._helper is not helper
    before = len(thread_syncs)
    await store.deliver(OWNER, MSG)
    assert len(thread_syncs) == before  # the new helper synced it
    assert len(await store.list_messages(OWNER, "INBOX")) == 4


async def test_a_helper_closed_while_it_starts_leaves_no_process(
    tmp_path: Path,
) -> None:
    if not maildir_synchelper.wanted():
        pytest.skip("no helper process here (one core, or no syncfs)")
    heard: list[object] = []
    faults: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: faults.append(context))
    # closed before its worker thread started the child
    early = SyncHelper(tmp_path, loop, heard.append, heard.append)
    early.close()
    # closed after the child started, before the loop heard of it
    late = SyncHelper(tmp_path, loop, heard.append, heard.append)
    deadline = time.monotonic() + 10
    while late._proc is None and time.monotonic() < deadline:
        time.sleep(0.01)  # holds the loop: its callback has to wait
    late.close()
    for helper in (early, late):
        await until(lambda h=helper: h._proc is not None, "the child was started")
        proc = helper._proc
        assert proc is not None
        await until(lambda p=proc: p.poll() is not None, "the child left")
        helper.close()  # again: nothing happens
        assert helper._finish is not None and not helper._finish.alive
    await asyncio.sleep(0.05)  # the late helper's callback has run
    assert heard == []  # closed by us: no reply, no "gone"
    assert faults == []
