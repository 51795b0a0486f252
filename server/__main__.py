"""``quicksilver-server``: the core without a window.

    quicksilver-server [--data-dir DIR] [run]          run until SIGINT/SIGTERM
    quicksilver-server init --domain D [--hostname H]  first-run settings
    quicksilver-server domain list|add NAME|remove NAME
    quicksilver-server user list|add ADDR|passwd ADDR|disable ADDR|enable ADDR
    quicksilver-server user delete ADDR
    (user add / passwd refuse a weak password, saying why, unless --allow-weak)
    quicksilver-server alias list|set ADDR USER...|remove ADDR
    quicksilver-server module list|enable NAME|disable NAME
    quicksilver-server module set NAME [--bind IP] [--port N] [--tls-port N]
    quicksilver-server test-message --to ADDR [--from ADDR]

Management commands work on the data folder directly, also while a server or
the window runs: a running server sees account changes at its next lookup (the
next login, the next RCPT) and settings changes within a second (it reloads
``settings.toml`` and restarts the modules concerned). Settings changes are
patches applied under the settings lock (``server/config/store.py``), so no
writer undoes another's change.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from server import (
    cli_access,
    cli_admin,
    cli_capture,
    cli_config,
    cli_dkim,
    cli_dns,
    cli_export,
    cli_fetch,
    cli_internet,
    cli_lists,
    cli_rules,
)
from server.cli_output import print_json
from server.errors import PermanentError, ValidationError
from server.paths import default_data_dir, use_private_umask


def _module_names() -> tuple[str, ...]:
    from server.modules import registry

    return registry.names()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="quicksilver-server", description="Quicksilver mail server, headless."
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data folder (default: $QUICKSILVER_HOME or the per-user folder)",
    )
    sub = p.add_subparsers(dest="cmd")
    run = sub.add_parser("run", help="run the enabled modules until SIGINT/SIGTERM")
    run.add_argument(
        "--capture",
        action="store_true",
        help="capture mode for this run: take mail for any address, keep it "
        "in the capture mailbox, deliver nothing",
    )

    init = sub.add_parser("init", help="set the mail domain and host name")
    init.add_argument("--domain", required=True)
    init.add_argument("--hostname", default="")

    dom = sub.add_parser("domain", help="manage mail domains")
    dsub = dom.add_subparsers(dest="action", required=True)
    dsub.add_parser("list").add_argument(
        "--json", action="store_true", help="as JSON, for scripts"
    )
    dsub.add_parser("add").add_argument("name")
    dsub.add_parser("remove").add_argument("name")

    user = sub.add_parser("user", help="manage mailbox users")
    usub = user.add_subparsers(dest="action", required=True)
    usub.add_parser("list").add_argument(
        "--json", action="store_true", help="as JSON, for scripts"
    )
    ua = usub.add_parser("add")
    ua.add_argument("address")
    ua.add_argument("--name", default="", help="display name")
    ua.add_argument("--quota-mb", type=int, default=0)
    ua.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input",
    )
    up = usub.add_parser("passwd")
    up.add_argument("address")
    up.add_argument("--password-stdin", action="store_true")
    for cmd in (ua, up):
        cmd.add_argument(
            "--allow-weak",
            action="store_true",
            help="accept a password that is easy to guess (tests, throwaway setups)",
        )
    for action in ("disable", "enable", "delete"):
        usub.add_parser(action).add_argument("address")
    lp = usub.add_parser(
        "legacy-password",
        help="a separate password for old mail programs (APOP, CRAM-MD5)",
    )
    lp.add_argument("address")
    lp.add_argument("state", choices=("on", "off"))
    usub.add_parser(
        "restore-mail",
        help="bring back the mail a deleted user left (into the account made again)",
    ).add_argument("address")
    cli_rules.add_commands(usub)
    cli_lists.add_commands(sub)
    cli_fetch.add_commands(sub)
    cli_dkim.add_commands(sub)
    cli_dns.add_commands(sub)
    cli_internet.add_commands(sub)
    cli_config.add_commands(sub)
    cli_admin.add_commands(sub)
    cli_capture.add_commands(sub)
    cli_access.add_commands(sub)
    cli_export.add_commands(sub)
    bk = sub.add_parser(
        "backup", help="write a consistent archive of the data folder (runs live)"
    )
    bk.add_argument("--to", type=Path, help="archive file (default: in this folder)")
    rs = sub.add_parser("restore", help="check an archive and make it the data folder")
    rs.add_argument("archive", type=Path)
    rs.add_argument(
        "--check", action="store_true", help="only check the archive, change nothing"
    )

    alias = sub.add_parser("alias", help="manage aliases (*@domain = catch-all)")
    asub = alias.add_subparsers(dest="action", required=True)
    asub.add_parser("list").add_argument(
        "--json", action="store_true", help="as JSON, for scripts"
    )
    aset = asub.add_parser("set")
    aset.add_argument("address")
    aset.add_argument("targets", nargs="+")
    asub.add_parser("remove").add_argument("address")

    mod = sub.add_parser("module", help="switch modules and set their addresses")
    msub = mod.add_subparsers(dest="action", required=True)
    msub.add_parser("list").add_argument(
        "--json", action="store_true", help="as JSON, for scripts"
    )
    module_names = _module_names()
    for action in ("enable", "disable"):
        msub.add_parser(action).add_argument("name", choices=module_names)
    mset = msub.add_parser("set")
    mset.add_argument("name", choices=module_names)
    mset.add_argument("--bind")
    mset.add_argument("--port", type=int)
    mset.add_argument("--tls-port", type=int)

    tm = sub.add_parser(
        "test-message", help="send a test message through the running smtp module"
    )
    tm.add_argument("--to", required=True, dest="recipient", metavar="ADDR")
    tm.add_argument("--from", default="", dest="sender", metavar="ADDR")
    return p


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ValidationError("The passwords do not match.")
    return first


def _backup_or_restore(args: argparse.Namespace, data_dir: Path) -> int:
    from server import backup

    if args.cmd == "backup":
        stamp = time.strftime("%Y%m%d-%H%M%S")
        dest = args.to or Path(f"quicksilver-backup-{stamp}.tar.gz")
        done = backup.backup(data_dir, dest)
        print(
            f"{done.path}: {done.files} files, {done.messages} messages, "
            f"{done.bytes / 1e6:.1f} MB"
        )
        return 0
    if args.check:
        print(f"{args.archive}: complete, {backup.check_archive(args.archive)} files")
        return 0
    done_r = backup.restore(args.archive, data_dir)
    print(f"restored {done_r.files} files into {done_r.target}")
    if done_r.moved_aside is not None:
        print(f"the folder that was there is now {done_r.moved_aside}")
    return 0


def _manage(args: argparse.Namespace, data_dir: Path) -> int:
    from server.accounts.sqlite import SqliteAccountStore
    from server.config.store import SettingsStore
    from server.storage.maildir import MaildirStore

    data_dir.mkdir(parents=True, exist_ok=True)
    sstore = SettingsStore(data_dir / "settings.toml")
    settings = sstore.load()
    if args.cmd == "config":
        return cli_config.run(args, sstore, data_dir, _read_password)
    if args.cmd == "module":
        if args.action == "list":
            if args.json:
                rows = []
                for name in _module_names():
                    sec = getattr(settings, name, None)
                    row: dict[str, Any] = {"name": name}
                    if sec is not None:
                        row["enabled"] = sec.enabled
                        for k in ("bind", "port", "tls_port"):
                            if hasattr(sec, k):
                                row[k] = getattr(sec, k)
                    rows.append(row)
                print_json(rows)
                return 0
            for name in _module_names():
                sec = getattr(settings, name, None)
                if sec is None:  # a module without settings of its own
                    print(f"{name:<11} -")
                    continue
                ports = [
                    str(getattr(sec, k))
                    for k in ("port", "tls_port")
                    if hasattr(sec, k)
                ]
                bind = getattr(sec, "bind", "-")
                state = "on " if sec.enabled else "off"
                print(f"{name:<11} {state} {bind:<15} {' '.join(ports)}")
            return 0
        sec = getattr(settings, args.name)
        changes: dict[str, Any] = {}
        if args.action in ("enable", "disable"):
            changes["enabled"] = args.action == "enable"
        else:
            for key, value in (
                ("bind", args.bind),
                ("port", args.port),
                ("tls_port", args.tls_port),
            ):
                if value is None:
                    continue
                if not hasattr(sec, key):
                    raise ValidationError(f"{args.name} has no setting {key}")
                changes[key] = value
        sstore.patch({args.name: changes})
        print(f"{args.name}: saved (a running server applies it within a second)")
        return 0

    accounts = SqliteAccountStore(data_dir / "accounts.sqlite3")
    mail = MaildirStore(data_dir / "mail", settings.general.hostname or "quicksilver")
    try:
        if args.cmd == "init":
            from server.accounts.validate import normalize_domain

            dom = normalize_domain(args.domain)
            general = sstore.patch(
                {"general": {"domain": dom, "hostname": args.hostname or f"mail.{dom}"}}
            ).settings.general
            if not accounts.is_local_domain(dom):
                accounts.add_domain(dom)
            accounts.set_primary_domain(dom)
            print(f"domain {dom}, host name {general.hostname}")
        elif args.cmd == "domain":
            if args.action == "list" and args.json:
                print_json([dataclasses.asdict(d) for d in accounts.list_domains()])
            elif args.action == "list":
                for d in accounts.list_domains():
                    print(
                        d.display if d.display == d.name else f"{d.name} ({d.display})"
                    )
            elif args.action == "add":
                print(f"added {accounts.add_domain(args.name).name}")
            else:
                accounts.remove_domain(args.name)
                print(f"removed {args.name}")
        elif args.cmd == "user":
            if args.action == "list" and args.json:
                print_json([dataclasses.asdict(u) for u in accounts.list_users()])
            elif args.action == "list":
                for u in accounts.list_users():
                    flag = "" if u.enabled else " (disabled)"
                    quota = (
                        f" quota {u.quota_bytes // (1024 * 1024)} MB"
                        if u.quota_bytes
                        else ""
                    )
                    print(f"{u.address}{flag}{quota}  {u.display_name}")
            elif args.action == "add":
                pw = _read_password(args.password_stdin)
                u = accounts.add_user(
                    args.address,
                    pw,
                    display_name=args.name,
                    quota_bytes=args.quota_mb * 1024 * 1024,
                    allow_weak=args.allow_weak,
                )
                asyncio.run(mail.ensure_user(u.address))
                print(f"added {u.address}")
                if asyncio.run(mail.deleted_copies(u.address)):
                    print(
                        "the mail of an earlier, deleted "
                        f"{u.address} is kept; bring it back with: "
                        f"quicksilver-server user restore-mail {u.address}"
                    )
            elif args.action == "passwd":
                accounts.set_password(
                    args.address,
                    _read_password(args.password_stdin),
                    allow_weak=args.allow_weak,
                )
                print("password changed")
            elif args.action in ("vacation", "forward"):
                return cli_rules.run(args, accounts, data_dir)
            elif args.action in ("disable", "enable"):
                accounts.update_user(args.address, enabled=args.action == "enable")
                print(f"{args.address} {args.action}d")
            elif args.action == "legacy-password":
                from server.accounts.legacy import LegacySecrets

                u2 = accounts.get_user(args.address)
                if u2 is None:
                    raise ValidationError(f"There is no user {args.address}.")
                legacy = LegacySecrets(data_dir)
                if args.state == "off":
                    legacy.remove(u2.address)
                    print(f"{u2.address} has no legacy password now")
                else:
                    secret = legacy.create(u2.address)
                    print(f"legacy password of {u2.address}: {secret}")
                    print(
                        "it is shown only now; it works only for APOP and CRAM-MD5, "
                        "where the module's legacy_auth setting is on"
                    )
            elif args.action == "restore-mail":
                u1 = accounts.get_user(args.address)
                if u1 is None:
                    raise ValidationError(
                        f"There is no user {args.address}: add it first."
                    )
                try:
                    source = asyncio.run(mail.restore_deleted(u1.address))
                except PermanentError as exc:
                    raise ValidationError(str(exc)) from None
                if source is None:
                    raise ValidationError(f"No mail of a deleted {u1.address} is kept.")
                asyncio.run(mail.ensure_user(u1.address))
                print(f"the mail of {u1.address} is back (from deleted/{source.name})")
            else:
                u0 = accounts.get_user(args.address)
                accounts.delete_user(args.address)
                if u0 is not None:
                    from server.accounts.legacy import LegacySecrets

                    LegacySecrets(data_dir).remove(u0.address)
                    asyncio.run(mail.delete_user(u0.address))
                print(f"deleted {args.address} (mail kept under deleted/)")
        elif args.cmd == "list":
            return cli_lists.run(args, accounts, data_dir)
        elif args.cmd == "dns":
            return cli_dns.run(args, settings, accounts, data_dir)
        elif args.cmd == "dkim":
            return cli_dkim.run(args, accounts, data_dir)
        elif args.cmd == "spam":
            return cli_internet.run_spam(args, settings, data_dir)
        elif args.cmd == "tls-report":
            return cli_internet.run_tls_report(args, data_dir)
        elif args.cmd == "fetch":
            return cli_fetch.run(args, accounts, data_dir, _read_password)
        elif args.cmd == "alias":
            if args.action == "list" and args.json:
                print_json([dataclasses.asdict(a) for a in accounts.list_aliases()])
            elif args.action == "list":
                for a in accounts.list_aliases():
                    print(f"{a.address} -> {', '.join(a.targets)}")
            elif args.action == "set":
                a = accounts.set_alias(args.address, list(args.targets))
                print(f"{a.address} -> {', '.join(a.targets)}")
            else:
                accounts.remove_alias(args.address)
                print(f"removed {args.address}")
    finally:
        accounts.close()
    return 0


def _test_message(args: argparse.Namespace, data_dir: Path) -> int:
    """Send a test message to the smtp module of the server that runs on this
    data folder (here or in the window), at the address its settings give;
    the same client as the window's "Send test message" (server/testmessage.py)."""
    from server.config.store import SettingsStore
    from server.testmessage import (
        TestMessage,
        default_test_sender,
        send_test_message,
    )

    settings = SettingsStore(data_dir / "settings.toml").load()
    if not settings.smtp.enabled:
        raise ValidationError(
            "the smtp module is off: quicksilver-server module enable smtp, "
            "then start the server"
        )
    general = settings.general
    msg = TestMessage(
        args.sender or default_test_sender(general.hostname or general.domain),
        args.recipient,
    )
    sent = asyncio.run(send_test_message(settings.smtp.bind, settings.smtp.port, msg))
    print(f"{msg.recipient}: {sent.reply}")
    return 0


