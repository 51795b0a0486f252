"""``quicksilver-server dns DOMAIN [--check]``: the DNS records the domain
needs (server/dnshelper.py), and with ``--check`` what the world's DNS says
about each. The check asks the system's resolver."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path

from server.accounts.sqlite import SqliteAccountStore
from server.antispam.dnsq import Resolver, system_resolver
from server.config.schema import Settings
from server.dkim.keys import DkimKeys
from server.dnshelper import check, expected, notes
from server.errors import ValidationError

# what --check asks (tests put a table here)
make_resolver: Callable[[], Resolver] = system_resolver


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dns", help="the DNS records a domain needs, and a check")
    p.add_argument("domain")
    p.add_argument("--check", action="store_true", help="ask DNS what it has")


def run(
    args: argparse.Namespace,
    settings: Settings,
    accounts: SqliteAccountStore,
    data_dir: Path,
) -> int:
    domain = args.domain.strip().lower().rstrip(".")
    if not accounts.is_local_domain(domain):
        raise ValidationError(f"{domain} is not one of your mail domains.")
    records = expected(settings, DkimKeys(data_dir / "dkim"), domain)
    if not args.check:
        for r in records:
            value = f'"{r.value}"' if r.type == "TXT" else r.value
            print(f"{r.name}.  {r.type}  {value}    ; {r.why}")
        for note in notes(settings):
            print(f"; {note}")
        return 0
    findings = asyncio.run(check(records, make_resolver()))
    problems = 0
    for f in findings:
        shown = f" ({f.found})" if f.found and f.status != "ok" else ""
        print(f"{f.status:9} {f.record.name} {f.record.type}: {f.record.why}{shown}")
        problems += f.status != "ok"
    return 1 if problems else 0
