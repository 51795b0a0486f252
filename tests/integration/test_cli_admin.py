"""``quicksilver-server queue|sessions|ban`` against the running core
(issue 17, headless parity): the shell asks through request files and the
core answers with the window's own facade."""

from __future__ import annotations

import json
import smtplib
import ssl
from pathlib import Path

import pytest

from server import control
from tests.conftest import ALICE, ALICE_PW, RunningCore, start_core
from tests.waiting import run_cli

MSG = (
    b"From: alice@example.test\r\nTo: far@remote.test\r\n"
    b"Subject: held one\r\n\r\nhi\r\n"
)


def cli(core: RunningCore, *args: str) -> int:
    return run_cli(["--data-dir", str(core.data_dir), *args])


def test_queue_from_the_shell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    core = start_core(tmp_path / "data", enabled=("smtp", "submission"))
    try:
        host, port = core.endpoint("submission", "starttls")
        with smtplib.SMTP(host, port) as c:
            c.starttls()
            c.login(ALICE, ALICE_PW)
            c.sendmail(ALICE, ["far@remote.test"], MSG)
        assert core.run(core.runtime.services.queue.wait_idle(10))
        capsys.readouterr()
        assert cli(core, "queue", "list", "--json") == 0
        (job,) = json.loads(capsys.readouterr().out)
        assert job["recipients"] == [["far@remote.test", "held"]]
        ident = job["job_id"]
        assert cli(core, "queue", "show", ident) == 0
        shown = capsys.readouterr().out
        assert "Subject: held one" in shown and "far@remote.test: held" in shown
        assert cli(core, "queue", "list") == 0
        assert "no remote delivery module" in capsys.readouterr().out
        assert cli(core, "queue", "delete", ident) == 0
        capsys.readouterr()
        assert core.run(core.api.queue_jobs()) == ()
        assert cli(core, "queue", "hold", ident) == 2  # gone
        assert "no job" in capsys.readouterr().err.lower()
        assert not list((core.data_dir / control.REQUESTS).glob("*.json"))
    finally:
        core.runtime.stop()


def test_sessions_and_bans_from_the_shell(
    core: RunningCore, capsys: pytest.CaptureFixture[str]
) -> None:
    client = smtplib.SMTP(*core.endpoint("smtp"), local_hostname="c.example")
    client.ehlo()
    capsys.readouterr()
    assert cli(core, "sessions", "--json") == 0
    (session,) = json.loads(capsys.readouterr().out)
    assert session["module"] == "smtp" and session["doing"] == "EHLO"
    key = str(session["key"])
    assert cli(core, "sessions", "disconnect", "smtp", key, "--ban") == 0
    assert "banned 127.0.0.1" in capsys.readouterr().out
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()
    client.close()
    assert cli(core, "ban", "list", "--json") == 0
    assert [b["ip"] for b in json.loads(capsys.readouterr().out)] == ["127.0.0.1"]
    assert cli(core, "ban", "add", "192.0.2.9") == 0
    assert cli(core, "ban", "add", "not-an-address") == 2
    assert "is not an IP address" in capsys.readouterr().err
    assert cli(core, "ban", "remove", "127.0.0.1") == 0
    assert cli(core, "ban", "remove", "192.0.2.9") == 0
    assert core.run(core.api.bans()) == ()


def test_without_a_running_server_the_shell_says_so(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(control, "WAIT_SECONDS", 0.3)
    data = tmp_path / "idle"
    assert run_cli(["--data-dir", str(data), "queue", "list"]) == 2
    assert "No running server answered" in capsys.readouterr().err
    assert not list((data / control.REQUESTS).iterdir())  # taken back


async def test_the_desk_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    class NoApi:  # the desk must not even reach the facade
        pass

    desk = control.ControlDesk(tmp_path, NoApi())  # type: ignore[arg-type]
    desk.folder.mkdir()
    (desk.folder / "a.json").write_text('{"action": "shutdown", "args": {}}')
    (desk.folder / "b.json").write_text("not json")
    (desk.folder / "c.json").write_bytes(b"{" + b" " * control.MAX_REQUEST + b"}")
    assert await desk.answer_all() == 3
    answers = {
        p.name: json.loads(p.read_text()) for p in desk.folder.glob("*.answer.json")
    }
    assert answers["a.answer.json"] == {
        "ok": False,
        "error": "unknown request 'shutdown'",
    }
    assert answers["b.answer.json"]["error"] == "the request is not valid JSON"
    assert answers["c.answer.json"]["error"] == "the request is too large"


def test_cert_from_the_shell_reaches_the_running_server(
    core: RunningCore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.tls import generate_self_signed

    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    generate_self_signed("imported.example.test", cert, key)
    assert cli(core, "cert", "import", str(cert), str(key)) == 0
    out = capsys.readouterr().out
    assert "imported.example.test" in out and "uses it from now on" in out
    info = core.run(core.api.certificate())
    assert "imported.example.test" in info.subject
    # the live TLS context: a new STARTTLS gets the imported certificate
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with smtplib.SMTP(*core.endpoint("smtp"), local_hostname="c.example") as s:
        s.starttls(context=ctx)
        der = s.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
    assert der is not None and b"imported.example.test" in der
    assert cli(core, "cert", "show", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["sha256"] == info.sha256 and "imported.example.test" in shown["names"]
    assert cli(core, "cert", "import", str(key), str(cert)) == 2  # swapped
    assert "PEM certificate" in capsys.readouterr().err
