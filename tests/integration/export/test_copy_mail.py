"""``export --copy-mail``: the export holds a copy of the Maildirs (for a new
machine) and Dovecot is pointed at it; the data folder is only read."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ALICE, start_core
from tests.waiting import run_cli


def test_copy_mail_points_dovecot_at_the_copy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    core = start_core(data)
    try:
        store = core.runtime.services.store
        core.run(store.deliver(ALICE, b"Subject: one\r\n\r\nbody\r\n"))
        core.run(store.create_mailbox(ALICE, "Work"))
        core.run(store.deliver(ALICE, b"Subject: two\r\n\r\nbody\r\n", mailbox="Work"))
    finally:
        core.runtime.stop()
    out = tmp_path / "export"
    args = ["--data-dir", str(data), "export", "--to", "postfix-dovecot", str(out)]
    assert run_cli([*args, "--copy-mail"]) == 0
    mine = data / "mail/example.test/alice"
    copy = out / "mail/example.test/alice"
    for sub in ("new", ".Work/new"):
        assert sorted(p.name for p in (copy / sub).iterdir()) == sorted(
            p.name for p in (mine / sub).iterdir()
        )
    conf = (out / "dovecot/dovecot.conf").read_text()
    assert f"mail_location = maildir:{out}/mail/%d/%n:" in conf
    assert "copy of the mail" in (out / "README.md").read_text()
    # a second export into the same folder is refused, nothing overwritten
    before = (out / "postfix/main.cf").read_bytes()
    assert run_cli(args) == 2
    assert (out / "postfix/main.cf").read_bytes() == before
