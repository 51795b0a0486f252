"""The first run opens only what the wizard was told to (issue 10).

Each test walks the real wizard into a real core on a fresh data folder with
the built-in defaults (SMTP 25, POP3 110/995, IMAP 143/993 on 0.0.0.0) and
records every listener the core tries to open. A listener on a port the
wizard did not choose is refused by the recorder instead of opened, so the
defaults are never really bound by a test.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from asyncio import base_events
from pathlib import Path
from typing import Any

import pytest

from app.__main__ import run_session
from app.dialogs.first_run_wizard import FirstRunWizard
from app.views.main_window import MainWindow
from server.api import CoreApi, FirstRunSetup, ModuleSetup, PortQuery
from server.runtime import Runtime

from .helpers import DOMAIN, HOSTNAME, fill_wizard, start_real_core, wait_for
from .test_first_run_wizard import free_ports
from .test_lifecycle import top_level

pytestmark = pytest.mark.gui


class BindRecorder:
    """Wraps the event loop's ``create_server``: records (host, port) of every
    listener a module opens; opens only the ``allowed`` ports."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, allowed: set[int]) -> None:
        self.calls: list[tuple[str, int]] = []
        self.allowed = allowed
        real = base_events.BaseEventLoop.create_server
        recorder = self

        async def create_server(
            loop: Any, factory: Any, host: Any = None, port: Any = None, **kw: Any
        ) -> Any:
            recorder.calls.append((str(host), int(port or 0)))
            if port not in recorder.allowed:
                raise OSError(errno.EADDRINUSE, "refused by the test's recorder")
            return await real(loop, factory, host, port, **kw)

        monkeypatch.setattr(base_events.BaseEventLoop, "create_server", create_server)


