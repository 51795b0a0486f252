"""``quicksilver-server list ...``: distribution lists from the shell.

The same checks as the window (server/lists/store.py, CoreApi.save_list). A
post approved here is sent by the running core within a second or two (it
looks for approved posts as often as it looks at the settings), or at its
next start.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from server.accounts.sqlite import SqliteAccountStore
from server.errors import ValidationError
from server.lists.service import check_list_address
from server.lists.store import FILE_NAME, POLICIES, REPLY_TO, ListStore, MailList


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lst = sub.add_parser("list", help="manage distribution lists")
    lsub = lst.add_subparsers(dest="action", required=True)
    lsub.add_parser("list", help="all lists").add_argument(
        "--json", action="store_true"
    )
    for name in ("add", "set"):
        p = lsub.add_parser(name, help=f"{name} a list")
        p.add_argument("address")
        p.add_argument("--title")
        p.add_argument("--policy", choices=POLICIES, help="who may post")
        p.add_argument("--reply-to", choices=REPLY_TO)
        p.add_argument("--prefix", help='subject prefix, e.g. "[team]"')
    lsub.add_parser("remove").add_argument("address")
    lsub.add_parser("show", help="settings, members, moderators").add_argument(
        "address"
    )
    member = lsub.add_parser("member", help="add or remove members")
    member.add_argument("change", choices=("add", "remove"))
    member.add_argument("address", help="the list")
    member.add_argument("members", nargs="+")
    mods = lsub.add_parser("moderators", help="set the moderators (none: clear)")
    mods.add_argument("address")
    mods.add_argument("moderators", nargs="*")
    lsub.add_parser("moderation", help="posts waiting for a moderator")
    lsub.add_parser("approve").add_argument("id")
    lsub.add_parser("reject", help="drop a held post").add_argument("id")


def run(args: argparse.Namespace, accounts: SqliteAccountStore, data_dir: Path) -> int:
    store = ListStore(data_dir / FILE_NAME)
    try:
        return _run(args, accounts, store)
    finally:
        store.close()


def _run(
    args: argparse.Namespace, accounts: SqliteAccountStore, store: ListStore
) -> int:
    act = args.action
    if act == "list" and args.json:
        print(
            json.dumps(
                [
                    {
                        **dataclasses.asdict(ml),
                        "members": len(store.members(ml.address)),
                        "moderators": list(store.moderators(ml.address)),
                    }
                    for ml in store.lists()
                ],
                indent=2,
            )
        )
    elif act == "list":
        for ml in store.lists():
            n = len(store.members(ml.address))
            print(f"{ml.address}  {n} members, {ml.policy} may post  {ml.title}")
    elif act in ("add", "set"):
        old = store.get(args.address)
        if act == "add":
            if old is not None:
                raise ValidationError(f"The list {args.address} exists.")
            base = MailList(check_list_address(args.address, accounts))
        else:
            if old is None:
                raise ValidationError(f"There is no list {args.address}.")
            base = old
        changes = {
            k: v
            for k, v in (
                ("title", args.title),
                ("policy", args.policy),
                ("reply_to", args.reply_to),
                ("prefix", args.prefix),
            )
            if v is not None
        }
        saved = store.save(dataclasses.replace(base, **changes))
        print(f"{saved.address} saved")
    elif act == "remove":
        store.remove(args.address)
        print(f"removed {args.address}")
    elif act == "show":
        shown = store.get(args.address)
        if shown is None:
            raise ValidationError(f"There is no list {args.address}.")
        print(f"{shown.address}: {shown.title or '(no title)'}")
        print(f"  who may post: {shown.policy}; Reply-To: {shown.reply_to}")
        print(f"  subject prefix: {shown.prefix!r}")
        mods = store.moderators(shown.address)
        print(f"  moderators: {', '.join(mods) or 'none'}")
        for m in store.members(shown.address):
            state = "" if m.enabled else " (off)"
            print(f"  member {m.address}{state}, {m.bounces} bounces")
    elif act == "member":
        for a in args.members:
            if args.change == "add":
                print(f"added {store.add_member(args.address, a).address}")
            elif store.remove_member(args.address, a):
                print(f"removed {a}")
            else:
                print(f"{a} was not a member")
    elif act == "moderators":
        mods = store.set_moderators(args.address, list(args.moderators))
        print(f"moderators: {', '.join(mods) or 'none'}")
    elif act == "moderation":
        for h in store.held():
            print(f"{h.id}  {h.list}  from <{h.sender}>  {h.subject}")
    elif act == "approve":
        store.held_message(args.id)  # exists?
        store.mark_approved(args.id)
        print("approved: the running server sends it within seconds")
    else:
        store.held_message(args.id)
        store.release(args.id)
        print("rejected")
    return 0
