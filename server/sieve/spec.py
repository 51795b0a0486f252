"""What the engine understands, in one table: extensions, commands, tests, tags.

The compiler checks every script against these specs, ManageSieve's SIEVE
capability string comes from ``capabilities()``, and CHECKSCRIPT reports what the
compiler finds: adding a command here is the one place that makes it known.

A spec lists a command's tags (each with its parameter type, the group of tags it
excludes -- only one match type, one comparator, one address part -- and the
extension that must be required for it) and its positional arguments. RFC
sections: base language RFC 5228 sections 3-5; extensions as cited per entry.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class Param(enum.Enum):
    """The type of an argument (RFC 5228 section 2.6)."""

    STRING = "string"
    STRING_LIST = "string list"
    NUMBER = "number"


class Kind(enum.Enum):
    COMMAND = "command"
    TEST = "test"


class Tests(enum.Enum):
    """What a command or test takes after its arguments."""

    NONE = 0
    ONE = 1
    LIST = 2


@dataclass(frozen=True, slots=True)
class TagSpec:
    name: str
    param: Param | None = None
    group: str | None = None
    extension: str | None = None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    kind: Kind
    extension: str | None
    tags: tuple[TagSpec, ...]
    positional: tuple[Param, ...]
    # How many leading ("lead") or trailing ("trail") positionals may be left out.
    optional: int = 0
    optional_side: str = "trail"
    tests: Tests = Tests.NONE
    block: bool = False

    def tag(self, name: str) -> TagSpec | None:
        for t in self.tags:
            if t.name == name:
                return t
        return None


# Extensions we implement (the SIEVE capability, RFC 5804 section 1.7). The two
# comparators every implementation has (RFC 5228 section 2.7.3) may be required
# but are not advertised, as Pigeonhole does.
EXTENSIONS: tuple[str, ...] = (
    "fileinto",  # RFC 5228 section 4.1
    "reject",  # RFC 5429
    "ereject",  # RFC 5429
    "envelope",  # RFC 5228 section 5.4
    "encoded-character",  # RFC 5228 section 2.4.2.4
    "vacation",  # RFC 5230
    "vacation-seconds",  # RFC 6131
    "subaddress",  # RFC 5233
    "comparator-i;ascii-numeric",  # RFC 4790 section 9.1
    "relational",  # RFC 5231
    "regex",  # draft-ietf-sieve-regex-01
    "imap4flags",  # RFC 5232
    "copy",  # RFC 3894
    "variables",  # RFC 5229
    "body",  # RFC 5173
    "date",  # RFC 5260
    "index",  # RFC 5260
    "mailbox",  # RFC 5490
    "editheader",  # RFC 5293
)
BUILTIN_REQUIRABLE: tuple[str, ...] = (
    "comparator-i;octet",
    "comparator-i;ascii-casemap",
)

COMPARATORS: Mapping[str, str | None] = {
    "i;octet": None,
    "i;ascii-casemap": None,
    "i;ascii-numeric": "comparator-i;ascii-numeric",
}
RELATIONS: tuple[str, ...] = ("gt", "ge", "lt", "le", "eq", "ne")  # RFC 5231 section 5


def _t(
    name: str,
    param: Param | None = None,
    group: str | None = None,
    extension: str | None = None,
) -> TagSpec:
    return TagSpec(name, param, group, extension)


COMPARATOR_TAGS = (_t(":comparator", Param.STRING, "comparator"),)
MATCH_TAGS = (
    _t(":is", None, "match"),
    _t(":contains", None, "match"),
    _t(":matches", None, "match"),
    _t(":regex", None, "match", "regex"),
    _t(":value", Param.STRING, "match", "relational"),
    _t(":count", Param.STRING, "match", "relational"),
)
ADDRESS_PART_TAGS = (
    _t(":all", None, "address-part"),
    _t(":localpart", None, "address-part"),
    _t(":domain", None, "address-part"),
    _t(":user", None, "address-part", "subaddress"),
    _t(":detail", None, "address-part", "subaddress"),
)
INDEX_TAGS = (
    _t(":index", Param.NUMBER, "index", "index"),
    _t(":last", None, "last", "index"),
)
ZONE_TAGS = (
    _t(":zone", Param.STRING, "zone", "date"),
    _t(":originalzone", None, "zone", "date"),
)
MATCHING = COMPARATOR_TAGS + MATCH_TAGS
S = Param.STRING
SL = Param.STRING_LIST
N = Param.NUMBER


def _cmd(
    name: str,
    extension: str | None = None,
    tags: tuple[TagSpec, ...] = (),
    positional: tuple[Param, ...] = (),
    **kw: object,
) -> CommandSpec:
    return CommandSpec(name, Kind.COMMAND, extension, tags, positional, **kw)  # type: ignore[arg-type]


def _test(
    name: str,
    extension: str | None = None,
    tags: tuple[TagSpec, ...] = (),
    positional: tuple[Param, ...] = (),
    **kw: object,
) -> CommandSpec:
    return CommandSpec(name, Kind.TEST, extension, tags, positional, **kw)  # type: ignore[arg-type]


_COMMANDS: tuple[CommandSpec, ...] = (
    # RFC 5228 section 3: control commands
    _cmd("require", positional=(SL,)),
    _cmd("if", tests=Tests.ONE, block=True),
    _cmd("elsif", tests=Tests.ONE, block=True),
    _cmd("else", block=True),
    _cmd("stop"),
    # RFC 5228 section 4: actions (RFC 5232 adds :flags, RFC 3894 :copy,
    # RFC 5490 :create)
    _cmd("keep", tags=(_t(":flags", SL, None, "imap4flags"),)),
    _cmd("discard"),
    _cmd("redirect", tags=(_t(":copy", None, None, "copy"),), positional=(S,)),
    _cmd(
        "fileinto",
        "fileinto",
        tags=(
            _t(":copy", None, None, "copy"),
            _t(":flags", SL, None, "imap4flags"),
            _t(":create", None, None, "mailbox"),
        ),
        positional=(S,),
    ),
    _cmd("reject", "reject", positional=(S,)),  # RFC 5429 section 2.2
    _cmd("ereject", "ereject", positional=(S,)),  # RFC 5429 section 2.1
    # RFC 5230 section 4 (and RFC 6131 for :seconds)
    _cmd(
        "vacation",
        "vacation",
        tags=(
            _t(":days", N, "period"),
            _t(":seconds", N, "period", "vacation-seconds"),
            _t(":subject", S),
            _t(":from", S),
            _t(":addresses", SL),
            _t(":mime"),
            _t(":handle", S),
        ),
        positional=(S,),
    ),
    # RFC 5232 section 5: [<variablename: string>] <list-of-flags: string-list>
    _cmd("setflag", "imap4flags", positional=(S, SL), optional=1, optional_side="lead"),
    _cmd("addflag", "imap4flags", positional=(S, SL), optional=1, optional_side="lead"),
    _cmd(
        "removeflag", "imap4flags", positional=(S, SL), optional=1, optional_side="lead"
    ),
    # RFC 5229 section 4 (and draft-ietf-sieve-regex section 5 for :quoteregex)
    _cmd(
        "set",
        "variables",
        tags=(
            _t(":lower", None, "case"),
            _t(":upper", None, "case"),
            _t(":lowerfirst", None, "casefirst"),
            _t(":upperfirst", None, "casefirst"),
            _t(":quotewildcard", None, "quote"),
            _t(":quoteregex", None, "quote", "regex"),
            _t(":length", None, "length"),
        ),
        positional=(S, S),
    ),
    # RFC 5293 sections 4 and 5
    _cmd(
        "addheader", "editheader", tags=(_t(":last", None, "last"),), positional=(S, S)
    ),
    _cmd(
        "deleteheader",
        "editheader",
        tags=(
            _t(":index", N, "index"),
            _t(":last", None, "last"),
            *MATCHING,
        ),
        positional=(S, SL),
        optional=1,
    ),
)

_TESTS: tuple[CommandSpec, ...] = (
    # RFC 5228 section 5 (RFC 5260 section 6 adds :index/:last)
    _test(
        "address",
        tags=COMPARATOR_TAGS + ADDRESS_PART_TAGS + MATCH_TAGS + INDEX_TAGS,
        positional=(SL, SL),
    ),
    _test("allof", tests=Tests.LIST),
    _test("anyof", tests=Tests.LIST),
    _test(
        "envelope",
        "envelope",
        tags=COMPARATOR_TAGS + ADDRESS_PART_TAGS + MATCH_TAGS,
        positional=(SL, SL),
    ),
    _test("exists", positional=(SL,)),
    _test("false"),
    _test("header", tags=MATCHING + INDEX_TAGS, positional=(SL, SL)),
    _test("not", tests=Tests.ONE),
    _test(
        "size", tags=(_t(":over", N, "size"), _t(":under", N, "size")), positional=()
    ),
    _test("true"),
    # RFC 5173 section 4
    _test(
        "body",
        "body",
        tags=(
            *MATCHING,
            _t(":raw", None, "transform"),
            _t(":content", SL, "transform"),
            _t(":text", None, "transform"),
        ),
        positional=(SL,),
    ),
    # RFC 5229 section 5
    _test("string", "variables", tags=MATCHING, positional=(SL, SL)),
    # RFC 5232 section 6
    _test(
        "hasflag",
        "imap4flags",
        tags=MATCHING,
        positional=(SL, SL),
        optional=1,
        optional_side="lead",
    ),
    # RFC 5260 sections 4 and 5
    _test(
        "date", "date", tags=MATCHING + ZONE_TAGS + INDEX_TAGS, positional=(S, S, SL)
    ),
    _test(
        "currentdate",
        "date",
        tags=(*MATCHING, _t(":zone", S, "zone", "date")),
        positional=(S, SL),
    ),
    # RFC 5490 section 3.1
    _test("mailboxexists", "mailbox", positional=(SL,)),
)

COMMANDS: Mapping[str, CommandSpec] = {c.name: c for c in _COMMANDS}
TESTS: Mapping[str, CommandSpec] = {t.name: t for t in _TESTS}

# Header names the address test accepts (RFC 5228 section 5.1: "headers that
# contain addresses"); the same set as Pigeonhole, which refuses the others at
# compile time (Return-Path and Envelope-To belong to the envelope test).
ADDRESS_HEADERS: frozenset[str] = frozenset(
    {
        # RFC 5228 section 5.1
        "from",
        "to",
        "cc",
        "bcc",
        "sender",
        "resent-from",
        "resent-to",
        # RFC 5322 section 3.6
        "reply-to",
        "resent-reply-to",
        "resent-sender",
        "resent-cc",
        "resent-bcc",
        # RFC 2076 and common practice
        "for-approval",
        "for-handling",
        "for-comment",
        "apparently-to",
        "errors-to",
        "delivered-to",
        "return-receipt-to",
        "x-admin",
        "read-receipt-to",
        "x-confirm-reading-to",
        "return-receipt-requested",
        "registered-mail-reply-requested-by",
        "mail-followup-to",
        "mail-reply-to",
        "abuse-reports-to",
        "x-complaints-to",
        "x-report-abuse-to",
        "x-beenthere",
    }
)

DATE_PARTS: tuple[str, ...] = (  # RFC 5260 section 4.2
    "year",
    "month",
    "day",
    "date",
    "julian",
    "hour",
    "minute",
    "second",
    "time",
    "iso8601",
    "std11",
    "zone",
    "weekday",
)


def capabilities() -> tuple[str, ...]:
    """The SIEVE capability list (RFC 5804 section 1.7), in a stable order."""
    return EXTENSIONS


def known_capability(name: str) -> bool:
    """True if ``require`` may name it (capability names are case-sensitive)."""
    return name in EXTENSIONS or name in BUILTIN_REQUIRABLE
