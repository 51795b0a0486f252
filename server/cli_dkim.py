"""``quicksilver-server dkim ...``: DKIM keys per domain (server/dkim/).

``generate`` makes a domain's first RSA-2048 and Ed25519 keys, which sign at
once; ``records`` prints the TXT records to publish. Rotation is two steps:
``rotate`` makes new keys that are only published (put their records in DNS
and wait for them to spread), ``activate`` switches signing to them; the old
keys stay published until ``remove``. The running server uses a change at
its next message.
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import datetime
from pathlib import Path

from server.accounts.sqlite import SqliteAccountStore
from server.cli_output import print_json
from server.dkim.keys import DkimKeys
from server.errors import ValidationError


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("dkim", help="DKIM signing keys of your domains")
    dsub = d.add_subparsers(dest="action", required=True)
    dsub.add_parser("list", help="every domain's keys and their state").add_argument(
        "--json", action="store_true"
    )
    for name, text in (
        ("generate", "make a domain's first keys (they sign at once)"),
        ("rotate", "make new keys to publish (step 1 of a key change)"),
        ("activate", "sign with the published keys (step 2)"),
        ("records", "the DNS TXT records to publish"),
    ):
        dsub.add_parser(name, help=text).add_argument("domain")
    rm = dsub.add_parser("remove", help="delete a key that no longer signs")
    rm.add_argument("domain")
    rm.add_argument("selector")


def run(args: argparse.Namespace, accounts: SqliteAccountStore, data_dir: Path) -> int:
    keys = DkimKeys(data_dir / "dkim")
    act = args.action
    if act == "list" and args.json:
        listed = [
            {**dataclasses.asdict(k), "record_name": k.record_name}
            for domain in keys.domains()
            for k in keys.keys(domain)
        ]
        print_json(listed)
        return 0
    if act == "list":
        for domain in keys.domains():
            for k in keys.keys(domain):
                day = datetime.fromtimestamp(k.created).strftime("%Y-%m-%d")
                print(f"{domain}  {k.selector}  {k.algorithm}  {k.state}  {day}")
        return 0
    domain = args.domain.strip().lower().rstrip(".")
    if not accounts.is_local_domain(domain):
        raise ValidationError(f"{domain} is not one of your mail domains.")
    if act in ("generate", "rotate"):
        made = keys.generate(domain) if act == "generate" else keys.rotate(domain)
        for k in made:
            print(f'{k.state}: {k.record_name} TXT "{keys.record(k)}"')
        if made and made[0].state == "published":
            print(
                "Publish these records, wait until they resolve (hours), then: "
                f"quicksilver-server dkim activate {domain}"
            )
    elif act == "activate":
        for k in keys.activate(domain):
            print(f"{k.selector}  {k.algorithm}  {k.state}")
    elif act == "records":
        found = [k for k in keys.keys(domain)]
        if not found:
            raise ValidationError(f"{domain} has no DKIM keys: dkim generate {domain}")
        for k in found:
            print(f'{k.record_name}. TXT "{keys.record(k)}"  ; {k.state}')
    else:
        keys.remove(domain, args.selector)
        print(f"removed {args.selector} (remove its DNS record too)")
    return 0
