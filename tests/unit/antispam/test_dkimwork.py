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


def test_big_messages_in_flight_together_and_a_send_cut_short(
    material: tuple[list[bytes], dict[str, bytes | None]],
) -> None:
    """Requests larger than one piece go to the worker one after the other
    (interleaved pieces would garble both), and a caller cancelled while its
    request is half sent does not garble the next request."""
    _messages, keys = material
    with tempfile.TemporaryDirectory() as tmp:
        dkim = DkimKeys(Path(tmp) / "dkim")
        dkim.generate("sender.test")
        signer = DkimSigner(dkim)
        body = b"".join(b"line %07d of a long body\r\n" % i for i in range(120_000))
        big = [
            signer.sign(
                "a@sender.test",
                f"From: a@sender.test\r\nSubject: big {i}\r\n\r\n".encode() + body,
            )
            for i in range(3)
        ]
        big_keys: dict[str, bytes | None] = {
            k.record_name: dkim.record(k).encode() for k in dkim.keys("sender.test")
        }
    assert len(big[0]) > 3 * 1024 * 1024
    tampered = big[1].replace(b"line 0100000", b"line 0100001")

    async def main() -> None:
        pool = DkimPool(use_process=True)
        pool.start()
        try:
            found = await asyncio.gather(
                pool.verify(big[0], big_keys, 2, False),
                pool.verify(tampered, big_keys, 2, False),
                pool.verify(big[2], big_keys, 2, False),
            )
            assert [results(f) for f in found] == [
                ["pass", "pass"],
                ["fail", "fail"],
                ["pass", "pass"],
            ]
            worker = pool._worker
            assert worker is not None
            cut = asyncio.get_running_loop().create_task(
                pool.verify(big[0], big_keys, 2, False)
            )
            while not worker._sending.locked():
                await asyncio.sleep(0.001)
            cut.cancel()
            with pytest.raises(asyncio.CancelledError):
                await cut
            small = await pool.verify(_messages[3], keys, 2, False)
            assert results(small) == ["pass", "pass"]
            after = await pool.verify(big[2], big_keys, 2, False)
            assert results(after) == ["pass", "pass"]
        finally:
            pool.close()

    asyncio.run(main())
