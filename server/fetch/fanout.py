"""Who a collected message is for, and whether it has been here before.
Pure: no I/O; every input is bounded.

A mailbox that catches a whole domain at the provider holds mail for many
people; the envelope recipients are gone by the time it is collected. The
provider usually says who the message was for in a header it adds on
delivery (``Delivered-To``, ``X-Original-To``, ``Envelope-To``); those are
read first. Without them, the addressees in ``To`` and ``Cc`` are the best
guess (``Bcc`` never reaches the recipient's copy, so a blind-copied person
is only found through those delivery headers). The collector keeps the
candidates that are local (users, aliases, lists) and hands the rest to the
account's default user.

The loop guard: every collected message gets ``X-Quicksilver-Collected:
<our host name>``. A message that comes back carrying our own mark (we sent
it out, the provider put it in the mailbox again) is not delivered twice;
nor is a message with more than ``MAX_RECEIVED`` Received fields (RFC 5321
6.3's loop rule).
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass

from server import mailtext

MAX_HEADER_BYTES = 256 * 1024  # of the header read for these decisions
MAX_CANDIDATES = 100  # addresses taken from the header
MAX_RECEIVED = 50  # RFC 5321 6.3: "a simple loop counter", at least 100 hops
# is its advice for relays; a collected message has no business with 50
LOOP_HEADER = "X-Quicksilver-Collected"
DELIVERY_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to")
ADDRESS_HEADERS = ("to", "cc")


@dataclass(frozen=True)
class HeaderView:
    """The unfolded header fields of a message: (lower-case name, value)."""

    fields: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        return [v for n, v in self.fields if n == name]


def read_header(message: bytes) -> HeaderView:
    head, _ = mailtext.split_header(message[:MAX_HEADER_BYTES])
    text = head.decode("utf-8", "replace").replace("\r\n", "\n")
    fields: list[tuple[str, str]] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        if line[:1] in (" ", "\t"):
            if fields:
                name, value = fields[-1]
                fields[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if colon and name and " " not in name:
            fields.append((name.strip().lower(), value.strip()))
    return HeaderView(tuple(fields))


def _addresses(values: list[str]) -> list[str]:
    out: list[str] = []
    for _, addr in email.utils.getaddresses(values):
        a = addr.strip().strip("<>").lower()
        if "@" in a and a not in out and len(a) <= 254:
            out.append(a)
        if len(out) >= MAX_CANDIDATES:
            break
    return out


def candidates(view: HeaderView) -> tuple[list[str], list[str]]:
    """(addresses the provider's delivery headers name, addresses in To and
    Cc), each in order, without duplicates, at most ``MAX_CANDIDATES``."""
    delivered = _addresses([v for n in DELIVERY_HEADERS for v in view.values(n)])
    addressed = _addresses([v for n in ADDRESS_HEADERS for v in view.values(n)])
    return delivered, addressed


def been_here(view: HeaderView, hostname: str) -> str:
    """Why the message must not be delivered again ("" when it may)."""
    marks = [v.strip().lower() for v in view.values(LOOP_HEADER.lower())]
    if hostname.lower() in marks:
        return f"it already carries our {LOOP_HEADER} mark (a mail loop)"
    if len(view.values("received")) > MAX_RECEIVED:
        return f"more than {MAX_RECEIVED} Received fields (a mail loop)"
    return ""


def return_path(view: HeaderView) -> str:
    """The envelope sender the provider recorded (``Return-Path``), or ""."""
    for value in view.values("return-path"):
        _, addr = email.utils.parseaddr(value)
        return addr if "@" in addr and len(addr) <= 254 else ""
    return ""
