"""Our DKIM signatures checked by other implementations, the way a receiving
provider checks them: OpenDKIM's ``opendkim-testmsg`` (libopendkim, Debian
``opendkim-tools``) and dkimpy's ``dkimverify`` command, each asking real DNS
questions of a DNS server on 127.0.0.1:53 that answers our key records.

Neither tool can be pointed at a resolver, so each runs in a private mount
namespace (``unshare --mount``, root) where ``/etc/resolv.conf`` names that
server; the machine's own resolver settings are never touched. A message
signed by us and delivered through the relay to the local sink verifies with
each signature alone (RSA, Ed25519) and fails once its body changes."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset
import pytest

from tests.conftest import RunningCore
from tests.integration.outbound.sink import Sink
from tests.integration.outbound.test_relay import settle, submit
from tests.waiting import run_cli

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for unshare --mount"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="util-linux"),
]


class KeyServer:
    """UDP DNS on 127.0.0.1:53 answering TXT for the given names."""

    def __init__(self, records: dict[str, str]) -> None:
        self.records = {n.rstrip(".").lower() + ".": v for n, v in records.items()}
        self.asked: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(data)
            answer = dns.message.make_response(query)
            name = query.question[0].name.to_text().lower()
            self.asked.append(name)
            value = self.records.get(name)
            if value is None:
                answer.set_rcode(dns.rcode.NXDOMAIN)
            else:
                parts = " ".join(
                    f'"{value[i : i + 250]}"' for i in range(0, len(value), 250)
                )
                answer.answer.append(dns.rrset.from_text(name, 300, "IN", "TXT", parts))
            self.sock.sendto(answer.to_wire(max_size=4096), peer)

    def stop(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


def in_private_dns(folder: Path, argv: list[str], message: bytes) -> int:
    """Run ``argv`` with ``message`` on stdin where /etc/resolv.conf says
    127.0.0.1 (a mount namespace of its own)."""
    conf = folder / "resolv.conf"
    conf.write_text("nameserver 127.0.0.1\noptions edns0 attempts:1 timeout:2\n")
    script = f'mount --bind {conf} /etc/resolv.conf && exec "$@"'
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", *argv],
        input=message,
        capture_output=True,
        timeout=60,
    )
    return done.returncode


@pytest.fixture
def signed(
    relay_core: RunningCore, sink: Sink, capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[bytes, KeyServer]]:
    data_dir = str(relay_core.data_dir)
    assert run_cli(["--data-dir", data_dir, "dkim", "generate", "example.test"]) == 0
    capsys.readouterr()
    assert run_cli(["--data-dir", data_dir, "dkim", "records", "example.test"]) == 0
    found = re.findall(r'^(\S+) TXT "([^"]+)"', capsys.readouterr().out, re.M)
    assert len(found) == 2
    try:
        server = KeyServer(dict(found))
    except OSError as exc:
        pytest.skip(f"127.0.0.1:53 is taken ({exc})")
    try:
        submit(relay_core, ["far@remote.test"])
        settle(relay_core)
        assert sink.wait_messages(1)
        yield sink.messages[0].data, server
    finally:
        server.stop()


def only(message: bytes, algorithm: bytes) -> bytes:
    """The message with just the signature that uses ``algorithm``."""
    head, sep, body = message.partition(b"\r\n\r\n")
    fields = re.split(rb"\r\n(?![ \t])", head)
    kept = [
        f
        for f in fields
        if not f.lower().startswith(b"dkim-signature:") or b"a=" + algorithm in f
    ]
    return b"\r\n".join(kept) + sep + body


@pytest.mark.skipif(shutil.which("opendkim-testmsg") is None, reason="opendkim-tools")
def test_opendkim_verifies_our_signatures(
    signed: tuple[bytes, KeyServer], tmp_path: Path
) -> None:
    message, server = signed
    for algorithm in (b"rsa-sha256", b"ed25519-sha256"):
        one = only(message, algorithm)
        assert one.count(b"DKIM-Signature:") == 1
        assert in_private_dns(tmp_path, ["opendkim-testmsg"], one) == 0, algorithm
    assert any("._domainkey.example.test." in n for n in server.asked)
    tampered = only(message, b"rsa-sha256").replace(b"body\r\n", b"b0dy\r\n")
    assert in_private_dns(tmp_path, ["opendkim-testmsg"], tampered) != 0


def test_dkimpy_command_verifies_our_signatures(
    signed: tuple[bytes, KeyServer], tmp_path: Path
) -> None:
    tool = Path(sys.executable).parent / "dkimverify"  # dkimpy's, in the venv
    if not tool.exists():
        pytest.skip("dkimverify missing")
    message, _ = signed
    for algorithm in (b"rsa-sha256", b"ed25519-sha256"):
        one = only(message, algorithm)
        assert in_private_dns(tmp_path, [str(tool)], one) == 0, algorithm
    tampered = message.replace(b"\r\n\r\n", b"\r\n\r\nextra line\r\n", 1)
    assert in_private_dns(tmp_path, [str(tool)], only(tampered, b"rsa-sha256")) != 0
