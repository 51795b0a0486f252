"""The item models: Qt's model tester plus their own behaviour."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from app.models.log_model import LogFilterProxy, LogModel
from app.models.modules_model import ModulesModel
from app.models.users_model import UsersModel
from server.api import UserView
from server.events import LogRecorded
from server.modules.base import Endpoint, ModuleState, ModuleStatus


def status(
    name: str, state: ModuleState = ModuleState.STOPPED, **kw: Any
) -> ModuleStatus:
    return ModuleStatus(name, name.upper(), kw.pop("enabled", False), state, **kw)


def record(seq: int, module: str = "smtp", message: str = "hello") -> LogRecorded:
    return LogRecorded(
        seq=seq,
        level="INFO",
        logger=f"quicksilver.{module}",
        module=module,
        message=message,
        at=1_700_000_000.0,
    )


def test_modules_model_passes_model_tester(qtmodeltester: Any) -> None:
    model = ModulesModel()
    model.set_modules(
        [
            status(
                "smtp",
                ModuleState.RUNNING,
                enabled=True,
                endpoints=(Endpoint("127.0.0.1", 2525),),
                sessions=2,
                messages_today=5,
            ),
            status("pop3", ModuleState.FAILED, enabled=True, last_error="Port in use"),
            status("imap"),
        ]
    )
    qtmodeltester.check(model)


def test_modules_model_tick_is_a_request(qtbot: Any) -> None:
    model = ModulesModel()
    model.set_modules([status("smtp")])
    index = model.index(0, ModulesModel.COL_ON)
    with qtbot.waitSignal(model.enableRequested) as blocker:
        assert model.setData(
            index, Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole
        )
    assert blocker.args == ["smtp", True]
    # the light follows only what the core reports
    assert model.data(index, ModulesModel.StateRole) is ModuleState.STOPPED
    model.apply_state("smtp", ModuleState.RUNNING)
    assert model.data(model.index(0, ModulesModel.COL_STATUS)) == "Running"
    model.update_status(
        status(
            "smtp", ModuleState.RUNNING, enabled=True, endpoints=(Endpoint("::1", 25),)
        )
    )
    assert model.data(model.index(0, ModulesModel.COL_ADDRESS)) == "[::1]:25"
    assert model.data(index, ModulesModel.LightColourRole).name() == "#2eaa3c"


def test_a_module_turned_off_loses_its_red_error(qtbot: Any) -> None:
    """Issue 17: the relay's "Enter the smart host's name" stayed red after
    the tick was taken off."""
    model = ModulesModel()
    model.set_modules([status("relay", ModuleState.STOPPED, enabled=True)])
    error = model.index(0, ModulesModel.COL_ERROR)
    model.apply_state("relay", ModuleState.FAILED, "Enter the smart host's name")
    assert model.data(error) == "Enter the smart host's name"
    assert model.data(error, Qt.ItemDataRole.ToolTipRole)  # read in full
    model.apply_state("relay", ModuleState.STOPPED)
    assert not model.data(error)


def test_session_counts_repaint_at_most_every_refresh(qtbot: Any) -> None:
    """A burst of connections moves the number at once but repaints the
    Sessions cell once per SESSIONS_REFRESH_MS, not once per connection."""
    model = ModulesModel()
    model.set_modules([status("imap", ModuleState.RUNNING, enabled=True)])
    changed: list[int] = []
    model.dataChanged.connect(lambda top, _bottom, _roles: changed.append(top.row()))
    for _ in range(300):
        model.apply_session("imap", True)
    for _ in range(100):
        model.apply_session("imap", False)
    assert model.data(model.index(0, ModulesModel.COL_SESSIONS)) in (200, "200")
    assert changed == []
    qtbot.waitUntil(lambda: changed == [0], timeout=2000)
    qtbot.wait(300)
    assert changed == [0]


def test_log_model_passes_model_tester(qtmodeltester: Any) -> None:
    model = LogModel(capacity=10)
    model.append([record(i) for i in range(1, 8)])
    qtmodeltester.check(model)
    proxy = LogFilterProxy()
    proxy.setSourceModel(model)
    proxy.set_search("hel")
    qtmodeltester.check(proxy)


def test_log_model_ring_is_bounded_and_drops_repeats() -> None:
    model = LogModel(capacity=50)
    model.append([record(i) for i in range(1, 31)])
    model.append([record(i) for i in range(20, 81)])  # 20..30 already seen
    assert model.rowCount() == 50
    assert model.record(0).seq == 31
    assert model.record(49).seq == 80
    model.append([record(i) for i in range(81, 500)])
    assert model.rowCount() == 50
    assert model.record(49).seq == 499


def test_log_filter_by_module_and_text() -> None:
    model = LogModel()
    model.append(
        [
            record(1, "smtp", "[127.0.0.1:5000] MAIL bob@example.org"),
            record(2, "pop3", "[127.0.0.1:5001] USER alice"),
            record(3, "smtp", "[127.0.0.1:5002] connected"),
        ]
    )
    proxy = LogFilterProxy()
    proxy.setSourceModel(model)
    assert proxy.rowCount() == 3
    proxy.set_module("smtp")
    assert proxy.rowCount() == 2
    proxy.set_search("mail BOB")
    assert proxy.rowCount() == 1
    proxy.set_module(None)
    proxy.set_search("127.0.0.1")
    assert proxy.rowCount() == 3


def test_users_model_passes_model_tester(qtmodeltester: Any) -> None:
    model = UsersModel()
    model.set_users(
        [
            UserView("bob@example.test", "Bob", True, 0, 2048),
            UserView("alice@example.test", "Alice", False, 100 * 1024 * 1024, 0),
        ]
    )
    qtmodeltester.check(model)
    assert model.user(0).address == "alice@example.test"
    assert model.data(model.index(0, UsersModel.COL_QUOTA)) == "100.0 MB"
    assert model.data(model.index(1, UsersModel.COL_QUOTA)) == "No limit"
    assert model.data(model.index(1, UsersModel.COL_USAGE)) == "2.0 KB"


def test_configured_addresses_show_while_stopped() -> None:
    from app.formatting import configured_address
    from server.config.schema import RelaySettings, SmtpSettings

    assert configured_address(SmtpSettings(bind="127.0.0.1", port=2525)) == (
        "127.0.0.1:2525"
    )
    assert configured_address(RelaySettings(host="smtp.isp.example", port=587)) == (
        "outbound via smtp.isp.example:587"
    )
    model = ModulesModel()
    model.set_modules([status("smtp")])
    model.set_configured_addresses({"smtp": "0.0.0.0:25"})
    index = model.index(0, ModulesModel.COL_ADDRESS)
    assert model.data(index) == "0.0.0.0:25"
    assert model.data(index, Qt.ItemDataRole.ForegroundRole) is not None  # greyed
