"""MIME structure for FETCH (RFC 3501 sections 6.4.5 and 7.4.2). Pure functions
over the message bytes (CRLF line ends, as ``MailStore.read_message`` gives).

- ``parse(raw)`` builds a tree of ``Part`` objects. A part holds offsets into
  the one message buffer, never a copy of its bytes: a body nested 40 deep
  would otherwise be copied 40 times (RFC 2045/2046 boundaries, nested
  multiparts, message/rfc822).
- ``envelope``, ``bodystructure`` render the FETCH ENVELOPE / BODY /
  BODYSTRUCTURE values (extension data included for BODYSTRUCTURE).
- ``section`` extracts BODY[section] bytes: part numbers, HEADER,
  HEADER.FIELDS(.NOT), TEXT, MIME; ``partial`` applies <origin.count>.
- ``header_text`` / ``body_text`` / ``sent_date`` serve SEARCH.

Limits, so that a hostile message costs a bounded amount of work and answer
(one 24 MB message with 2.4 million empty parts made BODYSTRUCTURE answer
178 MB; the same caps apply to BODYSTRUCTURE, BODY[section] and SEARCH, which
all walk the tree ``parse`` builds):

- ``MAX_DEPTH`` nested multiparts / message/rfc822 parts and ``MAX_PARTS``
  parts in all. Dovecot's message parser has the same two caps
  (lib-mail/message-parser.h: 100 nested, 10,000 in total). We take Dovecot's
  total and a smaller depth: our parser scans a body once per level of nesting,
  so the depth multiplies the work (40 levels of a 25 MB message is 1 GB of
  scanning), and real mail (a forward of a forward of a digest) stays well
  under ten levels. Beyond a cap the rest is served as one opaque part, as
  Dovecot does: a part too deep is a leaf; when the part budget is spent,
  the rest of each open multipart becomes its last child. An opaque part keeps
  its own type unless that type promises structure (multipart/*,
  message/rfc822); then it is text/plain, so every answer stays within the
  RFC 3501 grammar and every byte of the message still belongs to some part.
- ``MAX_HEADER_PARSE``: fields are read from the first 1 MiB of a header block
  (RFC 5322 lines are at most 998 octets; a bigger header is hostile).
  BODY[HEADER] still returns the whole block.
- Work on large buffers goes in slices of ``SLICE`` octets (base64 decoding,
  line ends, header filtering): the caller runs us in a worker thread, and one
  C call over 50 MB would hold the interpreter lock, and so the core loop, for
  a tenth of a second.

Strings in ENVELOPE and BODYSTRUCTURE are the raw header text (RFC 2047
encoded words are not decoded: the RFC leaves that to the client). Malformed
input never raises: a part that cannot be understood is treated as text/plain.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email.header
import email.utils
import quopri
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from server.bytesutil import slice_of
from server.mailtext import SLICE, count_octet, header_end, split_header
from server.mailtext import find as _find

from . import responses as R

MAX_DEPTH = 40  # nested multipart / message levels; deeper is one opaque part
MAX_PARTS = 10_000  # parts in one message (Dovecot's max_total_mime_parts)
MAX_HEADER_PARSE = 1024 * 1024  # header octets read into fields, per part

_LINE_END = re.compile(rb"[ \t]*(?=\r?\n|\Z)")
MAX_DELIMITER_LINE = 1000  # RFC 5322 2.1.1: a line is at most 998 octets


def _line_ends(raw: bytes, pos: int, end: int) -> int | None:
    """If only blanks follow ``pos`` to the end of its line, where the line
    ends (before CRLF); else None. A delimiter line longer than any line
    may be (RFC 5322) is not one, and is not scanned to its end."""
    limit = min(end, pos + MAX_DELIMITER_LINE)
    m = _LINE_END.match(raw, pos, limit)
    if m is None or (m.end() == limit and limit < end):
        return None
    return m.end()


@dataclass(eq=False)
class Part:
    """One MIME entity: ``raw[start:body_start]`` is its header block (with
    the blank line that ends it), ``raw[body_start:end]`` its body."""

    raw: bytes
    start: int
    body_start: int
    end: int
    fields: Sequence[tuple[str, str]]  # (lower-case name, unfolded value)
    maintype: str = "text"
    subtype: str = "plain"
    params: list[tuple[str, str]] = field(default_factory=list)
    children: list[Part] = field(default_factory=list)
    message: Part | None = None  # the message inside a message/rfc822 part

    @classmethod
    def header_only(cls, header: bytes, fields: Sequence[tuple[str, str]]) -> Part:
        return cls(header, 0, len(header), len(header), fields)

    @property
    def header(self) -> bytes:
        return slice_of(self.raw, self.start, self.body_start)

    @property
    def body(self) -> bytes:
        return slice_of(self.raw, self.body_start, self.end)

    @property
    def body_size(self) -> int:
        return self.end - self.body_start

    def body_lines(self) -> int:
        """body-fld-lines: the line breaks in the body (as Dovecot and Cyrus
        count), counted in place."""
        return count_octet(self.raw, b"\n", self.body_start, self.end)

    def get(self, name: str) -> str | None:
        for k, v in self.fields:
            if k == name:
                return v
        return None

    @property
    def is_multipart(self) -> bool:
        return self.maintype.lower() == "multipart"

    @property
    def is_message(self) -> bool:
        return self.message is not None


def _header_end(raw: bytes, start: int, end: int) -> int:
    """Where the body of the entity in ``raw[start:end]`` begins (``end`` when
    it has no empty line: all header)."""
    cut = header_end(raw, start, end)
    return end if cut < 0 else cut


_FIELD_SPLIT = re.compile(r"\r?\n(?![ \t])")
_LINE_BREAK = re.compile(r"\r?\n")


def header_fields(header: bytes) -> list[tuple[str, str]]:
    """(lower-case name, unfolded value) of each field of a header block."""
    text = header[:MAX_HEADER_PARSE].decode("utf-8", "surrogateescape")
    out: list[tuple[str, str]] = []
    folded = "\n " in text or "\n\t" in text
    # unfolded: a split on LF leaves a CR at line ends, which strip() takes
    for line in _FIELD_SPLIT.split(text) if folded else text.split("\n"):
        name, sep, value = line.partition(":")
        if not sep or not name:
            continue
        name = name.strip()
        if not name or " " in name:
            continue
        if folded and "\n" in value:
            value = _LINE_BREAK.sub("", value)
        out.append((name.lower(), value.strip()))
    return out


def _split_params(value: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    esc = False
    depth = 0
    for ch in value:
        if esc:
            cur.append(ch)
            esc = False
            continue
        if quoted:
            if ch == "\\":
                esc = True
            elif ch == '"':
                quoted = False
            cur.append(ch)
            continue
        if ch == '"':
            quoted = True
            cur.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth:
            continue
        elif ch == ";":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [x.strip() for x in out]


def _unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return re.sub(r"\\(.)", r"\1", v[1:-1])
    return v


def parse_params(value: str) -> tuple[str, list[tuple[str, str]]]:
    """``type/subtype; a=b`` -> ("type/subtype", [(a, b)])."""
    pieces = _split_params(value)
    params = []
    for p in pieces[1:]:
        k, sep, v = p.partition("=")
        if sep and k.strip():
            params.append((k.strip(), _unquote(v)))
    return pieces[0].strip(), params


def _param(params: list[tuple[str, str]], name: str) -> str | None:
    for k, v in params:
        if k.lower() == name:
            return v
    return None


class _Budget:
    """Parts still allowed in this message (MAX_PARTS)."""

    def __init__(self, parts: int) -> None:
        self.left = parts


def parse(raw: bytes, default: str = "text/plain") -> Part:
    """The MIME tree of ``raw`` (see the module docstring for the caps)."""
    return _parse(raw, 0, len(raw), default, 0, _Budget(MAX_PARTS))


def _entity(raw: bytes, start: int, end: int, default: str) -> Part:
    """One entity's header, fields and content type; no children yet."""
    body_start = _header_end(raw, start, end)
    fields = header_fields(raw[start : min(body_start, start + MAX_HEADER_PARSE)])
    part = Part(raw, start, body_start, end, fields)
    ctype = part.get("content-type")
    mtype, params = parse_params(ctype) if ctype else (default, [])
    main, sep, sub = mtype.partition("/")
    if not sep or not main.strip() or not sub.strip() or " " in mtype:
        if ctype:
            main, sub = "text", "plain"
        else:
            main, _, sub = default.partition("/")
    part.maintype, part.subtype, part.params = main.strip(), sub.strip(), params
    return part


