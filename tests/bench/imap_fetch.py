"""IMAP FETCH benchmark: a 10,000-message mailbox served by ImapModule.

Run: ``PYTHONPATH=. python tests/bench/imap_fetch.py [--maildir] [--n N]``

Times SELECT, FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE) cold and
warm (the metadata cache), 1,000 full bodies, and SEARCH on a header; with
``--maildir`` also the first FETCH of a new server over the same Maildir
("after restart", compared with Dovecot's cold figure). If a
``dovecot`` binary is installed, runs a private Dovecot on loopback over a copy
of the same messages (Maildir in a temp dir) and prints the ratios. The
client runs in a process of its own for both servers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.integration.imap.harness import Client, ImapTestServer

ALICE = "alice@example.test"


def make_message(i: int) -> bytes:
    body = (
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n" * 20
    ).encode()
    return (
        f"From: Sender {i % 97} <sender{i % 97}@example.org>\r\n"
        f"To: Alice <alice@example.test>\r\n"
        f"Cc: team{i % 7}@example.test\r\n"
        f"Subject: Message number {i} about topic {i % 13}\r\n"
        f"Date: Mon, 1 Jan 2024 10:{i % 60:02d}:00 +0000\r\n"
        f"Message-ID: <msg{i}@example.org>\r\n"
        f"X-Bench: {'needle' if i % 100 == 0 else 'hay'}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode() + body


def timed(client: Client, tag: str, command: str) -> tuple[float, list[bytes]]:
    start = time.perf_counter()
    lines = client.command(tag, command)
    elapsed = time.perf_counter() - start
    assert lines[-1].startswith(f"{tag} OK".encode()), lines[-1][:200]
    return elapsed, lines


FETCH_META = "FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"
RESTARTED = "FETCH meta (after restart)"


REPEAT = 5


def median(client: Client, command: str) -> float:
    times = sorted(timed(client, f"m{i}", command)[0] for i in range(REPEAT))
    return times[REPEAT // 2]


def run_suite(
    port: int, user: str, password: str, restarted: bool = False
) -> dict[str, float]:
    c = Client(port, timeout=300)
    c.login(user, password)
    res: dict[str, float] = {}
    res["SELECT"], lines = timed(c, "s1", "SELECT INBOX")
    exists = next(int(x.split()[1]) for x in lines if x.rstrip().endswith(b" EXISTS"))
    fetch = FETCH_META
    if restarted:  # a new server over the same Maildir: only the first FETCH
        res[RESTARTED], lines = timed(c, "f1", fetch)
        assert sum(1 for x in lines if b"ENVELOPE (" in x) == exists
        c.command("z", "LOGOUT")
        c.close()
        return res
    res["FETCH meta (cold)"], lines = timed(c, "f1", fetch)
    assert sum(1 for x in lines if b"ENVELOPE (" in x) == exists
    res["FETCH meta (warm)"], _ = timed(c, "f2", fetch)
    res["SELECT again"], _ = timed(c, "s2", "SELECT INBOX")
    # warm rows: the median of REPEAT runs (one run is at the mercy of noise)
    res["FETCH 1000 BODY.PEEK[]"] = median(c, "FETCH 1:1000 (BODY.PEEK[])")
    res["SEARCH HEADER"], lines = timed(c, "q1", "SEARCH HEADER X-Bench needle")
    hits = next(x for x in lines if x.startswith(b"* SEARCH")).split()[2:]
    assert len(hits) == (exists + 99) // 100, len(hits)  # every 100th message
    res["UID SEARCH SUBJECT"] = median(c, 'UID SEARCH SUBJECT "topic 7"')
    c.command("z", "LOGOUT")
    c.close()
    return res


def run_suite_apart(
    port: int, user: str, password: str, restarted: bool = False
) -> dict[str, float]:
    """``run_suite`` in a process of its own: the client must not share the
    interpreter lock with the server under test (ours runs in this process)."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); "
        "from tests.bench.imap_fetch import run_suite; "
        "print(json.dumps(run_suite(int(sys.argv[2]), sys.argv[3], sys.argv[4], "
        "sys.argv[5] == '1')))"
    )
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            root,
            str(port),
            user,
            password,
            "1" if restarted else "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        timeout=900,
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def maildir_copy(dest: Path, n: int) -> None:
    for sub in ("cur", "new", "tmp"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (dest / "cur" / f"{1700000000 + i}.M{i}P1.bench:2,").write_bytes(
            make_message(i).replace(b"\r\n", b"\n")
        )


def dovecot(tmp: Path, n: int) -> dict[str, float] | None:
    """The same suite against a private Dovecot (tests/integration/imap/dovecot.py)."""
    from tests.integration.imap.dovecot import start_dovecot

    def prepare(home: Path) -> None:
        maildir_copy(home / "users" / "bench" / "Maildir", n)

    handle = start_dovecot(tmp, {"bench": "bench"}, prepare)
    if handle is None:
        print("dovecot is not installed or did not start")
        return None
    try:
        return run_suite_apart(handle.port, "bench", "bench")
    finally:
        handle.stop()


def make_server(tmp: Path, maildir: bool) -> ImapTestServer:
    server = ImapTestServer(tmp, "maildir" if maildir else "memory")
    server.settings = server.settings.replace_section(
        "general",
        type(server.settings.general)(
            domain="example.test", hostname="bench", max_message_size=1 << 20
        ),
    )
    return server


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--maildir", action="store_true")
    ap.add_argument("--no-dovecot", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        server = make_server(tmp, args.maildir).start()
        try:
            start = time.perf_counter()

            async def fill() -> None:
                for i in range(args.n):
                    await server.store.deliver(ALICE, make_message(i))

            server.run(fill(), timeout=3600)
            print(
                f"filled {args.n} messages in {time.perf_counter() - start:.1f}s "
                f"({'maildir' if args.maildir else 'memory'} store)"
            )
            ours = run_suite_apart(server.port, ALICE, "alice-pw")
        finally:
            server.stop()
        if args.maildir:  # the same Maildir, a new server: nothing warm
            server = make_server(tmp, True).start()
            try:
                again = run_suite_apart(server.port, ALICE, "alice-pw", True)
                ours[RESTARTED] = again[RESTARTED]
            finally:
                server.stop()
        theirs = None if args.no_dovecot else dovecot(tmp, args.n)
    width = max(len(k) for k in ours)
    print(
        f"{'operation':<{width}}  {'quicksilver':>12}"
        + (f"  {'dovecot':>10}  {'ratio':>6}" if theirs else "")
    )
    for k, v in ours.items():
        line = f"{k:<{width}}  {v * 1000:10.1f}ms"
        ref = "FETCH meta (cold)" if k == RESTARTED else k  # Dovecot: no index
        if theirs and ref in theirs:
            t = theirs[ref]
            line += f"  {t * 1000:8.1f}ms  {v / max(t, 1e-6):6.2f}x"
        print(line)


if __name__ == "__main__":
    main()
