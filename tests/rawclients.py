"""Light IMAP, SMTP and POP3 clients for load and loop-lag tests.

A client that runs in the same process as the server shares its interpreter
lock: imaplib's APPEND runs a regex over the whole message and smtplib quotes
dots with another, and a harness that grows its buffer with ``bytes +=``
copies megabytes per read. Each of those holds the lock for tens of
milliseconds and shows up as lag of the server's loop that the server did
not cause. These clients only move bytes: payloads are prepared before a
measurement starts, reads go into one ``bytearray``, and a large literal is
streamed through SHA-256 (which lets other threads run) instead of kept.
"""

from __future__ import annotations

import hashlib
import re
import socket

KEEP_LITERAL = 1024 * 1024  # larger literals come back as <N octets sha256 H>
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


def big_literal(data: bytes) -> bytes:
    """How ``RawImap`` shows a literal above KEEP_LITERAL."""
    return b"<%d octets sha256 %s>" % (
        len(data),
        hashlib.sha256(data).hexdigest().encode(),
    )


class RawImap:
    def __init__(self, host: str, port: int, timeout: float = 120) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()
        self._scan = 0
        self.greeting = self.readline()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError(bytes(self.buf[:200]))
        self.buf += chunk

    def readline(self) -> bytes:
        while (i := self.buf.find(b"\n", self._scan)) < 0:
            self._scan = len(self.buf)
            self._fill()
        line = bytes(self.buf[: i + 1])
        del self.buf[: i + 1]
        self._scan = 0
        return line

    def read_literal(self, n: int) -> bytes:
        if n <= KEEP_LITERAL:
            while len(self.buf) < n:
                self._fill()
            data = bytes(self.buf[:n])
            del self.buf[:n]
            return data
        digest = hashlib.sha256()
        take = min(n, len(self.buf))
        digest.update(self.buf[:take])
        del self.buf[:take]
        left = n - take
        block = bytearray(1 << 20)
        view = memoryview(block)
        while left:
            got = self.sock.recv_into(view[: min(left, len(block))])
            if not got:
                raise EOFError("connection closed inside a literal")
            digest.update(view[:got])
            left -= got
        return b"<%d octets sha256 %s>" % (n, digest.hexdigest().encode())

    def response_line(self) -> bytes:
        """One response line with its literals folded in (see KEEP_LITERAL)."""
        parts = [self.readline()]
        while (m := _LITERAL.search(parts[-1])) is not None:
            parts.append(self.read_literal(int(m.group(1))))
            parts.append(self.readline())
        return b"".join(parts)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until(self, tag: str) -> list[bytes]:
        out = []
        while True:
            line = self.response_line()
            out.append(line)
            if line.startswith(tag.encode() + b" "):
                return out

    def command(self, tag: str, text: str | bytes) -> list[bytes]:
        raw = text.encode() if isinstance(text, str) else text
        self.send(tag.encode() + b" " + raw + b"\r\n")
        return self.until(tag)

    def login(self, user: str, password: str) -> None:
        r = self.command("L", f'LOGIN "{user}" "{password}"')
        assert r[-1].startswith(b"L OK"), r

    def append_command(self, tag: str, mailbox: str, message: bytes) -> bytes:
        """The bytes of an APPEND with a LITERAL+ literal (RFC 7888), built
        before the measurement so that only sending is left."""
        return b"".join(
            (
                f"{tag} APPEND {mailbox} {{{len(message)}+}}\r\n".encode(),
                message,
                b"\r\n",
            )
        )

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def smtp_payload(message: bytes) -> bytes:
    """``message`` as DATA content: dot-stuffed, ending with CRLF.CRLF."""
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n"


class _LineClient:
    """A connection read line by line into one ``bytearray``; QUIT to close."""

    def __init__(self, host: str, port: int, timeout: float = 120) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()

    def line(self) -> bytes:
        while (i := self.buf.find(b"\r\n")) < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(bytes(self.buf))
            self.buf += chunk
        line = bytes(self.buf[: i + 2])
        del self.buf[: i + 2]
        return line

    def close(self) -> None:
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.sock.close()
        except OSError:
            pass


class RawSmtp(_LineClient):
    def __init__(self, host: str, port: int, timeout: float = 120) -> None:
        super().__init__(host, port, timeout)
        self.reply()  # greeting

    def reply(self) -> bytes:
        """A whole reply (all its lines); returns the last line."""
        while True:
            line = self.line()
            if line[3:4] != b"-":
                return line

    def command(self, text: str) -> bytes:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def send_mail(self, sender: str, rcpts: list[str], payload: bytes) -> bytes:
        """One transaction; ``payload`` from ``smtp_payload``. The final reply."""
        assert self.command("EHLO client.test").startswith(b"250")
        assert self.command(f"MAIL FROM:<{sender}>").startswith(b"250")
        for r in rcpts:
            line = self.command(f"RCPT TO:<{r}>")
            assert line.startswith(b"250"), line
        assert self.command("DATA").startswith(b"354")
        self.sock.sendall(payload)
        return self.reply()


class RawPop3(_LineClient):
    """USER/PASS, one-line commands, and multi-line answers kept as sent
    (still byte-stuffed: undo that after the measurement)."""

    def __init__(self, host: str, port: int, timeout: float = 120) -> None:
        super().__init__(host, port, timeout)
        self.line()  # greeting

    def command(self, text: str) -> bytes:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def login(self, user: str, password: str) -> None:
        assert self.command(f"USER {user}").startswith(b"+OK")
        assert self.command(f"PASS {password}").startswith(b"+OK")

    def multiline(self, text: str) -> tuple[bytes, bytes]:
        """The status line and the body up to (without) its ending ".CRLF".

        The chunks are kept apart and joined once (``bytes.join`` copies a
        large result with the interpreter lock released): growing one buffer
        to 40 MB reallocates it, and a reallocation may copy it whole into
        memory never touched before, with the lock held all along."""
        first = self.command(text)
        assert first.startswith(b"+OK"), first
        pieces = [bytes(self.buf)]
        self.buf = bytearray()
        size, tail = len(pieces[0]), pieces[0][-5:]
        while not (tail.endswith(b"\r\n.\r\n") or (size == 3 and tail == b".\r\n")):
            chunk = self.sock.recv(1024 * 1024)
            if not chunk:
                raise EOFError(tail)
            pieces.append(chunk)
            size += len(chunk)
            tail = (tail + chunk[-5:])[-5:]
        drop = 3  # the ".CRLF", taken off the last pieces: no copy of the rest
        while drop:
            last = pieces.pop()
            if len(last) > drop:
                pieces.append(last[:-drop])
            drop = max(0, drop - len(last))
        return first, b"".join(pieces)
