"""Vacation auto-replies: whether to answer, and the answer itself.

The interpreter only records a ``Vacation`` action. Whether a reply goes out is
decided here, after the script ran, by rules that are the same for every
script (RFC 3834 "Recommendations for Automatic Responses to Electronic Mail"
and RFC 5230 sections 4.5-4.6), checked in Pigeonhole's order so that the
logged reason is the one Pigeonhole would give:

1. never to the null reverse path (RFC 3834 section 2: bounces);
2. never to the user's own addresses (the recipient, ``:addresses``, and the
   extra addresses the caller knows, such as aliases);
3. once per sender and handle per period (RFC 5230 section 4.1): the caller
   keeps that store; ``seen_key`` is its key, ``replied_before`` its answer;
4. never to mailing lists (a ``List-*`` field, RFC 2369/2919), to messages that
   are ``Auto-Submitted`` with any value but "no" (RFC 3834 section 5), or
   have ``Precedence: bulk``, ``list`` or ``junk`` (common practice);
5. never to system addresses (``MAILER-DAEMON``, ``LISTSERV``, ``majordomo``,
   ``owner-*``, ``*-request``: RFC 3834 section 2);
6. only when one of the user's addresses is in To, Cc, Bcc or their Resent-
   forms (RFC 5230 section 4.5: not for mail received through a list or a
   Bcc the user cannot see).

``build_reply`` writes the reply (RFC 5230 section 5): From the ``:from`` or
the user's address found in step 6, To the sender, Subject the ``:subject`` or
"Auto: " and the original subject, In-Reply-To/References threading,
``Auto-Submitted: auto-replied`` (RFC 3834 section 5), and the reason as a
UTF-8 text body (or as a MIME entity with ``:mime``). Send it with the null
reverse path (RFC 5230 section 5.1 / RFC 3834 section 3.3) so that it can never
start a reply loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from server.sieve.actions import Vacation
from server.sieve.addresses import parse_header_addresses, parse_mailbox
from server.sieve.message import Envelope, MessageView, encode_header_value

LIST_HEADERS = (
    "list-id",
    "list-owner",
    "list-subscribe",
    "list-post",
    "list-unsubscribe",
    "list-help",
    "list-archive",
)
MY_ADDRESS_HEADERS = ("to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc")
BULK_PRECEDENCE = ("junk", "bulk", "list")
# The longest subject written into a reply (Pigeonhole cuts at 256 too).
MAX_REPLY_SUBJECT = 256


@dataclass(frozen=True, slots=True)
class VacationDecision:
    """``send`` and, when not sending, ``reason`` (for the log); ``reply_from``
    is the user's address the message was sent to (the reply's From)."""

    send: bool
    reason: str = ""
    reply_from: str | None = None


def _same_address(a: str, b: str) -> bool:
    local_a, _, dom_a = a.rpartition("@")
    local_b, _, dom_b = b.rpartition("@")
    return local_a.lower() == local_b.lower() and dom_a.lower() == dom_b.lower()


def seen_key(action: Vacation, sender: str) -> str:
    """The key of the "already answered" store: the sender (without case) and
    the handle, hashed so that it has a fixed size."""
    digest = hashlib.sha256(f"{sender.lower()}\x00{action.handle}".encode()).hexdigest()
    return digest


def _is_system_address(sender: str) -> bool:
    low = sender.lower()
    return (
        low.startswith(("mailer-daemon", "listserv", "majordomo"))
        or "-request@" in sender
        or sender.startswith("owner-")
    )


class VacationPolicy:
    """RFC 3834 / RFC 5230 rules; ``own_addresses`` are the user's other
    addresses (aliases) besides the recipient."""

    def __init__(self, own_addresses: Sequence[str] = ()) -> None:
        self.own_addresses = tuple(own_addresses)

    def decide(
        self,
        action: Vacation,
        msg: MessageView,
        env: Envelope,
        *,
        replied_before: bool = False,
    ) -> VacationDecision:
        sender = env.mail_from
        if not sender:
            return VacationDecision(False, "the sender is <> (a bounce)")
        mine = [env.rcpt_to, env.original_recipient, *self.own_addresses]
        if any(_same_address(sender, m) for m in mine):
            return VacationDecision(False, "the sender is the user")
        if any(_same_address(sender, m) for m in action.addresses):
            return VacationDecision(False, "the sender is one of :addresses")
        if replied_before:
            return VacationDecision(False, "already answered in this period")
        headers = msg.headers
        for f in headers:
            if f.key in LIST_HEADERS:
                return VacationDecision(False, f"a mailing list message ({f.name})")
        for f in headers:
            if f.key == "auto-submitted" and f.unfolded.lower() != "no":
                return VacationDecision(False, "an automatic message (Auto-Submitted)")
        for f in headers:
            if f.key == "precedence" and f.unfolded.lower() in BULK_PRECEDENCE:
                return VacationDecision(False, f"Precedence: {f.unfolded}")
        if _is_system_address(sender):
            return VacationDecision(False, "the sender is a system address")
        candidates = [*mine, *action.addresses]
        for name in MY_ADDRESS_HEADERS:
            for f in headers:
                if f.key != name:
                    continue
                for addr in parse_header_addresses(f.unfolded):
                    if addr.local_part is None:
                        continue
                    text = f"{addr.local_part}@{addr.domain}"
                    for c in candidates:
                        if _same_address(text, c):
                            return VacationDecision(True, reply_from=c)
        return VacationDecision(False, "the user is not a visible recipient")


def build_reply(
    action: Vacation,
    decision: VacationDecision,
    msg: MessageView,
    env: Envelope,
    *,
    message_id: str,
    date: datetime,
) -> bytes:
    """The reply message (to send with ``MAIL FROM:<>`` to ``env.mail_from``)."""
    if action.from_address:
        parsed = parse_mailbox(action.from_address)
        from_field = action.from_address if parsed is not None else f"<{env.rcpt_to}>"
    else:
        from_field = f"<{decision.reply_from or env.rcpt_to}>"
    if action.subject:
        subject = action.subject
    else:
        original = next((f.decoded for f in msg.headers if f.key == "subject"), None)
        subject = f"Auto: {original}" if original is not None else "Automated reply"
    subject = subject[:MAX_REPLY_SUBJECT]
    lines = [
        f"Message-ID: {message_id}",
        f"Date: {format_datetime(date)}",
        f"From: {encode_header_value(from_field)}",
        f"To: <{env.mail_from}>",
        f"Subject: {encode_header_value(subject)}",
    ]
    orig_id = next((f.unfolded for f in msg.headers if f.key == "message-id"), None)
    refs = next((f.unfolded for f in msg.headers if f.key == "references"), None)
    if orig_id:
        lines.append(f"In-Reply-To: {orig_id}")
        lines.append(
            f"References: {refs} {orig_id}" if refs else f"References: {orig_id}"
        )
    elif refs:
        lines.append(f"References: {refs}")
    lines += [
        "Auto-Submitted: auto-replied (vacation)",
        "Precedence: bulk",
        "MIME-Version: 1.0",
    ]
    reason = action.reason.replace("\r\n", "\n").replace("\n", "\r\n")
    if action.mime:
        # RFC 5230 section 4.8: the reason is a MIME entity, headers included.
        return ("\r\n".join(lines) + "\r\n" + reason + "\r\n").encode("utf-8")
    lines += [
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + reason + "\r\n").encode("utf-8")
