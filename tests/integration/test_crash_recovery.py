"""Nothing acknowledged is lost, nothing is delivered twice: SIGKILL the headless
server in the middle of a load of messages, restart it, count."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ALICE, start_core

ROOT = Path(__file__).resolve().parents[2]


def _message(n: int) -> bytes:
    return (
        f"From: load@outside.test\r\nTo: {ALICE}\r\nSubject: load {n}\r\n"
        f"Message-ID: <load-{n}@outside.test>\r\n\r\n" + "body line\r\n" * 40
    ).encode()


def _message_ids(maildir: Path) -> list[str]:
    ids = []
    for sub in ("new", "cur"):
        for p in (maildir / sub).iterdir():
            m = re.search(rb"Message-ID: <(load-\d+)@", p.read_bytes())
            assert m, p
            ids.append(m.group(1).decode())
    return ids


def _start_server(data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--data-dir", str(data_dir), "run"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.match(r"smtp: RUNNING 127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    proc.kill()
    proc.wait(10)
    proc.stdout.close()
    raise AssertionError("server did not start")


@pytest.mark.slow
def test_sigkill_during_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    c = start_core(data)  # creates settings, domain and users
    c.runtime.stop()
    proc, port = _start_server(data)
    acked: set[str] = set()
    attempted: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(1_000_000))

    def client() -> None:
        while not stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as s:
                    while not stop.is_set():
                        with lock:
                            n = next(counter)
                            attempted.add(f"load-{n}")
                        s.sendmail("load@outside.test", [ALICE], _message(n))
                        with lock:
                            acked.add(f"load-{n}")
            except (OSError, smtplib.SMTPException):
                return

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.stdout is not None
    proc.stdout.close()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acked) >= 50, "the load did not get going"

    # Restart and let recovery run.
    c = start_core(data)
    try:
        assert c.run(c.runtime.services.queue.wait_idle(20))
        ids = _message_ids(c.maildir(ALICE))
    finally:
        c.runtime.stop()
    assert acked <= set(ids), f"lost: {sorted(acked - set(ids))[:5]}"
    assert len(ids) == len(set(ids)), "a message was delivered twice"
    assert set(ids) <= attempted


def test_spooled_job_is_delivered_exactly_once_after_a_crash(tmp_path: Path) -> None:
    """Crash after the Maildir write but before the spool entry was removed."""
    from server.queue.spool import Job, Recipient, Spool

    data = tmp_path / "data"
    c = start_core(data)
    c.runtime.stop()
    spool = Spool(data / "spool", data / "corrupt")
    job = Job(
        "0000000000001deadbeef", "s@outside.test", time.time(), 10, (Recipient(ALICE),)
    )
    spool.write_new(job, _message(1))
    saved = {p.name: p.read_bytes() for p in (data / "spool").iterdir()}

    c = start_core(data)
    assert c.run(c.runtime.services.queue.wait_idle(10))
    c.runtime.stop()
    assert _message_ids(c.maildir(ALICE)) == ["load-1"]
    assert list((data / "spool").iterdir()) == []

    for name, raw in saved.items():  # the job comes back, as after a crash
        (data / "spool" / name).write_bytes(raw)
    c = start_core(data)
    assert c.run(c.runtime.services.queue.wait_idle(10))
    c.runtime.stop()
    assert _message_ids(c.maildir(ALICE)) == ["load-1"]
    assert list((data / "spool").iterdir()) == []


def test_damaged_spool_files_move_to_corrupt(tmp_path: Path) -> None:
    data = tmp_path / "data"
    c = start_core(data)
    c.runtime.stop()
    (data / "spool" / "00000000000aa12345678.json").write_text("{not json")
    (data / "spool" / "00000000000aa12345678.msg").write_bytes(b"x")
    (data / "spool" / "00000000000bb12345678.msg").write_bytes(b"orphan")
    c = start_core(data)
    c.runtime.stop()
    moved = sorted(p.name for p in (data / "corrupt").iterdir())
    assert len(moved) == 3
    assert list((data / "spool").iterdir()) == []
