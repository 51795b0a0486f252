"""Storage faults: a full disk while receiving is a temporary SMTP failure with
nothing half-written left behind and the server still serving; a damaged
Maildir index is moved to ``corrupt/`` with a log line, never deleted."""

from __future__ import annotations

import errno
import os
import smtplib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE, ALICE_PW, RunningCore, start_core


@pytest.fixture
def sf_core(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp", "pop3"))
    try:
        yield c
    finally:
        c.runtime.stop()


class DiskFull:
    """``os.write`` that fills the disk for files under ``root``: the first
    write of a file gets a few bytes in (a real short write), the next fails
    with ENOSPC. Sockets, pipes and files elsewhere are untouched."""

    def __init__(self, root: Path, real: Callable[[int, bytes], int]) -> None:
        self.root = str(root.resolve())
        self.real = real
        self.seen: set[int] = set()
        self.hits = 0
        self.lock = threading.Lock()

    def __call__(self, fd: int, data: bytes) -> int:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if not target.startswith(self.root) or "/logs/" in target:
            return self.real(fd, data)
        with self.lock:
            self.hits += 1
            if fd not in self.seen and len(data) > 16:
                self.seen.add(fd)
                return self.real(fd, bytes(data[:16]))
        raise OSError(errno.ENOSPC, "No space left on device")


def _files(core: RunningCore) -> list[Path]:
    out = []
    for sub in ("new", "cur", "tmp"):
        out += list((core.maildir(ALICE) / sub).iterdir())
    spool = core.data_dir / "spool"
    if spool.exists():
        out += [p for p in spool.rglob("*") if p.is_file()]
    return out


def _send(core: RunningCore, subject: str) -> tuple[int, bytes]:
    with smtplib.SMTP(*core.endpoint("smtp"), timeout=10) as s:
        s.ehlo("client.test")
        s.mail("a@client.test")
        s.rcpt(ALICE)
        return s.data(f"Subject: {subject}\r\n\r\n" + "line of text\r\n" * 50)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_disk_full_while_receiving_gives_452_and_leaves_no_partial_file(
    sf_core: RunningCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _files(sf_core)
    full = DiskFull(sf_core.data_dir, os.write)
    monkeypatch.setattr(os, "write", full)
    code, text = _send(sf_core, "lost")
    monkeypatch.undo()
    assert full.hits > 0, "the fault was never hit"
    assert (code, text[:5]) == (452, b"4.3.1"), (code, text)  # the client retries
    assert _files(sf_core) == before, "a partial file was left behind"
    # still serving: the next message (disk has room again) is accepted
    code, _ = _send(sf_core, "after")
    assert code == 250
    [msg] = list((sf_core.maildir(ALICE) / "new").iterdir())
    assert b"Subject: after" in msg.read_bytes()
    states = {m.name: m.state.value for m in sf_core.run(sf_core.api.modules())}
    assert states["smtp"] == "RUNNING"


def test_damaged_maildir_index_moves_to_corrupt_with_a_log_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    core = start_core(data, enabled=("smtp", "pop3"))
    try:
        assert _send(core, "kept")[0] == 250
    finally:
        core.runtime.stop()
    index = core.maildir(ALICE) / "quicksilver-uidlist"
    damaged = b"V\xffgarbage\x00\nnot an index\n"
    index.write_bytes(damaged)
    core = start_core(data, enabled=("smtp", "pop3"))
    try:
        import poplib

        p = poplib.POP3(*core.endpoint("pop3", "starttls"), timeout=5)
        try:
            p.user(ALICE)
            p.pass_(ALICE_PW)
            assert p.stat()[0] == 1  # the message is still there
        finally:
            p.quit()
        logs = core.run(core.api.recent_logs())
        assert any("unreadable" in r.message and "corrupt" in r.message for r in logs)
    finally:
        core.runtime.stop()
    kept = [p for p in (data / "corrupt").iterdir() if p.read_bytes() == damaged]
    assert len(kept) == 1, "the damaged index must be kept, not deleted"
    assert index.read_bytes() != damaged  # rebuilt
