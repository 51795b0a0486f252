"""SIGKILL the server while it waits for the smart host's reply to DATA.

Nothing acknowledged may be lost, and only messages in the at-least-once window
(the remote side had the whole message, we had not yet recorded its 250) may
arrive twice: see the header of ``server/queue/manager.py``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import smtplib
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from server.config.store import SettingsStore
from tests.conftest import ALICE, ALICE_PW, start_core
from tests.integration.outbound.sink import Sink

ROOT = Path(__file__).resolve().parents[3]


def _ids(blobs: list[bytes]) -> list[str]:
    out = []
    for b in blobs:
        m = re.search(rb"Message-ID: <(k9-\d+)@", b)
        assert m, b[:200]
        out.append(m.group(1).decode())
    return out


def test_kill9_during_remote_delivery(tmp_path: Path) -> None:
    sink = Sink(hold_reply=1.5).start()
    data = tmp_path / "data"
    c = start_core(data, enabled=("submission",))
    c.runtime.stop()
    store = SettingsStore(data / "settings.toml")
    s = store.load()
    s = s.replace_section(
        "relay",
        dataclasses.replace(
            s.relay, enabled=True, host="127.0.0.1", port=sink.port, security="none"
        ),
    )
    store.save(s)
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--data-dir", str(data), "run"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    acked: list[str] = []
    try:
        assert proc.stdout is not None
        port = 0
        deadline = time.monotonic() + 30
        while not port and time.monotonic() < deadline:
            m = re.match(
                r"submission: RUNNING 127\.0\.0\.1:(\d+)", proc.stdout.readline()
            )
            if m:
                port = int(m.group(1))
        assert port, "server did not start"
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as cl:
            cl.login(ALICE, ALICE_PW)
            for n in range(12):
                msg = (
                    f"From: {ALICE}\r\nTo: far@remote.test\r\nSubject: k {n}\r\n"
                    f"Message-ID: <k9-{n}@example.test>\r\n\r\nbody\r\n"
                ).encode()
                cl.sendmail(ALICE, ["far@remote.test"], msg)
                acked.append(f"k9-{n}")
        end = time.monotonic() + 10
        while not sink.in_flight and time.monotonic() < end:
            time.sleep(0.01)
        assert sink.in_flight, "no delivery was in progress"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    in_window = set(_ids(list(sink.in_flight)))
    sink.hold_reply = 0.0

    c = start_core(data)  # recovery, in process
    try:
        assert c.run(c.runtime.services.queue.wait_idle(20))
        end = time.monotonic() + 15
        while time.monotonic() < end:
            got = Counter(_ids([m.data for m in sink.messages]))
            if (
                set(acked) <= set(got)
                and len(sink.messages) >= len(acked) + len(in_window) - 0
            ):
                break
            time.sleep(0.05)
        assert c.run(c.api.queue_jobs()) == ()
    finally:
        c.runtime.stop()
        sink.stop()
    got = Counter(_ids([m.data for m in sink.messages]))
    assert set(acked) <= set(got), f"lost: {sorted(set(acked) - set(got))}"
    twice = {i for i, n in got.items() if n > 1}
    assert twice <= in_window, f"sent twice outside the window: {twice - in_window}"
    assert all(n <= 2 for n in got.values())
    print(
        f"in window: {len(in_window)}, twice: {len(twice)}, total {sum(got.values())}"
    )
    assert not list((data / "spool").glob("*.json"))
