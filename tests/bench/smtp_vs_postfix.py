"""SMTP into Maildir, side by side with Postfix: 8 connections send 4 KB
messages for ``--seconds`` to one local user of (a) Quicksilver, headless in
its own process, and (b) a private Postfix (Debian's package) on loopback,
delivering with its virtual(8) agent into a Maildir; then both Maildirs are
counted. Quicksilver's 250 means the message is in the Maildir (fsynced);
Postfix's means it is in its queue (fsynced) and it delivers afterwards, so
its rate is taken over the time until the last message is in the Maildir.

    .venv/bin/python tests/bench/smtp_vs_postfix.py [--seconds 10]
                                                    [--client smtp-source]

``--client smtp-source``: Postfix's C load generator instead of aiosmtplib
(see smtp_accept.py: the Python client takes about as much CPU as a server).

Needs root (Postfix's daemons run as the postfix user) and the postfix
package; nothing is installed or started system-wide: the configuration,
queue and mail live in a temporary folder, and only 127.0.0.1 is used.
Issue 12 asks for >= 1.5x Postfix. Not run by CI.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.smtp_accept import run_load, start  # noqa: E402

MAIN_CF = """compatibility_level = 3.6
queue_directory = {home}/spool
data_directory = {home}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.example.test
mydomain = example.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = example.test
virtual_mailbox_base = {home}/mail
virtual_mailbox_maps = texthash:{home}/conf/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
maillog_file = /dev/stdout
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
biff = no
append_dot_mydomain = no
alias_maps =
alias_database =
local_recipient_maps =
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def count(folder: Path) -> int:
    return sum(
        1
        for sub in ("new", "cur")
        if (folder / sub).is_dir()
        for _ in (folder / sub).iterdir()
    )


def postfix(
    home: Path, seconds: float, connections: int, client: str
) -> tuple[float, float] | None:
    """(accepted per second, delivered per second), or None without Postfix."""
    if shutil.which("postfix") is None or os.getuid() != 0:
        return None
    try:
        pw = pwd.getpwnam("postfix")
    except KeyError:
        return None
    for sub in ("conf", "spool", "data", "mail"):
        (home / sub).mkdir(parents=True)
    os.chmod(home, 0o755)
    os.chown(home / "data", pw.pw_uid, pw.pw_gid)
    os.chown(home / "mail", pw.pw_uid, pw.pw_gid)
    port = free_port()
    (home / "conf/main.cf").write_text(
        MAIN_CF.format(home=home, uid=pw.pw_uid, gid=pw.pw_gid)
    )
    (home / "conf/vmailbox").write_text("alice@example.test example.test/alice/\n")
    master = Path("/etc/postfix/master.cf").read_text().splitlines()
    master = [
        f"127.0.0.1:{port} inet n - n - - smtpd"
        if line.startswith("smtp ") and "smtpd" in line
        else line
        for line in master
    ]
    (home / "conf/master.cf").write_text("\n".join(master) + "\n")
    conf = str(home / "conf")
    proc = subprocess.Popen(
        ["postfix", "-c", conf, "start-fg"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("postfix did not start") from None
                time.sleep(0.2)
        mailbox = home / "mail/example.test/alice"
        run_load(port, 1, connections, client)  # warm-up
        deadline = time.monotonic() + 60
        while count(mailbox) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        before = count(mailbox)
        t0 = time.monotonic()
        sent = run_load(port, seconds, connections, client)
        accepted = sent / (time.monotonic() - t0)
        deadline = time.monotonic() + 300
        while count(mailbox) < before + sent and time.monotonic() < deadline:
            time.sleep(0.05)
        delivered = (count(mailbox) - before) / (time.monotonic() - t0)
        return accepted, delivered
    finally:
        subprocess.run(["postfix", "-c", conf, "stop"], capture_output=True, timeout=60)
        proc.wait(30)


def quicksilver(home: Path, seconds: float, connections: int, client: str) -> float:
    from tests.conftest import start_core

    data = home / "data"
    c = start_core(data)
    c.runtime.stop()
    qs, port = start(
        [sys.executable, "-m", "server", "--data-dir", str(data), "run"],
        r"smtp: RUNNING 127\.0\.0\.1:(\d+)",
    )
    try:
        run_load(port, 1, connections, client)
        t0 = time.monotonic()
        sent = run_load(port, seconds, connections, client)
        return sent / (time.monotonic() - t0)
    finally:
        qs.terminate()
        qs.wait(30)
        if qs.stdout:
            qs.stdout.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument(
        "--client", choices=("aiosmtplib", "smtp-source"), default="aiosmtplib"
    )
    args = ap.parse_args()
    # Both folders stay until both runs are done: on an ext4 without a
    # journal, files created within 30 s of a mass deletion take ten times
    # as long to create, so deleting Quicksilver's mail before Postfix runs
    # would slow Postfix down (and a previous run's deletion, whoever runs
    # first: leave half a minute between runs).
    with (
        tempfile.TemporaryDirectory() as ours_tmp,
        tempfile.TemporaryDirectory(prefix="qs-bench-postfix-") as theirs_tmp,
    ):
        ours = quicksilver(
            Path(ours_tmp) / "qs", args.seconds, args.connections, args.client
        )
        theirs = postfix(Path(theirs_tmp), args.seconds, args.connections, args.client)
    print(f"client: {args.client}")
    print(f"Quicksilver: {ours:7.0f} msg/s accepted and delivered (fsynced)")
    if theirs is None:
        print("Postfix could not run here (needs root and the postfix package)")
        return
    print(
        f"Postfix:     {theirs[0]:7.0f} msg/s accepted, {theirs[1]:7.0f} msg/s "
        "accepted and delivered"
    )
    print(f"ratio Quicksilver / Postfix (delivered): {ours / theirs[1]:.2f}")


if __name__ == "__main__":
    main()