def _opaque(part: Part) -> Part:
    """Serve ``part`` as a leaf: its type stays unless it promises structure
    we did not parse (multipart/*, message/rfc822), then it is text/plain."""
    kind = (part.maintype.lower(), part.subtype.lower())
    if part.is_multipart or kind == ("message", "rfc822"):
        part.maintype, part.subtype = "text", "plain"
    return part


def _parse(
    raw: bytes, start: int, end: int, default: str, depth: int, budget: _Budget
) -> Part:
    budget.left -= 1
    part = _entity(raw, start, end, default)
    main, sub = part.maintype.lower(), part.subtype.lower()
    if depth >= MAX_DEPTH:
        return _opaque(part)
    if part.is_multipart:
        boundary = _param(part.params, "boundary")
        if not boundary:
            return part
        child_default = "message/rfc822" if sub == "digest" else "text/plain"
        dash = b"--" + boundary.encode("utf-8", "surrogateescape")
        for c_start, c_end in _chunks(raw, part.body_start, end, dash):
            if budget.left <= 0:
                # the part budget is spent: the rest of this multipart is one
                # opaque last child (up to the close delimiter, if any)
                close = _close_delimiter(raw, c_start, end, dash)
                rest = _entity(raw, c_start, max(c_start, close), child_default)
                part.children.append(_opaque(rest))
                break
            child = _parse(raw, c_start, c_end, child_default, depth + 1, budget)
            part.children.append(child)
    elif (main, sub) == ("message", "rfc822"):
        if budget.left <= 0:
            return _opaque(part)
        part.message = _parse(
            raw, part.body_start, end, "text/plain", depth + 1, budget
        )
    return part


