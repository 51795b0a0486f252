"""Mercury-style rules, an autoresponder and forwarding, kept as Sieve.

The window edits a ``RuleSet``: an ordered list of rules ("when FIELD TEST
VALUE then ACTION"), the "Out of office" reply and "Forward to". ``render``
writes it as an ordinary Sieve script (RFC 5228 with fileinto, mailbox,
copy, imap4flags, reject, vacation, date, relational, envelope, body and
regex as needed), so it runs in our engine, in Pigeonhole after an export,
and can be read and replaced over ManageSieve.

The script starts with a comment that says so and carries the rule set as
one line of JSON. ``parse`` gives the rule set back only when the script is
exactly what ``render`` makes of that JSON: any change by hand (or a script
written elsewhere) makes it "not ours", and the window then shows the text
read-only and never rewrites it. Pure: no I/O.

Order in the script: forwarding first, then the autoresponder (both apply to
every message, whatever a rule does after), then the rules in their order;
a disabled rule stays in the JSON only.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date

from server.errors import ValidationError
from server.sieve.regex import RegexError, compile_regex

HEADER_LINE = (
    "# Quicksilver rules v1 (written by Quicksilver; edit them in its window)."
)
DATA_PREFIX = "# data: "

FIELDS = (
    "from",
    "to",
    "cc",
    "to-or-cc",
    "reply-to",
    "subject",
    "header",
    "envelope-from",
    "envelope-to",
    "size",
    "body",
)
TESTS = ("contains", "is", "matches", "regex", "over", "under")
ACTIONS = (
    "move",
    "copy",
    "forward",
    "forward-copy",
    "flag",
    "read",
    "delete",
    "reject",
)

MAX_RULES = 500  # within fast.MAX_CHEAP_TESTS twice over is fine: a thread runs it
MAX_VALUE = 1000  # characters in a value, a folder name or an address
MAX_TEXT = 20_000  # characters in the autoresponder's text or a reject reason
MAX_FORWARDS = 4  # the engine's max_redirects (Pigeonhole's sieve_max_redirects)
MAX_DAYS = 365

_SIZE = re.compile(r"([0-9]{1,12})\s*([KMG]?)B?", re.IGNORECASE)
_HEADER_NAME = re.compile(r"[!-9;-~]{1,200}")  # RFC 5322 2.2: printable, no colon
_ADDRESS = re.compile(r"[^\s@<>\"(),;:]{1,64}@[A-Za-z0-9.-]{1,253}")
_FIELD_HEADERS = {
    "from": ("from",),
    "to": ("to",),
    "cc": ("cc",),
    "to-or-cc": ("to", "cc"),
    "reply-to": ("reply-to",),
    "subject": ("subject",),
}
FIELD_TITLES = {
    "from": "From",
    "to": "To",
    "cc": "Cc",
    "to-or-cc": "To or Cc",
    "reply-to": "Reply-To",
    "subject": "Subject",
    "header": "Header named…",
    "envelope-from": "Envelope sender",
    "envelope-to": "Envelope recipient",
    "size": "Size",
    "body": "Body text",
}
TEST_TITLES = {
    "contains": "contains",
    "is": "is",
    "matches": "matches (* and ?)",
    "regex": "matches the regular expression",
    "over": "is over",
    "under": "is under",
}
ACTION_TITLES = {
    "move": "Move to folder",
    "copy": "Copy to folder",
    "forward": "Forward to (no copy kept)",
    "forward-copy": "Forward a copy to",
    "flag": "Flag it",
    "read": "Mark it read",
    "delete": "Delete it",
    "reject": "Refuse it with a message",
}
_NEEDS_ARGUMENT = ("move", "copy", "forward", "forward-copy", "reject")


@dataclass(frozen=True)
class Rule:
    """One rule. ``header`` names the field when ``field`` is "header";
    ``argument`` is the folder, address or reason the action needs;
    ``stop``: no later rule runs for a message this one matched."""

    field: str
    test: str
    value: str
    action: str
    argument: str = ""
    header: str = ""
    name: str = ""
    enabled: bool = True
    stop: bool = False


@dataclass(frozen=True)
class AutoReply:
    """The "Out of office" reply (RFC 5230 vacation, RFC 6131 days):
    between ``start`` and ``end`` (ISO dates, inclusive, either may be
    empty), at most once per sender per ``days``."""

    subject: str
    text: str
    days: int = 7
    start: str = ""
    end: str = ""
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Forwarding:
    """Forward every message to ``to``; ``keep``: a copy stays here."""

    to: tuple[str, ...]
    keep: bool = True


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    auto_reply: AutoReply | None = None
    forwarding: Forwarding | None = None


# -- checking -------------------------------------------------------------------


def _check_text(value: str, what: str, limit: int = MAX_VALUE) -> str:
    if len(value) > limit:
        raise ValidationError(f"{what} may be at most {limit} characters.")
    if any(ord(c) < 32 and c not in "\t\r\n" for c in value) or "\x7f" in value:
        raise ValidationError(f"{what} contains a control character.")
    return value


def size_bytes(value: str) -> int:
    """ "100K", "5 MB", "1200" as a number of bytes."""
    m = _SIZE.fullmatch(value.strip())
    if m is None:
        raise ValidationError(
            "A size is a number, optionally with K, M or G (e.g. 500K, 5M)."
        )
    return (
        int(m.group(1))
        * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2).upper()]
    )


def check_address(value: str) -> str:
    value = value.strip()
    if not _ADDRESS.fullmatch(value):
        raise ValidationError(f"'{value}' is not a mail address (name@domain).")
    return value


def _check_date(value: str, what: str) -> str:
    if not value:
        return ""
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValidationError(f"{what} must be a date like 2026-12-24.") from None


def check_rule(r: Rule) -> Rule:
    """The rule as it will be stored, or ValidationError saying what is wrong."""
    if r.field not in FIELDS:
        raise ValidationError(f"Unknown field '{r.field}'.")
    if r.test not in TESTS:
        raise ValidationError(f"Unknown test '{r.test}'.")
    if r.action not in ACTIONS:
        raise ValidationError(f"Unknown action '{r.action}'.")
    if (r.field == "size") != (r.test in ("over", "under")):
        raise ValidationError('Size is compared with "is over" or "is under" only.')
    if r.field.startswith("envelope") and r.test == "regex":
        raise ValidationError("The envelope cannot be matched by regular expression.")
    _check_text(r.value, "The value")
    _check_text(r.name, "The rule's name")
    if r.field == "size":
        size_bytes(r.value)
    elif r.test == "regex":
        try:
            compile_regex(r.value, icase=True)
        except RegexError as exc:
            raise ValidationError(
                f"The regular expression is not valid: {exc}."
            ) from None
    header = r.header.strip()
    if r.field == "header" and not _HEADER_NAME.fullmatch(header):
        raise ValidationError("Name the header field (letters, digits, '-').")
    argument = r.argument.strip()
    if r.action in _NEEDS_ARGUMENT and not argument:
        what = {"reject": "a message"}.get(r.action, "where")
        raise ValidationError(f"This action needs {what}.")
    if r.action in ("forward", "forward-copy"):
        argument = check_address(argument)
    elif r.action in ("move", "copy"):
        _check_text(argument, "The folder name")
        if any(c in argument for c in "*%\r\n") or argument.startswith("/"):
            raise ValidationError("A folder name cannot contain *, % or start with /.")
    elif r.action == "reject":
        _check_text(argument, "The message", MAX_TEXT)
    else:
        argument = ""
    return Rule(
        r.field,
        r.test,
        r.value,
        r.action,
        argument,
        header if r.field == "header" else "",
        r.name.strip(),
        r.enabled,
        r.stop,
    )


def check(rs: RuleSet) -> RuleSet:
    if len(rs.rules) > MAX_RULES:
        raise ValidationError(f"At most {MAX_RULES} rules.")
    rules = tuple(check_rule(r) for r in rs.rules)
    reply = rs.auto_reply
    if reply is not None:
        if not 1 <= reply.days <= MAX_DAYS:
            raise ValidationError(f"Reply at most once every 1 to {MAX_DAYS} days.")
        if not reply.text.strip():
            raise ValidationError("Write the text of the reply.")
        start = _check_date(reply.start, "The first day")
        end = _check_date(reply.end, "The last day")
        if start and end and end < start:
            raise ValidationError("The last day is before the first day.")
        reply = AutoReply(
            _check_text(reply.subject.strip(), "The subject").replace("\n", " "),
            _check_text(reply.text, "The text", MAX_TEXT),
            reply.days,
            start,
            end,
            tuple(check_address(a) for a in reply.addresses),
        )
    fwd = rs.forwarding
    if fwd is not None:
        to = tuple(check_address(a) for a in fwd.to if a.strip())
        if not to:
            raise ValidationError("Give the address to forward to.")
        if len(to) > MAX_FORWARDS:
            raise ValidationError(f"Forward to at most {MAX_FORWARDS} addresses.")
        fwd = Forwarding(to, fwd.keep)
    return RuleSet(rules, reply, fwd)


# -- rendering ------------------------------------------------------------------


def quote(value: str) -> str:
    """A Sieve quoted string (RFC 5228 section 2.4.2: backslash escapes
    only backslash and double quote)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _test(r: Rule, need: set[str]) -> str:
    if r.field == "size":
        return f"size :{r.test} {size_bytes(r.value)}"
    match = f":{r.test}"
    if r.test == "regex":
        need.add("regex")
    if r.field in _FIELD_HEADERS:
        names = _FIELD_HEADERS[r.field]
        listed = (
            quote(names[0])
            if len(names) == 1
            else "[" + ", ".join(quote(n) for n in names) + "]"
        )
        return f"header {match} {listed} {quote(r.value)}"
    if r.field == "header":
        return f"header {match} {quote(r.header)} {quote(r.value)}"
    if r.field.startswith("envelope"):
        need.add("envelope")
        part = "from" if r.field == "envelope-from" else "to"
        return f"envelope :all {match} {quote(part)} {quote(r.value)}"
    need.add("body")
    return f"body :text {match} {quote(r.value)}"


