"""The collector when things go wrong: the server's connection drops in the
middle of a message (a proxy that cuts it after so many bytes), and the
collector process is killed (kill -9) in the middle of 500 messages. Every
message must arrive exactly once, and nothing may be deleted remotely that
is not durable here."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.fetch.store import FetchAccount
from tests.conftest import ALICE, RunningCore
from tests.integration.fetch.conftest import BOX, BOX_PW, count, maildir, put


class CuttingProxy:
    """Forwards 127.0.0.1:port to ``target``; the server's side of the first
    connection is cut after ``cut_after`` bytes (later ones pass whole)."""

    def __init__(self, target: tuple[str, int], cut_after: int) -> None:
        self.target = target
        self.cut_after = cut_after
        self.cuts = 0
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None

    def start(self) -> CuttingProxy:
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        fut.result(5)
        return self

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _client(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection(*self.target)
        cut = self.cuts == 0
        self.cuts += 1

        async def pipe(
            r: asyncio.StreamReader, w: asyncio.StreamWriter, limit: int
        ) -> None:
            sent = 0
            try:
                while data := await r.read(4096):
                    if limit and sent + len(data) > limit:
                        w.write(data[: limit - sent])
                        await w.drain()
                        break
                    sent += len(data)
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for x in (cw, sw):
                    x.close()

        await asyncio.gather(
            pipe(cr, sw, 0), pipe(sr, cw, self.cut_after if cut else 0)
        )

    def stop(self) -> None:
        async def close() -> None:
            if self.server is not None:
                self.server.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_a_connection_cut_in_a_message_loses_and_doubles_nothing(
    fcore: RunningCore, protocol: str
) -> None:
    put(fcore, 3, X_Padding=("z" * 400 + "\r\n ") * 10 + "z")
    proxy = CuttingProxy(fcore.endpoint(protocol, "starttls"), 7000).start()
    try:
        a = FetchAccount(
            id=f"cut-{protocol}",
            server="127.0.0.1",
            username=BOX,
            protocol=protocol,
            port=proxy.port,
            security="none",  # plaintext through the proxy (loopback login)
            destination=ALICE,
        )
        fcore.run(fcore.api.save_fetch_account(a, BOX_PW))
        first = fcore.run(fcore.api.check_fetch_account(a.id))
        assert first.error and first.collected < 3, first
        got = len(maildir(fcore, ALICE))
        assert got == first.collected or got == first.collected + 1
        # nothing deleted that is not here: the remote still has the rest
        assert len(maildir(fcore, BOX)) + got >= 3
        second = fcore.run(fcore.api.check_fetch_account(a.id))
        assert second.error == "", second
        notes = sorted(
            re.search(rb"Subject: note (\d)", m).group(1)  # type: ignore[union-attr]
            for m in maildir(fcore, ALICE)
        )
        assert notes == [b"0", b"1", b"2"]  # each exactly once
        assert maildir(fcore, BOX) == []
    finally:
        proxy.stop()


COLLECTOR = """
import sys
from pathlib import Path
from server.runtime import Runtime
rt = Runtime(Path(sys.argv[1]))
rt.start()
import time
while True:
    time.sleep(1)
"""


@pytest.fixture
def collector_dir(tmp_path: Path, fcore: RunningCore) -> Iterator[Path]:
    """A second data folder whose core collects from ``fcore``'s box@."""
    from server.accounts.sqlite import SqliteAccountStore
    from tests.conftest import ALICE_PW, prepare_data_dir

    data = tmp_path / "collector"
    prepare_data_dir(data, ())
    acc = SqliteAccountStore(data / "accounts.sqlite3")
    acc.add_domain("example.test")
    acc.add_user(ALICE, ALICE_PW, allow_weak=True)
    acc.close()
    yield data


def test_kill_9_in_the_middle_of_500_messages(
    fcore: RunningCore, collector_dir: Path
) -> None:
    put(fcore, 500)
    import dataclasses

    from server.config.store import SettingsStore
    from server.fetch.module import fetch_key
    from server.fetch.store import FetchStore
    from server.secrets import SecretStore

    _, pop3 = fcore.endpoint("pop3", "starttls")
    store = FetchStore(collector_dir / "fetch.sqlite3")
    store.save(
        FetchAccount(
            id="big",
            server="127.0.0.1",
            username=BOX,
            port=pop3,
            security="none",
            destination=ALICE,
        )
    )
    store.close()
    SecretStore(collector_dir).set(fetch_key("big"), BOX_PW)
    ss = SettingsStore(collector_dir / "settings.toml")
    s = ss.load()
    s = s.replace_section(
        "fetch", dataclasses.replace(s.fetch, enabled=True, messages_per_poll=1000)
    )
    ss.save(s)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", COLLECTOR, str(collector_dir)],
            cwd=Path(__file__).resolve().parents[3],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )

    local = collector_dir / "mail" / "example.test" / "alice"
    err = (collector_dir / "collector.err").open("ab")

    def arrived() -> int:
        return sum(1 for sub in ("new", "cur") for _ in (local / sub).glob("*"))

    proc = start()
    try:
        deadline = time.monotonic() + 60
        while arrived() < 150 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert arrived() >= 150, (collector_dir / "collector.err").read_text()[-3000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        at_kill = arrived()
        # nothing deleted remotely that is not durable here
        assert count(fcore, BOX) + at_kill >= 500
        proc = start()
        deadline = time.monotonic() + 120
        while (arrived() < 500 or count(fcore, BOX)) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait(10)
        err.close()
    notes = sorted(
        int(re.search(rb"Subject: note (\d+)", p.read_bytes()).group(1))  # type: ignore[union-attr]
        for sub in ("new", "cur")
        for p in (local / sub).glob("*")
    )
    assert notes == list(range(500)), (len(notes), at_kill)
    assert maildir(fcore, BOX) == []