def test_finish_starts_each_module_once_on_the_chosen_ports(
    qtbot: Any, gui_loop: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reproduces: Finish first started SMTP 25, POP3 110/995 and IMAP 143/993
    on 0.0.0.0 with the defaults, then the chosen ports, then restarted
    everything again. Now: one listener per chosen port, each opened once, on
    127.0.0.1 (the default answer to "who may connect"), and nothing else."""
    smtp, pop3, pop3s, imap, imaps = free_ports(5)
    chosen = {smtp, pop3, pop3s, imap, imaps}
    recorder = BindRecorder(monkeypatch, chosen)
    runtime = Runtime(tmp_path / "data")  # no settings file: the defaults
    windows: list[MainWindow] = []
    task = asyncio.ensure_future(run_session(runtime, on_window=windows.append))
    qtbot.waitUntil(lambda: top_level(FirstRunWizard) is not None, timeout=10_000)
    wizard = top_level(FirstRunWizard)
    assert recorder.calls == []  # nothing listens while the wizard is open
    assert wizard.reach_page.local_radio.isChecked()
    fill_wizard(
        qtbot,
        wizard,
        {
            "smtp": {"port": smtp},
            "pop3": {"port": pop3, "tls_port": pop3s},
            "imap": {"port": imap, "tls_port": imaps},
        },
        ("alice", "first-pass-1"),
    )
    qtbot.waitUntil(lambda: bool(windows), timeout=10_000)
    assert sorted(recorder.calls) == sorted(("127.0.0.1", p) for p in chosen)
    settings = wait_for(qtbot, windows[0].bridge.run(CoreApi.settings))
    for name in ("smtp", "submission", "pop3", "imap"):
        assert settings.section(name).bind == "127.0.0.1", name
    assert not settings.submission.enabled
    windows[0].quit()
    qtbot.waitUntil(task.done, timeout=10_000)
    assert task.result() == 0


def test_local_network_answer_listens_on_every_address(tmp_path: Path) -> None:
    """Reproduces: the wizard never asked who may connect, and the listen
    address stayed the default whatever the person wanted. "This computer and
    the local network" gives every listening module 0.0.0.0 (the access list
    still refuses the internet); modules are left off here so nothing binds
    beyond loopback."""
    rt = start_real_core(tmp_path / "data", first_run=False)
    try:
        settings = rt.run(
            rt.api.complete_first_run(
                FirstRunSetup(
                    DOMAIN,
                    HOSTNAME,
                    reach="lan",
                    modules=tuple(
                        ModuleSetup(n, False) for n in ("smtp", "pop3", "imap")
                    ),
                )
            )
        )
        for name in ("smtp", "submission", "pop3", "imap"):
            assert settings.section(name).bind == "0.0.0.0", name
        assert settings.general.domain == DOMAIN
        assert not rt.run(rt.api.snapshot()).needs_first_run
    finally:
        rt.stop()


def test_typed_host_name_is_in_the_certificate(tmp_path: Path) -> None:
    """The certificate is made for the machine name before the wizard runs;
    the host name typed in the wizard must end up in it. (Held before this
    change through the general section's restart path; kept by the one-call
    first run, which remakes our own certificate before any module starts.)"""
    rt = start_real_core(tmp_path / "data", first_run=False)
    try:
        before = rt.run(rt.api.certificate())
        assert "mail.typed-name.test" not in before.names
        rt.run(
            rt.api.complete_first_run(
                FirstRunSetup("typed-name.test", "mail.typed-name.test")
            )
        )
        after = rt.run(rt.api.certificate())
        assert "mail.typed-name.test" in after.names
    finally:
        rt.stop()


def test_a_refused_choice_changes_nothing(tmp_path: Path) -> None:
    """Everything is checked before anything changes: two modules on one port
    or a weak first password leave the data folder as it was (still in need
    of the first run), and a corrected retry then succeeds."""
    from server.api import NewUser
    from server.errors import ValidationError

    rt = start_real_core(tmp_path / "data", first_run=False)
    try:
        clash = FirstRunSetup(
            DOMAIN,
            HOSTNAME,
            modules=(
                ModuleSetup("smtp", True, (("port", 40025),)),
                ModuleSetup("pop3", True, (("port", 40025), ("tls_port", 0))),
            ),
        )
        with pytest.raises(ValidationError, match="cannot share port 40025"):
            rt.run(rt.api.complete_first_run(clash))
        weak = FirstRunSetup(DOMAIN, HOSTNAME, user=NewUser(f"al@{DOMAIN}", "abc"))
        with pytest.raises(ValidationError):
            rt.run(rt.api.complete_first_run(weak))
        snap = rt.run(rt.api.snapshot())
        assert snap.needs_first_run and snap.domains == () and snap.users == ()
        good = FirstRunSetup(
            DOMAIN, HOSTNAME, user=NewUser(f"al@{DOMAIN}", "first-pass-1")
        )
        rt.run(rt.api.complete_first_run(good))
        rt.run(rt.api.complete_first_run(good))  # a retry is harmless
        assert rt.run(rt.api.check_login(f"al@{DOMAIN}", "first-pass-1"))
    finally:
        rt.stop()


def test_port_probe_goes_through_the_core_and_names_the_owner(
    tmp_path: Path,
) -> None:
    """The wizard's port probe is a facade call (the window binds nothing):
    a port one of our modules uses is named as ours, one another program
    holds is "another program", and a free one is suggested for each."""
    rt = start_real_core(tmp_path / "data")
    try:
        smtp = rt.run(rt.api.set_module_enabled("smtp", True))
        ours = smtp.endpoints[0].port
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            other.listen()
            theirs = other.getsockname()[1]
            free = free_ports(1)[0]
            checks = rt.run(
                rt.api.check_ports(
                    (
                        PortQuery("127.0.0.1", ours, 42525),
                        PortQuery("127.0.0.1", theirs, 42525),
                        PortQuery("127.0.0.1", free, 42525),
                    )
                )
            )
        assert "Quicksilver's SMTP module" in checks[0].problem
        assert "another program" in checks[1].problem
        assert checks[2].problem == "" and checks[2].suggestion == 0
        assert checks[0].suggestion >= 42525 and checks[1].suggestion >= 42525
    finally:
        rt.stop()


def test_the_window_binds_no_socket_of_its_own() -> None:
    """The wizard's probe moved into the core: no module of the first-run
    path imports ``socket``."""
    import app.__main__ as main_module
    import app.dialogs.first_run_wizard as wizard_module

    for module in (wizard_module, main_module):
        assert not hasattr(module, "socket"), module.__name__
