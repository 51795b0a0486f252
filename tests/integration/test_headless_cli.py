"""``quicksilver-server``: shell management and a clean run/stop on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def qs(
    data: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", "--data-dir", str(data), *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_manage_domains_users_aliases_and_modules(tmp_path: Path) -> None:
    data = tmp_path / "qs"
    assert qs(data, "init", "--domain", "Example.TEST").returncode == 0
    out = qs(
        data,
        "user",
        "add",
        "alice@example.test",
        "--name",
        "Alice",
        "--password-stdin",
        stdin="pw-alice-Kettle-9\n",
    )
    assert out.returncode == 0, out.stderr
    assert (data / "mail/example.test/alice/new").is_dir()
    dup = qs(data, "user", "add", "alice@example.test", "--password-stdin", stdin="x\n")
    assert dup.returncode == 2 and "already exists" in dup.stderr
    bad = qs(
        data, "user", "add", "../evil@example.test", "--password-stdin", stdin="x\n"
    )
    assert bad.returncode == 2 and "error:" in bad.stderr
    empty = qs(data, "user", "add", "bob@example.test", "--password-stdin", stdin="\n")
    assert empty.returncode == 2 and "empty" in empty.stderr
    assert qs(data, "domain", "add", "b\u00fccher.test").returncode == 0
    assert "xn--bcher-kva.test" in qs(data, "domain", "list").stdout
    assert (
        qs(data, "alias", "set", "*@example.test", "alice@example.test").returncode == 0
    )
    assert "*@example.test -> alice@example.test" in qs(data, "alias", "list").stdout
    assert qs(data, "user", "disable", "alice@example.test").returncode == 0
    assert "(disabled)" in qs(data, "user", "list").stdout
    assert (
        qs(
            data,
            "user",
            "passwd",
            "alice@example.test",
            "--password-stdin",
            stdin="new-Kettle-pw-9\n",
        ).returncode
        == 0
    )
    assert (
        qs(
            data, "module", "set", "smtp", "--bind", "127.0.0.1", "--port", "0"
        ).returncode
        == 0
    )
    assert qs(data, "module", "disable", "pop3").returncode == 0
    listing = qs(data, "module", "list").stdout
    assert re.search(r"smtp\s+on\s+127\.0\.0\.1\s+0", listing), listing
    assert re.search(r"pop3\s+off", listing), listing
    bad_port = qs(data, "module", "set", "smtp", "--port", "70000")
    assert bad_port.returncode == 2 and "smtp.port" in bad_port.stderr
    assert qs(data, "user", "delete", "alice@example.test").returncode == 0
    assert "alice" not in qs(data, "user", "list").stdout
    assert list((data / "deleted").rglob("alice*")), "mail is kept, not destroyed"


def test_run_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "qs"
    qs(data, "init", "--domain", "example.test")
    qs(
        data,
        "user",
        "add",
        "alice@example.test",
        "--password-stdin",
        stdin="pw-alice-Kettle-9\n",
    )
    for m in ("pop3", "imap"):
        qs(data, "module", "disable", m)
    qs(data, "module", "set", "smtp", "--bind", "127.0.0.1", "--port", "0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--data-dir", str(data), "run"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    port = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not port:
        m = re.match(r"smtp: RUNNING 127\.0\.0\.1:(\d+)", proc.stdout.readline())
        port = int(m.group(1)) if m else 0
    assert port
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.sendmail(
            "x@outside.test", ["alice@example.test"], b"Subject: hi\r\n\r\nhi\r\n"
        )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    rest = proc.stdout.read()
    proc.stdout.close()
    assert "stopped" in rest
    assert len(list((data / "mail/example.test/alice/new").iterdir())) == 1


def test_privileged_port_failure_is_explained_and_others_keep_running(
    tmp_path: Path,
) -> None:
    """Binding a port in use (or below 1024 without the right) -> FAILED with advice."""
    import socket

    from tests.conftest import start_core

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    busy = blocker.getsockname()[1]
    c = start_core(tmp_path / "data", enabled=("smtp", "pop3"))
    try:
        st = c.run(c.api.update_settings("smtp", {"port": busy}))
        assert st.smtp.port == busy
        mods = {m.name: m for m in c.run(c.api.modules())}
        assert mods["smtp"].state.value == "FAILED"
        assert "already in use" in mods["smtp"].last_error
        assert mods["pop3"].state.value == "RUNNING"
    finally:
        c.runtime.stop()
        blocker.close()


def test_bind_error_message_for_low_ports() -> None:
    import errno

    from server.modules.base import bind_error_message

    msg = bind_error_message(OSError(errno.EACCES, "Permission denied"), "0.0.0.0", 25)
    assert (
        "administrator rights" in msg
        and "2025" in msg
        and "cap_net_bind_service" in msg
    )


def test_port_below_1024_without_the_right_fails_with_advice(tmp_path: Path) -> None:
    """Run the headless server as an unprivileged user with smtp on port 25."""
    import os
    import shutil
    import tempfile

    import pytest

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root to drop to an unprivileged user with setpriv")
    data = Path(tempfile.mkdtemp(prefix="qs-unpriv-"))
    try:
        os.chmod(data, 0o777)
        drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(data)}

        def run(
            *args: str, stdin: str | None = None
        ) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    *drop,
                    sys.executable,
                    "-m",
                    "server",
                    "--data-dir",
                    str(data / "d"),
                    *args,
                ],
                cwd=ROOT,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
            )

        probe = subprocess.run(
            [*drop, sys.executable, "-c", "import server.runtime"],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
            env=env,
        )
        if probe.returncode != 0:
            pytest.skip("the unprivileged user cannot read this checkout")
        assert run("init", "--domain", "example.test").returncode == 0
        run("module", "set", "smtp", "--bind", "127.0.0.1", "--port", "25")
        run(
            "module",
            "set",
            "pop3",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--tls-port",
            "0",
        )
        run("module", "disable", "imap")
        proc = subprocess.Popen(
            [
                *drop,
                sys.executable,
                "-m",
                "server",
                "--data-dir",
                str(data / "d"),
                "run",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("Quicksilver running") or not line:
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        proc.stdout.close()
        text = "".join(lines)
        assert "smtp: FAILED" in text and "administrator rights" in text, text
        assert "pop3: RUNNING" in text, text
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_weak_passwords_are_refused_with_the_reason_unless_allowed(
    tmp_path: Path,
) -> None:
    """Reproduces issue 10: ``user add ... `` took "pw" as a password."""
    data = tmp_path / "qs"
    assert qs(data, "init", "--domain", "example.test").returncode == 0
    add = ("user", "add", "bob@example.test", "--password-stdin")
    weak = qs(data, *add, stdin="pw\n")
    assert weak.returncode == 2 and "at least 8 characters" in weak.stderr
    common = qs(data, *add, stdin="password123\n")
    assert common.returncode == 2 and "too easy to guess" in common.stderr
    assert "bob@" not in qs(data, "user", "list").stdout
    assert qs(data, *add, "--allow-weak", stdin="pw\n").returncode == 0
    passwd = ("user", "passwd", "bob@example.test", "--password-stdin")
    again = qs(data, *passwd, stdin="bob12345\n")
    assert again.returncode == 2 and "error: The password" in again.stderr
    assert qs(data, *passwd, stdin="Bob-Kettle-pw-9\n").returncode == 0
    assert qs(data, *passwd, "--allow-weak", stdin="x\n").returncode == 0
    # the first user got the postmaster alias of the domain (RFC 5321 4.5.1)
    aliases = qs(data, "alias", "list").stdout
    assert "postmaster@example.test -> bob@example.test" in aliases
    refused = qs(data, "alias", "remove", "postmaster@example.test")
    assert refused.returncode == 2 and "RFC 5321" in refused.stderr


def test_run_capture_on_a_new_folder_keeps_mail_for_any_address(
    tmp_path: Path,
) -> None:
    """``run --capture`` on a folder with no mail domain yet: it starts on
    localhost, takes mail for anyone, and the shell lists it as JSON."""
    data = tmp_path / "qs"
    for m in ("pop3", "imap"):
        qs(data, "module", "disable", m)
    qs(data, "module", "set", "smtp", "--bind", "127.0.0.1", "--port", "0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--data-dir", str(data), "run", "--capture"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    port = 0
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and lines[-1:] != ["running"]:
        line = proc.stdout.readline()
        lines.append(line)
        m = re.match(r"smtp: RUNNING 127\.0\.0\.1:(\d+)", line)
        port = int(m.group(1)) if m else port
        if line.startswith("Quicksilver running"):
            lines.append("running")
    try:
        assert port, lines
        assert any("Capture mode" in ln and "capture@localhost" in ln for ln in lines)
        with smtplib.SMTP("127.0.0.1", port) as c:
            c.sendmail(
                "app@dev.example",
                ["anyone@anywhere.example"],
                b"Subject: caught\r\n\r\nhi\r\n",
            )
        listed = qs(data, "capture", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        (row,) = json.loads(listed.stdout)
        assert row["subject"] == "caught"
        assert row["recipients"] == ["anyone@anywhere.example"]
        login = qs(data, "capture", "password")
        assert "capture@localhost" in login.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        proc.stdout.close()
    # the mode was for that run only: the file still says off
    from server.config.store import SettingsStore

    assert not SettingsStore(data / "settings.toml").load().capture.enabled


def test_deleted_users_mail_comes_back_when_the_user_is_made_again(
    tmp_path: Path,
) -> None:
    data = tmp_path / "qs"
    qs(data, "init", "--domain", "example.test")
    pw = "pw-alice-Kettle-9\n"
    qs(data, "user", "add", "alice@example.test", "--password-stdin", stdin=pw)
    box = data / "mail/example.test/alice"
    (box / "new" / "1.kept,S=14,W=15").write_bytes(b"Subject: old\n\n")
    qs(data, "user", "delete", "alice@example.test")
    added = qs(data, "user", "add", "alice@example.test", "--password-stdin", stdin=pw)
    assert "user restore-mail alice@example.test" in added.stdout  # offered
    (box / "new" / "2.new,S=14,W=15").write_bytes(b"Subject: new\n\n")
    refused = qs(data, "user", "restore-mail", "alice@example.test")
    assert refused.returncode == 2 and "has mail already" in refused.stderr
    (box / "new" / "2.new,S=14,W=15").unlink()
    back = qs(data, "user", "restore-mail", "alice@example.test")
    assert back.returncode == 0, back.stderr
    assert [p.name for p in (box / "new").iterdir()] == ["1.kept,S=14,W=15"]
    again = qs(data, "user", "restore-mail", "alice@example.test")
    assert again.returncode == 2 and "No mail of a deleted" in again.stderr
