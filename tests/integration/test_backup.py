"""Backup while mail pours in, then restore (issue 17): the restored folder
holds every message acknowledged before the backup started, no partial
file, and works as a data folder; a damaged archive is refused whole."""

from __future__ import annotations

import asyncio
import gzip
import os
import shutil
import smtplib
import subprocess
import threading
import time
from pathlib import Path

import pytest

from server.backup import backup
from server.storage.maildir import MaildirStore
from server.storage.maildir_format import base_fields, split_name
from tests.conftest import ALICE, ALICE_PW, start_core
from tests.waiting import run_cli, wait_until

TOTAL = 2000


def message(i: int) -> bytes:
    return (
        f"From: load@example.org\r\nTo: {ALICE}\r\nSubject: n{i}\r\n"
        f"Message-ID: <n{i}@example.org>\r\n\r\n" + "body line\r\n" * 40
    ).encode()


def test_backup_under_load_restores_everything_acknowledged(tmp_path: Path) -> None:
    core = start_core(tmp_path / "data")
    host, port = core.endpoint("smtp")
    acked: list[tuple[float, str]] = []
    stop = threading.Event()

    def send() -> None:
        with smtplib.SMTP(host, port, local_hostname="load.example.org") as s:
            for i in range(TOTAL):
                if stop.is_set():
                    return
                s.sendmail("load@example.org", [ALICE], message(i))
                acked.append((time.monotonic(), f"n{i}"))

    def swaks() -> None:  # a real client alongside
        for i in range(10):
            subprocess.run(
                ["swaks", "--server", host, "--port", str(port), "--to", ALICE,
                 "--from", "swaks@example.org", "--helo", "swaks.example.org",
                 "--header", f"Subject: swaks{i}", "--silent", "2"],
                check=True, timeout=60,
            )  # fmt: skip
            acked.append((time.monotonic(), f"swaks{i}"))

    threads = [threading.Thread(target=send)]
    if shutil.which("swaks"):
        threads.append(threading.Thread(target=swaks))
    for t in threads:
        t.start()
    archive = tmp_path / "backup.tar.gz"
    try:
        wait_until(lambda: len(acked) >= 300, "300 messages acknowledged", 60)
        started = time.monotonic()
        assert (
            run_cli(["--data-dir", str(core.data_dir), "backup", "--to", str(archive)])
            == 0
        )
        during = len(acked)
    finally:
        for t in threads:
            t.join(120)
        stop.set()
        core.runtime.stop()
    assert archive.stat().st_mode & 0o077 == 0  # keys and passwords inside
    before = {name for at, name in acked if at < started}
    assert len(before) >= 300 and during < TOTAL  # the load ran across it

    restored = tmp_path / "restored"
    assert run_cli(["--data-dir", str(restored), "restore", str(archive)]) == 0
    inbox = restored / "mail" / "example.test" / "alice"
    assert not any((inbox / "tmp").iterdir())
    for sub in ("new", "cur"):
        for f in (inbox / sub).iterdir():  # no partial file
            _, disk, _ = base_fields(split_name(f.name)[0])
            assert disk is None or f.stat().st_size == disk, f.name

    async def subjects() -> set[str]:
        store = MaildirStore(restored / "mail", "restored")
        out = set()
        for info in await store.list_messages(ALICE, "INBOX"):
            raw = await store.read_message(ALICE, "INBOX", info.uid)
            for line in raw.split(b"\r\n"):
                if line.startswith(b"Subject: "):
                    out.add(line[9:].decode())
        return out

    got = asyncio.run(subjects())
    assert before <= got, sorted(before - got)[:5]

    again = start_core(restored)  # a working data folder
    try:
        assert again.run(again.api.check_login(ALICE, ALICE_PW))
    finally:
        again.runtime.stop()


def test_a_damaged_or_foreign_archive_is_refused_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    core = start_core(tmp_path / "data")
    core.runtime.stop()
    good = tmp_path / "good.tar.gz"
    backup(core.data_dir, good)
    data = gzip.decompress(good.read_bytes())
    at = data.index(b"[general]")  # inside settings.toml's member
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(gzip.compress(data[:at] + b"X" + data[at + 1 :]))
    target = tmp_path / "target"
    assert run_cli(["--data-dir", str(target), "restore", str(damaged)]) == 2
    assert "damaged" in capsys.readouterr().err
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if "restoring" in p.name]

    not_ours = tmp_path / "other.tar.gz"
    not_ours.write_bytes(gzip.compress(b"\0" * 1024))
    assert run_cli(["--data-dir", str(target), "restore", str(not_ours)]) == 2
    assert "not a Quicksilver backup" in capsys.readouterr().err

    # a backup inside the data folder is refused (it would back itself up)
    inside = core.data_dir / "b.tar.gz"
    assert (
        run_cli(["--data-dir", str(core.data_dir), "backup", "--to", str(inside)]) == 2
    )
    assert not inside.exists()


def test_scheduled_backups_come_when_due_and_keep_the_newest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server import backup as bk
    from server.config.schema import BackupSettings, Settings
    from server.errors import ValidationError

    core = start_core(tmp_path / "data")
    core.runtime.stop()
    folder = tmp_path / "archives"
    cfg = BackupSettings(scheduled=True, folder=str(folder), every_hours=24, keep=2)
    now = time.time()
    made = []
    for hours in (0, 1, 25, 50, 75):  # due at 0, 25, 50 and 75
        at = now + hours * 3600
        monkeypatch.setattr(time, "localtime", lambda _t=None, a=at: time.gmtime(a))
        written = bk.run_schedule(core.data_dir, cfg, at)
        if written is not None:
            os.utime(written, (at, at))  # as if written then
            made.append(written.name)
    assert len(made) == 4
    assert [p.name for p in bk.archives(folder)] == made[-2:]  # the newest two
    assert bk.check_archive(folder / made[-1]) > 5

    inside = BackupSettings(scheduled=True, folder=str(core.data_dir / "b"))
    with pytest.raises(ValidationError, match="outside the data folder"):
        bk.run_schedule(core.data_dir, inside, now)
    for bad in ({"folder": ""}, {"folder": "relative/dir"}, {"every_hours": 0}):
        with pytest.raises(ValidationError, match=r"backup\."):
            Settings().replace_section(
                "backup", BackupSettings(**{"scheduled": True, "folder": "/x", **bad})
            )
