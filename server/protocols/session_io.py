"""What a line-protocol session (POP3, ManageSieve) hands its connection, and
the logger that prefixes every line with the peer (STYLE: one logger per
subsystem, each record says whose session it is)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    """Bytes to send, then what to do with the connection. ``more``: a long
    answer's further pieces, each written once the transport took the last
    (a large message is sent at the client's pace, never joined whole)."""

    data: bytes
    close: bool = False
    start_tls: bool = False
    more: tuple[bytes, ...] = ()


class PeerLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every record with the peer, as the house style asks."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        peer = self.extra.get("peer", "?") if self.extra else "?"
        return f"[{peer}] {msg}", kwargs