def _delimiters(
    raw: bytes, start: int, end: int, dash: bytes
) -> Iterator[tuple[int, int, bool]]:
    """The delimiter lines of a multipart body ``raw[start:end]`` (RFC 2046
    5.1.1): ``--boundary`` or ``--boundary--`` at the start of the body or of
    a line, then only spaces or tabs to the end of the line. Yields (where the
    delimiter begins, including the CRLF before it that belongs to it; where
    its line ends, before the line break; is it the close delimiter)."""
    pos = start
    first = raw.startswith(dash, start, end)
    while True:
        if first:
            first = False
            lead = at = start
        else:
            j = _find(raw, b"\n" + dash, pos, end)
            if j < 0:
                return
            at = j + 1
            lead = j - 1 if j > start and raw[j - 1] == 0x0D else j
        k = at + len(dash)
        close = raw.startswith(b"--", k, end)
        line_end = _line_ends(raw, k + 2 if close else k, end)
        if line_end is None:
            pos = at  # "--boundaryX": not ours, look further
            continue
        yield lead, line_end, close
        pos = line_end


def _chunks(raw: bytes, start: int, end: int, dash: bytes) -> Iterator[tuple[int, int]]:
    """The (start, end) of each body part between delimiters; the preamble
    and the epilogue belong to none. Found lazily, so a capped multipart
    does not look for delimiters it will not use."""
    c_start: int | None = None
    for lead, line_end, close in _delimiters(raw, start, end, dash):
        if c_start is not None:
            yield c_start, max(c_start, lead)
        if close:
            return
        nl = raw.find(b"\n", line_end, end)
        c_start = end if nl < 0 else nl + 1
    if c_start is not None:
        yield c_start, end


def _close_delimiter(raw: bytes, start: int, end: int, dash: bytes) -> int:
    """Where the close delimiter after ``start`` begins (with the CRLF before
    it), else ``end``: a ``find`` for "--boundary--", not a walk over every
    delimiter in between."""
    close = dash + b"--"
    pos = start
    while (j := _find(raw, close, pos, end)) >= 0:
        pos = j + 1
        if j == start:
            lead = j
        elif raw[j - 1] == 0x0A:
            lead = j - 2 if j - 2 >= start and raw[j - 2] == 0x0D else j - 1
        else:
            continue
        if _line_ends(raw, j + len(close), end) is not None:
            return lead
    return end


