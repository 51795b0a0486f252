"""IMAP under a mixed load, side by side with Dovecot: 10 clients (each its
own process, imaplib), for ``--seconds`` each, loop over LOGIN, LIST, STATUS,
SELECT, FETCH 1:* (FLAGS), FETCH of one message whole, STORE, APPEND,
EXPUNGE, LOGOUT on one user whose INBOX starts empty; the same against a
private Dovecot on loopback. Every answer is checked (tagged OK; the message
APPENDed comes back byte for byte; a FETCHed body has its RFC822.SIZE), and
the count of completed rounds (= logins) is printed for each server.

    .venv/bin/python tests/bench/imap_stress.py [--seconds 30] [--clients 10]

Quicksilver runs headless (``python -m server run``) in its own process, as
Dovecot does. Issue 12 asks for >= 0.5 of Dovecot's logins. Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

USER, PASSWORD = "alice@example.test", "alice-pw-1"

CLIENT = r"""
import imaplib, json, random, re, sys, time
port, user, password, seconds, ident = sys.argv[1:6]
port, seconds = int(port), float(seconds)
rng = random.Random(int(ident))
rounds = errors = 0
problems = []
stop = time.monotonic() + seconds

def ok(typ, what):
    if typ != "OK":
        raise RuntimeError(what)

while time.monotonic() < stop:
    try:
        c = imaplib.IMAP4("127.0.0.1", port, timeout=30)
        ok(c.login(user, password)[0], "LOGIN")
        ok(c.list()[0], "LIST")
        ok(c.status("INBOX", "(MESSAGES UIDNEXT)")[0], "STATUS")
        typ, data = c.select("INBOX")
        ok(typ, "SELECT")
        mid = f"<stress-{ident}-{rounds}-{rng.random()}@bench>"
        head = f"From: c{ident}@bench\r\nSubject: round {rounds}\r\n"
        head += f"Message-ID: {mid}\r\n\r\n"
        msg = (head + "body line\r\n" * rng.randint(5, 80)).encode()
        ok(c.append("INBOX", None, None, msg)[0], "APPEND")
        typ, found = c.uid("SEARCH", "ALL")
        ok(typ, "UID SEARCH ALL")
        uids = found[0].split()
        if uids:
            ok(c.fetch("1:*", "(FLAGS)")[0], "FETCH FLAGS")
            uid = rng.choice(uids)
            typ, got = c.uid("FETCH", uid, "(RFC822.SIZE BODY.PEEK[])")
            ok(typ, "UID FETCH BODY")
            for part in got:
                if isinstance(part, tuple) and b"BODY[]" in part[0]:
                    size = int(re.search(rb"RFC822\.SIZE (\d+)", part[0]).group(1))
                    if len(part[1]) != size:
                        raise RuntimeError("body size differs from RFC822.SIZE")
            ok(c.uid("STORE", uid, "+FLAGS", "(\\Flagged)")[0], "UID STORE")
        typ, found = c.uid("SEARCH", "HEADER", "Message-ID", mid)
        ok(typ, "SEARCH")
        mine = found[0].split()
        if len(mine) != 1:
            raise RuntimeError("the APPENDed message is not found once")
        typ, got = c.uid("FETCH", mine[0], "(BODY.PEEK[])")
        ok(typ, "FETCH APPENDED")
        bodies = [p[1] for p in got if isinstance(p, tuple) and b"BODY[]" in p[0]]
        if bodies != [msg]:
            raise RuntimeError("the APPENDed message came back different")
        if len(uids) > 200:  # keep the folder from growing without end
            first = b",".join(uids[:50]).decode()
            ok(c.uid("STORE", first, "+FLAGS.SILENT", "(\\Deleted)")[0], "STORE")
        ok(c.expunge()[0], "EXPUNGE")
        c.logout()
        rounds += 1
    except Exception as exc:
        errors += 1
        if len(problems) < 5:
            problems.append(repr(exc)[:200])
print(json.dumps({"rounds": rounds, "errors": errors, "problems": problems}))
"""


def load(
    port: int, user: str, password: str, seconds: float, clients: int
) -> dict[str, object]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CLIENT,
                str(port),
                user,
                password,
                str(seconds),
                str(i),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(clients)
    ]
    results = [json.loads(p.communicate(timeout=seconds + 120)[0]) for p in procs]
    return {
        "rounds": sum(r["rounds"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "problems": [p for r in results for p in r["problems"]][:5],
    }


def quicksilver(tmp: Path, seconds: float, clients: int) -> dict[str, object]:
    from tests.conftest import start_core

    data = tmp / "data"
    core = start_core(data, enabled=("imap",))
    core.runtime.stop()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--data-dir", str(data), "run"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = 0
        while not port:
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("quicksilver did not start")
            m = re.search(r"imap: RUNNING 127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
        return load(port, USER, PASSWORD, seconds, clients)
    finally:
        proc.terminate()
        proc.wait(30)


def dovecot(seconds: float, clients: int) -> dict[str, object] | None:
    from tests.integration.imap.dovecot import start_dovecot

    with tempfile.TemporaryDirectory(prefix="qs-stress-dovecot-") as tmp:
        handle = start_dovecot(Path(tmp), {USER: PASSWORD})
        if handle is None:
            return None
        try:
            return load(handle.port, USER, PASSWORD, seconds, clients)
        finally:
            handle.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ours = quicksilver(Path(tmp), args.seconds, args.clients)
    theirs = dovecot(args.seconds, args.clients)
    print(f"Quicksilver: {ours['rounds']} logins, {ours['errors']} errors")
    print(f"             {ours['problems']}")
    if theirs is None:
        print("Dovecot did not run: no ratio")
        return
    print(f"Dovecot:     {theirs['rounds']} logins, {theirs['errors']} errors")
    print(f"             {theirs['problems']}")
    ratio = int(ours["rounds"]) / max(1, int(theirs["rounds"]))  # type: ignore[call-overload]
    print(f"ratio Quicksilver / Dovecot (logins): {ratio:.2f}")


if __name__ == "__main__":
    main()
