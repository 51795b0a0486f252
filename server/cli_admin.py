"""``quicksilver-server queue|sessions|ban|cert``: what the window's Queue
and Sessions tabs, its ban list and its certificate page do, from the shell.
``queue``, ``sessions`` and ``ban`` ask the server that runs on the data
folder (``server/control.py``), so they need it running; ``cert`` works on
the files and tells a running server to load them. Each listing takes
``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from server.cli_output import print_json, when
from server.control import ask
from server.errors import ValidationError
from server.tls import FileTlsProvider

QUEUE_ACTIONS = ("hold", "release", "retry", "delete", "bounce")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    q = sub.add_parser("queue", help="the mail queue of the running server")
    qsub = q.add_subparsers(dest="action", required=True)
    qsub.add_parser("list", help="jobs waiting").add_argument(
        "--json", action="store_true"
    )
    show = qsub.add_parser("show", help="one job and its message header")
    show.add_argument("job")
    show.add_argument("--json", action="store_true")
    for action in QUEUE_ACTIONS:
        qsub.add_parser(action, help=f"{action} a job").add_argument("job")

    s = sub.add_parser("sessions", help="who is connected to the running server")
    s.add_argument("--json", action="store_true")
    ssub = s.add_subparsers(dest="action")
    d = ssub.add_parser("disconnect", help="close one session")
    d.add_argument("module")
    d.add_argument("key", type=int, help="the number 'sessions' shows")
    d.add_argument("--ban", action="store_true", help="and ban its address")

    c = sub.add_parser("cert", help="the TLS certificate every module uses")
    csub = c.add_subparsers(dest="action", required=True)
    csub.add_parser("show").add_argument("--json", action="store_true")
    imp = csub.add_parser("import", help="install a PEM certificate and its key")
    imp.add_argument("cert", type=Path, help="certificate (with its chain), PEM")
    imp.add_argument("key", type=Path, help="private key, PEM")
    csub.add_parser("self-signed", help="make a new self-signed certificate")

    b = sub.add_parser("ban", help="addresses banned for failed logins")
    bsub = b.add_subparsers(dest="action", required=True)
    bsub.add_parser("list").add_argument("--json", action="store_true")
    bsub.add_parser("add", help="ban an address for the ban time").add_argument("ip")
    bsub.add_parser("remove", help="lift a ban").add_argument("ip")


def run(args: argparse.Namespace, data_dir: Path, hostname: str = "") -> int:
    if args.cmd == "queue":
        return _queue(args, data_dir)
    if args.cmd == "sessions":
        return _sessions(args, data_dir)
    if args.cmd == "cert":
        return _cert(args, data_dir, hostname)
    return _bans(args, data_dir)


def _cert(args: argparse.Namespace, data_dir: Path, hostname: str) -> int:
    tls = FileTlsProvider(data_dir / "tls", hostname)
    if args.action == "show":
        info = tls.info()
        if info is None:
            raise ValidationError("There is no certificate yet (the server makes one).")
        if args.json:
            print_json(dataclasses.asdict(info))
            return 0
        kind = "self-signed" if info.self_signed else f"issued by {info.issuer}"
        print(f"subject: {info.subject} ({kind})")
        print(f"names: {', '.join(info.names)}")
        print(f"valid: {when(info.not_before)} to {when(info.not_after)}")
        print(f"SHA-256: {info.sha256}")
        return 0
    if args.action == "import":
        try:
            cert, key = args.cert.read_bytes(), args.key.read_bytes()
        except OSError as exc:
            raise ValidationError(
                f"cannot read {exc.filename}: {exc.strerror}"
            ) from None
        info = tls.import_pair(cert, key)
    else:
        made = tls.regenerate()
        if made is None:
            raise ValidationError("The new certificate could not be read back.")
        info = made
    print(f"installed: {info.subject}, valid to {when(info.not_after)}")
    try:
        ask(data_dir, "cert.reload", {}, wait=3)
        print("the running server uses it from now on")
    except ValidationError:
        print("the server uses it when it starts")
    return 0


def _queue(args: argparse.Namespace, data_dir: Path) -> int:
    if args.action == "list":
        jobs = ask(data_dir, "queue.list", {})
        if args.json:
            print_json(jobs)
            return 0
        if not jobs:
            print("the queue is empty")
        for j in jobs:
            states = ", ".join(f"{a} ({s})" for a, s in j["recipients"])
            print(f"{j['job_id']}  {j['size']:>8}  from <{j['sender']}>  to {states}")
            if j["last_error"]:
                print(f"    last error: {j['last_error']}")
            print(f"    tries: {j['attempts']}, next: {when(j['next_attempt'])}")
        return 0
    if args.action == "show":
        shown = ask(data_dir, "queue.show", {"job": args.job})
        if args.json:
            print_json(shown)
            return 0
        j = shown["job"]
        print(f"job {j['job_id']} from <{j['sender']}>, {j['size']} bytes")
        print(f"created {when(j['created'])}, tries {j['attempts']}")
        for address, state in j["recipients"]:
            print(f"  {address}: {state}")
        if j["last_error"]:
            print(f"last error: {j['last_error']}")
        print()
        print(shown["headers"].rstrip())
        return 0
    done = ask(data_dir, "queue.action", {"do": args.action, "job": args.job})
    print(done["message"])
    return 0 if done["ok"] else 1


def _sessions(args: argparse.Namespace, data_dir: Path) -> int:
    if args.action == "disconnect":
        said = ask(
            data_dir,
            "disconnect",
            {"module": args.module, "key": args.key, "ban": args.ban},
        )
        print(said)
        return 0
    listing = ask(data_dir, "sessions", {})
    if args.json:
        print_json(listing)
        return 0
    if not listing:
        print("nobody is connected")
    now = time.time()
    for s in listing:
        user = s["user"] or "-"
        print(
            f"{s['module']:<11} {s['key']:<16} {s['peer']:<22} {user:<28} "
            f"{int(now - s['since'])} s  in {s['received']} B, out {s['sent']} B  "
            f"{s['doing']}"
        )
    return 0


def _bans(args: argparse.Namespace, data_dir: Path) -> int:
    if args.action == "list":
        bans = ask(data_dir, "bans", {})
        if args.json:
            print_json(bans)
            return 0
        if not bans:
            print("no address is banned")
        for b in bans:
            print(f"{b['ip']:<40} until {when(b['until'])}  ({b['reason']})")
        return 0
    if args.action == "add":
        ban = ask(data_dir, "ban", {"ip": args.ip})
        print(f"banned {ban['ip']} until {when(ban['until'])}")
        return 0
    lifted = ask(data_dir, "unban", {"ip": args.ip})
    print(f"{args.ip}: ban lifted" if lifted else f"{args.ip} was not banned")
    return 0
