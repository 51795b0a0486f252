"""A spamd and an rspamd on 127.0.0.1 (threads, port 0), speaking each
protocol as the real ones do, scoring by a function of the message; every
request they read is kept (``requests``)."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Scanner:
    kind: str
    port: int
    requests: list[bytes] = field(default_factory=list)


def _read_request(sock: socket.socket) -> bytes:
    """Header, then the body by its length (both protocols say it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@contextmanager
def running(
    kind: str,
    score: Callable[[bytes], float],
    answer: Callable[[bytes], bytes] | None = None,
) -> Iterator[Scanner]:
    """``kind`` "spamd" or "rspamd"; ``answer`` replaces the whole reply."""
    box: list[Scanner] = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            request = _read_request(self.request)
            box[0].requests.append(request)
            if answer is not None:
                self.request.sendall(answer(request))
                return
            head, _, body = request.partition(b"\r\n\r\n")
            verb = head.split(b" ", 1)[0]
            if kind == "spamd":
                if verb == b"PING":
                    reply = b"SPAMD/1.5 0 PONG\r\n"
                else:
                    s = score(body)
                    flag = b"True" if s >= 5 else b"False"
                    symbols = b"BAYES_99,URIBL_BLACK" if s >= 5 else b"BAYES_00"
                    reply = (
                        b"SPAMD/1.1 0 EX_OK\r\nContent-length: %d\r\n"
                        b"Spam: %s ; %.1f / 5.0\r\n\r\n%s"
                        % (len(symbols), flag, s, symbols)
                    )
            elif head.startswith(b"GET /ping"):
                reply = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\npong\n"
            else:
                s = score(body)
                doc = json.dumps(
                    {
                        "is_skipped": False,
                        "score": s,
                        "required_score": 15.0,
                        "action": "no action",
                        "symbols": {"R_SPF_ALLOW": {}, "FAKE_SPAM": {}}
                        if s >= 5
                        else {"R_SPF_ALLOW": {}},
                    }
                ).encode()
                reply = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (
                    len(doc),
                    doc,
                )
            self.request.sendall(reply)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box.append(Scanner(kind, server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