def _action(r: Rule, need: set[str]) -> list[str]:
    a = r.action
    if a == "move":
        need.update(("fileinto", "mailbox"))
        return [f"fileinto :create {quote(r.argument)};"]
    if a == "copy":
        need.update(("fileinto", "mailbox", "copy"))
        return [f"fileinto :copy :create {quote(r.argument)};"]
    if a == "forward":
        return [f"redirect {quote(r.argument)};"]
    if a == "forward-copy":
        need.add("copy")
        return [f"redirect :copy {quote(r.argument)};"]
    if a == "flag":
        need.add("imap4flags")
        return ['addflag "\\\\Flagged";']
    if a == "read":
        need.add("imap4flags")
        return ['addflag "\\\\Seen";']
    if a == "delete":
        return ["discard;"]
    need.add("reject")
    return [f"reject {quote(r.argument)};"]


def _data(rs: RuleSet) -> str:
    data = {
        "rules": [asdict(r) for r in rs.rules],
        "auto_reply": asdict(rs.auto_reply) if rs.auto_reply else None,
        "forwarding": asdict(rs.forwarding) if rs.forwarding else None,
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def render(rs: RuleSet) -> str:
    """The Sieve script for ``rs`` (checked first: ValidationError)."""
    rs = check(rs)
    need: set[str] = set()
    body: list[str] = []
    if rs.forwarding is not None:
        body.append("# Forward to")
        if rs.forwarding.keep:
            need.add("copy")
        for to in rs.forwarding.to:
            copy = ":copy " if rs.forwarding.keep else ""
            body.append(f"redirect {copy}{quote(to)};")
    reply = rs.auto_reply
    if reply is not None:
        need.add("vacation")
        args = [f":days {reply.days}"]
        if reply.subject:
            args.append(f":subject {quote(reply.subject)}")
        if reply.addresses:
            args.append(
                ":addresses [" + ", ".join(quote(a) for a in reply.addresses) + "]"
            )
        line = f"vacation {' '.join(args)} {quote(reply.text)};"
        body.append("# Out of office")
        when = []
        if reply.start:
            when.append(f'currentdate :value "ge" "date" {quote(reply.start)}')
        if reply.end:
            when.append(f'currentdate :value "le" "date" {quote(reply.end)}')
        if when:
            need.update(("date", "relational"))
            cond = when[0] if len(when) == 1 else f"allof ({', '.join(when)})"
            body.append(f"if {cond} {{")
            body.append(f"    {line}")
            body.append("}")
        else:
            body.append(line)
    for i, r in enumerate(rs.rules, 1):
        title = r.name or f"Rule {i}"
        if not r.enabled:
            body.append(f"# {i}. {_one_line(title)} (off)")
            continue
        body.append(f"# {i}. {_one_line(title)}")
        actions = _action(r, need)
        if r.stop:
            actions.append("stop;")
        body.append(f"if {_test(r, need)} {{")
        body.extend(f"    {a}" for a in actions)
        body.append("}")
    head = [HEADER_LINE, DATA_PREFIX + _data(rs)]
    if need:
        head.append("require [" + ", ".join(quote(n) for n in sorted(need)) + "];")
    return "\n".join(head + body) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- reading back ---------------------------------------------------------------


def _rules_from(data: object) -> RuleSet:
    if not isinstance(data, dict):
        raise ValueError("not a rule set")
    rules = tuple(Rule(**r) for r in data.get("rules") or ())
    reply = data.get("auto_reply")
    fwd = data.get("forwarding")
    return RuleSet(
        rules,
        AutoReply(**{**reply, "addresses": tuple(reply.get("addresses", ()))})
        if reply
        else None,
        Forwarding(tuple(fwd["to"]), bool(fwd.get("keep", True))) if fwd else None,
    )


def parse(text: str) -> RuleSet | None:
    """The rule set ``text`` was rendered from, or None when the script is
    not exactly ours (written elsewhere, or changed by hand)."""
    lines = text.split("\n", 2)
    if len(lines) < 2 or lines[0] != HEADER_LINE:
        return None
    if not lines[1].startswith(DATA_PREFIX):
        return None
    try:
        rs = _rules_from(json.loads(lines[1][len(DATA_PREFIX) :]))
        again = render(rs)
    except (ValueError, TypeError, KeyError, ValidationError):
        return None
    return rs if again == text else None


@dataclass(frozen=True)
class RulesScript:
    """What a script is to the window: ours (``rules`` set) or someone
    else's (``rules`` None; shown as ``text``, left alone)."""

    text: str
    rules: RuleSet | None = field(default=None)


def read(text: str | None) -> RulesScript:
    if text is None:
        return RulesScript("", RuleSet())
    return RulesScript(text, parse(text))


check_rules = check  # the name the window imports (server.api)
