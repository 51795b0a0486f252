"""HACKING's promise: one line in the registry, and the window shows the module
by itself (issue 11). A dummy module registered for one test shows up in the
CLI's choices, the modules panel, the log console's tabs and the statistics
page, and the core runs it like any other."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from typing import Any

import pytest

from app.bridge import CoreBridge
from app.views.main_window import MainWindow
from server.modules import registry
from server.modules.base import (
    Listener,
    ListenerModule,
    ModuleContext,
    ModuleState,
)

from .helpers import start_real_core, wait_for

pytestmark = pytest.mark.gui


class EchoModule(ListenerModule):
    """A listener that answers one line and closes: enough to be a module."""

    name = "echo"
    title = "Echo"

    def __init__(self, ctx: ModuleContext) -> None:
        super().__init__(ctx.events, logging.getLogger("quicksilver.echo"))
        self.ctx = ctx

    def configure(self, cfg: Any) -> None:
        pass

    def listeners(self) -> list[Listener]:
        return [Listener("127.0.0.1", 0, "none", asyncio.Protocol)]


ECHO = registry.ModuleInfo("echo", "Echo", EchoModule, registry.LISTENER, "Echoes")


def test_a_registered_module_reaches_every_list(
    qtbot: Any, gui_loop: Any, tmp_path: Any
) -> None:
    from server.__main__ import _parser

    with registry.registered(ECHO):
        # the CLI offers it
        with contextlib.redirect_stderr(io.StringIO()):
            args = _parser().parse_args(["module", "enable", "echo"])
        assert args.name == "echo"
        rt = start_real_core(tmp_path / "data")
        try:
            assert isinstance(rt.services.modules["echo"], EchoModule)
            bridge = CoreBridge(rt)
            snapshot = wait_for(qtbot, bridge.connect_core())
            win = MainWindow(bridge)
            qtbot.addWidget(win)
            win.apply_snapshot(snapshot)
            win.show()
            try:
                # the modules panel
                assert win.modules_model.row_of("echo") >= 0
                # the log console's tabs
                assert win.log_console.tab_of("echo") >= 0
                # the statistics page counts its sessions
                assert "echo" in win.stats_page.session_labels
                status = next(s for s in snapshot.modules if s.name == "echo")
                assert status.title == "Echo"
                assert status.state is ModuleState.STOPPED
            finally:
                win.close()
        finally:
            rt.stop()
    assert registry.info("echo") is None
