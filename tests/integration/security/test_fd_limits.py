"""One exact connection total for the whole process, fitted to its open files.

Issue 10 (trust): under ``ulimit -n 1024`` about 1,000 idle connections spread
over the modules exhausted the descriptors (the total was 500 *per module*);
new clients timed out while asyncio printed an ``EMFILE`` traceback per accept
attempt (200 MB of stderr a minute was measured here); and IMAP, which counted
a session only once its task ran, let 507 clients past a total of 500.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.descriptors import (
    FD_HEADROOM,
    AcceptFailureLog,
    connection_ceiling,
)
from tests.conftest import RunningCore, prepare_data_dir, start_core

ROOT = Path(__file__).resolve().parents[3]

SERVED = {
    "smtp": b"220 ",
    "submission": b"220 ",
    "pop3": b"+OK ",
    "imap": b"* OK ",
}
FULL = {
    "smtp": b"421 4.3.2 Too many connections; try again later\r\n",
    "submission": b"421 4.3.2 Too many connections; try again later\r\n",
    "pop3": b"-ERR [SYS/TEMP] Too many connections; try again later\r\n",
    "imap": b"* BYE Too many connections; try again later\r\n",
}


def _first_lines(
    targets: list[tuple[str, tuple[str, int]]], timeout: float = 5.0
) -> list[tuple[str, bytes, socket.socket]]:
    """Connect every target first (a burst the server accepts together), then
    read each first line; the sockets stay open for the caller to close."""
    socks = [
        (name, socket.create_connection(addr, timeout=5)) for name, addr in targets
    ]
    out = []
    for name, s in socks:
        s.settimeout(timeout)
        try:
            line = s.makefile("rb").readline()
        except TimeoutError:
            line = b""
        out.append((name, line, s))
    return out


def _verdicts(lines: list[tuple[str, bytes, socket.socket]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for name, line, _ in lines:
        if line.startswith(SERVED[name]):
            out["served"] += 1
        elif line == FULL[name]:
            out["full"] += 1
        else:
            out[f"{name}: {line!r}"] += 1
    return out


def _close(lines: list[tuple[str, bytes, socket.socket]]) -> None:
    for _, _, s in lines:
        s.close()


@pytest.fixture
def every_module(tmp_path: Path) -> Iterator[RunningCore]:
    core = start_core(tmp_path / "data", ("smtp", "submission", "pop3", "imap"))
    try:
        core.run(
            core.api.update_settings(
                "security", {"max_connections_per_ip": 1000, "max_connections": 10}
            )
        )
        core.run(core.api.update_settings("imap", {"max_connections_per_ip": 1000}))
        yield core
    finally:
        core.runtime.stop()


def _held_drops_to_zero(core: RunningCore) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        core.runtime.services.module_statuses()  # sweeps what left early
        if core.runtime.services.connections.held == 0:
            return True
        time.sleep(0.05)
    return False


def test_the_total_is_one_for_all_modules_with_each_protocols_refusal(
    every_module: RunningCore,
) -> None:
    """Reproduces the total counted per module: with ``max_connections = 10``,
    4 SMTP + 4 POP3 + 4 IMAP clients were all served. Now the eleventh client of
    any module is refused, in its protocol's words, and once one leaves a new
    one is served."""
    core = every_module
    order = ["smtp"] * 4 + ["pop3"] * 4 + ["imap"] * 4
    held = []
    try:
        for name in order:  # one at a time: the order decides who is refused
            held += _first_lines([(name, core.endpoint(name, "starttls"))])
        assert _verdicts(held) == {"served": 10, "full": 2}
        assert [line for _, line, _ in held[-2:]] == [FULL["imap"]] * 2
        more = _first_lines(
            [(n, core.endpoint(n, "starttls")) for n in ("smtp", "submission", "pop3")]
        )
        assert [line for _, line, _ in more] == [
            FULL["smtp"],
            FULL["submission"],
            FULL["pop3"],
        ]
        _close(more)
        held.pop(0)[2].close()  # one SMTP client leaves: room for one more
        deadline = time.monotonic() + 5
        again: list[tuple[str, bytes, socket.socket]] = []
        while time.monotonic() < deadline:
            again = _first_lines([("imap", core.endpoint("imap", "starttls"))])
            if _verdicts(again) == {"served": 1}:
                break
            _close(again)
            time.sleep(0.05)
        held += again
        assert _verdicts(again) == {"served": 1}
    finally:
        _close(held)
    assert _held_drops_to_zero(core)


def test_an_imap_burst_never_passes_the_total(every_module: RunningCore) -> None:
    """Reproduces "the IMAP cap accepted 507 of 500": a burst of clients was
    admitted before the first session task ran and counted itself. Now 60
    clients at once against a total of 25 get exactly 25 greetings."""
    core = every_module
    core.run(core.api.update_settings("security", {"max_connections": 25}))
    addr = core.endpoint("imap", "starttls")
    lines = _first_lines([("imap", addr)] * 60)
    try:
        assert _verdicts(lines) == {"served": 25, "full": 35}
    finally:
        _close(lines)
    assert _held_drops_to_zero(core)


def test_implicit_tls_clients_count_while_their_handshake_runs(
    every_module: RunningCore,
) -> None:
    """A client that opened the implicit-TLS port and sent nothing holds a
    unit; when it goes, the unit comes back."""
    core = every_module
    core.run(core.api.update_settings("security", {"max_connections": 2}))
    tls_addr = core.endpoint("imap", "implicit")
    silent = [socket.create_connection(tls_addr, timeout=5) for _ in range(2)]
    try:
        deadline = time.monotonic() + 5
        while core.runtime.services.connections.held < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        lines = _first_lines([("pop3", core.endpoint("pop3", "starttls"))])
        assert _verdicts(lines) == {"full": 1}
        _close(lines)
    finally:
        for s in silent:
            s.close()
    assert _held_drops_to_zero(core)


def test_a_client_imap_refuses_for_its_own_limit_gives_its_unit_back(
    every_module: RunningCore,
) -> None:
    """IMAP refuses an address over ``imap.max_connections_per_ip`` in its
    task, before it registers a session: the unit taken at admission must not
    stay taken, or refusals would slowly fill the total."""
    core = every_module
    core.run(core.api.update_settings("imap", {"max_connections_per_ip": 1}))
    core.run(core.api.update_settings("security", {"max_connections": 3}))
    addr = core.endpoint("imap", "starttls")
    first = _first_lines([("imap", addr)])
    try:
        for _ in range(5):  # each refused by IMAP itself, not by the total
            refused = _first_lines([("imap", addr)])
            assert refused[0][1].startswith(b"* BYE Too many connections from")
            _close(refused)
        others = []
        for source in ("127.0.0.2", "127.0.0.3"):
            s = socket.create_connection(addr, timeout=5, source_address=(source, 0))
            others.append(("imap", s.makefile("rb").readline(), s))
        assert _verdicts(others) == {"served": 2}
        _close(others)
    finally:
        _close(first)
    assert _held_drops_to_zero(core)


# -- the open-files limit, in a process of its own -------------------------------
CHILD = """
import logging, os, resource, sys
from pathlib import Path
from server.runtime import Runtime

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
rt = Runtime(Path(sys.argv[1]))
rt.start()
for st in rt.services.module_statuses():
    print("module", st.name, *(f"{e.security}={e.port}" for e in st.endpoints))
