"""The collector's rate against fetchmail's, from the same private Dovecot,
in the same run.

    .venv/bin/python tests/bench/fetch_rate.py [--count 1000]

A private Dovecot (tests/integration/imap/dovecot.py) serves ``count``
messages of ~4 KB over POP3 and over IMAP (loopback, no TLS). Each round fills
the mailbox, then collects it all and deletes it remotely:

- Quicksilver: one "check now" of a collector account into alice's Maildir
  (durable: Maildir fsync, the pending/done steps in fetch.sqlite3);
- fetchmail: the same mailbox, handed to the same core's SMTP module for
  alice (``--smtphost``), so both end as the same durable local copies.

It prints messages per second for each and the ratio (ours / fetchmail's)
on its last line. Not run by CI. Skips what is not installed.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from server.fetch.store import FetchAccount  # noqa: E402
from tests.conftest import ALICE, RunningCore, start_core  # noqa: E402
from tests.integration.imap.dovecot import (  # noqa: E402
    Dovecot,
    dovecot_usable,
    start_dovecot,
)

LOGIN, PASSWORD = "office", "office-pw"
BODY = ("a line of a message body, about sixty characters long.....\r\n" * 64).encode()


def fill(d: Dovecot, count: int, tag: str) -> None:
    new = d.home / "users" / LOGIN / "Maildir" / "new"
    owner = pwd.getpwnam("dovecot") if os.getuid() == 0 else None
    for sub in ("new", "cur", "tmp"):
        folder = new.parent / sub
        if not folder.exists():
            folder.mkdir(mode=0o700)
            if owner is not None:
                os.chown(folder, owner.pw_uid, owner.pw_gid)
    for i in range(count):
        path = new / f"{int(time.time())}.{tag}{i}.bench"
        path.write_bytes(
            f"From: carol@outside.test\r\nTo: {ALICE}\r\nSubject: {tag} {i}\r\n"
            f"Message-ID: <{tag}-{i}@outside.test>\r\n\r\n".encode()
            + BODY
        )
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)


def arrived(core: RunningCore) -> int:
    md = core.maildir(ALICE)
    return sum(1 for sub in ("new", "cur") for _ in (md / sub).glob("*"))


def ours(core: RunningCore, d: Dovecot, protocol: str, count: int) -> float:
    port = d.pop3_port if protocol == "pop3" else d.port
    a = FetchAccount(
        id=f"bench-{protocol}",
        server="127.0.0.1",
        username=LOGIN,
        protocol=protocol,
        port=port,
        security="none",
        destination=ALICE,
    )
    core.run(core.api.save_fetch_account(a, PASSWORD))
    before = arrived(core)
    t0 = time.perf_counter()
    r = core.runtime.run(core.api.check_fetch_account(a.id), timeout=600)
    elapsed = time.perf_counter() - t0
    assert r.error == "" and r.collected == count, r
    assert arrived(core) - before == count
    return count / elapsed


def theirs(
    core: RunningCore, d: Dovecot, protocol: str, count: int, tmp: Path
) -> float:
    port = d.pop3_port if protocol == "pop3" else d.port
    _, smtp = core.endpoint("smtp")
    rc = tmp / f"fetchmailrc-{protocol}"
    rc.write_text(
        "set no bouncemail\n"
        f"poll 127.0.0.1 service {port} proto {protocol.upper()} auth password\n"
        f"  user {LOGIN} password {PASSWORD} is {ALICE} here\n"
        f"  smtphost 127.0.0.1/{smtp} smtpname {ALICE}\n"
        "  nokeep fetchall limit 0 batchlimit 0 fetchlimit 0 no sslcertck\n"
    )
    rc.chmod(0o600)
    env = dict(os.environ, FETCHMAILHOME=str(tmp), HOME=str(tmp))
    before = arrived(core)
    t0 = time.perf_counter()
    out = subprocess.run(
        ["fetchmail", "-f", str(rc), "--nosyslog", "-s", "--nodetach"],
        env=env,
        capture_output=True,
        timeout=900,
    )
    elapsed = time.perf_counter() - t0
    if out.returncode not in (0, 1):
        raise RuntimeError(out.stderr.decode()[-2000:])
    deadline = time.monotonic() + 60
    while arrived(core) - before < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert arrived(core) - before == count, (arrived(core) - before, count)
    return count / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    why = dovecot_usable()
    if why is not None:
        print(f"skipped: {why}")
        return
    with tempfile.TemporaryDirectory(prefix="qs-fetch-bench-") as t:
        tmp = Path(t)
        d = start_dovecot(tmp, {LOGIN: PASSWORD}, pop3=True)
        if d is None:
            print("skipped: dovecot (imapd, pop3d) could not be started")
            return
        core = start_core(tmp / "core", enabled=("smtp",))
        # one poll takes the whole mailbox, as fetchmail's run does
        core.run(core.api.update_settings("fetch", {"messages_per_poll": 100_000}))
        has_fetchmail = shutil.which("fetchmail") is not None
        results: dict[str, list[tuple[float, float]]] = {"pop3": [], "imap": []}
        try:
            for r in range(args.rounds):
                for protocol in ("pop3", "imap"):
                    fill(d, args.count, f"q{protocol}{r}")
                    q = ours(core, d, protocol, args.count)
                    f = 0.0
                    if has_fetchmail:
                        fill(d, args.count, f"f{protocol}{r}")
                        f = theirs(core, d, protocol, args.count, tmp)
                    results[protocol].append((q, f))
                    print(
                        f"round {r} {protocol}: quicksilver {q:7.0f}/s  "
                        f"fetchmail {f:7.0f}/s"
                    )
        finally:
            core.runtime.stop()
            d.stop()
    line = []
    for protocol, rows in results.items():
        q = statistics.median(x for x, _ in rows)
        f = statistics.median(y for _, y in rows)
        ratio = f"{q / f:.2f}" if f else "n/a (no fetchmail)"
        line.append(f"{protocol} {q:.0f}/s vs fetchmail {f:.0f}/s: ratio {ratio}")
    print("; ".join(line))


if __name__ == "__main__":
    main()
