"""``quicksilver-server fetch ...``: the collector's accounts from the shell.

The same checks as the window (server/fetch/store.py, CoreApi); the password
goes to the keyring (or the 0600 secrets file), read from the terminal or,
with ``--password-stdin``, from the first line of standard input. ``fetch
check`` asks the running server to poll the account now and waits for the
poll (the server looks for the request every second); it does not collect
by itself, so that two collectors never run side by side.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from server.accounts.sqlite import SqliteAccountStore
from server.cli_output import print_json
from server.errors import ValidationError
from server.fetch.module import check_destination, fetch_key
from server.fetch.store import (
    FILE_NAME,
    PROTOCOLS,
    SECURITY,
    FetchAccount,
    FetchStore,
    check_account,
)
from server.secrets import SecretStore

CHECK_WAIT = 120.0  # seconds `fetch check` waits for the running server
PICKUP_WAIT = 5.0  # ... of which this long for it to start the poll
DEFAULT_PORTS = {("pop3", "implicit"): 995, ("imap", "implicit"): 993}
PLAIN_PORTS = {"pop3": 110, "imap": 143}


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    f = sub.add_parser("fetch", help="collect mail from remote POP3/IMAP mailboxes")
    fsub = f.add_subparsers(dest="action", required=True)
    fsub.add_parser("list", help="the accounts and their last poll").add_argument(
        "--json", action="store_true"
    )
    for name in ("add", "set"):
        p = fsub.add_parser(name, help=f"{name} an account")
        p.add_argument("id", help="a short name for the account")
        p.add_argument("--server", required=name == "add")
        p.add_argument("--user", dest="username", required=name == "add")
        p.add_argument("--protocol", choices=PROTOCOLS)
        p.add_argument("--port", type=int)
        p.add_argument("--tls", dest="security", choices=SECURITY)
        p.add_argument(
            "--accept-fingerprint",
            dest="fingerprint",
            metavar="SHA256",
            help="accept this certificate (a self-signed server); '' to check",
        )
        p.add_argument("--folder", help="IMAP folder (INBOX)")
        p.add_argument("--interval", type=int, help="seconds between polls")
        p.add_argument("--to", dest="destination", help="the local user who gets it")
        p.add_argument(
            "--default-user", help="a domain mailbox: who gets mail for no local user"
        )
        p.add_argument("--leave", dest="leave_on_server", action="store_true")
        p.add_argument("--no-leave", dest="leave_on_server", action="store_false")
        p.add_argument("--delete-after-days", type=int)
        p.add_argument("--disable", dest="enabled", action="store_false")
        p.add_argument("--enable", dest="enabled", action="store_true")
        p.add_argument("--password-stdin", action="store_true")
        p.set_defaults(leave_on_server=None, enabled=None)
    fsub.add_parser("remove", help="remove an account").add_argument("id")
    fsub.add_parser("check", help="poll an account now").add_argument("id")


def run(
    args: argparse.Namespace,
    accounts: SqliteAccountStore,
    data_dir: Path,
    read_password: Callable[[bool], str],
) -> int:
    store = FetchStore(data_dir / FILE_NAME)
    try:
        return _run(args, accounts, store, SecretStore(data_dir), read_password)
    finally:
        store.close()


def _run(
    args: argparse.Namespace,
    accounts: SqliteAccountStore,
    store: FetchStore,
    secrets: SecretStore,
    read_password: Callable[[bool], str],
) -> int:
    act = args.action
    if act == "list" and args.json:
        statuses = store.statuses()
        listed = []
        for a in store.accounts():
            st = statuses.get(a.id)
            listed.append(
                {
                    **dataclasses.asdict(a),
                    "status": dataclasses.asdict(st) if st is not None else None,
                }
            )
        print_json(listed)
    elif act == "list":
        statuses = store.statuses()
        for a in store.accounts():
            st = statuses.get(a.id)
            where = a.destination or f"fan-out, default {a.default_user}"
            when = (
                datetime.fromtimestamp(st.last_poll).strftime("%Y-%m-%d %H:%M")
                if st is not None and st.last_poll
                else "never"
            )
            state = st.last_error if st is not None and st.last_error else "ok"
            print(
                f"{a.id}  {a.protocol}://{a.username}@{a.server}:{a.port} -> {where}"
                f"  {'on' if a.enabled else 'off'}  last poll {when}: {state}"
            )
    elif act in ("add", "set"):
        old = store.get(args.id)
        if act == "add" and old is not None:
            raise ValidationError(f"The account {args.id} exists.")
        if act == "set" and old is None:
            raise ValidationError(f"There is no account {args.id}.")
        a = _merged(args, old)
        a = check_account(a)
        check_destination(a, accounts)
        key = fetch_key(a.id)
        if act == "add" or args.password_stdin:
            password = read_password(args.password_stdin)
            if not password:
                raise ValidationError("Enter the password for the server.")
            secrets.set(key, password)
        store.save(a)
        print(f"saved {a.id}")
        if a.security == "none":
            print("warning: no TLS: the password travels in clear text")
    elif act == "remove":
        if not store.remove(args.id):
            raise ValidationError(f"There is no account {args.id}.")
        secrets.delete(fetch_key(args.id.lower()))
        print(f"removed {args.id} (the mail it collected stays)")
    else:
        return _check(store, args.id.lower())
    return 0


def _merged(args: argparse.Namespace, old: FetchAccount | None) -> FetchAccount:
    base = old or FetchAccount(id=args.id, server="", username="")
    changes = {
        k: getattr(args, k)
        for k in (
            "server",
            "username",
            "protocol",
            "port",
            "security",
            "fingerprint",
            "folder",
            "interval",
            "destination",
            "default_user",
            "leave_on_server",
            "delete_after_days",
            "enabled",
        )
        if getattr(args, k) is not None
    }
    a = dataclasses.replace(base, **changes)
    if old is None and args.port is None:  # the protocol's usual port
        port = DEFAULT_PORTS.get((a.protocol, a.security), PLAIN_PORTS[a.protocol])
        a = dataclasses.replace(a, port=port)
    if "destination" in changes and a.destination:
        a = dataclasses.replace(a, default_user=changes.get("default_user", ""))
    if "default_user" in changes and "destination" not in changes:
        a = dataclasses.replace(a, destination="")
    return a


def _check(store: FetchStore, ident: str) -> int:
    asked = time.time()
    store.request_check(ident, asked)
    deadline = asked + CHECK_WAIT
    while time.time() < deadline:
        time.sleep(0.25)
        st = store.statuses().get(ident)
        if st is not None and st.last_poll >= asked:
            if st.last_error:
                print(f"{ident}: {st.last_error}")
                return 1
            print(f"{ident}: collected {st.last_count} message(s)")
            return 0
        waited = time.time() - asked > PICKUP_WAIT
        if waited and st is not None and st.check_requested > 0:  # nobody took it
            print(
                "No running server picked the request up: start the server "
                "with the fetch module on (it polls at once when it starts)."
            )
            return 1
    print(f"{ident}: the poll did not finish within {CHECK_WAIT:.0f} s")
    return 1
