"""Mercury-style session logging: switched on per module, written to logs/."""

from __future__ import annotations

import smtplib

from tests.conftest import ALICE, RunningCore


def test_smtp_session_log_writes_a_transcript_file(core: RunningCore) -> None:
    log_file = core.data_dir / "logs" / "smtp.log"
    assert not log_file.exists()
    core.run(core.api.update_settings("smtp", {"session_log": True}))
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.sendmail("s@outside.test", [ALICE], b"Subject: t\r\n\r\nbody\r\n")
    text = log_file.read_text()
    assert "MAIL s@outside.test" in text
    assert "S: 250 2.1.5 Recipient OK" in text
    assert "S: 250 2.0.0 Ok: queued as" in text
    core.run(core.api.update_settings("smtp", {"session_log": False}))
    size = log_file.stat().st_size
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.sendmail("s@outside.test", [ALICE], b"Subject: t\r\n\r\nbody\r\n")
    assert log_file.stat().st_size == size
