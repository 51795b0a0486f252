"""Mail addresses as Sieve sees them (RFC 5228 sections 2.7.4 and 5.1).

Two jobs:

- ``parse_header_addresses``: the addresses of one header field (``From``,
  ``To``, ...) for the address test. The RFC 5322 grammar (section 3.4) read
  leniently, the way Dovecot reads it, so that the same message gives the same
  answers as Pigeonhole: comments and folding white space are skipped, groups
  contribute their members, route addresses lose the route, and an entry that is
  not a valid address is dropped. When nothing valid remains the whole field
  value stands for one unparsed address: ``:all`` sees it as it is and the other
  address parts see nothing (RFC 5228 section 5.1 lets an implementation treat
  a malformed address this way), except that an empty field gives an empty
  string for every part.
- ``parse_mailbox``: one address written in a script (``redirect``, vacation's
  ``:from`` and ``:addresses``): ``addr-spec`` or ``phrase <addr-spec>``.

Also ``encode_local_part``: how ``:all`` writes a local part that is not a
dot-atom (quoted, RFC 5321 section 4.1.2).

Pure functions over ``str``; at most ``MAX_ADDRESSES`` per field (Dovecot's
limit too), so a hostile header costs linear time.
"""

from __future__ import annotations

from dataclasses import dataclass

# Addresses read from one header field; more are ignored (Dovecot reads 256).
MAX_ADDRESSES = 256

