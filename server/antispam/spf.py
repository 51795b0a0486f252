"""SPF (RFC 7208): may this client send mail for this domain?

``check_host(ip, domain, sender, helo, dns)`` returns one of ``RESULTS``
(section 2.6) and a short reason. What is covered:

- the record: the one TXT record that starts with ``v=spf1`` (none: "none";
  more than one: "permerror"; a DNS failure: "temperror");
- mechanisms ``all``, ``include``, ``a``, ``mx``, ``ptr``, ``ip4``, ``ip6``,
  ``exists`` with qualifiers ``+ - ~ ?`` and dual CIDR lengths (5.1-5.7);
  modifiers ``redirect`` and ``exp`` (6.1, 6.2; the explanation is not
  fetched, as the RFC allows), unknown modifiers ignored;
- macros (7): ``%{s l o d i p v h}`` with digit and ``r`` transformers and
  delimiters, ``%% %_ %-``; ``p`` expands to "unknown" (7.3 allows it);
- the limits (4.6.4): at most ``MAX_LOOKUPS`` terms that cause DNS queries
  (``include a mx ptr exists redirect``), at most ``MAX_VOID`` lookups that
  find nothing, at most ``MAX_MX`` MX hosts and ``MAX_PTR`` PTR names looked
  at; going over is "permerror".

Pure but for the ``DnsQuestions`` it is given; runs on the loop (each DNS
question is awaited, none blocks).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from server.antispam.dnsq import DnsQuestions, DnsTemporary

RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
MAX_LOOKUPS = 10
MAX_VOID = 2
MAX_MX = 10
MAX_PTR = 10
MAX_RECORD = 4096  # characters of an SPF record looked at
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_MACRO = re.compile(r"%(?:\{([slodiphcrtvSLODIPHCRTV])(\d*)(r?)([.\-+,/_=]*)\}|(.)|$)")


class PermError(Exception):
    pass


class TempError(Exception):
    pass


@dataclass
class _State:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    sender: str
    helo: str
    dns: DnsQuestions
    lookups: int = 0
    void: int = 0
    seen: set[str] = field(default_factory=set)

    def count(self) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise PermError("more than 10 DNS-querying terms")

    def nothing(self) -> None:
        self.void += 1
        if self.void > MAX_VOID:
            raise PermError("more than 2 lookups found nothing")


def _client(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _valid_domain(d: str) -> bool:
    labels = d.rstrip(".").split(".")
    return (
        len(labels) >= 2
        and len(d) <= 253
        and all(0 < len(x) <= 63 for x in labels)
        and not d.startswith(".")
    )


async def check_host(
    ip: str, domain: str, sender: str, helo: str, dns: DnsQuestions
) -> tuple[str, str]:
    """(result, reason) for ``ip`` sending as ``sender`` (``domain`` is its
    domain, or the HELO name when the sender is empty: RFC 7208 2.4)."""
    try:
        state = _State(_client(ip), sender or f"postmaster@{helo}", helo, dns)
    except ValueError:
        return "none", "no client address"
    try:
        return await _check(state, domain.lower().rstrip("."))
    except PermError as exc:
        return "permerror", str(exc)
    except (TempError, DnsTemporary) as exc:
        return "temperror", str(exc)


async def _record(state: _State, domain: str) -> str | None:
    txt = await state.dns.txt(domain)
    if txt is None:
        return None
    found = [t for t in txt if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]
    if len(found) > 1:
        raise PermError(f"{domain} has more than one SPF record")
    return found[0][:MAX_RECORD] if found else None


async def _check(state: _State, domain: str) -> tuple[str, str]:
    if not _valid_domain(domain):
        return "none", f"{domain!r} is not a domain"
    record = await _record(state, domain)
    if record is None:
        return "none", f"{domain} has no SPF record"
    terms = record.split()[1:]
    redirect: str | None = None
    mechanisms: list[tuple[str, str, str]] = []
    for term in terms:
        m = re.fullmatch(r"([A-Za-z][A-Za-z0-9\-_.]*)=(.*)", term)
        if m is not None:
            name = m.group(1).lower()
            if name == "redirect":
                if redirect is not None:
                    raise PermError("redirect given twice")
                redirect = m.group(2)
            elif name == "exp":
                continue
            continue
        qualifier = "+"
        if term[:1] in QUALIFIERS:
            qualifier, term = term[0], term[1:]
        name, sep, arg = term.partition(":")
        if not sep:
            name, slash, cidr = term.partition("/")
            arg = f"/{cidr}" if slash else ""
        name = name.lower()
        if name not in _MECHANISMS:
            raise PermError(f"unknown mechanism {name!r}")
        mechanisms.append((qualifier, name, arg))
    for qualifier, name, arg in mechanisms:
        if await _matches(state, domain, name, arg):
            return QUALIFIERS[qualifier], f"matched {name} of {domain}"
    if redirect is not None:
        state.count()
        target = await _expand(state, redirect, domain)
        result, why = await _check(state, target)
        if result == "none":
            raise PermError(f"redirect to {target}, which has no SPF record")
        return result, why
    return "neutral", f"nothing in {domain}'s record matched"


def _split_cidr(arg: str) -> tuple[str, int | None, int | None]:
    """domain-spec, IPv4 and IPv6 prefix lengths from ``x/24//64``."""
    spec, v6 = arg, None
    if "//" in arg:
        spec, _, six = arg.partition("//")
        v6 = _prefix(six, 128)
    v4 = None
    if "/" in spec:
        spec, _, four = spec.partition("/")
        v4 = _prefix(four, 32)
    return spec, v4, v6


