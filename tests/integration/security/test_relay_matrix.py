"""Open-relay tricks, all refused without authentication (smtp module).

Each address below tries to get mail for a foreign domain past a check that
looks only at the text after the last ``@``, or uses a local sender as a pass.
None may be accepted; nothing may leave the local mailboxes.
"""

from __future__ import annotations

import smtplib

import pytest

from tests.conftest import ALICE, RunningCore

TRICKS = [
    "victim@elsewhere.test",
    "VICTIM@ELSEWHERE.TEST",
    "victim@elsewhere.test.",
    "alice%elsewhere.test@example.test",
    "victim%elsewhere.test@example.test",
    "elsewhere.test!victim@example.test",
    "@example.test:victim@elsewhere.test",
    "@example.test,@relay.test:victim@elsewhere.test",
    '"victim@elsewhere.test"@example.test',
    "victim@elsewhere.test@example.test",
    "victim@[192.0.2.1]",
    "victim@[127.0.0.1]",
    "victim@example.test.elsewhere.test",
    "victim@elsewhere.test\\@example.test",
    "victim@sub.example.test",
]


@pytest.mark.parametrize("rcpt", TRICKS)
@pytest.mark.parametrize("sender", ["outsider@elsewhere.test", ALICE, "<>"])
def test_relay_trick_is_refused_on_smtp(
    core: RunningCore, rcpt: str, sender: str
) -> None:
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        code, _ = c.mail("" if sender == "<>" else sender)
        assert code == 250
        code, text = c.docmd("RCPT", f"TO:<{rcpt}>")
        assert code >= 500, (rcpt, code, text)
        assert code != 250


def test_accepted_mail_never_queues_for_a_remote_domain(core: RunningCore) -> None:
    host, port = core.endpoint("smtp")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        for rcpt in TRICKS:
            c.mail("outsider@elsewhere.test")
            c.docmd("RCPT", f"TO:<{rcpt}>")
            c.rset()
    assert core.run(core.api.queue_jobs()) == ()
    assert not any((core.data_dir / "spool").iterdir())


@pytest.fixture
def submission_core(tmp_path):  # type: ignore[no-untyped-def]
    try:
        import server.protocols.smtp.submission  # noqa: F401
    except ImportError as exc:  # pragma: no cover - until submission exists
        pytest.skip(f"server/protocols/smtp/submission.py not importable yet: {exc}")
    from tests.conftest import start_core

    c = start_core(tmp_path / "sub", enabled=("smtp", "submission"))
    st = {m.name: m for m in c.run(c.api.modules())}["submission"]
    if st.state.value != "RUNNING":
        c.runtime.stop()
        pytest.skip(f"submission module not running: {st.last_error}")
    try:
        yield c
    finally:
        c.runtime.stop()


@pytest.mark.parametrize("sender", ["outsider@elsewhere.test", ALICE, "<>"])
def test_relay_trick_is_refused_on_submission_without_auth(
    submission_core: RunningCore, sender: str
) -> None:
    host, port = submission_core.endpoint("submission", "starttls")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        for rcpt in [*TRICKS, ALICE]:
            mail = "FROM:<>" if sender == "<>" else f"FROM:<{sender}>"
            code, text = c.docmd("MAIL", mail)
            assert code == 530, (sender, code, text)  # RFC 4954 6: AUTH first
            code, text = c.docmd("RCPT", f"TO:<{rcpt}>")
            assert code >= 500 and code != 250, (rcpt, code, text)
            code, _ = c.docmd("DATA")
            assert code >= 500
            c.rset()


def test_submission_without_auth_queues_nothing(submission_core: RunningCore) -> None:
    host, port = submission_core.endpoint("submission", "starttls")
    with smtplib.SMTP(host, port) as c:
        c.ehlo("client.test")
        for rcpt in [*TRICKS, ALICE]:
            c.docmd("MAIL", f"FROM:<{ALICE}>")
            c.docmd("RCPT", f"TO:<{rcpt}>")
            c.docmd("DATA")
            c.rset()
    assert submission_core.run(submission_core.api.queue_jobs()) == ()
    assert not any((submission_core.maildir(ALICE) / "new").iterdir())
