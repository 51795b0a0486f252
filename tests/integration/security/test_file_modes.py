"""Everything in the data folder is private to its user, whatever the umask.

Issue 10 (trust): ``quicksilver-server --data-dir DIR init`` under umask 022
made ``DIR`` 0755, ``accounts.sqlite3`` 0644 (Argon2 hashes readable by any
local user), ``logs/*`` 0644 and ``mail/`` 0755. Now the shell commands, the
runtime and the window create folders 0700 and files 0600, and a data folder
left looser by an older version is tightened at start, with a log line.
"""

from __future__ import annotations

import logging
import os
import smtplib
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.logbuffer import PrivateRotatingFileHandler
from server.paths import (
    create_private,
    hold_private_umask,
    release_private_umask,
    user_file_mode,
    write_user_text,
)
from tests.conftest import ALICE, ALICE_PW, BOB, RunningCore, start_core

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX modes")


@pytest.fixture
def umask_022() -> Iterator[None]:
    """Run the test as a person with the usual umask would."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def qs(data: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "server", "--data-dir", str(data), *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def loose(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) that is not 0700/0600."""
    out = []
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_ISLNK(st.st_mode):
            continue
        if stat.S_IMODE(st.st_mode) != want:
            out.append(f"{oct(stat.S_IMODE(st.st_mode))} {path.relative_to(root)}")
    return out


