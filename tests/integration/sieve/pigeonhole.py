"""Pigeonhole's ``sieve-test`` as a reference, and one notation for both engines.

``SieveTest`` runs Debian's ``sieve-test`` (Pigeonhole 0.5, Dovecot 2.3) with a
private ``dovecot.conf`` in a temporary folder: nothing system-wide is read or
started. Dovecot refuses to work as root and refuses UID 0 for mail, so when
the tests run as root the tool drops to ``nobody`` (and the folder is made
readable for it); otherwise it runs as the current user.

``pigeonhole_actions`` turns sieve-test's report ("Performed actions:" and
"Implicit keep:", one section per script with ``-s``) into a sorted list of
short strings; ``our_actions`` writes a ``SieveResult`` the same way, so a
difference is a readable diff:

    store INBOX [flags=\\seen foo] [create] [copy]
    redirect a@b.c [copy]
    discard
    reject <reason>
    vacation seconds=<n> subject=<s> from=<f> handle=<h> reason=<text>
    FAILED               (a run-time error: then only the implicit keep)
    COMPILE-ERROR
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from server.sieve import (
    Discard,
    FileInto,
    Keep,
    Redirect,
    Reject,
    SieveResult,
    Vacation,
)

SIEVE_TEST = shutil.which("sieve-test") or "/usr/bin/sieve-test"

CONF = """\
base_dir = {base}/run
log_path = /dev/stderr
mail_location = maildir:{base}/mail
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 1
first_valid_gid = 1
plugin {{
  sieve_extensions = +vacation-seconds +editheader
}}
"""


def sieve_test_usable() -> str | None:
    """Why the differential test cannot run here, or None."""
    if not os.path.exists(SIEVE_TEST):
        return "sieve-test (Debian package dovecot-sieve) is not installed"
    return None


@dataclass(frozen=True)
class Run:
    """One sieve-test invocation."""

    script: Path
    message: Path
    mail_from: str
    rcpt_to: str
    orig_rcpt: str
    before: tuple[Path, ...] = ()
    execute: bool = False


class SieveTest:
    """A private sieve-test setup in a temporary folder."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="qs-sieve-"))
        if os.geteuid() == 0:
            uid = gid = 65534  # nobody: Dovecot will not run mail as root
        else:
            uid, gid = os.getuid(), os.getgid()
        self.dir.chmod(0o777)
        self.conf = self.dir / "dovecot.conf"
        self.conf.write_text(CONF.format(base=self.dir, uid=uid, gid=gid))
        self.conf.chmod(0o644)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TZ": "UTC"}

    def place(self, src: Path, name: str) -> Path:
        """Copy a file where Pigeonhole may read it (and write its .svbin)."""
        sub = self.dir / "files"
        sub.mkdir(exist_ok=True)
        sub.chmod(0o777)
        dst = sub / name
        dst.write_bytes(src.read_bytes())
        dst.chmod(0o644)
        return dst

    def run(self, run: Run, timeout: float = 20.0) -> str:
        cmd = [SIEVE_TEST, "-c", str(self.conf)]
        if run.mail_from:
            cmd += ["-f", run.mail_from]
        else:
            cmd += ["-f", "<>"]
        cmd += ["-r", run.rcpt_to, "-a", run.orig_rcpt]
        for b in run.before:
            cmd += ["-s", str(b)]
        if run.execute:
            cmd += ["-e"]
        cmd += [str(run.script), str(run.message)]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            timeout=timeout,
            env=self.env,
            cwd=self.dir,
            check=False,
        )
        return (proc.stdout + proc.stderr).decode("utf-8", "replace")

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# -- the common notation ------------------------------------------------------


def _sanitize(text: str, limit: int = 0) -> str:
    """As sieve-test prints a value: control characters as '?', and cut with
    "..." beyond ``limit`` characters (Dovecot's str_sanitize)."""
    text = "".join("?" if ord(c) < 0x20 else c for c in text)
    if limit and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _store(folder: str, flags: Sequence[str], create: bool, copy: bool) -> str:
    out = f"store {_sanitize(folder)}"
    if flags:
        out += " flags=" + " ".join(sorted({f.lower() for f in flags}))
    if create:
        out += " create"
    if copy:
        out += " copy"
    return out


def _vacation(seconds: str, subject: str, frm: str, handle: str, reason: str) -> str:
    # sieve-test prints a multi-line handle over several lines: compare the
    # first; values are printed without their outer white space.
    handle = handle.replace("\r\n", "\n").split("\n", 1)[0].strip()
    subject, frm = subject.strip(), frm.strip()
    reason = reason.replace("\r\n", "\n").rstrip("\n")
    return (
        f"vacation seconds={seconds} subject={subject} from={frm} "
        f"handle={handle} reason={reason!r}"
    )


