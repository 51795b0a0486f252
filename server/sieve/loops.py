"""Mail loop marks for redirect (RFC 5228 section 4.2: "implementations SHOULD
take measures to implement loop control").

The engine never sends; the delivery layer resends a ``Redirect`` and, before
it does, asks ``redirect_would_loop``: a message that already carries a
``Delivered-To`` mark for the address it is about to be delivered to, or that
has passed more hops than ``MAX_HOPS``, is going round in circles (the rule of
Postfix's local delivery and Dovecot's LDA). It then keeps the message instead
and logs why. ``loop_mark`` is the field it adds to every copy it delivers or
resends, so that the next pass can recognise it.
"""

from __future__ import annotations

from server.sieve.addresses import parse_header_addresses
from server.sieve.message import MessageView

LOOP_HEADER = "Delivered-To"
# Received + Delivered-To fields beyond which a message is surely looping
# (Postfix's hopcount_limit is 50).
MAX_HOPS = 50


def _same(a: str, b: str) -> bool:
    la, _, da = a.rpartition("@")
    lb, _, db = b.rpartition("@")
    return la.lower() == lb.lower() and da.lower() == db.lower()


def redirect_would_loop(msg: MessageView, address: str) -> bool:
    """True if sending ``msg`` to ``address`` would close a loop."""
    hops = 0
    for f in msg.headers:
        if f.key not in ("received", "delivered-to"):
            continue
        hops += 1
        if f.key == "delivered-to":
            for a in parse_header_addresses(f.unfolded):
                text = f"{a.local_part}@{a.domain}" if a.parsed else a.raw.strip("<> ")
                if _same(text, address):
                    return True
    return hops > MAX_HOPS


def loop_mark(address: str) -> bytes:
    """The header line to prepend to a message delivered or resent for
    ``address``."""
    return f"{LOOP_HEADER}: {address}\r\n".encode()