def line_count(data: bytes) -> int:
    """body-fld-lines: the line breaks in the body (as Dovecot and Cyrus count)."""
    return data.count(b"\n")


# RFC 3501 body-type-mpart needs one body at least: an empty multipart shows
# one empty text/plain part.
_EMPTY_PART = parse(b"\r\n")


# -- ENVELOPE (RFC 3501 7.4.2) --------------------------------------------

_ADDR_TOKEN = re.compile(
    r'"(?:\\.|[^"\\])*"|\((?:\\.|[^()\\])*\)|[<>,:;@]|[^\s<>,:;@"(]+|\s+'
)


def parse_addresses(
    value: str,
) -> list[tuple[str | None, str | None, str | None, str | None]]:
    """Address list -> (name, adl, mailbox, host) tuples, RFC 3501 group style."""
    out: list[tuple[str | None, str | None, str | None, str | None]] = []
    phrase: list[str] = []
    angle: list[str] | None = None
    comment: str | None = None
    in_angle = False
    in_group = False

    def finish() -> None:
        nonlocal phrase, angle, comment
        if angle is not None:
            name = " ".join(phrase).strip() or comment or None
            out.append(_addr(name, "".join(angle)))
        elif phrase:
            # "a@b (Name)": the comment is the only name there is (as c-client)
            out.append(_addr(comment or None, "".join(phrase)))
        phrase, angle, comment = [], None, None

    for tok in _ADDR_TOKEN.findall(value):
        if tok.startswith("("):
            # A comment inside <...> is no name (RFC 5322 3.4; Dovecot gives NIL)
            if not in_angle:
                comment = tok[1:-1].strip() or comment
            continue
        if tok.isspace():
            continue
        if tok.startswith('"'):
            tok = re.sub(r"\\(.)", r"\1", tok[1:-1])
            if in_angle and angle is not None:
                angle.append(tok)
            else:
                phrase.append(tok)
            continue
        if in_angle:
            if tok == ">":
                in_angle = False
            elif angle is not None:
                angle.append(tok)
            continue
        if tok == "<":
            in_angle = True
            angle = []
        elif tok == ":" and not in_group and angle is None:
            out.append((None, None, " ".join(phrase) or "", None))
            phrase = []
            in_group = True
        elif tok == ";":
            finish()
            if in_group:
                out.append((None, None, None, None))
                in_group = False
        elif tok == ",":
            finish()
        else:
            phrase.append(tok)
    finish()
    if in_group:
        out.append((None, None, None, None))
    return out


def _addr(
    name: str | None, spec: str
) -> tuple[str | None, str | None, str | None, str | None]:
    adl = None
    if spec.startswith("@") and ":" in spec:
        adl, _, spec = spec.partition(":")
    local, at, host = spec.rpartition("@")
    if not at:  # host NIL would mean a group: say what is missing, as c-client
        return (name, adl, spec, "MISSING_DOMAIN")
    return (name, adl, local, host or "MISSING_DOMAIN")


def _address_list(value: str | None) -> bytes:
    if value is None:
        return b"NIL"
    addrs = parse_addresses(value)
    if not addrs:
        return b"NIL"
    return b"(" + b"".join(R.paren([R.string(x) for x in a]) for a in addrs) + b")"


def envelope(part: Part) -> bytes:
    g = part.get
    frm = g("from")
    sender = g("sender") or frm
    reply_to = g("reply-to") or frm
    items = [
        R.string(g("date")),
        R.string(g("subject")),
        _address_list(frm),
        _address_list(sender),
        _address_list(reply_to),
        _address_list(g("to")),
        _address_list(g("cc")),
        _address_list(g("bcc")),
        R.string(g("in-reply-to")),
        R.string(g("message-id")),
    ]
    return R.paren(items)


# -- BODY / BODYSTRUCTURE (RFC 3501 7.4.2) ----------------------------------


def _params_list(params: list[tuple[str, str]]) -> bytes:
    if not params:
        return b"NIL"
    return R.paren([R.string(x) for kv in params for x in kv])


def _disposition(part: Part) -> bytes:
    value = part.get("content-disposition")
    if not value:
        return b"NIL"
    kind, params = parse_params(value)
    if not kind:
        return b"NIL"
    return R.paren([R.string(kind), _params_list(params)])


