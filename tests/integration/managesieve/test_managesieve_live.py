"""ManageSieve on the real runtime: ``sieve-connect`` (a real client, over
STARTTLS with the server's own certificate as its CA) uploads, activates,
lists, downloads and deletes a script in ``sieve/<domain>/<user>/``; failed
logins count with IMAP's towards the same bans and account locks."""

from __future__ import annotations

import base64
import imaplib
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE, ALICE_PW, RunningCore, start_core

SCRIPT = (
    'require ["fileinto", "vacation"];\n'
    'if header :contains "subject" "report" { fileinto "Reports"; stop; }\n'
    'vacation :days 3 "Away until Monday.";\n'
)


@pytest.fixture
def ms_core(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("imap", "managesieve"))
    try:
        yield c
    finally:
        c.runtime.stop()


def _sieve_connect(
    core: RunningCore, *args: str, password: str = ALICE_PW
) -> subprocess.CompletedProcess[str]:
    host, port = core.endpoint("managesieve", "starttls")
    cmd = [
        "sieve-connect",
        "--server", host,
        "--port", str(port),
        "--user", ALICE,
        "--passwordfd", "0",
        "--authmech", "PLAIN",
        "--tlscafile", str(core.data_dir / "tls" / "cert.pem"),
        "--tlshostname", "mail.example.test",
        "--noclearchan",  # refuse to go on without TLS
        *args,
    ]  # fmt: skip
    return subprocess.run(
        cmd, input=password + "\n", capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(shutil.which("sieve-connect") is None, reason="no sieve-connect")
def test_sieve_connect_upload_activate_list_download_delete(
    ms_core: RunningCore, tmp_path: Path
) -> None:
    local = tmp_path / "rules.sieve"
    local.write_text(SCRIPT)
    folder = ms_core.data_dir / "sieve" / "example.test" / "alice"

    r = _sieve_connect(
        ms_core, "--upload", "--localsieve", str(local), "--remotesieve", "office"
    )
    assert r.returncode == 0, r.stderr
    assert (folder / "office.sieve").read_text() == SCRIPT

    r = _sieve_connect(ms_core, "--activate", "--remotesieve", "office")
    assert r.returncode == 0, r.stderr
    assert (folder / ".active").read_text() == "office\n"

    r = _sieve_connect(ms_core, "--list")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ['"office" ACTIVE']

    back = tmp_path / "back.sieve"
    r = _sieve_connect(
        ms_core, "--download", "--remotesieve", "office", "--localsieve", str(back)
    )
    assert r.returncode == 0, r.stderr
    assert back.read_text() == SCRIPT

    r = _sieve_connect(ms_core, "--deactivate")
    assert r.returncode == 0, r.stderr
    assert not (folder / ".active").exists()
    r = _sieve_connect(ms_core, "--delete", "--remotesieve", "office")
    assert r.returncode == 0, r.stderr
    assert not (folder / "office.sieve").exists()

    # it really went over TLS: the module logged the handshake
    log = (ms_core.data_dir / "logs" / "quicksilver.log").read_text()
    assert "TLS started" in log


@pytest.mark.skipif(shutil.which("sieve-connect") is None, reason="no sieve-connect")
def test_sieve_connect_shows_the_syntax_error(
    ms_core: RunningCore, tmp_path: Path
) -> None:
    local = tmp_path / "bad.sieve"
    local.write_text('require "fileinto";\nfileinto;\n')
    r = _sieve_connect(ms_core, "--upload", "--localsieve", str(local))
    assert r.returncode != 0
    assert "line 2" in r.stderr + r.stdout
    assert not (ms_core.data_dir / "sieve" / "example.test" / "alice").exists()


def _ms_auth(core: RunningCore, user: str, password: str) -> bytes:
    """One AUTHENTICATE PLAIN over loopback (plaintext allowed there, as IMAP)."""
    with socket.create_connection(core.endpoint("managesieve"), timeout=5) as s:
        f = s.makefile("rb")
        while True:
            line = f.readline()
            if not line or line.startswith((b"OK", b"NO", b"BYE")):
                break
        if not line.startswith(b"OK"):
            return line
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        s.sendall(f'AUTHENTICATE "PLAIN" "{token}"\r\n'.encode())
        answer = f.readline()
        f.close()
        return answer


def test_failures_count_with_imap_towards_the_ban(ms_core: RunningCore) -> None:
    ms_core.run(
        ms_core.api.update_settings("security", {"max_failures": 3, "ban_time": 3600})
    )
    ms_core.runtime.services.modules["managesieve"].login_delay = 0  # type: ignore[attr-defined]
    imap_addr = ms_core.endpoint("imap", "starttls")
    with imaplib.IMAP4(*imap_addr) as imap, pytest.raises(imaplib.IMAP4.error):
        imap.login(ALICE, "wrong-1")
    assert _ms_auth(ms_core, ALICE, "wrong-2") == b'NO "Authentication failed."\r\n'
    assert _ms_auth(ms_core, ALICE, "wrong-3") == b'BYE "Too many failed logins."\r\n'
    assert [b.ip for b in ms_core.run(ms_core.api.bans())] == ["127.0.0.1"]
    # banned everywhere: ManageSieve and IMAP refuse at connect
    assert _ms_auth(ms_core, ALICE, ALICE_PW).startswith(b'BYE "Too many failed logins')
    with socket.create_connection(ms_core.endpoint("imap", "starttls"), timeout=5) as s:
        assert s.makefile("rb").readline().startswith(b"* BYE")


def test_account_lock_applies_to_managesieve(ms_core: RunningCore) -> None:
    ms_core.run(
        ms_core.api.update_settings(
            "security", {"max_failures": 1000, "user_max_failures": 2}
        )
    )
    ms_core.runtime.services.modules["managesieve"].login_delay = 0  # type: ignore[attr-defined]
    for pw in ("wrong-1", "wrong-2"):
        assert _ms_auth(ms_core, ALICE, pw) == b'NO "Authentication failed."\r\n'
    # locked: even the right password fails for a while, here and in IMAP
    assert _ms_auth(ms_core, ALICE, ALICE_PW) == b'NO "Authentication failed."\r\n'
    imap_addr = ms_core.endpoint("imap", "starttls")
    with imaplib.IMAP4(*imap_addr) as imap, pytest.raises(imaplib.IMAP4.error):
        imap.login(ALICE, ALICE_PW)
    ms_core.run(ms_core.api.unlock_user(ALICE))
    assert _ms_auth(ms_core, ALICE, ALICE_PW) == b'OK "Logged in."\r\n'


def test_module_is_listed_and_off_by_default(tmp_path: Path) -> None:
    c = start_core(tmp_path / "fresh")
    try:
        st = {m.name: m for m in c.run(c.api.modules())}["managesieve"]
        assert st.title == "ManageSieve" and not st.enabled
        assert c.runtime.services.settings.managesieve.port == 0  # tests: port 0
        from server.config.schema import ManageSieveSettings

        assert ManageSieveSettings().port == 4190
        assert ManageSieveSettings().enabled is False
    finally:
        c.runtime.stop()