print("ready", flush=True)
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
for line in sys.stdin:
    if line.strip() == "squeeze":  # leave 6 descriptors free
        n = len(os.listdir("/proc/self/fd")) - 1 + 6  # -1: listdir's own
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
        print("squeezed", n, flush=True)
    elif line.strip() == "held":
        print("held", rt.services.connections.held, flush=True)
rt.stop()
"""


class Child:
    def __init__(self, data: Path, soft: int, hard: int) -> None:
        import resource

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

        self.stderr_path = data.parent / "stderr.txt"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(data)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            preexec_fn=limit,
        )
        self.ports: dict[str, dict[str, int]] = {}
        while (line := self.read()) != "ready":
            _, name, *eps = line.split()
            self.ports[name] = {k: int(v) for k, v in (e.split("=") for e in eps)}

    def read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the server ended: {self.stderr()[-2000:]}"
        return line.strip()

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def held(self) -> int:
        return int(self.ask("held").split()[1])

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._stderr.close()


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="needs RLIMIT_NOFILE and /proc"
)
def test_a_low_open_files_limit_caps_the_total_and_keeps_stderr_quiet(
    tmp_path: Path,
) -> None:
    """The real runtime started with a soft limit of 128 under a hard one of
    256: it raises the soft limit to 256 and keeps ``FD_HEADROOM`` back, so 64
    of 80 clients spread over the modules are served and 16 refused in their
    protocol's words (``security.max_connections`` is 500). Then, with the
    descriptors made scarce on purpose, accepts fail: the log says so once,
    with no traceback per attempt, and clients are served again as soon as
    others leave."""
    data = tmp_path / "data"
    prepare_data_dir(data, ("smtp", "submission", "pop3", "imap"))
    from server.config.store import SettingsStore

    store = SettingsStore(data / "settings.toml")
    s = store.load()
    s = s.replace_section(
        "imap", dataclasses.replace(s.imap, max_connections_per_ip=1000)
    )
    store.save(s)
    assert connection_ceiling(256) == 64 == max(256 - FD_HEADROOM, 256 // 4)
    child = Child(data, 128, 256)
    try:
        targets = [
            (name, ("127.0.0.1", child.ports[name]["starttls"]))
            for _ in range(20)
            for name in ("smtp", "submission", "pop3", "imap")
        ]
        lines = _first_lines(targets)
        try:
            assert _verdicts(lines) == {"served": 64, "full": 16}
        finally:
            _close(lines)
        deadline = time.monotonic() + 5
        while child.held() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.held() == 0
        started = child.stderr()
        assert "open-files limit 256 (raised from 128)" in started
        assert "room for 64 client connections" in started

        # Make descriptors scarce: 6 left, then 20 clients at once.
        assert child.ask("squeeze").startswith("squeezed")
        smtp = ("127.0.0.1", child.ports["smtp"]["starttls"])
        socks = [socket.create_connection(smtp, timeout=5) for _ in range(20)]
        try:
            time.sleep(3)  # about three accept retries with no descriptor free
            greeted, waiting = [], []
            for s in socks:
                s.settimeout(0.2)
                try:
                    line = s.makefile("rb").readline()
                except TimeoutError:
                    line = b""
                (greeted if line.startswith(b"220 ") else waiting).append(s)
            assert 0 < len(greeted) <= 6 and waiting, (len(greeted), len(waiting))
            for s in greeted:
                s.close()
            first = waiting[0]  # served once the others have gone
            first.settimeout(5)
            assert first.makefile("rb").readline().startswith(b"220 ")
        finally:
            for s in socks:
                s.close()
    finally:
        child.stop()
    err = child.stderr()
    assert "Traceback" not in err, err[-3000:]
    assert len(re.findall("cannot accept new connections", err)) == 1, err[-3000:]
    assert "Too many open files" in err
    assert len(err) < 100_000


# -- the accept-failure log ---------------------------------------------------------
class _Loop:
    def __init__(self) -> None:
        self.defaults: list[dict[str, Any]] = []

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.defaults.append(context)


def test_failed_accepts_are_reported_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    handler = AcceptFailureLog(interval=60, clock=lambda: now[0])
    loop: Any = _Loop()
    emfile = {
        "message": "socket.accept() out of system resource",
        "exception": OSError(errno.EMFILE, os.strerror(errno.EMFILE)),
    }
    with caplog.at_level("WARNING", logger="quicksilver.core"):
        for _ in range(300):
            handler(loop, emfile)
        now[0] += 61
        handler(loop, emfile)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all("Too many open files" in x for x in lines)
    assert "(299 more since the last report)" in lines[1]
    assert not any(r.exc_info for r in caplog.records)
    other = {"message": "Task exception was never retrieved", "exception": OSError()}
    handler(loop, other)
    refused = {"message": "socket.accept() failed", "exception": ValueError()}
    handler(loop, refused)
    assert loop.defaults == [other, refused]


def test_the_runtime_loop_uses_the_accept_failure_log(core: RunningCore) -> None:
    loop = core.runtime.loop
    assert isinstance(loop.get_exception_handler(), AcceptFailureLog)
    assert isinstance(loop, asyncio.AbstractEventLoop)