def eventually_private(root: Path, timeout: float = 10.0) -> list[str]:
    """``loose(root)`` once the start-time tightening in the background is done."""
    deadline = time.monotonic() + timeout
    while (found := loose(root)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_init_under_umask_022_makes_a_private_data_folder(
    tmp_path: Path, umask_022: None
) -> None:
    """The issue's reproduction: ``init`` and ``user add`` from the shell."""
    data = tmp_path / "qs"
    qs(data, "init", "--domain", "example.test")
    qs(data, "user", "add", ALICE, "--password-stdin", "--allow-weak", stdin="pw-1\n")
    assert (data / "accounts.sqlite3").exists()
    assert (data / "mail" / "example.test" / "alice").is_dir()
    assert loose(data) == []


def test_everything_the_server_creates_is_private_under_umask_022(
    tmp_path: Path, umask_022: None
) -> None:
    """Run the server as someone with umask 022 and make it create every kind
    of file it has: Maildir folders, messages and indexes, the queue, session
    logs and rotated logs, the secrets file, ``deleted/`` and ``corrupt/``, and
    SQLite's ``-wal``/``-shm`` while the database is open. Every folder is 0700,
    every file 0600; the umask is the person's again once the server stops."""
    data = tmp_path / "qs"
    qs(data, "init", "--domain", "example.test")
    for user in (ALICE, BOB):
        qs(
            data,
            "user",
            "add",
            user,
            "--password-stdin",
            "--allow-weak",
            stdin=f"{ALICE_PW}\n",
        )
    for name in ("smtp", "submission"):
        qs(data, "module", "enable", name)
        qs(data, "module", "set", name, "--bind", "127.0.0.1", "--port", "0")
        qs(data, "module", "set", name, "--tls-port", "0") if name != "smtp" else None
    for name in ("pop3", "imap"):
        qs(data, "module", "disable", name)
    (data / "spool").mkdir(exist_ok=True)  # made by the person, under umask 022
    (data / "spool" / "orphan-1.msg").write_bytes(b"Subject: no envelope\r\n\r\n")

    core = start_core(data)
    try:
        api = core.api
        core.run(api.update_settings("smtp", {"session_log": True}))
        with smtplib.SMTP(*core.endpoint("smtp"), timeout=10) as c:
            c.sendmail("x@outside.test", [ALICE], b"Subject: hi\r\n\r\nhello\r\n")
        with smtplib.SMTP(*core.endpoint("submission", "starttls"), timeout=10) as c:
            c.login(ALICE, ALICE_PW)
            c.sendmail(ALICE, ["far@elsewhere.test"], b"Subject: out\r\n\r\nx\r\n")
        core.run(api.update_settings("relay", {"host": "127.0.0.1", "username": "me"}))
        core.run(api.relay_set_password("smart-host-pw"))
        core.run(api.delete_user(BOB))
        handler = next(
            h
            for h in logging.getLogger("quicksilver").handlers
            if isinstance(h, PrivateRotatingFileHandler)
        )
        handler.doRollover()
        logging.getLogger("quicksilver.core").info("after the rollover")

        if core.run(api.secrets_backend()).uses_file:
            assert (data / "secrets.json").exists()
        for made in (
            "accounts.sqlite3-wal",
            "accounts.sqlite3-shm",
            "logs/smtp.log",
            "logs/quicksilver.log.1",
            "logs/quicksilver.log",
            "tls/key.pem",
            "tls/cert.pem",
            "corrupt",
            "deleted/example.test",
        ):
            assert (data / made).exists(), made
        assert list((data / "mail/example.test/alice/new").iterdir())
        assert list((data / "spool").glob("*.msg"))
        assert list((data / "corrupt").iterdir())
        assert eventually_private(data) == []
        assert os.umask(0o077) == 0o077  # the core holds it private meanwhile
    finally:
        core.runtime.stop()
    assert os.umask(0o022) == 0o022, "the person's umask comes back at stop"
    assert loose(data) == []


def test_a_loose_data_folder_is_tightened_at_start_with_a_log_line(
    tmp_path: Path, umask_022: None
) -> None:
    """A data folder an older version (or a copy) left readable by others is
    made private when the server starts; links are not followed, and what
    lies outside the data folder keeps its mode."""
    data = tmp_path / "data"
    core = start_core(data)
    with smtplib.SMTP(*core.endpoint("smtp"), timeout=10) as c:
        c.sendmail("x@outside.test", [ALICE], b"Subject: hi\r\n\r\nhello\r\n")
    core.runtime.stop()
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    os.chmod(outside, 0o644)
    (data / "mail" / "link-out").symlink_to(outside)
    for path in [data, *data.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert len(loose(data)) > 20
    log_file = data / "logs" / "quicksilver.log"
    logged_before = len(log_file.read_text())

    core = start_core(data)
    try:
        assert eventually_private(data) == []
        assert stat.S_IMODE(outside.stat().st_mode) == 0o644
        deadline = time.monotonic() + 10
        while "private to this user" not in log_file.read_text()[logged_before:]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        log = log_file.read_text()[logged_before:]
        lines = [x for x in log.splitlines() if "private to this user" in x]
        assert len(lines) == 1, lines
        assert "WARNING quicksilver.core data folder: " in lines[0]
        assert "(./, " in lines[0]
    finally:
        core.runtime.stop()


def test_sqlite_sidecars_take_the_private_mode_of_the_database(
    tmp_path: Path, umask_022: None
) -> None:
    """Without the private umask (code used outside the entry points), a
    database made by ``create_private`` still gets 0600 ``-journal``, ``-wal``
    and ``-shm`` files: SQLite gives them the mode of the database file."""
    db = tmp_path / "a.sqlite3"
    create_private(db)
    con = sqlite3.connect(str(db), isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("BEGIN")
        con.execute("CREATE TABLE t (x)")
        con.execute("INSERT INTO t VALUES (1)")
        journal = Path(f"{db}-journal")
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600
        con.execute("COMMIT")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("INSERT INTO t VALUES (2)")
        for side in ("-wal", "-shm"):
            assert stat.S_IMODE(Path(f"{db}{side}").stat().st_mode) == 0o600
    finally:
        con.close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_files_the_person_saves_keep_their_own_umask(
    tmp_path: Path, umask_022: None
) -> None:
    """An export from the window (Thunderbird autoconfig, a log export) is the
    person's file: 0644 under their umask 022 even while the core is private;
    a file that exists keeps its mode."""
    hold_private_umask()
    try:
        assert user_file_mode() == 0o644
        new = tmp_path / "config-v1.1.xml"
        write_user_text(new, "<clientConfig/>")
        assert stat.S_IMODE(new.stat().st_mode) == 0o644
        kept = tmp_path / "kept.txt"
        kept.write_text("x")
        os.chmod(kept, 0o640)
        write_user_text(kept, "y")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640
        server_file = tmp_path / "made-meanwhile"
        server_file.write_text("z")
        assert stat.S_IMODE(server_file.stat().st_mode) == 0o600
    finally:
        release_private_umask()


def test_a_running_core_counts_as_private_for_nested_runtimes(
    tmp_path: Path, umask_022: None
) -> None:
    """Two runtimes in one process (tests do this): the umask is the person's
    again only when the last one stops."""
    a = start_core(tmp_path / "a")
    b: RunningCore | None = None
    try:
        b = start_core(tmp_path / "b")
        a.runtime.stop()
        probe = tmp_path / "probe"
        probe.write_text("x")
        assert stat.S_IMODE(probe.stat().st_mode) == 0o600
    finally:
        a.runtime.stop()
        if b is not None:
            b.runtime.stop()
    probe2 = tmp_path / "probe2"
    probe2.write_text("x")
    assert stat.S_IMODE(probe2.stat().st_mode) == 0o644
