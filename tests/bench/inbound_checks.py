"""The smtp module's accept rate with SPF + DKIM + DMARC checks on vs off,
in the same run.

    .venv/bin/python tests/bench/inbound_checks.py [--seconds 8] [--rounds 4]

One core (smtp on loopback, loopback not trusted so the checks run), a
resolver that answers from memory (no DNS query leaves): sender.test has an
SPF record that passes 127.0.0.1, a DMARC record, and the DKIM keys the
messages are signed with (RSA-2048 and Ed25519, as our own signer makes
them: each message carries two signatures to verify). 8 connections send
4 KB messages for ``seconds``; rounds alternate off/on, the order swapped
every round (ABBA). Prints messages per second for each and the ratio (on /
off) of the medians; issue 14 asks for >= 0.7 (0.73-0.82 here, with DKIM
verified in the worker process of server/antispam/dkimwork.py; 0.54 in a
thread). Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from server.dkim.keys import DkimKeys  # noqa: E402
from server.dkim.signer import DkimSigner  # noqa: E402
from tests.conftest import ALICE, RunningCore, start_core  # noqa: E402
from tests.unit.antispam.dnsfake import TableResolver, txt  # noqa: E402

CONNECTIONS = 8


def signed_messages(keys: DkimKeys, n: int) -> list[bytes]:
    signer = DkimSigner(keys)
    body = ("0123456789abcdef" * 4 + "0123456789abcd\r\n") * 52
    out = []
    for i in range(n):
        raw = (
            f"From: Carol <carol@sender.test>\r\nTo: {ALICE}\r\nSubject: bench {i}\r\n"
            f"Message-ID: <ib-{i}@sender.test>\r\n\r\n{body}"
        ).encode()[:4096]
        out.append(signer.sign("carol@sender.test", raw))
    return out


async def load(port: int, seconds: float, messages: list[bytes]) -> int:
    sent = 0
    stop_at = time.monotonic() + seconds

    async def worker(w: int) -> None:
        nonlocal sent
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, timeout=30, start_tls=False
        )
        await client.connect()
        await client.ehlo(hostname="client.example")
        i = w
        while time.monotonic() < stop_at:
            await client.sendmail(
                "carol@sender.test", [ALICE], messages[i % len(messages)]
            )
            i += CONNECTIONS
            sent += 1
        await client.quit()

    await asyncio.gather(*(worker(w) for w in range(CONNECTIONS)))
    return sent


def switch(core: RunningCore, on: bool) -> int:
    core.run(core.api.update_settings("smtp", {"check_authentication": on}))
    _, port = core.endpoint("smtp")
    return port


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keys = DkimKeys(Path(tmp) / "keys")
        keys.generate("sender.test")
        table = {
            ("sender.test", "TXT"): txt("v=spf1 ip4:127.0.0.0/8 -all"),
            ("_dmarc.sender.test", "TXT"): txt("v=DMARC1; p=reject"),
        }
        for k in keys.keys("sender.test"):
            table[(k.record_name, "TXT")] = txt(keys.record(k))
        messages = signed_messages(keys, 200)
        core = start_core(Path(tmp) / "data", enabled=("smtp",))
        try:
            core.runtime.services.modules["smtp"].resolver = TableResolver(table)  # type: ignore[attr-defined]
            core.run(core.api.update_settings("smtp", {"trusted_networks": ()}))
            for on in (False, True):  # warm up both
                asyncio.run(load(switch(core, on), 2, messages))
            off: list[float] = []
            on_: list[float] = []
            for r in range(args.rounds):
                for checks in (False, True) if r % 2 == 0 else (True, False):
                    port = switch(core, checks)
                    t0 = time.monotonic()
                    n = asyncio.run(load(port, args.seconds, messages))
                    (on_ if checks else off).append(n / (time.monotonic() - t0))
            table_text = " ".join(f"{x:6.0f}" for x in off)
            print(f"checks off (msg/s): {table_text}")
            print(f"checks on  (msg/s): {' '.join(f'{x:6.0f}' for x in on_)}")
            ratio = statistics.median(on_) / statistics.median(off)
            print(f"ratio (on / off, medians): {ratio:.2f}")
        finally:
            core.runtime.stop()


if __name__ == "__main__":
    main()
