"""Several writers of ``settings.toml`` at once lose nothing (issue 11).

Writers change their own keys in rounds, all at the same moment; after every
round each writer's value must be in the file. Before the settings lock,
every writer read the whole file, changed its keys and wrote the whole file
back, so a writer that had read before another's write put the other's old
values back (a lost update): both tests fail on that code (seen in every run).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from server.__main__ import main
from server.config.store import SettingsStore

ROOT = Path(__file__).resolve().parents[3]
ROUNDS = 10


@pytest.fixture(autouse=True)
def keep_umask(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's main makes its process private for good (umask 077); here it
    runs inside the test process, whose umask other tests check."""
    monkeypatch.setattr("server.__main__.use_private_umask", lambda: None)


def _ports(data: Path, key: str, names: tuple[str, ...]) -> dict[str, int]:
    settings = SettingsStore(data / "settings.toml").load()
    return {m: getattr(settings.section(m), key) for m in names}


def test_cli_threads_lose_no_update(tmp_path: Path) -> None:
    """Four threads run ``module set NAME --port N`` for their own module at
    the same moment, ROUNDS times; after each round every module has its
    round's port. Fails on the unlocked read-modify-write of the old CLI (a
    thread's stale copy of the other modules overwrote their new ports)."""
    data = tmp_path / "qs"
    names = ("smtp", "submission", "pop3", "imap")
    assert main(["--data-dir", str(data), "module", "list"]) == 0
    errors: list[BaseException] = []
    gate = threading.Barrier(len(names) + 1, timeout=60)

    def writer(name: str) -> None:
        try:
            for n in range(ROUNDS):
                gate.wait()
                argv = ["--data-dir", str(data), "module", "set", name]
                assert main([*argv, "--port", str(2000 + n)]) == 0
                gate.wait()
        except BaseException as exc:  # reported below
            errors.append(exc)
            gate.abort()

    threads = [threading.Thread(target=writer, args=(m,)) for m in names]
    for t in threads:
        t.start()
    try:
        for n in range(ROUNDS):
            gate.wait()  # go
            gate.wait()  # all wrote
            assert _ports(data, "port", names) == dict.fromkeys(names, 2000 + n)
    except BaseException:
        gate.abort()  # the writers stop too
        raise
    finally:
        for t in threads:
            t.join(60)
    assert not errors


# A writer process: waits for go-<n>, sets its module's tls_port, says done.
WRITER = """
import sys, time
from pathlib import Path
from server.__main__ import main
data, sync, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
rounds = int(sys.argv[4])
for n in range(rounds):
    while not (sync / f"go-{n}").exists():
        time.sleep(0.0005)
    argv = ["--data-dir", str(data), "module", "set", name, "--tls-port", str(3000 + n)]
    assert main(argv) == 0
    (sync / f"done-{n}-{name}").touch()
"""


def test_cli_processes_lose_no_update(tmp_path: Path) -> None:
    """The same across processes (the CLI and a running server are separate
    programs): three processes set their module's ``tls_port`` at the same
    moment, ROUNDS times. Fails on the old CLI for the same reason."""
    data, sync = tmp_path / "qs", tmp_path / "sync"
    sync.mkdir()
    names = ("submission", "pop3", "imap")
    assert main(["--data-dir", str(data), "module", "list"]) == 0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(data), str(sync), m, str(ROUNDS)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for m in names
    ]
    try:
        for n in range(ROUNDS):
            (sync / f"go-{n}").touch()
            deadline = time.monotonic() + 60
            while not all((sync / f"done-{n}-{m}").exists() for m in names):
                assert all(p.poll() in (None, 0) for p in procs), "a writer failed"
                assert time.monotonic() < deadline
                time.sleep(0.002)
            assert _ports(data, "tls_port", names) == dict.fromkeys(names, 3000 + n)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            _, err = p.communicate(timeout=60)
            assert p.returncode in (0, -9), err