# RFC 5322 section 3.2.3: specials (plus SP and controls) cannot be in an atom.
_SPECIALS = frozenset('()<>[]:;@\\,."')


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed address; ``local_part``/``domain`` are ``None`` for the
    stand-in of an unparsable field (then ``raw`` holds its text)."""

    local_part: str | None
    domain: str | None
    raw: str = ""

    @property
    def parsed(self) -> bool:
        return self.local_part is not None


def _is_atext(c: str) -> bool:
    return c > " " and c != "\x7f" and c not in _SPECIALS


class _Reader:
    """A cursor over one header value with RFC 5322 CFWS skipping."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.n = len(text)

    def at_end(self) -> bool:
        return self.i >= self.n

    def cur(self) -> str:
        return self.s[self.i] if self.i < self.n else ""

    def skip_cfws(self) -> int:
        """Skip white space and comments: 0 at the end, 1 before more data,
        -1 inside an unterminated comment."""
        s = self.s
        while self.i < self.n:
            c = s[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif c == "(":
                depth = 0
                while self.i < self.n:
                    c = s[self.i]
                    if c == "\\":
                        self.i += 2
                        continue
                    if c == "(":
                        depth += 1
                    elif c == ")":
                        depth -= 1
                        if depth == 0:
                            self.i += 1
                            break
                    self.i += 1
                else:
                    return -1
            else:
                return 1
        return 0

    def atom(self) -> str | None:
        start = self.i
        while self.i < self.n and _is_atext(self.s[self.i]):
            self.i += 1
        return self.s[start : self.i] if self.i > start else None

    def quoted(self) -> str | None:
        """A quoted string at the cursor (on its opening quote), unescaped."""
        s = self.s
        out: list[str] = []
        j = self.i + 1
        while j < self.n:
            c = s[j]
            if c == '"':
                self.i = j + 1
                return "".join(out)
            if c == "\\" and j + 1 < self.n:
                out.append(s[j + 1])
                j += 2
                continue
            if c not in "\r\n":
                out.append(c)
            j += 1
        return None

    def phrase(self) -> str | None:
        """``1*word`` (atoms, quoted strings, and dots as obs-phrase allows);
        ``""`` when no word precedes what follows, ``None`` on a broken quote."""
        words: list[str] = []
        while self.skip_cfws() > 0:
            c = self.cur()
            if c == '"':
                q = self.quoted()
                if q is None:
                    return None
                words.append(q)
            elif c == "." or _is_atext(c):
                if c == ".":
                    self.i += 1
                    words.append(".")
                else:
                    a = self.atom()
                    words.append(a or "")
            else:
                break
        return " ".join(words)

    def dot_atom(self) -> str | None:
        """A dot-atom, leniently: CFWS around the dots, stray dots kept (as
        Dovecot accepts them for some Japanese addresses)."""
        parts: list[str] = []
        self.skip_cfws()
        a = self.atom()
        if a is None and self.cur() != ".":
            return None
        parts.append(a or "")
        while True:
            save = self.i
            self.skip_cfws()
            if self.cur() != ".":
                self.i = save
                break
            self.i += 1
            parts.append(".")
            self.skip_cfws()
            a = self.atom()
            if a is not None:
                parts.append(a)
        self.skip_cfws()
        return "".join(parts)

    def local_part(self) -> str | None:
        self.skip_cfws()
        if self.cur() == '"':
            q = self.quoted()
            if q is None:
                return None
            self.skip_cfws()
            return q
        return self.dot_atom()

    def domain(self) -> str | None:
        self.skip_cfws()
        if self.cur() == "[":
            end = self.s.find("]", self.i)
            if end < 0:
                return None
            lit = self.s[self.i : end + 1]
            self.i = end + 1
            self.skip_cfws()
            return "".join(lit.split())
        d = self.dot_atom()
        if not d or d.startswith(".") or d.endswith("."):
            return None
        return d


@dataclass(slots=True)
class _Entry:
    local: str | None
    domain: str | None
    valid: bool


def _angle_addr(r: _Reader) -> _Entry:
    """After '<': [route ":"] local-part ["@" domain] ">"."""
    r.i += 1
    if r.skip_cfws() <= 0:
        return _Entry(None, None, False)
    if r.cur() == "@":
        # obs-route ("@a,@b:"): dropped; without its ':' carry on anyway.
        while r.cur() == "@":
            r.i += 1
            if r.domain() is None:
                return _Entry(None, None, False)
            while r.skip_cfws() > 0 and r.cur() == ",":
                r.i += 1
            r.skip_cfws()
        if r.cur() == ":":
            r.i += 1
        elif r.at_end():
            return _Entry(None, None, False)
        if r.skip_cfws() <= 0:
            return _Entry(None, None, False)
    if r.cur() == ">":
        return _Entry(None, None, False)  # "<>" is no address
    local = r.local_part()
    if local is None:
        return _Entry(None, None, False)
    domain: str | None = None
    if r.cur() == "@":
        r.i += 1
        domain = r.domain()
        if domain is None:
            return _Entry(local, None, False)
    if r.cur() != ">":
        return _Entry(local, domain, False)
    r.i += 1
    r.skip_cfws()
    return _Entry(local, domain, bool(domain) and local != "")


def _addr_spec(r: _Reader) -> _Entry:
    """local-part ["@" domain]; what follows a lone local part is read as a
    phrase (it was a display name), so the parser can go on to the next ','."""
    local = r.local_part()
    if r.cur() == "@":
        r.i += 1
        domain = r.domain()
        return _Entry(local, domain, local is not None and local != "" and bool(domain))
    if local is not None:
        r.phrase()
    return _Entry(local, None, False)


def _mailbox(r: _Reader) -> _Entry:
    start = r.i
    name = r.phrase()
    if name is not None and r.cur() == "<":
        return _angle_addr(r)
    r.i = start
    return _addr_spec(r)


def _address_list(text: str) -> list[_Entry]:
    r = _Reader(text)
    out: list[_Entry] = []
    if r.skip_cfws() <= 0:
        return out
    while len(out) < MAX_ADDRESSES:
        start = r.i
        name = r.phrase()
        if name is not None and r.cur() == ":":
            # A group (RFC 5322 section 3.4): its members count, it does not.
            r.i += 1
            if r.skip_cfws() > 0 and r.cur() != ";":
                while len(out) < MAX_ADDRESSES:
                    out.append(_mailbox(r))
                    if r.cur() != ",":
                        break
                    r.i += 1
                    if r.skip_cfws() <= 0:
                        break
            if r.cur() != ";":
                return out
            r.i += 1
            r.skip_cfws()
        else:
            r.i = start
            out.append(_mailbox(r))
        if r.cur() != ",":
            break
        r.i += 1
        if r.skip_cfws() <= 0:
            break
    return out


def parse_header_addresses(value: str) -> list[Address]:
    """The addresses in one header field value (see the module docstring)."""
    entries = [e for e in _address_list(value) if e.valid]
    if not entries:
        return [Address(None, None, value)]
    return [Address(e.local or "", e.domain or "") for e in entries]


def parse_mailbox(text: str) -> Address | None:
    """One address as a script writes it (``addr-spec`` or ``phrase <addr-spec>``);
    ``None`` when it is not valid. The domain is lower-cased."""
    r = _Reader(text)
    if r.skip_cfws() <= 0:
        return None
    e = _mailbox(r)
    if not e.valid or r.skip_cfws() != 0:
        return None
    local = e.local or ""
    if any(ord(c) < 0x20 or ord(c) > 0x7E for c in local):
        return None
    return Address(local, (e.domain or "").lower())


def _is_dot_atom(local: str) -> bool:
    return bool(local) and all(
        part and all(_is_atext(c) for c in part) for part in local.split(".")
    )


def encode_local_part(local: str) -> str:
    """The local part as written in an address: quoted unless a dot-atom."""
    if _is_dot_atom(local):
        return local
    escaped = local.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def format_address(addr: Address) -> str:
    """``local@domain`` (``:all``), or the raw text of an unparsed field."""
    if addr.local_part is None:
        return addr.raw
    if not addr.domain:
        return encode_local_part(addr.local_part)
    return f"{encode_local_part(addr.local_part)}@{addr.domain}"
