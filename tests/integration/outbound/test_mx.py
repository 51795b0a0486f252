"""The mx module with a fake resolver: MX order, fallbacks, null MX, TLS, reuse.

No real DNS query is made and no packet leaves 127.0.0.1: the resolver is a
fake object answering from a table, and every address in it is a loopback one.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.resolver
import pytest

from tests.conftest import ALICE, ALICE_PW, RunningCore, start_core
from tests.integration.outbound.sink import Sink


@dataclass
class MX:
    preference: int
    exchange: str


@dataclass
class A:
    address: str


class FakeResolver:
    """``resolve(name, rdtype)`` from a dict; missing names are NXDOMAIN."""

    def __init__(self, table: dict[tuple[str, str], list[Any]]) -> None:
        self.table = table
        self.queries: list[tuple[str, str]] = []

    async def resolve(self, name: str, rdtype: str) -> list[Any]:
        self.queries.append((name, rdtype))
        key = (name.rstrip("."), rdtype)
        if key in self.table:
            if not self.table[key]:
                raise dns.resolver.NoAnswer()
            return self.table[key]
        if any(n == key[0] for n, _ in self.table):
            raise dns.resolver.NoAnswer()
        raise dns.resolver.NXDOMAIN()


TABLE: dict[tuple[str, str], list[Any]] = {
    # two MX hosts; the preferred one has an address where nothing listens
    ("remote.test", "MX"): [MX(20, "mx2.remote.test."), MX(10, "mx1.remote.test.")],
    ("mx1.remote.test", "A"): [A("127.0.0.2")],
    ("mx1.remote.test", "AAAA"): [],
    ("mx2.remote.test", "A"): [A("127.0.0.1")],
    ("mx2.remote.test", "AAAA"): [],
    # no MX: the domain's own address is the implicit MX
    ("plain.test", "MX"): [],
    ("plain.test", "A"): [A("127.0.0.1")],
    ("plain.test", "AAAA"): [],
    # RFC 7505 null MX
    ("nomail.test", "MX"): [MX(0, ".")],
}


@pytest.fixture
def mx_core(tmp_path: Path, sink: Sink) -> Iterator[tuple[RunningCore, FakeResolver]]:
    core = start_core(tmp_path / "data", enabled=("smtp", "submission"))
    try:
        resolver = FakeResolver(TABLE)
        core.runtime.services.modules["mx"].resolver = resolver  # type: ignore[attr-defined]
        core.run(core.api.update_settings("mx", {"port": sink.port}))
        st = core.run(core.api.set_module_enabled("mx", True))
        assert st.state.value == "RUNNING", st
        yield core, resolver
    finally:
        core.runtime.stop()


def submit(core: RunningCore, rcpts: list[str], subject: str = "mx test") -> None:
    host, port = core.endpoint("submission", "starttls")
    with smtplib.SMTP(host, port) as c:
        c.login(ALICE, ALICE_PW)
        c.sendmail(ALICE, rcpts, f"Subject: {subject}\r\n\r\nbody\r\n".encode())


def settle(core: RunningCore) -> None:
    assert core.run(core.runtime.services.queue.wait_idle(10))


def dsn_blocks(core: RunningCore) -> list[Any]:
    md = core.maildir(ALICE)
    out = []
    for p in sorted((md / "new").glob("*")):
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        out += list(msg.iter_parts())[1].get_payload()[1:]
    return out


def test_mx_order_and_fallback_to_next_host(
    mx_core: tuple[RunningCore, FakeResolver], sink: Sink
) -> None:
    core, resolver = mx_core
    submit(core, ["a@remote.test", "b@remote.test"])
    assert sink.wait_messages(1)
    settle(core)
    # mx1 (preference 10) was looked up first, then mx2 got the message
    a_lookups = [n for n, t in resolver.queries if t == "A"]
    assert a_lookups[:2] == ["mx1.remote.test", "mx2.remote.test"]
    # both recipients of one message in one transaction on one connection
    assert [m.rcpts for m in sink.messages] == [["a@remote.test", "b@remote.test"]]
    assert core.run(core.api.queue_jobs()) == ()


def test_implicit_mx_from_a_record(
    mx_core: tuple[RunningCore, FakeResolver], sink: Sink
) -> None:
    core, _ = mx_core
    submit(core, ["x@plain.test"])
    assert sink.wait_messages(1)
    assert sink.messages[0].rcpts == ["x@plain.test"]


def test_null_mx_fails_permanently_with_5110(
    mx_core: tuple[RunningCore, FakeResolver], sink: Sink
) -> None:
    core, _ = mx_core
    submit(core, ["x@nomail.test"])
    settle(core)
    assert core.run(core.api.queue_jobs()) == ()
    (block,) = dsn_blocks(core)
    assert block["Status"] == "5.1.10"
    assert "null MX" in block["Diagnostic-Code"]
    assert sink.messages == []


def test_nonexistent_domain_fails_with_512(
    mx_core: tuple[RunningCore, FakeResolver], sink: Sink
) -> None:
    core, _ = mx_core
    submit(core, ["x@nowhere.test"])
    settle(core)
    (block,) = dsn_blocks(core)
    assert block["Status"] == "5.1.2"


def test_unreachable_hosts_are_temporary(
    mx_core: tuple[RunningCore, FakeResolver], sink: Sink
) -> None:
    core, resolver = mx_core
    resolver.table[("down.test", "MX")] = [MX(10, "mx1.remote.test.")]  # 127.0.0.2
    submit(core, ["x@down.test"])
    settle(core)
    (job,) = core.run(core.api.queue_jobs())
    assert job.recipients == (("x@down.test", "deferred"),)
    assert "Cannot talk to mx1.remote.test" in job.last_error


def test_no_resolver_defers_with_a_reason(
    mx_core: tuple[RunningCore, FakeResolver], sink: Sink
) -> None:
    """A running mx module left without a resolver (its start found none)
    defers the mail with a DNS reason; nothing is lost, nothing crashes."""
    core, _ = mx_core
    core.runtime.services.modules["mx"].resolver = None  # type: ignore[attr-defined]
    submit(core, ["x@remote.test"])
    settle(core)
    (job,) = core.run(core.api.queue_jobs())
    assert job.recipients == (("x@remote.test", "deferred"),)
    assert "No DNS resolver is configured" in job.last_error
    assert not sink.messages


def test_a_fault_in_the_route_is_retried_and_its_details_stay_in_the_log(
    mx_core: tuple[RunningCore, FakeResolver],
    sink: Sink,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exception inside the route (a bug, a full disk) defers the mail;
    the reason kept with the job -- shown in the window, and the diagnostic
    of a DSN if the job expires -- names no path and no exception text."""
    core, _ = mx_core
    mx = core.runtime.services.modules["mx"]

    async def broken(*_args: object) -> list[object]:
        raise OSError(2, "No such file or directory", "/secret/data/spool/x")

    monkeypatch.setattr(mx, "deliver_remote", broken)
    submit(core, ["x@remote.test"])
    settle(core)
    (job,) = core.run(core.api.queue_jobs())
    assert job.recipients == (("x@remote.test", "deferred"),)
    assert job.last_error == (
        "Delivery failed: internal error in the mx module (see the server log)"
    )
    assert "/secret" not in job.last_error
    assert "/secret/data/spool/x" in caplog.text  # the log has the details