def _language(part: Part) -> bytes:
    value = part.get("content-language")
    if not value:
        return b"NIL"
    langs = [x.strip() for x in value.split(",") if x.strip()]
    if len(langs) == 1:
        return R.string(langs[0])
    return R.paren([R.string(x) for x in langs]) if langs else b"NIL"


def bodystructure(part: Part, extended: bool = True) -> bytes:
    if part.is_multipart:
        children = part.children or [_EMPTY_PART]
        out = b"(" + b"".join(bodystructure(c, extended) for c in children)
        out += b" " + R.string(part.subtype)
        if extended:
            out += b" " + b" ".join(
                [
                    _params_list(part.params),
                    _disposition(part),
                    _language(part),
                    R.string(part.get("content-location")),
                ]
            )
        return out + b")"
    params = list(part.params)
    if part.maintype.lower() == "text" and _param(params, "charset") is None:
        params.append(("charset", "us-ascii"))
    items = [
        R.string(part.maintype),
        R.string(part.subtype),
        _params_list(params),
        R.string(part.get("content-id")),
        R.string(part.get("content-description")),
        R.string(part.get("content-transfer-encoding") or "7bit"),
        str(part.body_size).encode(),
    ]
    if part.message is not None:
        items.append(envelope(part.message))
        items.append(bodystructure(part.message, extended))
        items.append(str(part.body_lines()).encode())
    elif part.maintype.lower() == "text":
        items.append(str(part.body_lines()).encode())
    if extended:
        items += [
            R.string(part.get("content-md5")),
            _disposition(part),
            _language(part),
            R.string(part.get("content-location")),
        ]
    return R.paren(items)


# -- sections (RFC 3501 6.4.5) ------------------------------------------------


class NoSuchPart(Exception):
    pass


def _numbered(entity: Part) -> list[Part]:
    """What ``entity.N`` refers to."""
    if entity.is_multipart:
        return entity.children
    if entity.message is not None:
        inner = entity.message
        return inner.children if inner.is_multipart else [inner]
    return [entity]


def find_part(top: Part, path: tuple[int, ...]) -> Part:
    cur = top
    if not path:
        return cur
    if not top.is_multipart:
        # part 1 of a single-part message is its body
        if path[0] != 1:
            raise NoSuchPart
        path = path[1:]
        if not path:
            return top
        if top.message is None:
            raise NoSuchPart
    for i, n in enumerate(path):
        kids = cur.children if (cur is top and top.is_multipart) else _numbered(cur)
        if i == 0 and cur is top and not top.is_multipart:
            kids = _numbered(top)
        if not 1 <= n <= len(kids):
            raise NoSuchPart
        nxt = kids[n - 1]
        if nxt is cur:
            if i != len(path) - 1:
                raise NoSuchPart
            return cur
        cur = nxt
    return cur


def _slices(data: bytes, size: int = SLICE) -> Iterator[bytes]:
    """``data`` in pieces of about ``size`` octets, each ending after a line
    feed (so no CRLF is cut), for work that would otherwise be one long C
    call over all of it."""
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos + size)
        cut = len(data) if nl < 0 else nl + 1
        yield data[pos:cut]
        pos = cut


def filter_header(header: bytes, names: tuple[str, ...], exclude: bool) -> bytes:
    wanted = {n.lower() for n in names}
    out: list[bytes] = []
    keep = False
    for piece in _slices(header):
        for line in piece.splitlines(keepends=True):
            if line in (b"\r\n", b"\n"):
                return b"".join(out) + b"\r\n"
            if line[:1] in (b" ", b"\t"):
                if keep:
                    out.append(line)
                continue
            name = line.split(b":", 1)[0].strip().decode("ascii", "replace").lower()
            keep = (name in wanted) != exclude
            if keep:
                out.append(line)
    return b"".join(out) + b"\r\n"


