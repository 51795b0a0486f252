"""The "Send test message" tool: one message through our own SMTP module.

What it does
- ``send_test_message(host, port, message)`` speaks SMTP (RFC 5321 3.3: EHLO,
  MAIL, RCPT, DATA) to a listening ``smtp`` module on loopback with
  aiosmtplib, on the caller's loop, and returns the server's reply to DATA, so
  the person sees exactly what a mail client would see. The message goes the
  way every client's does: the module's checks, then durable acceptance, then
  the queue or the mailbox.
- ``TestMessage`` is what the person filled in; ``check_test_message`` refuses
  what would not make a sane message (a bad address, a line break in a header,
  a body over ``MAX_BODY_CHARS``) before anything connects.

Who calls it: ``CoreApi.send_test_message`` (the window) with the running
module's endpoint, and ``quicksilver-server test-message`` with the endpoint
from the settings (the server may run in another process).

What it does not do: TLS or AUTH (the ``smtp`` module takes mail for local
domains without them, RFC 5321 on port 25), retries. A refusal or a failed
connection raises ``TestMessageFailed`` with words for a person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from server.errors import ValidationError

# A test message is a few lines a person typed; this bounds what we build on
# the core loop (and keeps far under any SMTP size limit).
MAX_BODY_CHARS = 256 * 1024
# RFC 5321 4.5.3.1.3: a path is at most 256 octets including the brackets.
MAX_ADDRESS_CHARS = 254
# RFC 5321 4.5.3.2 allows minutes per command; our own server on loopback
# answers at once, so a stall means something is wrong: say so soon.
SEND_TIMEOUT_S = 30.0
HELO_NAME = "quicksilver-test"


@dataclass(frozen=True)
class TestMessage:
    """What the person asked to send."""

    __test__ = False  # not a pytest test class

    sender: str
    recipient: str
    subject: str = "Quicksilver test message"
    body: str = "This is a test message sent by Quicksilver.\n"


@dataclass(frozen=True)
class TestMessageSent:
    """The message was accepted: ``reply`` is the server's answer to DATA
    (``250 ...``), sent by ``host``:``port``."""

    __test__ = False  # not a pytest test class

    reply: str
    host: str
    port: int


class TestMessageFailed(ValidationError):
    """The message was not accepted; the text says why, in words for a person
    (a refused address, the module not running, no connection)."""

    __test__ = False  # not a pytest test class


def default_test_sender(hostname: str, users: Iterable[str] = ()) -> str:
    """The sender a test message gets unless the person names one: the
    first local user (an address the server knows), else one at the host."""
    local = sorted(users)
    if local:
        return local[0]
    return f"{HELO_NAME}@{hostname or 'localhost'}"


def connect_host(host: str) -> str:
    """Where to connect for a listener bound to ``host`` (wildcards -> loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _check_address(text: str, what: str, field: str) -> None:
    local, at, domain = text.rpartition("@")
    if not (at and local and domain) or len(text) > MAX_ADDRESS_CHARS:
        raise ValidationError(
            f"The {what} {text!r} is not a mail address (name@domain).", field=field
        )
    if any(c.isspace() or c in "<>" for c in text):
        raise ValidationError(
            f"The {what} {text!r} may not contain spaces or angle brackets.",
            field=field,
        )


def check_test_message(msg: TestMessage) -> None:
    """Raise ``ValidationError`` for what would not make a sane message."""
    _check_address(msg.sender, "sender", "sender")
    _check_address(msg.recipient, "recipient", "recipient")
    if "\r" in msg.subject or "\n" in msg.subject:
        raise ValidationError("The subject must be one line.", field="subject")
    if len(msg.body) > MAX_BODY_CHARS:
        raise ValidationError(
            f"The body is longer than {MAX_BODY_CHARS // 1024} KiB characters; "
            "a test message needs only a few lines.",
            field="body",
        )


def build_test_message(msg: TestMessage) -> bytes:
    """The RFC 5322 message: From, To, Subject, Date, Message-ID and the body."""
    check_test_message(msg)
    email = EmailMessage()
    email["From"] = msg.sender
    email["To"] = msg.recipient
    email["Subject"] = msg.subject
    email["Date"] = formatdate(localtime=True)
    email["Message-ID"] = make_msgid(domain=msg.sender.rpartition("@")[2] or None)
    email.set_content(msg.body or "\n")
    return email.as_bytes()


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {' '.join(exc.message.split())}"


async def send_test_message(
    host: str, port: int, msg: TestMessage, *, timeout: float = SEND_TIMEOUT_S
) -> TestMessageSent:
    """Send ``msg`` to the SMTP listener at ``host``:``port`` and return the
    reply to DATA; raise ``TestMessageFailed`` when it is not accepted."""
    data = build_test_message(msg)
    where = connect_host(host)
    client = aiosmtplib.SMTP(
        hostname=where,
        port=port,
        local_hostname=HELO_NAME,
        timeout=timeout,
        use_tls=False,
        start_tls=False,  # our own module on loopback; no certificate to check
    )
    try:
        async with client:  # connect + EHLO, QUIT at the end
            try:
                await client.mail(msg.sender)
            except aiosmtplib.SMTPResponseException as exc:
                raise TestMessageFailed(f"MAIL FROM refused: {_reply(exc)}") from exc
            try:
                await client.rcpt(msg.recipient)
            except aiosmtplib.SMTPResponseException as exc:
                raise TestMessageFailed(f"RCPT TO refused: {_reply(exc)}") from exc
            try:
                response = await client.data(data)
            except aiosmtplib.SMTPResponseException as exc:
                raise TestMessageFailed(
                    f"The message was refused: {_reply(exc)}"
                ) from exc
    except TestMessageFailed:
        raise
    except (aiosmtplib.SMTPException, OSError) as exc:  # TimeoutError: OSError
        raise TestMessageFailed(
            f"Could not send through {where}:{port}: {exc or type(exc).__name__}"
        ) from exc
    text = " ".join(response.message.split())
    return TestMessageSent(f"{response.code} {text}", where, port)
