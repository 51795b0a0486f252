"""The message and envelope a script looks at.

``MessageView`` is built once per delivery from the message's bytes and is
read-only: the interpreter keeps its own copy of the header list when a script
edits headers (RFC 5293), so one view can serve several recipients' scripts.

What each test sees (RFC 5228 section 5; Pigeonhole reads them the same way):

- ``header``: the field's value unfolded (RFC 5322 section 2.2.3: each CRLF
  before white space removed, a folding tab read as a space), leading and
  trailing white space removed, RFC 2047 encoded words decoded (section 2.7.2
  of RFC 5228 requires it); octets that are not UTF-8 become U+FFFD.
- ``address``: the same unfolded value without RFC 2047 decoding (display names
  do not matter, and an encoded word is not an address).
- ``size``: the message's length in octets as it arrived.
- ``body`` (RFC 5173): parsed lazily, only when a script asks, and never more
  than ``MAX_BODY_TEXT`` characters per part (see ``body_texts``).

The header block is read up to the first empty line; at most ``MAX_HEADER_FIELDS``
fields are kept (a message with more is absurd, and tests stay linear).

The envelope (RFC 5228 section 5.4): ``mail_from`` ("" for the null reverse
path), ``rcpt_to`` (the final recipient, whose script runs), ``orig_rcpt`` (the
address the sender used before aliases, RFC 3461's ORCPT; defaults to
``rcpt_to``) and ``auth`` (the authenticated submitter, if any).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email.parser
import email.policy
import html
import quopri
import re
from dataclasses import dataclass, field
from email.message import Message

# Header fields kept from one message (tests loop over them).
MAX_HEADER_FIELDS = 1000
# Decoded text per body part the body test searches (RFC 5173 gives no limit;
# Pigeonhole has none, but a test over 100 MiB of text would hold a worker for
# seconds). Beyond it the part is cut: a key past the first 1 MiB is not found.
MAX_BODY_TEXT = 1024 * 1024
# MIME parts the body test visits (nested attachments included).
MAX_BODY_PARTS = 200
# The body test parses at most this much of a message (about 0.5 s of a worker
# thread); parts beyond it are not seen.
MAX_BODY_PARSE = 16 * 1024 * 1024

_ENCODED_WORD = re.compile(
    r"=\?([^?\s]+)\?([qQbB])\?([^?\s]*)\?=",
)
_BETWEEN_WORDS = re.compile(r"[ \t\r\n]+")
_SPACES = re.compile(r"[ \t\r\n]+")


@dataclass(frozen=True, slots=True)
class Envelope:
    """The SMTP envelope of one delivery (addresses without angle brackets)."""

    mail_from: str
    rcpt_to: str
    orig_rcpt: str | None = None
    auth: str | None = None

    @property
    def original_recipient(self) -> str:
        return self.orig_rcpt if self.orig_rcpt is not None else self.rcpt_to


def _to_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _charset_decode(data: bytes, charset: str) -> str:
    name = charset.split("*", 1)[0].strip().lower()
    try:
        codecs.lookup(name)
    except LookupError:
        return _to_text(data)
    try:
        return data.decode(name, "replace")
    except (LookupError, ValueError):
        return _to_text(data)


def _decode_word(charset: str, encoding: str, text: str) -> str | None:
    raw = text.encode("ascii", "replace")
    if encoding in "qQ":
        data = quopri.decodestring(raw.replace(b"_", b" "), header=True)
    else:
        try:
            data = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
    return _charset_decode(data, charset)


def decode_rfc2047(value: str) -> str:
    """Decode RFC 2047 encoded words, leniently (as Dovecot does): white space
    between two encoded words is dropped (RFC 2047 section 6.2), a word that
    touches other text is decoded too, an unknown charset keeps the octets."""
    if "=?" not in value:
        return value
    out: list[str] = []
    pos = 0
    last_was_word = False
    for m in _ENCODED_WORD.finditer(value):
        between = value[pos : m.start()]
        decoded = _decode_word(m.group(1), m.group(2), m.group(3))
        if decoded is None:
            continue
        if not (last_was_word and _BETWEEN_WORDS.fullmatch(between)):
            out.append(between)
        out.append(decoded)
        pos = m.end()
        last_was_word = True
    out.append(value[pos:])
    return "".join(out)


def encode_header_value(value: str) -> str:
    """A header value ready to write: line ends become spaces, and a value
    that is not ASCII becomes RFC 2047 "B" encoded words (UTF-8), folded."""
    value = value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    if value.isascii():
        return value
    words: list[str] = []
    chunk = ""
    for ch in value:
        if len((chunk + ch).encode("utf-8")) > 45:
            words.append(chunk)
            chunk = ""
        chunk += ch
    if chunk:
        words.append(chunk)
    return "\r\n ".join(
        "=?utf-8?b?" + base64.b64encode(w.encode("utf-8")).decode("ascii") + "?="
        for w in words
    )


def unfold(raw_value: str) -> str:
    """Unfold a field body (RFC 5322 section 2.2.3) and trim it."""
    v = raw_value.lstrip(" \t")
    if "\n" in v:
        v = re.sub(r"\r?\n[ \t]", lambda m: m.group(0)[-1].replace("\t", " "), v)
        v = v.replace("\r\n", "").replace("\n", "")
    return v.rstrip(" \t\r\n")


@dataclass(frozen=True, slots=True)
class HeaderField:
    """One header field: its name as written and its raw (folded) value.

    ``key`` (the name in lower case) is computed once, ``unfolded`` and
    ``decoded`` on first use: a script of many rules reads the same fields
    again and again.
    """

    name: str
    raw_value: str
    key: str = field(init=False, repr=False, compare=False)
    _unfolded: str | None = field(init=False, default=None, repr=False, compare=False)
    _decoded: str | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self.name.lower())

    @property
    def unfolded(self) -> str:
        if self._unfolded is None:
            object.__setattr__(self, "_unfolded", unfold(self.raw_value))
        assert self._unfolded is not None
        return self._unfolded

    @property
    def decoded(self) -> str:
        if self._decoded is None:
            object.__setattr__(self, "_decoded", decode_rfc2047(self.unfolded))
        assert self._decoded is not None
        return self._decoded


# RFC 5322 section 2.2: a field name is printable US-ASCII but the colon
# (the colon cannot occur here: the name ends at the first one).
_FIELD_NAME = re.compile(rb"[\x21-\x7e]+")


def parse_header_block(raw: bytes) -> tuple[tuple[HeaderField, ...], int]:
    """The header fields and the offset where the body starts.

    A line that is neither a field nor a continuation (an mbox ``From `` line,
    junk) is skipped, as Dovecot does.
    """
    fields: list[HeaderField] = []
    pos = 0
    n = len(raw)
    name: str | None = None
    parts: list[bytes] = []

    def flush() -> None:
        if name is not None and len(fields) < MAX_HEADER_FIELDS:
            fields.append(HeaderField(name, _to_text(b"".join(parts))))

    while pos < n:
        end = raw.find(b"\n", pos)
        line_end = n if end < 0 else end + 1
        line = raw[pos:line_end]
        pos = line_end
        if line in (b"\r\n", b"\n"):
            break
        content = line.rstrip(b"\r\n")
        if line[:1] in (b" ", b"\t"):
            if name is not None:
                # Keep the line end: unfolding happens when a test reads it.
                parts.append(b"\r\n" + content)
            continue
        flush()
        name = None
        parts = []
        colon = content.find(b":")
        head = content[:colon].rstrip(b" \t") if colon > 0 else b""
        if head and _FIELD_NAME.fullmatch(head):
            name = head.decode("ascii")
            parts = [content[colon + 1 :]]
    flush()
    return tuple(fields), pos


def _strip_tags(markup: str) -> str:
    """Markup without its tags, in one pass (a regex like ``<[^>]*>`` takes
    quadratic time on a text full of '<' without '>')."""
    out: list[str] = []
    pos = 0
    while True:
        start = markup.find("<", pos)
        if start < 0:
            out.append(markup[pos:])
            break
        end = markup.find(">", start + 1)
        if end < 0:
            out.append(markup[pos:])  # no tag closes: the rest is text
            break
        out.append(markup[pos:start])
        out.append(" ")
        pos = end + 1
    return "".join(out)


def _html_to_text(markup: str) -> str:
    return _SPACES.sub(" ", html.unescape(_strip_tags(markup))).strip()


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    payload = payload[: MAX_BODY_TEXT * 4]
    charset = part.get_content_charset() or "us-ascii"
    if part.get_content_maintype() != "text":
        text = _to_text(payload)
    else:
        text = _charset_decode(payload, charset)
    return text[:MAX_BODY_TEXT]


def _type_matches(ctype: str, wanted: str) -> bool:
    """RFC 5173 section 5.2: "" matches every type, a bare type its subtypes."""
    if wanted == "":
        return True
    w = wanted.lower()
    if "/" in w:
        return ctype == w
    return ctype.split("/", 1)[0] == w


@dataclass(slots=True)
class _BodyCache:
    parsed: Message | None = None
    texts: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)


class MessageView:
    """A delivered message, read-only, with its parts computed on demand."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.headers, self.body_offset = parse_header_block(raw)
        self._body = _BodyCache()

    @property
    def size(self) -> int:
        return len(self.raw)

    def raw_body(self) -> str:
        """The body as it arrived (RFC 5173 ``:raw``), cut at ``MAX_BODY_TEXT``."""
        return _to_text(self.raw[self.body_offset : self.body_offset + MAX_BODY_TEXT])

    def _parsed(self) -> Message:
        if self._body.parsed is None:
            parser = email.parser.BytesParser(policy=email.policy.compat32)
            self._body.parsed = parser.parsebytes(self.raw[:MAX_BODY_PARSE])
        return self._body.parsed

    def body_texts(self, content_types: tuple[str, ...] | None) -> tuple[str, ...]:
        """The decoded texts the body test compares (RFC 5173 section 5).

        ``None`` is ``:text``: every text part, HTML reduced to its text (tags
        removed, entities decoded, white space collapsed). A tuple is
        ``:content``: the parts whose type matches one of the types; a
        multipart matches with its preamble and epilogue, a message/rfc822 with
        its header block; leaf parts are decoded from their transfer encoding
        and charset.
        """
        key = ("\x00text",) if content_types is None else content_types
        cached = self._body.texts.get(key)
        if cached is not None:
            return cached
        out: list[str] = []
        visited = 0

        def walk(part: Message) -> None:
            nonlocal visited
            visited += 1
            if visited > MAX_BODY_PARTS:
                return
            ctype = part.get_content_type()
            if part.is_multipart():
                if content_types is not None and any(
                    _type_matches(ctype, w) for w in content_types
                ):
                    for extra in (part.preamble, part.epilogue):
                        if extra:
                            out.append(extra[:MAX_BODY_TEXT])
                payload = part.get_payload()
                if ctype == "message/rfc822" and isinstance(payload, list) and payload:
                    inner = payload[0]
                    if isinstance(inner, Message):
                        if content_types is not None and any(
                            _type_matches(ctype, w) for w in content_types
                        ):
                            out.append(
                                "".join(f"{k}: {v}\r\n" for k, v in inner.items())[
                                    :MAX_BODY_TEXT
                                ]
                            )
                        walk(inner)
                    return
                if isinstance(payload, list):
                    for sub in payload:
                        if isinstance(sub, Message):
                            walk(sub)
                return
            if content_types is None:
                if ctype == "text/plain":
                    out.append(_part_text(part))
                elif ctype == "text/html":
                    out.append(_html_to_text(_part_text(part)))
                return
            if any(_type_matches(ctype, w) for w in content_types):
                out.append(_part_text(part))

        walk(self._parsed())
        result = tuple(out)
        self._body.texts[key] = result
        return result