def section(
    raw: bytes,
    top: Part | None,
    part: tuple[int, ...],
    text: str,
    fields: tuple[str, ...],
) -> bytes:
    """BODY[section] bytes; an unknown part gives b"" (as most servers do)."""
    if not part:
        if text == "":
            return raw
        header, body = split_header(raw)
        if text == "TEXT":
            return body
        if text == "HEADER":
            return header
        return filter_header(header, fields, text.endswith(".NOT"))
    if top is None:
        top = parse(raw)
    try:
        entity = find_part(top, part)
    except NoSuchPart:
        return b""
    if text == "":
        if entity is top:
            return top.body
        return entity.body
    if text == "MIME":
        return entity.header if entity is not top else top.header
    target = entity.message if entity.message is not None else None
    if target is None:
        return b""
    if text == "TEXT":
        return target.body
    if text == "HEADER":
        return target.header
    return filter_header(target.header, fields, text.endswith(".NOT"))


def partial(data: bytes, spec: tuple[int, int] | None) -> bytes:
    if spec is None:
        return data
    start, count = spec
    return slice_of(data, start, start + count)


_NOT_BASE64 = bytes(
    set(range(256))
    - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
)


def _b64decode(data: bytes) -> bytes:
    """Lenient base64 (characters outside the alphabet are skipped, missing
    padding is added), decoded a slice at a time. Raises binascii.Error."""
    clean = b"".join(
        data[i : i + SLICE].translate(None, _NOT_BASE64)
        for i in range(0, len(data), SLICE)
    )
    pad = clean.find(b"=")
    if 0 <= pad < len(clean) - 2:
        # "=" inside the data: leave such oddities to the one-call decoder
        return base64.b64decode(clean + b"==")
    whole = len(clean) - len(clean) % 4 if pad < 0 else pad - pad % 4
    out = [
        binascii.a2b_base64(clean[i : min(i + SLICE, whole)])
        for i in range(0, whole, SLICE)
    ]
    out.append(base64.b64decode(clean[whole:] + b"=="))
    return b"".join(out)


def decode_transfer(part: Part) -> bytes:
    enc = (part.get("content-transfer-encoding") or "").strip().lower()
    try:
        if enc == "base64":
            return _b64decode(part.body)
        if enc == "quoted-printable":
            # slices end at a line break, so no "=XX" or soft break is cut
            return b"".join(quopri.decodestring(x) for x in _slices(part.body))
    except (binascii.Error, ValueError):
        return part.body
    return part.body


# -- SEARCH helpers ----------------------------------------------------------


def decode_words(value: str) -> str:
    """Header text with RFC 2047 encoded words decoded (best effort)."""
    if "=?" not in value:
        return value
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return value


def body_text(top: Part) -> list[str]:
    """All text parts, transfer- and charset-decoded, for SEARCH BODY/TEXT:
    the text as pieces of at most about ``SLICE`` characters (parts joined by
    "\n"), never one string: a join, or a ``casefold``, of 20 MB of text
    holds the interpreter lock 30-60 ms (see ``search.folded_contains``)."""
    out: list[str] = []

    def add(pieces: list[str]) -> None:
        if out:
            out.append("\n")
        out.extend(pieces)

    def walk(p: Part, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if p.is_multipart:
            for c in p.children:
                walk(c, depth + 1)
        elif p.message is not None:
            add([decode_words(_header_str(p.message))])
            walk(p.message, depth + 1)
        elif p.maintype.lower() in ("text", "message"):
            data = decode_transfer(p)
            charset = _param(p.params, "charset") or "utf-8"
            try:
                add(_decode_text(data, charset))
            except (LookupError, ValueError):  # unknown or hostile charset
                add(_decode_text(data, "utf-8"))

    walk(top, 0)
    return out


def _decode_text(data: bytes, charset: str) -> list[str]:
    """``data.decode(charset, "replace")`` in pieces, a slice at a time (an
    incremental decoder keeps multi-octet characters cut between slices
    whole)."""
    if len(data) <= SLICE:
        return [data.decode(charset, "replace")]
    decoder = codecs.getincrementaldecoder(charset)("replace")
    out = [decoder.decode(data[i : i + SLICE]) for i in range(0, len(data), SLICE)]
    out.append(decoder.decode(b"", final=True))
    return out


def _header_str(p: Part) -> str:
    return p.header.decode("utf-8", "replace")


def sent_date(top: Part) -> tuple[int, int, int] | None:
    value = top.get("date")
    if not value:
        return None
    try:
        t = email.utils.parsedate_tz(value)
    except (ValueError, TypeError, IndexError):
        return None
    if t is None:
        return None
    return (t[0], t[1], t[2])
