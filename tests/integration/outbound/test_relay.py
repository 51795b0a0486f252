"""The relay module against local sinks playing the smart host."""

from __future__ import annotations

import email
import email.policy
import smtplib
from pathlib import Path

from tests.conftest import ALICE, ALICE_PW, RunningCore, start_core
from tests.integration.outbound.conftest import use_relay
from tests.integration.outbound.sink import Sink

MSG = (
    b"From: Alice <alice@example.test>\r\n"
    b"To: Far <far@remote.test>\r\n"
    b"Subject: over the relay\r\n"
    b"Message-ID: <r1@example.test>\r\n"
    b"\r\n"
    b".a line with a leading dot\r\n"
    b"body\r\n"
)


def submit(core: RunningCore, rcpts: list[str], msg: bytes = MSG) -> None:
    host, port = core.endpoint("submission", "starttls")
    with smtplib.SMTP(host, port) as c:
        c.starttls()
        c.login(ALICE, ALICE_PW)
        assert c.sendmail(ALICE, rcpts, msg) == {}


def settle(core: RunningCore) -> None:
    assert core.run(core.runtime.services.queue.wait_idle(10))


def views(core: RunningCore):  # type: ignore[no-untyped-def]
    return core.run(core.api.queue_jobs())


def inbox(core: RunningCore, user: str) -> list[bytes]:
    md = core.maildir(user)
    return [p.read_bytes() for sub in ("new", "cur") for p in (md / sub).glob("*")]


def test_delivered_through_smart_host(relay_core: RunningCore, sink: Sink) -> None:
    submit(relay_core, ["far@remote.test", "other@else.test"])
    assert sink.wait_messages(2)
    settle(relay_core)
    got = {m.rcpts[0]: m for m in sink.messages}
    assert set(got) == {"far@remote.test", "other@else.test"}
    data = got["far@remote.test"].data
    assert data.endswith(MSG.split(b"\r\n\r\n", 1)[1])  # dot-stuffing undone
    assert b"with ESMTPSA" in data  # our Received header
    assert got["far@remote.test"].mail_from == ALICE
    assert views(relay_core) == ()
    st = {m.name: m for m in relay_core.run(relay_core.api.modules())}["relay"]
    assert dict(st.counters)["delivered"] == 2


def test_4xx_then_2xx_is_retried(relay_core: RunningCore, sink: Sink) -> None:
    sink.tempfail_first = 1
    submit(relay_core, ["far@remote.test"])
    settle(relay_core)
    (job,) = views(relay_core)
    assert job.recipients == (("far@remote.test", "deferred"),)
    assert "451 4.3.0" in job.last_error and job.next_attempt > 0
    res = relay_core.run(relay_core.api.retry_job(job.job_id))
    assert res.ok
    assert sink.wait_messages(1)
    settle(relay_core)
    assert views(relay_core) == ()


def test_5xx_bounces_to_local_sender(relay_core: RunningCore, sink: Sink) -> None:
    sink.reject_rcpts = ("nobody@remote.test",)
    submit(relay_core, ["nobody@remote.test", "far@remote.test"])
    assert sink.wait_messages(1)
    settle(relay_core)
    assert [m.rcpts for m in sink.messages] == [["far@remote.test"]]
    (raw,) = inbox(relay_core, ALICE)
    assert raw.startswith(b"Return-Path: <>")
    dsn = email.message_from_bytes(raw, policy=email.policy.default)
    assert dsn.get_content_type() == "multipart/report"
    block = list(dsn.iter_parts())[1].get_payload()[1]
    assert block["Final-Recipient"] == "rfc822; nobody@remote.test"
    assert block["Status"] == "5.1.1"
    assert block["Diagnostic-Code"] == "smtp; 550 5.1.1 No such user here"
    headers = list(dsn.iter_parts())[2].get_content()
    assert "Subject: over the relay" in headers
    assert views(relay_core) == ()


def test_connection_dropped_mid_data_is_temporary(
    relay_core: RunningCore, sink: Sink
) -> None:
    sink.drop_in_data_first = 1
    submit(relay_core, ["far@remote.test"])
    settle(relay_core)
    (job,) = views(relay_core)
    assert job.recipients == (("far@remote.test", "deferred"),)
    assert "lost" in job.last_error
    relay_core.run(relay_core.api.retry_job(job.job_id))
    assert sink.wait_messages(1)
    settle(relay_core)
    assert views(relay_core) == () and len(sink.messages) == 1