def test_connections_are_reused_between_messages(
    mx_core: tuple[RunningCore, FakeResolver], sink: Sink
) -> None:
    core, _ = mx_core
    for i in range(3):
        submit(core, ["x@plain.test"], subject=f"n{i}")
        assert sink.wait_messages(i + 1)
        settle(core)
    assert sink.connections == 1


def test_5xx_from_mx_is_permanent_4xx_temporary(
    mx_core: tuple[RunningCore, FakeResolver], sink: Sink
) -> None:
    core, _ = mx_core
    sink.reject_rcpts = ("gone@plain.test",)
    sink.tempfail_first = 1
    submit(core, ["gone@plain.test", "later@plain.test"])
    settle(core)
    (job,) = core.run(core.api.queue_jobs())
    assert dict(job.recipients) == {
        "gone@plain.test": "failed",
        "later@plain.test": "deferred",
    }
    (block,) = dsn_blocks(core)  # the failed one is reported without waiting
    assert block["Final-Recipient"] == "rfc822; gone@plain.test"
    core.run(core.api.retry_job(job.job_id))
    assert sink.wait_messages(1)
    settle(core)
    assert core.run(core.api.queue_jobs()) == ()


def test_opportunistic_starttls(tmp_path: Path) -> None:
    from server.tls import generate_self_signed

    generate_self_signed("sink.test", tmp_path / "c.pem", tmp_path / "k.pem")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    sink = Sink(tls_context=ctx).start()
    core = start_core(tmp_path / "data", enabled=("smtp", "submission"))
    try:
        core.runtime.services.modules["mx"].resolver = FakeResolver(TABLE)  # type: ignore[attr-defined]
        core.run(core.api.update_settings("mx", {"port": sink.port}))
        core.run(core.api.set_module_enabled("mx", True))
        submit(core, ["x@plain.test"])
        assert sink.wait_messages(1)
        assert sink.messages[0].tls
        assert "STARTTLS" in sink.commands
    finally:
        core.runtime.stop()
        sink.stop()


def test_relay_wins_over_mx_and_mx_takes_over(
    mx_core: tuple[RunningCore, FakeResolver], sink: Sink
) -> None:
    from tests.integration.outbound.conftest import use_relay

    core, _ = mx_core
    smart = Sink().start()
    try:
        use_relay(core, smart)
        submit(core, ["x@plain.test"])
        assert smart.wait_messages(1)
        assert sink.messages == []
        core.run(core.api.set_module_enabled("relay", False))
        submit(core, ["y@plain.test"])
        assert sink.wait_messages(1)
    finally:
        smart.stop()
