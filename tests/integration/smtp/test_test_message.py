"""``CoreApi.send_test_message`` and ``quicksilver-server test-message``: one
message through the running smtp module, as a mail client would send it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from server.api import TestMessage, TestMessageFailed
from server.config.store import SettingsStore
from server.errors import ValidationError
from tests.conftest import ALICE, RunningCore, start_core
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[3]


def _delivered(core: RunningCore, address: str) -> list[bytes]:
    new = core.maildir(address) / "new"
    return [p.read_bytes() for p in new.iterdir()] if new.is_dir() else []


def test_the_core_sends_it_through_its_smtp_module(core: RunningCore) -> None:
    msg = TestMessage("tester@outside.test", ALICE, "Hello from the tool", "Hi.\n")
    sent = core.run(core.api.send_test_message(msg))
    assert sent.reply.startswith("250 ")
    assert (sent.host, sent.port) == core.endpoint("smtp")
    [message] = _delivered(core, ALICE)
    assert b"Subject: Hello from the tool" in message
    # it came in over SMTP: the module's trace field names our EHLO
    assert b"Received: from quicksilver-test" in message


def test_a_refused_recipient_is_said_in_words(core: RunningCore) -> None:
    msg = TestMessage("tester@outside.test", "nobody@example.test")
    with pytest.raises(TestMessageFailed, match=r"^RCPT TO refused: 550"):
        core.run(core.api.send_test_message(msg))


def test_the_smtp_module_must_run(core: RunningCore) -> None:
    core.run(core.api.set_module_enabled("smtp", False))
    with pytest.raises(TestMessageFailed, match="not running"):
        core.run(core.api.send_test_message(TestMessage("t@outside.test", ALICE)))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"sender": "no-at-sign"}, "not a mail address"),
        ({"recipient": "a b@example.test"}, "spaces"),
        ({"subject": "one\r\nBcc: victim@outside.test"}, "one line"),
        ({"body": "x" * (256 * 1024 + 1)}, "longer than"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    core: RunningCore, change: dict[str, str], words: str
) -> None:
    msg = dataclasses.replace(TestMessage("t@outside.test", ALICE), **change)
    with pytest.raises(ValidationError, match=words):
        core.run(core.api.send_test_message(msg))
    assert _delivered(core, ALICE) == []


def qs(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", "--data-dir", str(data), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_sends_to_the_server_running_on_the_data_folder(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    core = start_core(data)
    try:
        # the server listens on a port 0 chose; tell the settings file, as a
        # person who set the port would have
        store = SettingsStore(data / "settings.toml")
        settings = store.load()
        port = core.endpoint("smtp")[1]
        store.save(
            settings.replace_section(
                "smtp", dataclasses.replace(settings.smtp, port=port)
            )
        )
        # the running core reloads the file and restarts smtp on that port
        wait_until(
            lambda: (
                core.run(core.api.settings()).smtp.port == port
                and core.endpoint("smtp")[1] == port
                and all(
                    m.state.value == "RUNNING"
                    for m in core.run(core.api.modules())
                    if m.name == "smtp"
                )
            ),
            "the new smtp.port in use",
        )
        out = qs(data, "test-message", "--to", ALICE)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"{ALICE}: 250 "), out.stdout
        [message] = _delivered(core, ALICE)
        assert b"From: quicksilver-test@mail.example.test" in message
        refused = qs(data, "test-message", "--to", "nobody@example.test")
        assert refused.returncode == 2
        assert refused.stderr.startswith("error: RCPT TO refused: 550")
    finally:
        core.runtime.stop()
    gone = qs(data, "test-message", "--to", ALICE, "--from", "me@outside.test")
    assert gone.returncode == 2
    assert gone.stderr.startswith(f"error: Could not send through 127.0.0.1:{port}")
