"""IMAPClient's own functional suite (``imapclient.livetest``) against the real
core: once on the plain port upgraded with STARTTLS, once over implicit TLS.

The livetest runs in a subprocess (it drives ``unittest.main`` and exits) on
loopback only. Certificates are verified: the server's self-signed
``tls/cert.pem`` is the trust anchor (``SSL_CERT_FILE`` for STARTTLS, whose
context IMAPClient builds itself; ``ssl_ca_file`` for implicit TLS).

A small driver works around three things in the livetest that are not about
the server (each is checked to pass against Quicksilver once worked around):

* ``test_fetch`` compares ``Envelope`` with ``assertSequenceEqual``, which
  always fails now that IMAPClient (4.x) makes ``Envelope`` a dataclass
  rather than a tuple, even when the values are equal; the driver
  compares dataclasses with ``assertEqual`` instead (the ENVELOPE is still
  checked field by field).
* ``IMAPClient.move`` without UIDs calls ``imaplib.IMAP4.move``, which the
  standard library's imaplib lacks on the Pythons we run; the driver adds the
  method (only when missing) so non-UID MOVE is exercised too.
* ``TestSocketTimeout`` expects a 1 ms connect and a 10 us read to time out,
  which never happens against a server on loopback.

Tests that need capabilities Quicksilver does not advertise (ACL,
XLIST, Gmail extensions) are skipped by the livetest itself; the test asserts
that nothing else is skipped, and that SORT and THREAD ran.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE, ALICE_PW, RunningCore, start_core

try:
    import imapclient.livetest  # noqa: F401
except ImportError as exc:  # not installed, or broken
    pytest.skip(
        f"imapclient is not importable ({exc}); pip install 'imapclient>=3'",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DRIVER = """\
import dataclasses, imaplib, sys, unittest

from imapclient import livetest

if not hasattr(imaplib.IMAP4, "move"):  # older imaplib
    def _move(self, message_set, new_mailbox):
        return self._simple_command("MOVE", message_set, new_mailbox)
    imaplib.IMAP4.move = _move

_orig_seq_equal = unittest.TestCase.assertSequenceEqual

def _seq_equal(self, first, second, msg=None, seq_type=None):
    if dataclasses.is_dataclass(first) and dataclasses.is_dataclass(second):
        return self.assertEqual(first, second, msg)
    return _orig_seq_equal(self, first, second, msg, seq_type)

livetest._TestBase.assertSequenceEqual = _seq_equal
livetest.TestSocketTimeout = unittest.skip(
    "socket timeouts cannot trigger on loopback"
)(livetest.TestSocketTimeout)
livetest.main()
"""

# Skipped by the livetest because we don't advertise the capability (or, for
# uid_expunge, because the without-UIDs class cannot run it), plus the two
# TestSocketTimeout tests the driver skips.
ALLOWED_SKIPS = {
    "test_xlist",  # XLIST (Gmail)
    "test_gmail_labels",  # X-GM-EXT-1
    "test_gmail_search",  # X-GM-EXT-1
    "test_getacl",  # ACL
    "test_uid_expunge",  # TestWithoutUIDs only
    "test_small_connection_timeout_fail",
    "test_small_read_timeout_fail",
}

# Must have run (not skipped) in every mode.
MUST_RUN = {
    "test_move",
    "test_idle",
    "test_fetch",
    "test_BODYSTRUCTURE",
    "test_namespace",
    "test_unselect_folder",
    "test_alternates",
    "test_search_with_unicode",
    "test_expunge",
    "test_sort",  # SORT (issue 16)
    "test_sort_with_unicode",
    "test_thread",  # THREAD=REFERENCES (issue 16)
    "test_thread_with_unicode",
    "test_fetch_modifiers",  # CONDSTORE (issue 16)
    "test_search_with_modseq",  # CONDSTORE (issue 16)
}


@pytest.fixture(scope="module")
def live_core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCore]:
    core = start_core(
        tmp_path_factory.mktemp("livetest") / "data", enabled=("smtp", "imap")
    )
    try:
        yield core
    finally:
        core.runtime.stop()


def _section(name: str, **opts: object) -> str:
    lines = [f"[{name}]"]
    for k, v in opts.items():
        lines.append(f"{k} = {str(v).lower() if isinstance(v, bool) else v}")
    return "\n".join(lines) + "\n\n"


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_imapclient_livetest(live_core: RunningCore, tmp_path: Path, mode: str) -> None:
    cert = live_core.data_dir / "tls" / "cert.pem"
    assert cert.is_file()
    host, plain_port = live_core.endpoint("imap", "starttls")
    _, tls_port = live_core.endpoint("imap", "implicit")
    assert host == "127.0.0.1"
    via_starttls = {"port": plain_port, "ssl": False, "starttls": True}
    via_tls = {"port": tls_port, "ssl": True, "starttls": False}
    main, other = (
        (via_starttls, via_tls) if mode == "starttls" else (via_tls, via_starttls)
    )
    # DEFAULT is the connection under test; the other transport and a wrong
    # password are exercised by the livetest's own test_alternates.
    ini = _section(
        "DEFAULT",
        host=host,
        **main,
        username=ALICE,
        password=ALICE_PW,
        timeout=10,
        ssl_check_hostname=True,
        ssl_verify_cert=True,
        ssl_ca_file=cert,
    )
    ini += _section("other_transport", **other)
    ini += _section(
        "bad_password",
        password="not-" + ALICE_PW,
        expect_failure="AUTHENTICATIONFAILED",
    )
    (tmp_path / "livetest.ini").write_text(ini)
    (tmp_path / "driver.py").write_text(DRIVER)

    env = {k: v for k, v in os.environ.items() if not k.startswith("imapclient_")}
    env["SSL_CERT_FILE"] = str(cert)  # trusted by IMAPClient's STARTTLS context
    proc = subprocess.run(
        [sys.executable, "driver.py", "livetest.ini", "-v"],
        capture_output=True,
        text=True,
        timeout=55,
        cwd=tmp_path,
        env=env,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    ran = re.search(r"^Ran (\d+) tests?", out, re.M)
    assert ran and int(ran.group(1)) >= 50, out[-3000:]

    # unittest -v: "test_x (cls.test_x)[\\n first docstring line] ... ok"
    results = re.findall(
        r"^(test_\w+) \([^)\n]*\)\n?(?:[^\n]*?) \.\.\. (ok|skipped|FAIL|ERROR)",
        out,
        re.M,
    )
    assert len(results) == int(ran.group(1)), out[-3000:]
    skipped = {name for name, r in results if r == "skipped"}
    passed = {name for name, r in results if r == "ok"}
    assert skipped <= ALLOWED_SKIPS, f"unexpected skips: {skipped - ALLOWED_SKIPS}"
    assert passed >= MUST_RUN, f"did not pass: {MUST_RUN - passed}\n{out[-3000:]}"
