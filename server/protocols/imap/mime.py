"""MIME structure for FETCH (RFC 3501 sections 6.4.5 and 7.4.2). Pure functions
over the message bytes (CRLF line ends, as ``MailStore.read_message`` gives).

- ``parse(raw)`` builds a tree of ``Part`` objects without copying or decoding
  bodies (RFC 2045/2046 boundaries, nested multiparts, message/rfc822).
- ``envelope``, ``bodystructure`` render the FETCH ENVELOPE / BODY /
  BODYSTRUCTURE values (extension data included for BODYSTRUCTURE).
- ``section`` extracts BODY[section] bytes: part numbers, HEADER,
  HEADER.FIELDS(.NOT), TEXT, MIME; ``partial`` applies <origin.count>.
- ``header_text`` / ``body_text`` / ``sent_date`` serve SEARCH.

Strings in ENVELOPE and BODYSTRUCTURE are the raw header text (RFC 2047
encoded words are not decoded: the RFC leaves that to the client). Malformed
input never raises: a part that cannot be understood is treated as text/plain.
"""

from __future__ import annotations

import base64
import binascii
import email.header
import email.utils
import quopri
import re
from dataclasses import dataclass, field

from . import responses as R

MAX_DEPTH = 40  # deeper nesting is served as an opaque text/plain part
_BLANK = re.compile(rb"\r?\n\r?\n")


@dataclass
class Part:
    header: bytes  # the header block including the blank line that ends it
    body: bytes
    fields: list[tuple[str, str]]  # (lower-case name, unfolded value)
    maintype: str = "text"
    subtype: str = "plain"
    params: list[tuple[str, str]] = field(default_factory=list)
    children: list[Part] = field(default_factory=list)
    message: Part | None = None  # the message inside a message/rfc822 part

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


def split_header(raw: bytes) -> tuple[bytes, bytes]:
    """Header block (with its terminating blank line) and body."""
    if raw.startswith(b"\r\n"):
        return b"\r\n", raw[2:]
    if raw.startswith(b"\n"):
        return b"\n", raw[1:]
    m = _BLANK.search(raw)
    if m is None:
        return raw, b""
    return raw[: m.end()], raw[m.end() :]


def header_fields(header: bytes) -> list[tuple[str, str]]:
    text = header.decode("utf-8", "surrogateescape")
    out: list[tuple[str, str]] = []
    for line in re.split(r"\r?\n(?![ \t])", text):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or " " in name.strip():
            continue
        value = re.sub(r"\r?\n", "", value).strip()
        out.append((name.strip().lower(), value))
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


def parse(raw: bytes, default: str = "text/plain", depth: int = 0) -> Part:
    header, body = split_header(raw)
    fields = header_fields(header)
    part = Part(header, body, fields)
    ctype = part.get("content-type")
    mtype, params = parse_params(ctype) if ctype else (default, [])
    main, sep, sub = mtype.partition("/")
    if not sep or not main.strip() or not sub.strip() or " " in mtype:
        if ctype:
            main, sub, params = "text", "plain", params
        else:
            main, _, sub = default.partition("/")
    part.maintype, part.subtype, part.params = main.strip(), sub.strip(), params
    if depth >= MAX_DEPTH:
        if part.is_multipart or (main.lower(), sub.lower()) == ("message", "rfc822"):
            part.maintype, part.subtype = "text", "plain"
        return part
    if part.is_multipart:
        boundary = _param(params, "boundary")
        child_default = "message/rfc822" if sub.lower() == "digest" else "text/plain"
        if boundary:
            for chunk in _split_multipart(
                body, boundary.encode("utf-8", "surrogateescape")
            ):
                part.children.append(parse(chunk, child_default, depth + 1))
    elif (main.lower(), sub.lower()) == ("message", "rfc822"):
        part.message = parse(body, "text/plain", depth + 1)
    return part


def _split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    delim = re.compile(
        rb"(?:\A|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?=\r?\n|\Z)"
    )
    parts: list[bytes] = []
    start: int | None = None
    for m in delim.finditer(body):
        if start is not None:
            parts.append(body[start : m.start()])
        if m.group(1):
            start = None
            break
        nl = body.find(b"\n", m.end())
        start = len(body) if nl < 0 else nl + 1
    if start is not None:
        parts.append(body[start:])
    return parts


def line_count(data: bytes) -> int:
    """body-fld-lines: the line breaks in the body (as Dovecot and Cyrus count)."""
    return data.count(b"\n")


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
        children = part.children or [parse(b"\r\n")]
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
        str(len(part.body)).encode(),
    ]
    if part.message is not None:
        items.append(envelope(part.message))
        items.append(bodystructure(part.message, extended))
        items.append(str(line_count(part.body)).encode())
    elif part.maintype.lower() == "text":
        items.append(str(line_count(part.body)).encode())
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


def filter_header(header: bytes, names: tuple[str, ...], exclude: bool) -> bytes:
    wanted = {n.lower() for n in names}
    out: list[bytes] = []
    keep = False
    for line in header.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
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
    return data[start : start + count]


def decode_transfer(part: Part) -> bytes:
    enc = (part.get("content-transfer-encoding") or "").strip().lower()
    try:
        if enc == "base64":
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", part.body) + b"==")
        if enc == "quoted-printable":
            return quopri.decodestring(part.body)
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


def body_text(top: Part) -> str:
    """All text parts, transfer- and charset-decoded, for SEARCH BODY/TEXT."""
    out: list[str] = []

    def walk(p: Part, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if p.is_multipart:
            for c in p.children:
                walk(c, depth + 1)
        elif p.message is not None:
            out.append(decode_words(_header_str(p.message)))
            walk(p.message, depth + 1)
        elif p.maintype.lower() in ("text", "message"):
            data = decode_transfer(p)
            charset = _param(p.params, "charset") or "utf-8"
            try:
                out.append(data.decode(charset, "replace"))
            except (LookupError, ValueError):  # unknown or hostile charset
                out.append(data.decode("utf-8", "replace"))

    walk(top, 0)
    return "\n".join(out)


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
