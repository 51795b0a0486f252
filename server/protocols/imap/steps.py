"""What a command handler asks the connection to do once it has answered.

The session never reads from the socket (connection.py does). Most commands
are answered in one go; three need more input or a change of the link, and
their handlers return one of these instead of ``None``:

- ``StartTls``: STARTTLS was accepted (RFC 3501 6.2.1); the connection
  drains, negotiates TLS and tells the session (``Session.tls_started``).
- ``ReadLine``: AUTHENTICATE sent a ``+`` continuation (RFC 3501 6.2.2); the
  connection reads the client's next line and hands it to ``resume``
  (through ``Session.resume``, which answers any error as for a command).
- ``Idling``: IDLE sent its ``+`` (RFC 2177); the connection waits for DONE
  or a change to the selected mailbox, and asks the session for the updates.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .command import Command, Idle


@dataclass(frozen=True)
class StartTls:
    context: ssl.SSLContext


@dataclass(frozen=True)
class ReadLine:
    """Read one line (a SASL response) and give it to ``resume``."""

    cmd: Command
    resume: Callable[[bytes], Awaitable[Step | None]]


@dataclass(frozen=True)
class Idling:
    cmd: Idle


@dataclass(frozen=True)
class Compress:
    """COMPRESS DEFLATE was accepted (RFC 4978): the OK went out plain,
    everything after it both ways is compressed."""


Step = StartTls | ReadLine | Idling | Compress
