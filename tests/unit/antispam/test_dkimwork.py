"""DKIM verification off the loop: the worker process gives the verdicts a
thread gives (pass, a changed body, a key the DNS could not give now, no
key), many messages in flight at once come back to the right callers, a
worker killed with SIGKILL is replaced without losing a verdict, and
closing the pool ends the process."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from pathlib import Path

import pytest

from server.antispam.dkimwork import DkimPool, verify
from server.dkim.keys import DkimKeys
from server.dkim.signer import DkimSigner


@pytest.fixture(scope="module")
def material() -> tuple[list[bytes], dict[str, bytes | None]]:
    with tempfile.TemporaryDirectory() as tmp:
        keys = DkimKeys(Path(tmp) / "dkim")
        keys.generate("sender.test")
        records: dict[str, bytes | None] = {
            k.record_name: keys.record(k).encode() for k in keys.keys("sender.test")
        }
        signer = DkimSigner(keys)
        messages = [
            signer.sign(
                "a@sender.test",
                f"From: a@sender.test\r\nSubject: n{i}\r\n\r\nbody {i}\r\n".encode(),
            )
            for i in range(20)
        ]
    return messages, records


def results(found: tuple[tuple[tuple[str, str, str], ...], str]) -> list[str]:
    return [r for r, _d, _s in found[0]]


def test_verdicts(material: tuple[list[bytes], dict[str, bytes | None]]) -> None:
    messages, keys = material
    assert results(verify(messages[0], keys, 2, False)) == ["pass", "pass"]
    changed = messages[0].replace(b"body 0", b"body 9")
    assert results(verify(changed, keys, 2, False)) == ["fail", "fail"]
    later = {k: None for k in keys}
    assert results(verify(messages[0], later, 2, False)) == ["temperror"] * 2
    assert results(verify(messages[0], {}, 2, False)) != ["pass", "pass"]
    assert results(verify(messages[0], keys, 1, False)) == ["pass"]


def test_the_worker_process(
    material: tuple[list[bytes], dict[str, bytes | None]],
) -> None:
    messages, keys = material

    async def main() -> None:
        pool = DkimPool(use_process=True)
        pool.start()
        try:
            found = await asyncio.gather(
                *(pool.verify(m, keys, 2, False) for m in messages)
            )
            assert all(results(f) == ["pass", "pass"] for f in found)
            # each caller got its own message's verdict back
            changed = [
                m.replace(b"body", b"bodY") if i % 2 else m
                for i, m in enumerate(messages)
            ]
            found = await asyncio.gather(
                *(pool.verify(m, keys, 2, False) for m in changed)
            )
            assert [results(f)[0] for f in found] == ["pass", "fail"] * 10
            worker = pool._worker
            assert worker is not None and worker.process.is_alive()
            os.kill(worker.process.pid or 0, signal.SIGKILL)
            worker.process.join(5)
            found = await asyncio.gather(
                *(pool.verify(m, keys, 2, False) for m in messages[:4])
            )
            assert all(results(f) == ["pass", "pass"] for f in found)
            again = await pool.verify(messages[5], keys, 2, False)
            assert results(again) == ["pass", "pass"]
            replacement = pool._worker
            assert replacement is not None and replacement is not worker
            assert replacement.process.is_alive()
        finally:
            pool.close()
        replacement.process.join(5)
        assert not replacement.process.is_alive()

    asyncio.run(main())
