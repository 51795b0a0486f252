"""The spamd and rspamd clients against servers speaking their protocols:
what is sent (the whole message, its length, the envelope), the score read
back, the connection test, and every way a scanner can fail giving no score
instead of an error."""

from __future__ import annotations

import asyncio
import socket

import pytest

from server.antispam import scanner as sc
from tests.unit.antispam.fakescanner import running

MESSAGE = b"From: a@b.test\r\nSubject: cheap pills\r\n\r\nbuy now\r\n"


def request(message: bytes = MESSAGE) -> sc.ScanRequest:
    return sc.ScanRequest(
        message, "192.0.2.7", "client.test", "a@b.test", ("x@c.test", "y@c.test")
    )


def spammy(body: bytes) -> float:
    return 12.5 if b"pills" in body else 1.0


def test_spamd_scores_and_sends_the_whole_message() -> None:
    with running("spamd", spammy) as srv:
        client = sc.SpamdClient("127.0.0.1", srv.port)
        got = asyncio.run(client.score(request()))
        assert got == sc.Score(12.5, 5.0, ("BAYES_99", "URIBL_BLACK"))
        sent = srv.requests[0]
        assert sent.startswith(b"SYMBOLS SPAMC/1.5\r\n")
        assert f"Content-length: {len(MESSAGE)}\r\n".encode() in sent
        assert sent.endswith(b"\r\n\r\n" + MESSAGE)
        ham = asyncio.run(client.score(request(b"Subject: hi\r\n\r\nlunch?\r\n")))
        assert ham is not None and ham.score == 1.0 and ham.symbols == ("BAYES_00",)
        assert "spamd" in asyncio.run(client.ping())


def test_rspamd_scores_with_the_envelope() -> None:
    with running("rspamd", spammy) as srv:
        client = sc.RspamdClient("127.0.0.1", srv.port)
        got = asyncio.run(client.score(request()))
        assert got == sc.Score(12.5, 15.0, ("FAKE_SPAM", "R_SPF_ALLOW"))
        sent = srv.requests[0]
        assert sent.startswith(b"POST /checkv2 HTTP/1.0\r\n")
        for line in (
            b"IP: 192.0.2.7",
            b"Helo: client.test",
            b"From: <a@b.test>",
            b"Rcpt: <x@c.test>",
            b"Rcpt: <y@c.test>",
            f"Content-Length: {len(MESSAGE)}".encode(),
        ):
            assert line + b"\r\n" in sent
        assert sent.endswith(b"\r\n\r\n" + MESSAGE)
        assert "rspamd" in asyncio.run(client.ping())


def test_envelope_values_cannot_add_protocol_lines() -> None:
    with running("rspamd", spammy) as srv:
        client = sc.RspamdClient("127.0.0.1", srv.port)
        evil = sc.ScanRequest(MESSAGE, "1.2.3.4", "x\r\nPass: all", "a@b", ())
        asyncio.run(client.score(evil))
        head = srv.requests[0].partition(b"\r\n\r\n")[0]
        assert b"\r\nPass: all" not in head and b"Helo: xPass:all" in head


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("kind", ["spamd", "rspamd"])
def test_a_scanner_that_is_down_gives_no_score(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = sc.make_scanner(kind, "127.0.0.1", free_port())
    assert client is not None
    assert asyncio.run(client.score(request())) is None
    assert asyncio.run(client.score(request())) is None
    warned = [r for r in caplog.records if "not scored" in r.getMessage()]
    assert len(warned) == 1  # once until it answers again
    with pytest.raises(sc.ScannerUnavailable, match="cannot connect"):
        asyncio.run(client.ping())


@pytest.mark.parametrize(
    ("kind", "reply"),
    [
        ("spamd", b"SPAMD/1.1 76 Bad header line\r\n\r\n"),
        ("spamd", b"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n"),
        ("rspamd", b"HTTP/1.0 500 Oops\r\n\r\n"),
        ("rspamd", b"HTTP/1.0 200 OK\r\n\r\n{not json"),
        ("rspamd", b'HTTP/1.0 200 OK\r\n\r\n{"action": "reject"}'),
        ("rspamd", b"SSH-2.0-OpenSSH\r\n"),
    ],
)
def test_nonsense_answers_give_no_score(kind: str, reply: bytes) -> None:
    with running(kind, spammy, answer=lambda _req: reply) as srv:
        client = sc.make_scanner(kind, "127.0.0.1", srv.port)
        assert client is not None
        assert asyncio.run(client.score(request())) is None
        with pytest.raises(sc.ScannerUnavailable):
            asyncio.run(client.ping())


def test_a_big_message_is_not_sent() -> None:
    with running("spamd", spammy) as srv:
        client = sc.SpamdClient("127.0.0.1", srv.port)
        big = MESSAGE + b"x" * sc.MAX_SCAN_BYTES
        assert asyncio.run(client.score(request(big))) is None
        assert srv.requests == []


def test_a_slow_scanner_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc, "TIMEOUT", 0.3)

    async def main() -> sc.Score | None:
        async def silent(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            try:
                await asyncio.sleep(5)
            finally:
                writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await sc.SpamdClient("127.0.0.1", port).score(request())

    assert asyncio.run(main()) is None


def test_an_endless_answer_is_cut() -> None:
    huge = b"SPAMD/1.1 0 EX_OK\r\n" + b"X" * (sc.MAX_ANSWER_BYTES + 10)
    with running("spamd", spammy, answer=lambda _req: huge) as srv:
        client = sc.SpamdClient("127.0.0.1", srv.port)
        assert asyncio.run(client.score(request())) is None
