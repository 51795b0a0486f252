"""``quicksilver-server export --to postfix-dovecot DIR``: the configuration
tree for moving to Postfix + Dovecot (``server/export/``), written into DIR.

Read-only on the data folder, so it runs while the server runs. Prints what
carried over and what did not; the same lists are in DIR/README.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from server.export import export_postfix_dovecot


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ex = sub.add_parser(
        "export", help="write a Postfix + Dovecot configuration for this data folder"
    )
    ex.add_argument("--to", choices=("postfix-dovecot",), required=True)
    ex.add_argument("folder", type=Path, metavar="DIR", help="a new or empty folder")
    ex.add_argument(
        "--mail-user",
        help="the system user Dovecot reads the mail as "
        "(default: the data folder's owner)",
    )
    ex.add_argument(
        "--copy-mail",
        action="store_true",
        help="copy the mail into DIR/mail for Dovecot (default: it uses the data "
        "folder's own Maildirs, nothing copied)",
    )
    ex.add_argument(
        "--with-relay-password",
        action="store_true",
        help="write the smart host password into postfix/sasl_passwd (0600)",
    )


def run(args: argparse.Namespace, data_dir: Path) -> int:
    result = export_postfix_dovecot(
        data_dir,
        args.folder,
        mail_user=args.mail_user,
        relay_password=args.with_relay_password,
        copy_mail=args.copy_mail,
    )
    print(f"wrote {result.files} files to {result.folder}")
    print("carried over:")
    for line in result.carried:
        print(f"  - {line}")
    print("not carried over:")
    for line in result.missing or ("nothing",):
        print(f"  - {line}")
    print(f"next steps: {result.folder / 'README.md'}")
    return 0
