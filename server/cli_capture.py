"""``quicksilver-server capture``: capture mode from the shell.

``on``/``off`` write ``capture.enabled`` (a running server follows the file
within a second); ``list``, ``show``, ``delete``, ``delete-all``,
``release`` and ``password`` ask the running server (``server/control.py``),
as the window's Messages tab does. ``list --json`` is the export for test
scripts: one object per message, newest first.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from server.cli_output import print_json, when
from server.config.store import SettingsStore
from server.control import ask


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser(
        "capture", help="capture mode: keep every message, deliver nothing"
    )
    csub = c.add_subparsers(dest="action", required=True)
    csub.add_parser("on", help="turn capture mode on")
    csub.add_parser("off", help="turn capture mode off")
    csub.add_parser("status", help="on or off, the mailbox and its count").add_argument(
        "--json", action="store_true"
    )
    csub.add_parser("list", help="the captured messages, newest first").add_argument(
        "--json", action="store_true"
    )
    show = csub.add_parser("show", help="one captured message")
    show.add_argument("uid", type=int)
    show.add_argument(
        "--part",
        choices=("text", "html", "header", "source"),
        default="text",
        help="what to print (default: the header, then the plain text)",
    )
    show.add_argument("--json", action="store_true")
    delete = csub.add_parser("delete", help="delete captured messages")
    delete.add_argument("uid", type=int, nargs="+")
    csub.add_parser("delete-all", help="delete every captured message")
    rel = csub.add_parser(
        "release", help="send one captured message to a real address (the relay)"
    )
    rel.add_argument("uid", type=int)
    rel.add_argument("to", metavar="ADDRESS")
    csub.add_parser("password", help="the capture mailbox's IMAP/POP3 login")


def run(args: argparse.Namespace, data_dir: Path) -> int:
    action = args.action
    if action in ("on", "off"):
        store = SettingsStore(data_dir / "settings.toml")
        store.patch({"capture": {"enabled": action == "on"}})
        print(
            "capture mode is on: mail is kept, never delivered"
            if action == "on"
            else "capture mode is off: mail is delivered again"
        )
        return 0
    if action == "status":
        st = ask(data_dir, "capture.status", {})
        if args.json:
            print_json(st)
        else:
            state = "on" if st["enabled"] else "off"
            print(f"capture mode: {state}; mailbox {st['address']}: {st['messages']}")
        return 0
    if action == "list":
        rows = ask(data_dir, "capture.list", {})
        if args.json:
            print_json(rows)
            return 0
        if not rows:
            print("no captured messages")
        for r in rows:
            files = (
                f"  [{len(r['attachments'])} attachment(s)]" if r["attachments"] else ""
            )
            print(
                f"{r['uid']:>6}  {when(r['received'])}  <{r['sender']}> -> "
                f"{', '.join(r['recipients'])}  {r['subject']!r}{files}"
            )
        return 0
    if action == "show":
        shown = ask(data_dir, "capture.show", {"uid": args.uid})
        if args.json:
            print_json(shown)
        elif args.part == "text":
            print(shown["header"].rstrip())
            print()
            print(shown["text"] or "(no plain-text part)")
        else:
            print(shown[args.part])
        return 0
    if action == "delete":
        n = ask(data_dir, "capture.delete", {"uids": list(args.uid)})
        print(f"deleted {n} message(s)")
        return 0
    if action == "delete-all":
        n = ask(data_dir, "capture.delete_all", {})
        print(f"deleted {n} message(s)")
        return 0
    if action == "release":
        reply = ask(
            data_dir, "capture.release", {"uid": args.uid, "to": args.to}, wait=120.0
        )
        print(f"sent to {args.to}: {reply}")
        return 0
    login = ask(data_dir, "capture.password", {})
    print(f"IMAP/POP3 user: {login['address']}")
    print(f"password: {login['password'] or '(changed since it was made; yours)'}")
    return 0
