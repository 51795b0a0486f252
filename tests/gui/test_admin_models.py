"""The admin pages' item models: Qt's model tester plus their own texts."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from app.models.aliases_model import AliasesModel, DomainsModel
from app.models.bans_model import BansModel
from app.models.queue_model import QueueModel, span_text
from server.accounts.base import Alias, Domain
from server.auth import Ban
from server.queue.spool import QueueJobView

NOW = 1_700_000_000.0


def job(job_id: str, **kw: Any) -> QueueJobView:
    values: dict[str, Any] = {
        "sender": "alice@example.test",
        "recipients": (("bob@remote.test", "deferred"),),
        "size": 2048,
        "created": NOW - 720,
        "attempts": 2,
        "next_attempt": NOW + 240,
        "last_error": "451 4.3.0 try\r\n again later",
    }
    values.update(kw)
    return QueueJobView(job_id=job_id, **values)


def text(model: Any, row: int, col: int) -> Any:
    return model.data(model.index(row, col), Qt.ItemDataRole.DisplayRole)


def test_queue_model_passes_model_tester(qtmodeltester: Any) -> None:
    model = QueueModel(clock=lambda: NOW)
    model.set_jobs([job("b"), job("a", created=NOW - 30)])
    qtmodeltester.check(model, force_py=True)
    model.tick()
    model.set_jobs([])
    qtmodeltester.check(model, force_py=True)


def test_queue_model_texts() -> None:
    model = QueueModel(clock=lambda: NOW)
    model.set_jobs(
        [
            job("a"),
            job(
                "b",
                sender="",
                recipients=(("x@remote.test", "held"), ("y@example.test", "delivered")),
                created=NOW - 3 * 86400,
                next_attempt=0.0,
                last_error="Held by the administrator.",
            ),
        ]
    )
    A, B = model.row_of("a"), model.row_of("b")
    assert (A, B) == (1, 0)  # oldest first
    assert text(model, A, QueueModel.COL_RECIPIENTS) == "bob@remote.test (deferred)"
    assert text(model, A, QueueModel.COL_AGE) == "12 min"
    assert text(model, A, QueueModel.COL_NEXT) == "in 4 min"
    assert text(model, A, QueueModel.COL_SIZE) == "2.0 KB"
    assert text(model, A, QueueModel.COL_ERROR) == "451 4.3.0 try again later"
    assert text(model, B, QueueModel.COL_FROM).startswith("<>")
    assert text(model, B, QueueModel.COL_RECIPIENTS) == (
        "x@remote.test (held), y@example.test (delivered)"
    )
    assert text(model, B, QueueModel.COL_AGE) == "3 days"
    assert text(model, B, QueueModel.COL_NEXT) == "when released"
    assert model.has_held()
    assert span_text(3 * 3600 + 300) == "3 h 5 min"


def test_bans_model_passes_model_tester(qtmodeltester: Any) -> None:
    model = BansModel(clock=lambda: NOW)
    model.set_bans(
        [Ban("192.0.2.9", NOW + 3600, "10 failed logins"), Ban("::1", 0, "")]
    )
    qtmodeltester.check(model, force_py=True)
    assert model.ips() == ("192.0.2.9", "::1")
    assert text(model, 0, BansModel.COL_UNTIL).endswith("(in 1 h)")
    assert text(model, 0, BansModel.COL_REASON) == "10 failed logins"


def test_aliases_and_domains_models_pass_model_tester(qtmodeltester: Any) -> None:
    aliases = AliasesModel()
    aliases.set_aliases(
        [
            Alias("*@example.test", ("alice@example.test",)),
            Alias("info@example.test", ("alice@example.test", "bob@example.test")),
        ]
    )
    qtmodeltester.check(aliases, force_py=True)
    assert text(aliases, 0, 0) == "info@example.test"
    assert text(aliases, 0, 1) == "alice@example.test, bob@example.test"
    assert text(aliases, 1, 0) == "any other address @example.test (catch-all)"
    domains = DomainsModel()
    domains.set_domains(
        [Domain("xn--bcher-kva.example", "bücher.example"), Domain("a.test", "a.test")]
    )
    qtmodeltester.check(domains, force_py=True)
    assert text(domains, 1, 0) == "bücher.example"
    assert domains.names() == ("a.test", "xn--bcher-kva.example")