def pigeonhole_actions(output: str) -> list[str]:
    """sieve-test's report in the common notation (the last script's keep
    counts; a non-last script's "keep" only lets the next one run)."""
    if "failed to compile sieve script" in output or "Fatal:" in output:
        return ["COMPILE-ERROR"]
    lines = output.splitlines()
    out: list[str] = []
    failed = "final result: failed" in output
    if failed:
        return ["FAILED", "store INBOX"]
    sections: list[list[str]] = []
    current: list[str] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## Executing script"):
            current = None
        elif line.strip() in ("Performed actions:", "Implicit keep:"):
            current = []
            sections.append(current)
        elif current is not None and line.startswith("START MESSAGE"):
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i] != "END MESSAGE":
                body.append(lines[i])
                i += 1
            current.append("\x00REASON" + "\n".join(body))
        elif current is not None and line.strip():
            current.append(line)
        i += 1
    # sections: pairs of (performed, implicit keep) per script.
    pairs = [sections[k : k + 2] for k in range(0, len(sections), 2)]
    for n, pair in enumerate(pairs):
        last = n == len(pairs) - 1
        for section in pair:
            items = _items(section)
            for item in items:
                if item.startswith("keep"):
                    # "* keep": a script's keep when several run; only the
                    # last one's is performed.
                    if last:
                        out.append("store INBOX" + item[len("keep") :])
                    continue
                out.append(item)
    return sorted(out)


def _items(section: list[str]) -> list[str]:
    items: list[str] = []
    cur: dict[str, str] | None = None

    def flush() -> None:
        if cur is None:
            return
        kind = cur["kind"]
        if kind == "keep":
            items.append(
                "keep"
                + _store("", cur.get("flags", "").split(), False, False)[
                    len("store ") :
                ]
            )
        elif kind == "store":
            items.append(
                _store(
                    cur["arg"],
                    cur.get("flags", "").split(),
                    "create" in cur,
                    "copy" in cur,
                )
            )
        elif kind == "redirect":
            items.append(f"redirect {cur['arg']}" + (" copy" if "copy" in cur else ""))
        elif kind == "vacation":
            items.append(
                _vacation(
                    cur.get("seconds", ""),
                    cur.get("subject", "-"),
                    cur.get("from", "-"),
                    cur.get("handle", ""),
                    cur.get("reason", ""),
                )
            )
        else:
            items.append(cur["arg"] if kind == "other" else kind)

    for line in section:
        s = line.strip()
        if line.startswith("\x00REASON"):
            if cur is not None:
                cur["reason"] = line[len("\x00REASON") :]
            continue
        if s == "(none)":
            continue
        if s.startswith("* "):
            flush()
            body = s[2:]
            if body.startswith("store message in folder: "):
                cur = {"kind": "store", "arg": body[len("store message in folder: ") :]}
            elif body.startswith("redirect message to: "):
                cur = {
                    "kind": "redirect",
                    "arg": body[len("redirect message to: ") :].strip("<>"),
                }
            elif body.startswith("send vacation message"):
                cur = {"kind": "vacation"}
            elif body.startswith("reject message with reason: "):
                cur = {
                    "kind": "other",
                    "arg": "reject " + body[len("reject message with reason: ") :],
                }
            elif body == "discard":
                cur = {"kind": "discard"}
            elif body == "keep":
                cur = {"kind": "keep"}
            else:
                cur = {"kind": "other", "arg": "UNKNOWN " + body}
        elif s.startswith("+ ") and cur is not None:
            what = s[2:]
            if what.startswith("add IMAP flags: "):
                cur["flags"] = what[len("add IMAP flags: ") :]
            elif what == "create mailbox if it does not exist":
                cur["create"] = "1"
            elif what == "preserve implicit keep":
                cur["copy"] = "1"
        elif s.startswith("=> ") and cur is not None:
            key, _, value = s[3:].partition(":")
            cur[key.strip()] = value.strip()
    flush()
    return items


def our_actions(result: SieveResult | None) -> list[str]:
    """Our result in the common notation (None: the script did not compile)."""
    if result is None:
        return ["COMPILE-ERROR"]
    if result.errors:
        return ["FAILED", "store INBOX"]
    out: list[str] = []
    for a in result.actions:
        if isinstance(a, Keep):
            out.append(_store("INBOX", a.flags, False, False))
        elif isinstance(a, FileInto):
            out.append(_store(a.mailbox, a.flags, a.create, a.copy))
        elif isinstance(a, Redirect):
            out.append(f"redirect {a.address}" + (" copy" if a.copy else ""))
        elif isinstance(a, Discard):
            out.append("discard")
        elif isinstance(a, Reject):
            out.append(f"reject {_sanitize(a.reason, 128)}")
        elif isinstance(a, Vacation):
            out.append(
                _vacation(
                    str(a.period),
                    a.subject if a.subject is not None else "-",
                    a.from_address if a.from_address is not None else "-",
                    a.handle,
                    a.reason,
                )
            )
    return sorted(out)