def _run(data_dir: Path, capture: bool = False) -> int:
    from server.heap import settle_heap
    from server.runtime import Runtime

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    rt = Runtime(data_dir, capture=capture)
    rt.start()
    settle_heap()
    for st in rt.services.module_statuses():
        where = ", ".join(f"{e.host}:{e.port}" for e in st.endpoints)
        extra = f" {where}" if where else ""
        err = f" - {st.last_error}" if st.last_error else ""
        print(f"{st.name}: {st.state.value}{extra}{err}", flush=True)
    done = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if rt.services.settings.capture.enabled:
        print(
            "Capture mode: every message is kept in "
            f"{rt.api.capture.address()} and nothing is delivered "
            "(quicksilver-server capture list; its IMAP/POP3 password: "
            "quicksilver-server capture password).",
            flush=True,
        )
    print(f"Quicksilver running with data in {data_dir}; Ctrl+C stops it.", flush=True)
    while not done.wait(0.5):
        pass
    rt.stop()
    print("stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    data_dir = (args.data_dir or default_data_dir()).expanduser()
    use_private_umask()  # every command creates data for this user only
    try:
        if args.cmd in (None, "run"):
            return _run(data_dir, bool(getattr(args, "capture", False)))
        if args.cmd == "capture":
            return cli_capture.run(args, data_dir)
        if args.cmd == "access":
            return cli_access.run(args, data_dir)
        if args.cmd == "export":
            return cli_export.run(args, data_dir)
        if args.cmd == "test-message":
            return _test_message(args, data_dir)
        if args.cmd in ("backup", "restore"):
            return _backup_or_restore(args, data_dir)
        if args.cmd in ("queue", "sessions", "ban"):
            return cli_admin.run(args, data_dir)
        if args.cmd == "cert":
            from server.config.store import SettingsStore

            general = SettingsStore(data_dir / "settings.toml").load().general
            return cli_admin.run(args, data_dir, general.hostname or general.domain)
        return _manage(args, data_dir)
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
