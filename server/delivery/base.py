"""Small contracts between the receiving side and whatever takes mail from it.

Protocol modules know "something durable takes this message" (``DeliveryTarget``);
the queue manager knows "a remote route takes these recipients" (``RemoteRoute``).
The runtime wires the concrete parts in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Envelope:
    sender: str  # "" for the null reverse-path
    recipients: tuple[str, ...]
    peer: str = ""
    helo: str = ""
    authenticated_as: str = ""
    received_via: str = "smtp"
    smtputf8: bool = False
    body_8bit: bool = False


@dataclass(frozen=True)
class Accepted:
    job_id: str
    local_delivered: tuple[str, ...] = ()
    queued: tuple[str, ...] = ()


class DeliveryTarget(Protocol):
    async def accept(
        self,
        envelope: Envelope,
        message: bytes,
        *,
        job_id: str | None = None,
        created: float | None = None,
    ) -> Accepted:
        """Make the message durable for every recipient, then return.

        Raises ``MailError`` (temporary or permanent) when it cannot; the caller
        replies accordingly and never says OK before this returns.

        ``job_id`` and ``created`` (both or neither): a caller that may hand
        the same message over again after a crash (the collector) names the
        job, and local delivery then stores it once (``delivery_key``).
        """


@dataclass(frozen=True)
class RouteResult:
    recipient: str
    ok: bool
    temporary: bool = True
    reply: str = ""  # what the remote side said, in plain words


class RemoteRoute(Protocol):
    """How mail leaves for other servers. Of the routes the queue was
    offered, the one with the highest ``priority`` takes it."""

    name: str
    priority: int

    async def deliver_remote(
        self, sender: str, recipients: Sequence[str], message: bytes
    ) -> list[RouteResult]: ...
