"""``quicksilver-server user vacation`` and ``user forward``: the window's
"Out of office" and "Forward to", from the shell.

Both edit the user's rules script (server/sieve/userrules.py), keeping the
rules and the other setting as they are; a user whose active script was
written elsewhere is refused with the reason. Without options the commands
print what is set. A running server sees the change within a second
(loading.RECHECK_SECONDS).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from server.accounts.sqlite import SqliteAccountStore
from server.errors import ValidationError
from server.sieve import userrules
from server.sieve.rules import AutoReply, Forwarding, RuleSet
from server.sieve.store import ScriptStore


def add_commands(usub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    vac = usub.add_parser(
        "vacation", help='"Out of office": reply once per sender per N days'
    )
    vac.add_argument("address")
    onoff = vac.add_mutually_exclusive_group()
    onoff.add_argument("--on", action="store_true", help="switch the reply on")
    onoff.add_argument("--off", action="store_true", help="switch the reply off")
    vac.add_argument("--subject", help="subject of the reply")
    text = vac.add_mutually_exclusive_group()
    text.add_argument("--text", help="text of the reply")
    text.add_argument("--text-file", type=Path, help="read the text from a file")
    vac.add_argument("--days", type=int, help="at most one reply per sender per N days")
    vac.add_argument("--from-date", help="first day (YYYY-MM-DD), empty for now")
    vac.add_argument("--to-date", help="last day (YYYY-MM-DD), empty for no end")
    fwd = usub.add_parser("forward", help="forward every message to other addresses")
    fwd.add_argument("address")
    fwd.add_argument("--to", action="append", default=[], help="an address (repeat)")
    keep = fwd.add_mutually_exclusive_group()
    keep.add_argument("--keep", action="store_true", help="keep a copy (default)")
    keep.add_argument("--no-keep", action="store_true", help="keep no copy")
    fwd.add_argument("--off", action="store_true", help="stop forwarding")


def _describe(rs: RuleSet) -> list[str]:
    out = []
    r = rs.auto_reply
    if r is None:
        out.append("out of office: off")
    else:
        when = f" from {r.start or 'now'} to {r.end or 'no end'}"
        out.append(
            f"out of office: on{when}, once per sender every {r.days} days, "
            f"subject {r.subject!r}"
        )
    f = rs.forwarding
    if f is None:
        out.append("forward: off")
    else:
        copy = "keeping a copy" if f.keep else "keeping no copy"
        out.append(f"forward: to {', '.join(f.to)}, {copy}")
    return out


def _vacation(args: argparse.Namespace, rs: RuleSet) -> RuleSet | None:
    given = (args.subject, args.text, args.text_file, args.days)
    changing = any(v is not None for v in (*given, args.from_date, args.to_date))
    if args.off:
        return dataclasses.replace(rs, auto_reply=None)
    if not (args.on or changing):
        return None
    old = rs.auto_reply or AutoReply("Out of office", "")
    text = old.text
    if args.text is not None:
        text = args.text
    elif args.text_file is not None:
        try:
            text = args.text_file.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(f"Cannot read {args.text_file}: {exc}") from None
    reply = AutoReply(
        old.subject if args.subject is None else args.subject,
        text,
        old.days if args.days is None else args.days,
        old.start if args.from_date is None else args.from_date,
        old.end if args.to_date is None else args.to_date,
        old.addresses,
    )
    return dataclasses.replace(rs, auto_reply=reply)


def _forward(args: argparse.Namespace, rs: RuleSet) -> RuleSet | None:
    if args.off:
        return dataclasses.replace(rs, forwarding=None)
    if not (args.to or args.keep or args.no_keep):
        return None
    old = rs.forwarding
    to = tuple(args.to) if args.to else (old.to if old else ())
    keep = (
        not args.no_keep if (args.keep or args.no_keep) else (old.keep if old else True)
    )
    return dataclasses.replace(rs, forwarding=Forwarding(to, keep))


def run(args: argparse.Namespace, accounts: SqliteAccountStore, data_dir: Path) -> int:
    user = accounts.get_user(args.address)
    if user is None:
        raise ValidationError(f"There is no user {args.address}.")
    store = ScriptStore(data_dir / "sieve")
    view = userrules.load_user(store, user.address)
    if not view.editable:
        raise ValidationError(
            f"{user.address}'s active script '{view.script}' was written elsewhere; "
            "it is left as it is."
        )
    change = _vacation if args.action == "vacation" else _forward
    new = change(args, view.rules)
    if new is not None:
        view = userrules.save_user(store, user.address, new)
        print(f"{user.address}: saved (a running server uses it within a second)")
    for line in _describe(view.rules):
        if line.startswith("out of office" if args.action == "vacation" else "forward"):
            print(f"{user.address} {line}")
    return 0
