"""Capture mode, for developers (Mailpit's job inside a real server).

While ``capture.enabled`` is on:
- ``smtp`` and ``submission`` take mail for any address (submission takes
  any AUTH, or none), and run no spam, HELO or relay checks: the client is
  the developer's own application;
- nothing is delivered: every accepted message goes once into the capture
  mailbox (``CaptureSink``), and the queue sends nothing out (its remote
  route is paused, so mail the core makes itself waits, held);
- the capture mailbox is an ordinary user, ``capture.mailbox`` @ the primary
  domain, made when capture mode is first turned on with a generated
  password kept in the secrets store (keyring, or the 0600 file) so the
  window and ``quicksilver-server capture password`` can show it: IMAP and
  POP3 serve it as any mailbox;
- every protocol greeting says so (``server.greeting.CAPTURE_NOTE``).

Each captured message starts with fields of ours that keep its envelope:
``Return-Path`` and one ``X-Original-To`` per recipient, as Postfix writes
them, above our ``Received`` field; ``envelope`` reads them back (only the
ones above the first other field, so a message cannot forge them).

The parsing here is pure and bounded (``MAX_PARTS`` parts, ``MAX_SHOWN``
characters of text or HTML, ``MAX_IMAGES`` bytes of inline images); callers
run it off the loop.
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.policy
import logging
import secrets
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from server.accounts.base import AccountStore
from server.config.schema import Settings
from server.delivery.base import Accepted, Envelope
from server.errors import MailError, TemporaryError
from server.mailtext import header_fields, split_header
from server.queue.spool import new_job_id
from server.storage.base import MailStore

log = logging.getLogger("quicksilver.capture")

SECRET_KEY = "capture-password"
MAX_PARTS = 500  # MIME parts looked at per message
MAX_SHOWN = 2 * 1024 * 1024  # characters of text or HTML handed to the viewer
MAX_IMAGES = 8 * 1024 * 1024  # bytes of inline (cid:) images per message
MAX_SOURCE = 2 * 1024 * 1024  # bytes of raw source shown
HEADER_LIMIT = 64 * 1024
ENVELOPE_FIELDS = ("return-path", "x-original-to")


def mailbox_address(settings: Settings, accounts: AccountStore) -> str:
    domain = accounts.primary_domain() or settings.general.domain or "localhost"
    return f"{settings.capture.mailbox}@{domain}".lower()


def new_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20))


def envelope_fields(sender: str, recipients: tuple[str, ...]) -> bytes:
    lines = [f"Return-Path: <{sender}>\r\n"]
    lines += [f"X-Original-To: {r}\r\n" for r in recipients]
    return "".join(lines).encode("utf-8", "replace")


class CaptureSink:
    """The ``DeliveryTarget`` of smtp and submission in capture mode: the
    message, once, into the capture mailbox (the store writes, fsyncs and
    renames before this returns)."""

    def __init__(
        self,
        store: MailStore,
        accounts: AccountStore,
        settings: Callable[[], Settings],
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.settings = settings

    async def accept(
        self,
        envelope: Envelope,
        message: bytes,
        *,
        job_id: str | None = None,
        created: float | None = None,
    ) -> Accepted:
        owner = mailbox_address(self.settings(), self.accounts)
        if self.accounts.get_user(owner) is None:
            raise TemporaryError("The capture mailbox is not ready; try again later")
        data = envelope_fields(envelope.sender, envelope.recipients) + message
        try:
            info = await self.store.deliver(owner, data, internal_date=created)
        except MailError:
            raise
        except OSError as exc:
            log.error("capture: could not store a message: %s", exc)
            raise TemporaryError(
                "Cannot store the message now; try again later"
            ) from None
        ident = job_id or new_job_id()
        log.info("captured %s as UID %d (%d bytes)", ident, info.uid, len(data))
        return Accepted(ident, local_delivered=(owner,))


# -- reading captured mail (pure) ------------------------------------------------


@dataclass(frozen=True)
class CapturedRow:
    uid: int
    received: float  # the internal date
    size: int
    sender: str  # the envelope's
    recipients: tuple[str, ...]  # the envelope's
    from_: str  # the From field, decoded
    to: str  # the To field, decoded
    subject: str
    attachments: tuple[str, ...]  # file names


@dataclass(frozen=True)
class AttachmentInfo:
    index: int  # the part's number in walk order (``attachment`` takes it)
    filename: str
    content_type: str
    size: int  # decoded bytes


@dataclass(frozen=True)
class CapturedMessage:
    row: CapturedRow
    header: str
    text: str  # the first text/plain part ("" none), up to MAX_SHOWN
    html: str  # the first text/html part ("" none), up to MAX_SHOWN
    source: str  # up to MAX_SOURCE bytes, decoded
    truncated: bool  # the source was cut
    attachments: tuple[AttachmentInfo, ...]
    images: tuple[tuple[str, bytes], ...]  # (Content-ID, bytes) for cid: links


@dataclass(frozen=True)
class AttachmentData:
    filename: str
    content_type: str
    data: bytes


def envelope(raw: bytes) -> tuple[str, tuple[str, ...]]:
    """The envelope sender and recipients our fields on top of ``raw`` name."""
    sender = ""
    recipients: list[str] = []
    for name, value in header_fields(raw[:HEADER_LIMIT]):
        if name not in ENVELOPE_FIELDS:
            break
        if name == "return-path":
            sender = value.strip().removeprefix("<").removesuffix(">")
        else:
            recipients.append(value.strip())
    return sender, tuple(recipients)


def without_envelope(raw: bytes) -> bytes:
    """``raw`` without our envelope fields on top (the message as sent)."""
    pos = 0
    while True:
        line_end = raw.find(b"\n", pos)
        if line_end < 0:
            return raw[pos:]
        colon = raw.find(b":", pos, line_end)
        name = raw[pos:colon].strip().lower() if colon > 0 else b""
        if name.decode("ascii", "replace") not in ENVELOPE_FIELDS:
            return raw[pos:]
        pos = line_end + 1


def _decoded(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:  # any malformed encoded word: shown as written
        return value


def _parse(raw: bytes) -> email.message.Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def _parts(msg: email.message.Message) -> Iterator[tuple[int, email.message.Message]]:
    for index, part in enumerate(msg.walk()):
        if index >= MAX_PARTS:
            return
        yield index, part


def _filename(part: email.message.Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    return _decoded(name)[:200]


def _is_attachment(part: email.message.Message) -> bool:
    if part.is_multipart():
        return False
    disposition = (part.get_content_disposition() or "").lower()
    return disposition == "attachment" or (
        bool(_filename(part)) and not part.get_content_type().startswith("text/")
    )


def _payload(part: email.message.Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        return b""
    return data if isinstance(data, bytes) else b""


def _text_of(part: email.message.Message) -> str:
    data = _payload(part)[: MAX_SHOWN * 4]
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, "replace")
    except LookupError:  # an unknown charset name
        text = data.decode("utf-8", "replace")
    return text[:MAX_SHOWN]


def summarize(uid: int, received: float, size: int, raw: bytes) -> CapturedRow:
    sender, recipients = envelope(raw)
    fields = header_fields(raw[:HEADER_LIMIT])
    first: dict[str, str] = {}
    for name, value in fields:
        first.setdefault(name, value)
    msg = _parse(raw)
    names = tuple(
        _filename(p) or p.get_content_type()
        for _, p in _parts(msg)
        if _is_attachment(p)
    )
    return CapturedRow(
        uid,
        received,
        size,
        sender,
        recipients,
        _decoded(first.get("from", "")),
        _decoded(first.get("to", "")),
        _decoded(first.get("subject", "")),
        names,
    )


def render(row: CapturedRow, raw: bytes) -> CapturedMessage:
    """What the viewer shows: the header, the first plain and HTML parts,
    the source, the attachments and the inline images HTML may show."""
    msg = _parse(raw)
    text = html = ""
    attachments: list[AttachmentInfo] = []
    images: list[tuple[str, bytes]] = []
    image_bytes = 0
    for index, part in _parts(msg):
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if _is_attachment(part):
            attachments.append(
                AttachmentInfo(index, _filename(part), ctype, len(_payload(part)))
            )
        elif ctype == "text/plain" and not text:
            text = _text_of(part)
        elif ctype == "text/html" and not html:
            html = _text_of(part)
        cid = (part.get("Content-ID") or "").strip().strip("<>")
        if cid and ctype.startswith("image/"):
            data = _payload(part)
            if image_bytes + len(data) <= MAX_IMAGES:
                images.append((cid, data))
                image_bytes += len(data)
    head, _ = split_header(raw[:HEADER_LIMIT])
    return CapturedMessage(
        row,
        head.decode("utf-8", "replace"),
        text,
        html,
        raw[:MAX_SOURCE].decode("utf-8", "replace"),
        len(raw) > MAX_SOURCE,
        tuple(attachments),
        tuple(images),
    )


def attachment(raw: bytes, index: int) -> AttachmentData | None:
    for i, part in _parts(_parse(raw)):
        if i == index and _is_attachment(part):
            return AttachmentData(
                _filename(part) or f"part-{index}",
                part.get_content_type(),
                _payload(part),
            )
    return None
