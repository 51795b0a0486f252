"""``quicksilver-server spam check|status`` and ``tls-report``: the spam
scanner's connection test, what the inbound checks are set to (with the
greylisting counts), and the TLS-RPT counts of outbound mail. They read the
data folder; the server need not run (the TLS counts of the last minute are
written when the running mx module flushes them)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from server.antispam import greylist
from server.antispam.scanner import connection_test
from server.config.schema import Settings
from server.delivery import mtasts, tlsrpt


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("spam", help="the spam checks: scanner test and status")
    psub = p.add_subparsers(dest="action", required=True)
    psub.add_parser("check", help="does the configured spamd or rspamd answer?")
    psub.add_parser("status", help="what is checked, and the greylisting counts")
    t = sub.add_parser("tls-report", help="how outbound TLS went (TLS-RPT counts)")
    t.add_argument("--days", type=int, default=7)


def run_spam(args: argparse.Namespace, settings: Settings, data_dir: Path) -> int:
    cfg = settings.smtp
    if args.action == "check":
        answered, said = asyncio.run(
            connection_test(cfg.spam_filter, cfg.spam_filter_host, cfg.spam_filter_port)
        )
        print(said)
        return 0 if answered else 1
    waiting, passed = greylist.counts(data_dir / greylist.FILE_NAME)
    on = "on" if cfg.greylisting else "off"
    print(f"greylisting: {on} ({waiting} waiting, {passed} passed)")
    print(f"SPF/DKIM/DMARC checks: {'on' if cfg.check_authentication else 'off'}")
    print(f"DNS lists: {', '.join(cfg.dnsbl_zones) or 'none'}")
    if cfg.spam_filter:
        where = f"{cfg.spam_filter_host}:{cfg.spam_filter_port or 'default port'}"
        refuse = (
            f"refused from {cfg.spam_reject_score:g}"
            if cfg.spam_reject_score
            else "never refused"
        )
        print(
            f"spam filter: {cfg.spam_filter} at {where}; Junk from "
            f"{cfg.spam_junk_score:g}, {refuse}"
        )
    else:
        print("spam filter: none")
    print(f"spam to the Junk folder: {'yes' if cfg.junk_spam else 'no'}")
    return 0


def run_tls_report(args: argparse.Namespace, data_dir: Path) -> int:
    days = max(1, min(args.days, tlsrpt.KEEP_DAYS))
    counts = tlsrpt.read_counts(data_dir / tlsrpt.FILE_NAME, days)
    if not counts:
        print(f"no outbound TLS under a policy in the last {days} days")
    for c in counts:
        print(f"{c.day}  {c.domain}  {c.policy}  {c.result}  {c.count}")
    for p in mtasts.read_policies(data_dir / mtasts.FILE_NAME):
        print(f"MTA-STS {p.domain}: {p.mode}, mx {', '.join(p.mx)}")
    return 0
