"""MaildirStore timings: large-folder listing and durable delivery rate.

Run: /work/venv/bin/python tests/bench/storage_bench.py [messages] [deliveries]
(defaults 50000 and 500). Uses a temporary directory on the same disk as
/tmp; fsync cost depends entirely on that disk.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from server.storage.maildir import MaildirStore

OWNER = "bench@example.org"
BODY = b"From: a@example.org\nSubject: bench\n\n" + b"line of text\n" * 40


async def main(count: int, deliveries: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "mail"
        store = MaildirStore(root, hostname="bench")
        await store.ensure_user(OWNER)
        udir = root / "example.org" / "bench"
        crlf = len(BODY.replace(b"\n", b"\r\n"))
        t = time.perf_counter()
        for i in range(count):
            name = f"{1700000000 + i}.M{i}P1Q{i}.bench,S={len(BODY)},W={crlf}"
            sub, info = ("cur", ":2,S") if i % 3 else ("new", "")
            (udir / sub / (name + info)).write_bytes(BODY)
        print(f"wrote {count} files directly in {time.perf_counter() - t:.2f}s")

        t = time.perf_counter()
        await store.list_messages(OWNER, "INBOX")
        print(f"first scan (no index yet): {time.perf_counter() - t:.3f}s")
        time.sleep(2.1)  # let the directories settle (coarse-mtime guard)
        t = time.perf_counter()
        for _ in range(20):
            await store.list_messages(OWNER, "INBOX")
        print(f"cached list_messages: {(time.perf_counter() - t) / 20 * 1000:.2f}ms")
        t = time.perf_counter()
        await store.mailbox_info(OWNER, "INBOX")
        print(f"mailbox_info: {(time.perf_counter() - t) * 1000:.2f}ms")

        restarted = MaildirStore(root, hostname="bench")
        t = time.perf_counter()
        await restarted.list_messages(OWNER, "INBOX")
        print(
            f"first list after restart (index present): {time.perf_counter() - t:.3f}s"
        )

        t = time.perf_counter()
        for _ in range(deliveries):
            await restarted.deliver(OWNER, BODY)
        dt = time.perf_counter() - t
        print(f"{deliveries} durable deliveries: {dt:.2f}s ({deliveries / dt:.0f}/s)")
        t = time.perf_counter()
        listed = await restarted.list_messages(OWNER, "INBOX")
        print(
            f"list right after deliveries (re-list of dirs): "
            f"{(time.perf_counter() - t) * 1000:.1f}ms, {len(listed)} messages"
        )
        t = time.perf_counter()
        await restarted.set_flags(
            OWNER, "INBOX", [(m.uid, "=", frozenset({"\\Seen"})) for m in listed[:1000]]
        )
        print(f"set_flags on 1000: {time.perf_counter() - t:.3f}s")
        t = time.perf_counter()
        await restarted.expunge(OWNER, "INBOX", [m.uid for m in listed[:1000]])
        print(f"expunge 1000 (index rewrite): {time.perf_counter() - t:.3f}s")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    asyncio.run(main(n, d))
