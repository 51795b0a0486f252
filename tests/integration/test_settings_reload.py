"""A running core and other writers of ``settings.toml`` (issue 11).

The core adopts a change another program made to the file (a
``quicksilver-server`` command, a hand edit) and applies it to its modules;
a file that is not valid leaves the settings in use alone and says why once;
a file removed under a running core is written again.
"""

from __future__ import annotations

import socket
import threading

import pytest

from server.__main__ import main
from server.config.store import SettingsStore
from server.errors import ValidationError
from server.modules.base import ModuleState
from server.runtime import wait_for
from tests.conftest import RunningCore


@pytest.fixture(autouse=True)
def keep_umask(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's main makes its process private for good (umask 077); here it
    runs inside the test process, whose umask other tests check."""
    monkeypatch.setattr("server.__main__.use_private_umask", lambda: None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def errors_about_settings(core: RunningCore) -> list[str]:
    return [
        r.message
        for r in core.runtime.services.log_buffer.records()
        if r.level == "ERROR" and "settings.toml" in r.message
    ]


def test_cli_change_reaches_the_running_module(core: RunningCore) -> None:
    """``module set smtp --port N`` from a shell (here: the CLI's main in a
    thread of this process) moves the running SMTP listener within seconds,
    without a restart of the server."""
    port = free_port()
    argv = ["--data-dir", str(core.data_dir), "module", "set", "smtp"]
    t = threading.Thread(target=main, args=([*argv, "--port", str(port)],))
    t.start()
    t.join(30)
    # the module passes through STARTING with no endpoint while it moves
    assert wait_for(lambda: core.ports("smtp") == {port}, timeout=10)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        assert c.recv(100).startswith(b"220 ")


def test_invalid_file_keeps_the_settings_in_use(core: RunningCore) -> None:
    services = core.runtime.services
    path = core.data_dir / "settings.toml"
    good = services.settings
    smtp_port = core.endpoint("smtp")[1]
    original = path.read_text()
    path.write_text('[smtp]\nport = "twenty-five"\n')  # a hand edit gone wrong
    assert core.run(services.reload_settings()) == good
    assert core.run(services.reload_settings()) == good  # looked at again
    assert core.run(core.api.settings()) == good
    errs = errors_about_settings(core)
    assert len(errs) == 1 and "smtp.port" in errs[0] and "stay" in errs[0]
    assert core.endpoint("smtp")[1] == smtp_port  # still serving as before
    # the window's save is refused, the person's text is left alone
    with pytest.raises(ValidationError, match="nothing was changed"):
        core.run(core.api.update_settings("smtp", {"timeout": 120}))
    assert path.read_text() == '[smtp]\nport = "twenty-five"\n'
    # corrected: adopted, and the module restarted on its new settings
    head, sep, tail = original.partition("[smtp]\n")
    path.write_text(head + sep + tail.replace("enabled = true", "enabled = false", 1))
    assert wait_for(lambda: not services.settings.smtp.enabled, timeout=10)
    # the new settings are in use before the module has finished stopping
    stopped = ModuleState.STOPPED
    assert wait_for(lambda: core.status("smtp").state is stopped, timeout=10)


def test_removed_file_is_written_again(core: RunningCore) -> None:
    services = core.runtime.services
    path = core.data_dir / "settings.toml"
    path.unlink()
    core.run(services.reload_settings())
    assert SettingsStore(path).load() == services.settings


def test_reload_of_own_write_changes_nothing(core: RunningCore) -> None:
    """The core's own patch is not taken for another writer's change."""
    services = core.runtime.services
    core.run(core.api.update_settings("smtp", {"max_recipients": 7}))
    before = core.endpoint("smtp")
    seen: list[object] = []
    unsubscribe = services.events.subscribe(seen.append)
    try:
        core.run(services.reload_settings())
    finally:
        unsubscribe()
    assert seen == [] and core.endpoint("smtp") == before