def _prefix(text: str, most: int) -> int:
    if not text.isdigit() or int(text) > most or (len(text) > 1 and text[0] == "0"):
        raise PermError(f"bad prefix length {text!r}")
    return int(text)


def _in(state: _State, addresses: list[str], v4: int | None, v6: int | None) -> bool:
    ip = state.ip
    bits = (
        (v4 if v4 is not None else 32)
        if ip.version == 4
        else (v6 if v6 is not None else 128)
    )
    for a in addresses:
        try:
            net = ipaddress.ip_network(f"{a}/{bits}", strict=False)
        except ValueError:
            continue
        if net.version == ip.version and ip in net:
            return True
    return False


async def _matches(state: _State, domain: str, name: str, arg: str) -> bool:
    if name == "all":
        if arg:
            raise PermError("all takes no argument")
        return True
    if name in ("ip4", "ip6"):
        try:
            net = ipaddress.ip_network(arg, strict=False)
        except ValueError:
            raise PermError(f"bad {name} network {arg!r}") from None
        if net.version != (4 if name == "ip4" else 6):
            raise PermError(f"bad {name} network {arg!r}")
        return net.version == state.ip.version and state.ip in net
    if name == "include":
        state.count()
        if not arg:
            raise PermError("include needs a domain")
        target = await _expand(state, arg, domain)
        result, _ = await _check(state, target)
        if result == "pass":
            return True
        if result in ("fail", "softfail", "neutral"):
            return False
        if result == "temperror":
            raise TempError(f"include:{target} had a temporary error")
        raise PermError(f"include:{target} gave {result}")
    if name == "exists":
        state.count()
        if not arg:
            raise PermError("exists needs a domain")
        target = await _expand(state, arg, domain)
        found = await state.dns.addresses(target, 4)
        if not found:
            state.nothing()
        return bool(found)
    spec, v4, v6 = _split_cidr(arg)
    target = await _expand(state, spec, domain) if spec else domain
    state.count()
    if name == "a":
        found = await state.dns.addresses(target, state.ip.version)
        if not found:
            state.nothing()
            return False
        return _in(state, found, v4, v6)
    if name == "mx":
        hosts = await state.dns.mx(target)
        if not hosts:
            state.nothing()
            return False
        if len(hosts) > MAX_MX:
            raise PermError(f"{target} has more than {MAX_MX} MX hosts")
        for host in hosts:
            found = await state.dns.addresses(host, state.ip.version)
            if found and _in(state, found, v4, v6):
                return True
        return False
    # ptr (5.5): discouraged, but a record may still use it
    names = await state.dns.ptr(str(state.ip)) or []
    for host in names[:MAX_PTR]:
        found = await state.dns.addresses(host, state.ip.version)
        confirmed = str(state.ip) in [str(_client(a)) for a in found or []]
        if confirmed and (host == target or host.endswith(f".{target}")):
            return True
    return False


async def _expand(state: _State, spec: str, domain: str) -> str:
    """Macro expansion of a domain-spec (RFC 7208 7)."""
    local, _, sender_domain = state.sender.rpartition("@")
    ip = state.ip
    i = str(ip) if ip.version == 4 else ".".join(ip.exploded.replace(":", ""))
    values = {
        "s": state.sender,
        "l": local or "postmaster",
        "o": sender_domain,
        "d": domain,
        "i": i,
        "p": "unknown",
        "v": "in-addr" if ip.version == 4 else "ip6",
        "h": state.helo,
    }
    out: list[str] = []
    pos = 0
    for m in _MACRO.finditer(spec):
        out.append(spec[pos : m.start()])
        pos = m.end()
        letter, digits, reverse, delims, escape = m.groups()
        if letter is None:
            if escape == "%":
                out.append("%")
            elif escape == "_":
                out.append(" ")
            elif escape == "-":
                out.append("%20")
            else:
                raise PermError(f"bad macro in {spec!r}")
            continue
        key = letter.lower()
        if key not in values:
            raise PermError(f"macro %{{{letter}}} is not allowed here")
        parts = re.split("[" + re.escape(delims or ".") + "]", values[key])
        if reverse:
            parts.reverse()
        if digits:
            n = int(digits)
            if n == 0:
                raise PermError("a macro keeps 0 labels")
            parts = parts[-n:]
        out.append(".".join(parts))
    out.append(spec[pos:])
    expanded = "".join(out)
    if len(expanded) > 253:  # keep the rightmost labels (7.3)
        labels = expanded.split(".")
        while labels and len(".".join(labels)) > 253:
            labels.pop(0)
        expanded = ".".join(labels)
    return expanded.lower().rstrip(".")
