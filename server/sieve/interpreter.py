"""Sieve interpreter: a compiled script and a message in, a list of actions out.

Pure: no I/O, no clock (the context carries ``now``), no global state. It runs
in a worker thread for any message (the body test parses MIME, ``:regex`` costs
CPU): the delivery layer calls ``run_scripts`` through ``asyncio.to_thread``,
never on the core loop.

Bounded, because a script comes from whoever owns a mailbox:

- Sieve has no loops; the work of a run is bounded by the script's size, the
  message's size, the body test's ``MAX_BODY_TEXT`` per part and the step
  budget (``SieveLimits.regex_steps``: the ``:regex`` VM and the ``:matches``
  search spend it, shared by the whole run);
- an expanded string is at most ``max_expanded_size`` characters;
- ``max_actions`` (Pigeonhole's sieve_max_actions, 32) and ``max_redirects``
  (sieve_max_redirects, 4): exceeding either is a run-time error;
- a variable holds at most ``max_variable_size`` octets of UTF-8 (RFC 5229
  section 3 lets an implementation cut; 4 KiB as Pigeonhole); match variables
  are cut the same way;
- added header values (RFC 5293) at most ``MAX_HEADER_VALUE`` octets.

A run-time error (conflicting actions, a limit, a bad regex built from a
variable) discards the failed script's actions and keeps the message in the
default mailbox (RFC 5228 section 2.10.6: "the implicit keep"); the error is
returned for the log. Mail is never lost to a script error.

Action rules (RFC 5228 section 4, as Pigeonhole applies them): a repeated
``fileinto``/``keep`` to the same mailbox stores once (the last flags win); a
repeated ``redirect`` to the same address (domain compared without case) sends
once; ``reject`` conflicts with any action that delivers or with ``vacation``
(RFC 5429 section 2.3); one ``vacation`` per script (RFC 5230 section 4.7).
Several scripts in a row: ``runner.run_scripts``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo

from server.sieve.actions import (
    Action,
    AddHeader,
    DeleteHeader,
    Discard,
    FileInto,
    HeaderEdit,
    Keep,
    Redirect,
    Reject,
    ScriptError,
    Vacation,
)
from server.sieve.addresses import (
    Address,
    format_address,
    parse_mailbox,
)
from server.sieve.compiler import (
    CompiledScript,
    MatchSpec,
    Node,
    SString,
    Template,
    Value,
)
from server.sieve.context import (
    MAX_HEADER_VALUE,
    PROTECTED_HEADERS,
    SieveContext,
    add_flags,
    flag_words,
    is_default,
    redirect_key,
    truncate_utf8,
    valid_flag,
)
from server.sieve.dates import date_part, parse_header_date, parse_zone
from server.sieve.errors import SieveRuntimeError
from server.sieve.fast import HeaderFacts, address_part
from server.sieve.match import MatchResult, match_values
from server.sieve.message import (
    Envelope,
    HeaderField,
    MessageView,
    encode_header_value,
)
from server.sieve.regex import (
    RegexBudgetExceeded,
    RegexError,
    StepBudget,
)
from server.sieve.spec import DATE_PARTS

log = logging.getLogger("quicksilver.sieve")

_ZONE = re.compile(r"[+-][0-9]{4}")
_ASCII_UP = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOW = "abcdefghijklmnopqrstuvwxyz"
_LOWER = str.maketrans(_ASCII_UP, _ASCII_LOW)
_UPPER = str.maketrans(_ASCII_LOW, _ASCII_UP)


_NONE_FALSE: frozenset[int] = frozenset()


class _Stop(Exception):
    """The stop command (RFC 5228 section 3.3)."""


@dataclass(slots=True)
class _Shared:
    """State that carries over between the scripts of one delivery;
    ``facts`` indexes the header fields and remembers their folded values and
    parsed addresses (many rules test the same From): fast.py."""

    headers: list[HeaderField]
    edits: list[HeaderEdit]
    flags: list[str]
    facts: HeaderFacts


@dataclass(slots=True)
class _Outcome:
    actions: list[Action]
    keep: Keep | None  # the keep in effect at the end (explicit or implicit)
    error: ScriptError | None = None
    warnings: list[str] = field(default_factory=list)


class _Run:
    def __init__(
        self,
        script: CompiledScript,
        msg: MessageView,
        env: Envelope,
        ctx: SieveContext,
        shared: _Shared,
    ) -> None:
        self.script = script
        self.msg = msg
        self.env = env
        self.ctx = ctx
        self.limits = ctx.limits
        self.shared = shared
        self.variables: dict[str, str] = {}
        self.match_vars: tuple[str, ...] = ()
        self.actions: list[Action] = []
        self.implicit_keep = True
        self.explicit_keep = False
        self.redirects = 0
        self.budget = StepBudget(ctx.limits.regex_steps)
        self.uses_variables = "variables" in script.extensions
        self.fast = script.fast
        self.warnings: list[str] = []
        self.line = 0

    # -- strings ---------------------------------------------------------------

    def expand(self, s: SString) -> str:
        if isinstance(s, str):
            return s
        out: list[str] = []
        size = 0
        limit = self.limits.max_expanded_size
        for part in s.parts:
            if isinstance(part, str):
                piece = part
            elif part.index >= 0:
                piece = (
                    self.match_vars[part.index]
                    if part.index < len(self.match_vars)
                    else ""
                )
            else:
                piece = self.variables.get(part.name, "")
            size += len(piece)
            if size > limit:
                out.append(piece[: len(piece) - (size - limit)])
                break
            out.append(piece)
        return "".join(out)

    def str_arg(self, v: Value) -> str:
        if isinstance(v, str | Template):
            return self.expand(v)
        raise SieveRuntimeError(self.line, "internal error: a string was expected")

    def list_arg(self, v: Value) -> list[str]:
        if isinstance(v, tuple):
            return [self.expand(s) for s in v]
        if isinstance(v, str | Template):
            return [self.expand(v)]
        raise SieveRuntimeError(self.line, "internal error: a string list was expected")

    def int_arg(self, v: Value) -> int:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        raise SieveRuntimeError(self.line, "internal error: a number was expected")

    def set_match(self, r: MatchResult) -> None:
        if self.uses_variables and r.matched and r.variables is not None:
            size = self.limits.max_variable_size
            self.match_vars = tuple(truncate_utf8(v, size) for v in r.variables)

    def match(
        self,
        node: Node,
        values: Sequence[str],
        keys: Sequence[str],
        count: int | None = None,
        set_vars: bool = True,
    ) -> bool:
        spec = node.match or MatchSpec()
        try:
            r = match_values(spec, values, keys, self.budget, count)
        except RegexError as exc:
            raise SieveRuntimeError(
                node.line, f"invalid regular expression: {exc}"
            ) from None
        except RegexBudgetExceeded:
            raise SieveRuntimeError(
                node.line, "the regular expressions of this script took too long"
            ) from None
        if set_vars:
            self.set_match(r)
        return r.matched

    # -- headers ---------------------------------------------------------------

    def fields(self, name: str, node: Node) -> Sequence[HeaderField]:
        found = self.shared.facts.fields(name.lower())
        if node.has(":index"):
            idx = self.int_arg(node.tags[":index"])
            if node.has(":last"):
                found = list(reversed(found))
            found = [found[idx - 1]] if 0 < idx <= len(found) else []
        return found

    # -- tests -----------------------------------------------------------------

    def test(self, node: Node) -> bool:
        fast = self.fast.get(id(node))
        if fast is not None:
            return fast(self.shared.facts)
        name = node.name
        if name == "true":
            return True
        if name == "false":
            return False
        if name == "not":
            return not self.test(node.tests[0])
        if name == "allof":
            return all(self.test(t) for t in node.tests)
        if name == "anyof":
            return any(self.test(t) for t in node.tests)
        handler = getattr(self, "t_" + name)
        result: bool = handler(node)
        return result

    def t_exists(self, node: Node) -> bool:
        names = self.list_arg(node.args[0])
        facts = self.shared.facts
        return all(facts.fields(n.lower()) for n in names)

    def t_size(self, node: Node) -> bool:
        if node.has(":over"):
            return self.msg.size > self.int_arg(node.tags[":over"])
        return self.msg.size < self.int_arg(node.tags[":under"])

    def t_header(self, node: Node) -> bool:
        values = [
            f.decoded for n in self.list_arg(node.args[0]) for f in self.fields(n, node)
        ]
        return self.match(node, values, self.list_arg(node.args[1]))

    def _match_addresses(self, node: Node, addresses: list[Address]) -> bool:
        sep = self.ctx.subaddress_separator
        values = [
            v
            for a in addresses
            if (v := address_part(a, node.address_part, sep)) is not None
        ]
        return self.match(
            node, values, self.list_arg(node.args[1]), count=len(addresses)
        )

    def t_address(self, node: Node) -> bool:
        addresses: list[Address] = []
        facts = self.shared.facts
        for name in self.list_arg(node.args[0]):
            for f in self.fields(name, node):
                addresses.extend(facts.parsed(f))
        return self._match_addresses(node, addresses)

    def _envelope_address(self, text: str) -> Address:
        if text == "":
            return Address(None, None, "")
        parsed = parse_mailbox(text)
        if parsed is not None:
            local, _, domain = text.rpartition("@")
            return Address(parsed.local_part, domain)
        local, at, domain = text.rpartition("@")
        if not at:
            return Address(text, None)
        return Address(local, domain)

    def t_envelope(self, node: Node) -> bool:
        addresses: list[Address] = []
        for part in self.list_arg(node.args[0]):
            p = part.lower()
            if p == "from":
                addresses.append(self._envelope_address(self.env.mail_from))
            elif p == "to":
                addresses.append(self._envelope_address(self.env.original_recipient))
            elif p == "auth" and self.env.auth is not None:
                addresses.append(self._envelope_address(self.env.auth))
        return self._match_addresses(node, addresses)

    def t_body(self, node: Node) -> bool:
        if node.has(":raw"):
            values: Sequence[str] = (self.msg.raw_body(),)
        elif node.has(":content"):
            values = self.msg.body_texts(tuple(self.list_arg(node.tags[":content"])))
        else:
            values = self.msg.body_texts(None)
        # RFC 5173 section 6: the body test does not set match variables.
        return self.match(node, values, self.list_arg(node.args[0]), set_vars=False)

    def t_string(self, node: Node) -> bool:
        values = self.list_arg(node.args[0])
        # RFC 5229 section 5: :count counts the strings that are not empty.
        count = sum(1 for v in values if v)
        return self.match(node, values, self.list_arg(node.args[1]), count=count)

    def _flag_source(self, node: Node) -> list[str]:
        names = self.list_arg(node.args[0])
        if not names:
            return list(self.shared.flags)
        out: list[str] = []
        for n in names:
            out = add_flags(out, self.variables.get(n.lower(), "").split())
        return out

    def t_hasflag(self, node: Node) -> bool:
        flags = self._flag_source(node)
        keys = flag_words(self.list_arg(node.args[1]))
        return self.match(node, flags, keys)

    def t_mailboxexists(self, node: Node) -> bool:
        return all(self.ctx.mailbox_exists(m) for m in self.list_arg(node.args[0]))

    def _zone(self, node: Node) -> tzinfo:
        if not node.has(":zone"):
            return self.ctx.zone
        text = self.str_arg(node.tags[":zone"])
        if not _ZONE.fullmatch(text):
            raise SieveRuntimeError(node.line, f"invalid time zone '{text}'")
        return parse_zone(text)

    def _date_values(
        self, stamps: Sequence[datetime], node: Node, part: str
    ) -> list[str]:
        out: list[str] = []
        zone = None if node.has(":originalzone") else self._zone(node)
        for dt in stamps:
            try:
                local = dt if zone is None else dt.astimezone(zone)
            except OverflowError:
                continue  # a date at the edge of the calendar
            out.append(date_part(local, part))
        return out

    def t_date(self, node: Node) -> bool:
        header = self.str_arg(node.args[0])
        part = self.str_arg(node.args[1]).lower()
        if part not in DATE_PARTS:
            # An unknown date part never matches (Pigeonhole does the same).
            return False
        received = header.lower() == "received"
        stamps = [
            dt
            for f in self.fields(header, node)
            if (dt := parse_header_date(f.decoded, received))
        ]
        values = self._date_values(stamps, node, part)
        return self.match(node, values, self.list_arg(node.args[2]))

    def t_currentdate(self, node: Node) -> bool:
        part = self.str_arg(node.args[0]).lower()
        if part not in DATE_PARTS:
            return False
        local = self.ctx.now.astimezone(self._zone(node))
        return self.match(node, [date_part(local, part)], self.list_arg(node.args[1]))

    # -- actions ---------------------------------------------------------------

    def add_action(self, action: Action) -> None:
        if len(self.actions) >= self.limits.max_actions:
            raise SieveRuntimeError(
                self.line,
                f"too many actions (the limit is {self.limits.max_actions})",
            )
        self.actions.append(action)

    def _check_reject_conflict(self, what: str) -> None:
        for a in self.actions:
            if isinstance(a, Reject):
                raise SieveRuntimeError(
                    self.line, f"{what} conflicts with reject (RFC 5429 section 2.3)"
                )

    def _edits(self) -> tuple[HeaderEdit, ...]:
        return tuple(self.shared.edits)

    def store(
        self, mailbox: str, flags: tuple[str, ...], copy: bool, create: bool, keep: bool
    ) -> None:
        self._check_reject_conflict("storing the message")
        default = self.ctx.default_mailbox
        for i, a in enumerate(self.actions):
            if isinstance(a, Keep) and is_default(mailbox, default):
                self.actions[i] = replace(a, flags=flags, header_edits=self._edits())
                return
            if keep and isinstance(a, FileInto) and is_default(a.mailbox, default):
                # keep after fileinto "INBOX": one store, and it is a keep.
                self.actions[i] = Keep(flags, header_edits=self._edits())
                return
            if isinstance(a, FileInto) and (
                a.mailbox == mailbox
                or (is_default(a.mailbox, default) and is_default(mailbox, default))
            ):
                self.actions[i] = replace(
                    a,
                    flags=flags,
                    create=a.create or create,
                    header_edits=self._edits(),
                )
                return
        if keep:
            self.add_action(Keep(flags, header_edits=self._edits()))
        else:
            self.add_action(FileInto(mailbox, flags, copy, create, self._edits()))

    def _action_flags(self, node: Node) -> tuple[str, ...]:
        if node.has(":flags"):
            words = flag_words(self.list_arg(node.tags[":flags"]))
        else:
            words = list(self.shared.flags)
        out: list[str] = []
        for w in words:
            f = valid_flag(w)
            if f is None:
                self.warnings.append(
                    f"line {node.line}: invalid IMAP flag '{w}' ignored"
                )
                continue
            out = add_flags(out, [f])
        return tuple(out)

    def c_keep(self, node: Node) -> None:
        self.store(
            self.ctx.default_mailbox, self._action_flags(node), False, False, True
        )
        self.implicit_keep = False
        self.explicit_keep = True

    def c_fileinto(self, node: Node) -> None:
        mailbox = self.str_arg(node.args[0])
        copy = node.has(":copy")
        self.store(mailbox, self._action_flags(node), copy, node.has(":create"), False)
        if not copy:
            self.implicit_keep = False

    def c_redirect(self, node: Node) -> None:
        text = self.str_arg(node.args[0])
        parsed = parse_mailbox(text)
        if parsed is None:
            raise SieveRuntimeError(node.line, f"invalid redirect address '{text}'")
        address = format_address(parsed)
        self._check_reject_conflict("redirect")
        copy = node.has(":copy")
        key = redirect_key(address)
        if not any(
            isinstance(a, Redirect) and redirect_key(a.address) == key
            for a in self.actions
        ):
            self.redirects += 1
            if self.redirects > self.limits.max_redirects:
                raise SieveRuntimeError(
                    node.line,
                    f"too many redirects (the limit is {self.limits.max_redirects})",
                )
            self.add_action(Redirect(address, copy, self._edits()))
        if not copy:
            self.implicit_keep = False

    def c_discard(self, node: Node) -> None:
        if not any(isinstance(a, Discard) for a in self.actions):
            self.add_action(Discard())
        self.implicit_keep = False

    def _reject(self, node: Node, ereject: bool) -> None:
        for a in self.actions:
            if isinstance(a, Reject):
                raise SieveRuntimeError(node.line, "only one reject per script")
            if isinstance(a, Keep | FileInto | Redirect):
                raise SieveRuntimeError(
                    node.line,
                    "reject conflicts with an action that delivers the message",
                )
            if isinstance(a, Vacation):
                raise SieveRuntimeError(node.line, "reject conflicts with vacation")
        self.add_action(Reject(self.str_arg(node.args[0]), ereject))
        self.implicit_keep = False

    def c_reject(self, node: Node) -> None:
        self._reject(node, False)

    def c_ereject(self, node: Node) -> None:
        self._reject(node, True)

    def c_vacation(self, node: Node) -> None:
        for a in self.actions:
            if isinstance(a, Vacation):
                raise SieveRuntimeError(node.line, "only one vacation per script")
            if isinstance(a, Reject):
                raise SieveRuntimeError(node.line, "vacation conflicts with reject")
        limits = self.limits
        if node.has(":seconds"):
            period = self.int_arg(node.tags[":seconds"])
        elif node.has(":days"):
            period = self.int_arg(node.tags[":days"]) * 86400
        else:
            period = limits.vacation_default_period
        period = max(period, limits.vacation_min_period)
        if limits.vacation_max_period:
            period = min(period, limits.vacation_max_period)
        reason_src = node.args[0]
        subject = self.str_arg(node.tags[":subject"]) if node.has(":subject") else None
        from_addr = self.str_arg(node.tags[":from"]) if node.has(":from") else None
        if from_addr is not None and parse_mailbox(from_addr) is None:
            raise SieveRuntimeError(
                node.line, f"invalid vacation :from address '{from_addr}'"
            )
        addresses: list[str] = []
        if node.has(":addresses"):
            for item in self.list_arg(node.tags[":addresses"]):
                parsed = parse_mailbox(item)
                if parsed is None:
                    self.warnings.append(
                        f"line {node.line}: invalid :addresses item '{item}' ignored"
                    )
                    continue
                addresses.append(format_address(parsed))
        mime = node.has(":mime")
        if node.has(":handle"):
            handle = self.str_arg(node.tags[":handle"])
        else:
            # RFC 5230 section 4.2: the implicit handle depends on the
            # vacation's arguments; built from their source text, as Pigeonhole.
            handle = (
                _source(reason_src)
                + (
                    _source(node.tags[":subject"])
                    if node.has(":subject")
                    else "<default-subject>"
                )
                + (
                    _source(node.tags[":from"])
                    if node.has(":from")
                    else "<default-from>"
                )
                + ("<MIME>" if mime else "<NO-MIME>")
            )
        self.add_action(
            Vacation(
                reason=self.str_arg(reason_src),
                handle=handle,
                period=period,
                subject=subject,
                from_address=from_addr,
                addresses=tuple(addresses),
                mime=mime,
            )
        )

    def c_stop(self, node: Node) -> None:
        raise _Stop

    def c_set(self, node: Node) -> None:
        name = self.str_arg(node.args[0]).lower()
        value = self.str_arg(node.args[1])
        # RFC 5229 section 4.1: case modifiers; ASCII letters only, as
        # Pigeonhole (and i;ascii-casemap) treat case.
        if node.has(":lower"):
            value = value.translate(_LOWER)
        if node.has(":upper"):
            value = value.translate(_UPPER)
        if node.has(":lowerfirst") and value:
            value = value[0].translate(_LOWER) + value[1:]
        if node.has(":upperfirst") and value:
            value = value[0].translate(_UPPER) + value[1:]
        if node.has(":quotewildcard"):
            value = value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")
        if node.has(":length"):
            value = str(len(value))
        self.variables[name] = truncate_utf8(value, self.limits.max_variable_size)

    def _flag_target(self, node: Node) -> tuple[str | None, list[str]]:
        name = self.str_arg(node.args[0]).lower()
        if name:
            return name, self.variables.get(name, "").split()
        return None, self.shared.flags

    def _flag_store(self, name: str | None, flags: list[str]) -> None:
        if name is None:
            self.shared.flags = flags
        else:
            self.variables[name] = truncate_utf8(
                " ".join(flags), self.limits.max_variable_size
            )

    def c_setflag(self, node: Node) -> None:
        name, _ = self._flag_target(node)
        self._flag_store(name, add_flags([], flag_words(self.list_arg(node.args[1]))))

    def c_addflag(self, node: Node) -> None:
        name, current = self._flag_target(node)
        self._flag_store(
            name, add_flags(current, flag_words(self.list_arg(node.args[1])))
        )

    def c_removeflag(self, node: Node) -> None:
        name, current = self._flag_target(node)
        gone = {f.lower() for f in flag_words(self.list_arg(node.args[1]))}
        self._flag_store(name, [f for f in current if f.lower() not in gone])

    def c_addheader(self, node: Node) -> None:
        name = self.str_arg(node.args[0])
        value = self.str_arg(node.args[1])
        if len(value.encode("utf-8")) > MAX_HEADER_VALUE:
            raise SieveRuntimeError(node.line, "addheader: the value is too long")
        if not name or any(ord(c) < 33 or ord(c) > 126 or c == ":" for c in name):
            raise SieveRuntimeError(
                node.line, f"addheader: invalid header name '{name}'"
            )
        last = node.has(":last")
        f = HeaderField(name, " " + encode_header_value(value))
        headers = self.shared.headers
        if last:
            headers.append(f)
        else:
            headers.insert(0, f)
        self.shared.facts.invalidate()
        self.shared.edits.append(AddHeader(name, value, last))

    def c_deleteheader(self, node: Node) -> None:
        name = self.str_arg(node.args[0])
        key = name.lower()
        if key in PROTECTED_HEADERS:
            self.warnings.append(
                f"line {node.line}: deleting '{name}' is not allowed; ignored"
            )
            return
        patterns = self.list_arg(node.args[1]) if len(node.args) > 1 else None
        headers = self.shared.headers
        positions = [i for i, f in enumerate(headers) if f.key == key]
        if node.has(":index"):
            idx = self.int_arg(node.tags[":index"])
            order = list(reversed(positions)) if node.has(":last") else positions
            positions = [order[idx - 1]] if 0 < idx <= len(order) else []
        doomed: list[int] = []
        for pos in positions:
            if patterns is None or self.match(node, [headers[pos].decoded], patterns):
                doomed.append(pos)
        for pos in reversed(doomed):
            occurrence = sum(1 for f in headers[:pos] if f.key == key) + 1
            del headers[pos]
            self.shared.facts.invalidate()
            self.shared.edits.append(DeleteHeader(name, occurrence))

    # -- control ---------------------------------------------------------------

    def block(self, nodes: Sequence[Node]) -> None:
        """Run a block along its plan (fast.precompile): an if whose tests
        are closures costs a call per test; anything else goes to ``step``."""
        plan = self.script.plans.get(id(nodes))
        if plan is None:  # not one of the script's blocks: no plan
            for each in nodes:
                self.step(each)
            return
        facts = self.shared.facts
        # ifs known false from one read of their header; void once anything
        # in this block has run (it may have changed the header)
        prefilter = self.script.prefilters.get(id(nodes))
        false = prefilter(facts) if prefilter is not None else _NONE_FALSE
        for index, (test, body, line, chain, node) in enumerate(plan):
            if test is not None:
                if index not in false and test(facts):
                    false = _NONE_FALSE
                    self.line = line
                    self.block(body)
            elif chain is not None:
                for fn, branch, at in chain.branches:
                    if fn(facts):
                        false = _NONE_FALSE
                        self.line = at
                        self.block(branch)
                        break
                else:
                    if chain.otherwise is not None:
                        false = _NONE_FALSE
                        self.block(chain.otherwise)
            elif node is not None:
                false = _NONE_FALSE
                self.step(node)

    def step(self, node: Node) -> None:
        self.line = node.line
        if node.name == "if":
            facts = self.shared.facts
            for test, body in node.branches:
                self.line = test.line
                fast = self.fast.get(id(test))
                if fast(facts) if fast is not None else self.test(test):
                    self.block(body)
                    break
            else:
                if node.else_block is not None:
                    self.block(node.else_block)
            return
        handler: Callable[[Node], None] = getattr(self, "c_" + node.name)
        handler(node)

    def run(self) -> _Outcome:
        try:
            self.block(self.script.commands)
        except _Stop:
            pass
        except SieveRuntimeError as exc:
            return _Outcome(
                [],
                None,
                ScriptError(self.script.name, exc.line, exc.message),
                self.warnings,
            )
        keep: Keep | None = None
        actions: list[Action] = []
        for a in self.actions:
            if isinstance(a, Keep):
                keep = a
            actions.append(a)
        if keep is None and self.implicit_keep:
            keep = Keep(
                tuple(f for w in self.shared.flags if (f := valid_flag(w)) is not None),
                implicit=True,
                header_edits=self._edits(),
            )
        return _Outcome(actions, keep, None, self.warnings)


def _source(v: Value) -> str:
    """A string argument as the script wrote it (variables not expanded)."""
    if isinstance(v, str):
        return v
    if isinstance(v, Template):
        return "".join(
            p
            if isinstance(p, str)
            else (f"${{{p.index}}}" if p.index >= 0 else f"${{{p.name}}}")
            for p in v.parts
        )
    return ""
