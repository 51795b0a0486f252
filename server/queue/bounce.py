"""Delivery status notifications: RFC 3464 reports built from a queue job.

What it does
- ``build_dsn`` renders a ``multipart/report; report-type=delivery-status``
  message (RFC 6522): a text part a person can read, a ``message/delivery-status``
  part with one per-message block (Reporting-MTA, Arrival-Date) and one block per
  recipient (Final-Recipient, Action, Status, Diagnostic-Code, Last-Attempt-Date,
  Will-Retry-Until for delays), and the original message's header section as
  ``text/rfc822-headers`` (RFC 6522 4 / RFC 3464 2.1: headers only, so a bounce
  never carries a large body back).
- ``status_of`` pulls the RFC 3463 enhanced status code out of a reply, or
  derives one from its class.

What it does not do: decide *when* to bounce (the queue manager does: never to
the null reverse-path, always sent *with* the null reverse-path, RFC 5321 4.5.5
and 6.1) or deliver it. Bounces carry ``Auto-Submitted: auto-replied``
(RFC 3834 5) so responders do not answer them.
"""

from __future__ import annotations

import email.utils
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from server import mailtext

FAILED = "failed"  # RFC 3464 2.3.3 action values
DELAYED = "delayed"

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"\b([245])\d\d[ -]")


@dataclass(frozen=True)
class DsnRecipient:
    address: str
    action: str  # "failed" | "delayed"
    status: str  # RFC 3463, e.g. "5.1.1"
    diagnostic: str  # what the remote server said, or our own explanation
    remote_mta: str = ""
    last_attempt: float = 0.0
    will_retry_until: float = 0.0


def status_of(reply: str, temporary: bool) -> str:
    """The enhanced status code in ``reply``, else one from its reply class."""
    m = _ENHANCED.search(reply)
    if m:
        return m.group(0)
    r = _REPLY.search(reply)
    if r:
        return f"{r.group(1)}.0.0"
    return "4.0.0" if temporary else "5.0.0"


def diagnostic_code(text: str) -> str:
    """RFC 3464 2.3.6: ``smtp; <reply>`` when ``text`` quotes an SMTP reply."""
    m = re.search(r"\b[245]\d\d[ -].*", text, re.S)
    flat = " ".join(text.split())
    if m:
        return "smtp; " + " ".join(m.group(0).split())
    return "X-Quicksilver; " + flat


def header_section(message: bytes) -> bytes:
    """The original message's header section (up to its first empty line,
    RFC 5322 2.1), CRLF line ends."""
    head = mailtext.split_header(message)[0]
    lines = head.replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n")
    return b"".join(ln + b"\r\n" for ln in lines)


def _date(ts: float) -> str:
    return email.utils.formatdate(ts, localtime=True)


def _addr_type(address: str) -> str:
    # RFC 6533 3: "utf-8" for internationalized addresses, else rfc822.
    return "rfc822" if address.isascii() else "utf-8"


def build_dsn(
    *,
    reporting_mta: str,
    sender: str,
    job_id: str,
    arrival: float,
    recipients: Sequence[DsnRecipient],
    original: bytes,
    now: float | None = None,
) -> bytes:
    """Render a DSN for ``sender`` about ``recipients`` of one job."""
    now = time.time() if now is None else now
    mta = reporting_mta or "localhost"
    delayed = all(r.action == DELAYED for r in recipients)
    boundary = f"=_qs-dsn-{secrets.token_hex(12)}"
    if delayed:
        subject = "Delayed Mail (still being retried)"
        intro = (
            "This is the mail system at host {mta}.\r\n\r\n"
            "Your message could not be delivered yet. It is still in the queue\r\n"
            "and will be retried; you do not need to send it again.\r\n"
        )
    else:
        subject = "Undelivered Mail Returned to Sender"
        intro = (
            "This is the mail system at host {mta}.\r\n\r\n"
            "Your message could not be delivered to one or more recipients.\r\n"
            "It is attached below (headers only).\r\n"
        )
    human = intro.format(mta=mta)
    for r in recipients:
        human += f"\r\n<{r.address}>: {r.diagnostic}\r\n"
        if r.action == DELAYED and r.will_retry_until:
            human += f"    (will keep trying until {_date(r.will_retry_until)})\r\n"

    per_message = (
        f"Reporting-MTA: dns; {mta}\r\n"
        f"X-Quicksilver-Queue-ID: {job_id}\r\n"
        f"Arrival-Date: {_date(arrival)}\r\n"
    )
    blocks = []
    for r in recipients:
        b = (
            f"Final-Recipient: {_addr_type(r.address)}; {r.address}\r\n"
            f"Action: {r.action}\r\n"
            f"Status: {r.status}\r\n"
        )
        if r.remote_mta:
            b += f"Remote-MTA: dns; {r.remote_mta}\r\n"
        b += f"Diagnostic-Code: {diagnostic_code(r.diagnostic)}\r\n"
        if r.last_attempt:
            b += f"Last-Attempt-Date: {_date(r.last_attempt)}\r\n"
        if r.action == DELAYED and r.will_retry_until:
            b += f"Will-Retry-Until: {_date(r.will_retry_until)}\r\n"
        blocks.append(b)
    status_part = per_message + "\r\n" + "\r\n".join(blocks)

    to = f"<{sender}>"
    head = (
        f"From: Mail Delivery System <MAILER-DAEMON@{mta}>\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {_date(now)}\r\n"
        f"Message-ID: <{job_id}.{secrets.token_hex(4)}.dsn@{mta}>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        f'\tboundary="{boundary}"\r\n'
        "\r\n"
        "This is a MIME-encapsulated message.\r\n"
        "\r\n"
    )
    charset = "us-ascii" if (human + status_part).isascii() else "utf-8"
    parts = [
        f"--{boundary}\r\n"
        f"Content-Type: text/plain; charset={charset}\r\n"
        "Content-Description: Notification\r\n"
        "\r\n" + human + "\r\n",
        f"--{boundary}\r\n"
        "Content-Type: message/delivery-status\r\n"
        "Content-Description: Delivery report\r\n"
        "\r\n" + status_part + "\r\n",
    ]
    out = (head + "".join(parts)).encode("utf-8")
    out += (
        f"--{boundary}\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "Content-Description: Undelivered message headers\r\n"
        "\r\n"
    ).encode()
    out += header_section(original)
    out += f"\r\n--{boundary}--\r\n".encode()
    return out
