"""The IMAP module inside the real core (Runtime, MaildirStore, accounts)."""

from __future__ import annotations

import imaplib
import ssl
from pathlib import Path

from tests.conftest import ALICE, ALICE_PW, start_core


def test_imap_in_runtime(tmp_path: Path) -> None:
    core = start_core(tmp_path / "data", enabled=("smtp", "imap"))
    try:
        host, port = core.endpoint("imap", "starttls")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with imaplib.IMAP4(host, port) as m:
            m.starttls(ctx)
            m.login(ALICE, ALICE_PW)
            typ, data = m.list()
            assert typ == "OK" and any(b"\\Sent" in x for x in data)
            m.append("INBOX", None, None, b"Subject: rt\r\n\r\nbody\r\n")
            typ, data = m.select("INBOX")
            assert data == [b"1"]
            typ, data = m.fetch("1", "(BODY[])")
            assert data[0][1] == b"Subject: rt\r\n\r\nbody\r\n"
        _, tls_port = core.endpoint("imap", "implicit")
        with imaplib.IMAP4_SSL(host, tls_port, ssl_context=ctx) as m:
            m.login(ALICE, ALICE_PW)
            assert m.select("INBOX", readonly=True)[0] == "OK"
    finally:
        core.runtime.stop()
