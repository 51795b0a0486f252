"""``quicksilver-server access``: who may connect, as the window's access
rules editor shows and edits it (server/netcontrol.py).

- ``access list [MODULE] [--json]``: each module's rules, or the default
  (``security.access``) a module without its own uses.
- ``access set MODULE|default RULE...``: replace a list (checked as the
  editor checks it); ``access set MODULE --default``: the module uses the
  default again. A running server follows the file within a second.
- ``access test ADDRESS [--module M]``: allowed or refused, and by which
  rule, with no connection made.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from server.cli_output import print_json
from server.config.schema import SECTIONS
from server.config.store import SettingsStore
from server.errors import ValidationError
from server.modules import registry
from server.netcontrol import first_match, parse_rules


def _listening_modules() -> tuple[str, ...]:
    """The modules with an access list of their own (the ones that listen)."""
    return tuple(
        name
        for name in registry.names()
        if name in SECTIONS
        and "access" in {f.name for f in dataclasses.fields(SECTIONS[name])}
    )


MODULES = _listening_modules()


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = sub.add_parser("access", help="who may connect: allow/deny rules per module")
    asub = a.add_subparsers(dest="action", required=True)
    ls = asub.add_parser("list", help="the rules of each module (or one)")
    ls.add_argument("module", nargs="?", choices=(*MODULES, "default"))
    ls.add_argument("--json", action="store_true")
    st = asub.add_parser("set", help="replace a module's rules (or the default)")
    st.add_argument("module", choices=(*MODULES, "default"))
    st.add_argument("rules", nargs="*", help='each like "allow 10.0.0.0/8 # office"')
    st.add_argument(
        "--default", action="store_true", help="the module uses the default again"
    )
    ts = asub.add_parser("test", help="would this address be let in?")
    ts.add_argument("address")
    ts.add_argument("--module", choices=MODULES, default=MODULES[0])


def run(args: argparse.Namespace, data_dir: Path) -> int:
    store = SettingsStore(data_dir / "settings.toml")
    if args.action == "set":
        if args.module == "default":
            if args.default or not args.rules:
                raise ValidationError("the default needs at least one rule")
            store.patch({"security": {"access": list(args.rules)}})
        else:
            if args.default == bool(args.rules):
                raise ValidationError("give rules, or --default (not both)")
            store.patch({args.module: {"access": list(args.rules)}})
        print(f"access rules of {args.module} saved")
        return 0
    settings = store.load()
    default = tuple(settings.security.access)

    def rules_of(module: str) -> tuple[tuple[str, ...], bool]:
        if module == "default":
            return default, True
        own = tuple(getattr(settings, module).access)
        return (own, False) if own else (default, True)

    if args.action == "test":
        rules, _ = rules_of(args.module)
        i = first_match(parse_rules(rules), args.address)
        if i is None:
            print(f"{args.address}: refused by {args.module} (no rule matches)")
            return 1
        verdict = "allowed" if parse_rules(rules)[i].allow else "refused"
        print(f"{args.address}: {verdict} by {args.module}, rule {i + 1}: {rules[i]}")
        return 0 if verdict == "allowed" else 1
    wanted = (args.module,) if args.module else (*MODULES, "default")
    listing = {module: rules_of(module) for module in wanted}
    if args.json:
        out = {m: {"rules": list(r), "default": d} for m, (r, d) in listing.items()}
        print_json(out)
        return 0
    for module, (rules, from_default) in listing.items():
        where = " (the default)" if from_default and module != "default" else ""
        print(f"{module}{where}:")
        for n, rule in enumerate(rules, start=1):
            print(f"  {n}. {rule}")
    return 0