def test_smart_host_auth_password_arrives(tmp_path: Path) -> None:
    sink = Sink(require_auth=("relayuser", "s3cret-relay")).start()
    core = start_core(tmp_path / "data", enabled=("smtp", "submission"))
    try:
        use_relay(core, sink, username="relayuser", password="s3cret-relay")
        report = core.run(core.api.relay_test_connection())
        assert report.ok, report
        assert report.banner.startswith("220 sink.test")
        assert "AUTH PLAIN LOGIN" in report.ehlo
        assert report.auth.startswith("Login accepted")
        submit(core, ["far@remote.test"])
        assert sink.wait_messages(1)
        assert sink.messages[0].auth == "relayuser"
        assert ("relayuser", "s3cret-relay") in sink.auth_seen
        backend = core.run(core.api.secrets_backend())
        assert "memory (tests)" in backend.description and not backend.uses_file
        # the password is nowhere in the data folder's settings or logs
        settle(core)
    finally:
        core.runtime.stop()
        sink.stop()
    for p in [
        tmp_path / "data" / "settings.toml",
        *(tmp_path / "data" / "logs").glob("*"),
    ]:
        assert b"s3cret-relay" not in p.read_bytes(), p


def test_wrong_smart_host_password_keeps_mail_queued(tmp_path: Path) -> None:
    sink = Sink(require_auth=("relayuser", "right")).start()
    core = start_core(tmp_path / "data", enabled=("smtp", "submission"))
    try:
        use_relay(core, sink, username="relayuser", password="wrong")
        report = core.run(core.api.relay_test_connection())
        assert not report.ok and "refused" in report.summary
        assert report.auth.startswith("Login refused: 535")
        submit(core, ["far@remote.test"])
        settle(core)
        (job,) = views(core)
        assert job.recipients[0][1] == "deferred"
        assert "refused the login" in job.last_error
    finally:
        core.runtime.stop()
        sink.stop()


def test_no_route_holds_and_relay_on_releases(tmp_path: Path, sink: Sink) -> None:
    core = start_core(tmp_path / "data", enabled=("smtp", "submission"))
    try:
        submit(core, ["far@remote.test"])
        settle(core)
        (job,) = views(core)
        assert job.recipients == (("far@remote.test", "held"),)
        assert "no remote delivery module" in job.last_error
        headers = core.run(core.api.job_headers(job.job_id))
        assert "Subject: over the relay" in headers.headers
        use_relay(core, sink)
        assert sink.wait_messages(1)
        settle(core)
        assert views(core) == ()
    finally:
        core.runtime.stop()


def test_queue_actions_through_facade(relay_core: RunningCore, sink: Sink) -> None:
    sink.tempfail_first = 100
    submit(relay_core, ["far@remote.test"])
    settle(relay_core)
    (job,) = views(relay_core)
    relay_core.run(relay_core.api.hold_job(job.job_id))
    (held,) = views(relay_core)
    assert held.recipients[0][1] == "held" and "administrator" in held.last_error
    relay_core.run(relay_core.api.release_job(job.job_id))
    settle(relay_core)
    res = relay_core.run(relay_core.api.bounce_job(job.job_id))
    assert res.ok and views(relay_core) == ()
    (raw,) = inbox(relay_core, ALICE)
    assert b"Returned to the sender by the postmaster" in raw
    submit(relay_core, ["far@remote.test"])
    settle(relay_core)
    (job2,) = views(relay_core)
    assert relay_core.run(relay_core.api.delete_job(job2.job_id)).ok
    assert views(relay_core) == ()
    assert len(inbox(relay_core, ALICE)) == 1  # delete tells no one


def test_facade_says_whether_a_relay_password_is_stored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import start_core

    c = start_core(tmp_path / "d")
    try:
        assert c.run(c.api.relay_has_password()) is False
        c.run(c.api.update_settings("relay", {"host": "127.0.0.1", "username": "u"}))
        c.run(c.api.relay_set_password("s3cret"))
        assert c.run(c.api.relay_has_password()) is True
        c.run(c.api.relay_set_password(""))
        assert c.run(c.api.relay_has_password()) is False
    finally:
        c.runtime.stop()


def relay_status(core: RunningCore):  # type: ignore[no-untyped-def]
    return {m.name: m for m in core.run(core.api.modules())}["relay"]


def test_the_relay_row_says_why_delivery_failed_until_it_works(
    relay_core: RunningCore, sink: Sink
) -> None:
    """Issue 17: a failure at the smart host showed nothing on the relay
    row; now it is the row's last error until a delivery goes through."""
    sink.tempfail_first = 1
    submit(relay_core, ["far@remote.test"])
    settle(relay_core)
    error = relay_status(relay_core).last_error
    assert error.startswith("far@remote.test: ") and "451" in error
    (job,) = views(relay_core)
    relay_core.run(relay_core.api.retry_job(job.job_id))
    assert sink.wait_messages(1)
    settle(relay_core)
    assert relay_status(relay_core).last_error == ""


def test_turning_a_failed_relay_off_clears_its_error(tmp_path: Path) -> None:
    """Issue 17: "Enter the smart host's name" stayed red after unticking."""
    core = start_core(tmp_path / "data", ("smtp",))
    try:
        core.run(core.api.set_module_enabled("relay", True))
        st = relay_status(core)
        assert st.state.value == "FAILED" and "smart host" in st.last_error
        core.run(core.api.set_module_enabled("relay", False))
        st = relay_status(core)
        assert st.state.value == "STOPPED" and st.last_error == ""
    finally:
        core.runtime.stop()
