"""Issue 18: the export to Postfix + Dovecot, proven by running it.

A Quicksilver data folder gets users, a catch-all, the postmaster alias, a
list, a Sieve rule, DKIM keys and mail with flags and keywords; it is
exported (while the server runs: the data folder must not change); then a
private Dovecot, OpenDKIM and Postfix (Debian's packages, loopback ports,
nothing system-wide) run on the export, and real clients check it: the same
logins and passwords (curl IMAP and POP3, imaplib), every message with its
UID, UIDVALIDITY, flags and keywords, and new mail through Postfix filed by
the user's Sieve rule and DKIM-signed (swaks, submission with AUTH), the
catch-all, postmaster and the list.

Skipped without root or without postfix, dovecot (imapd, pop3d, lmtpd,
sieve) or opendkim installed (``.ci/run`` installs them).
"""

from __future__ import annotations

import hashlib
import imaplib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.lists.store import MailList
from tests.conftest import ALICE, ALICE_PW, BOB, BOB_PW, start_core
from tests.waiting import run_cli

NEEDED = ("postfix", "dovecot", "opendkim", "swaks", "curl", "mbsync")
LMTP_SO = Path("/usr/lib/dovecot/lmtp")
_why = None
if os.getuid() != 0:
    _why = "needs root (Postfix and Dovecot switch users)"
elif missing := [
    b for b in NEEDED if shutil.which(b) is None and not Path(f"/usr/sbin/{b}").exists()
]:
    _why = f"not installed: {', '.join(missing)}"
elif not LMTP_SO.exists():
    _why = "dovecot-lmtpd is not installed"
pytestmark = pytest.mark.skipif(_why is not None, reason=_why or "")

DOMAIN = "example.test"
SIEVE = (
    'require ["fileinto"];\n'
    'if header :contains "subject" "report" {\n  fileinto "Work";\n}\n'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not listen on {port}") from None
            time.sleep(0.2)


def tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``root``: size, mtime and a hash of the bytes. Not
    SQLite's ``-shm`` files: every reader of a WAL database marks its reads
    in that shared-memory index (it holds no data)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.name.endswith("-shm"):
            continue
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns, digest)
    return out


def message(subject: str, to: str = ALICE) -> bytes:
    return (
        f"From: Carol <carol@outside.test>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@outside.test>\r\n\r\n"
        f"body of {subject}\r\n"
    ).encode()


@pytest.fixture
def base() -> Iterator[Path]:
    # not pytest's tmp_path: its parents are 0700, and Dovecot's mail
    # processes run as the dovecot user, which must reach the Maildir
    d = Path(tempfile.mkdtemp(prefix="qs-export-"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        if not os.environ.get("QS_KEEP_EXPORT_TEST"):  # kept to look at
            shutil.rmtree(d, ignore_errors=True)


def prepare(data: Path) -> dict[str, object]:
    """A data folder with everything the export carries; what it holds."""
    core = start_core(data, ("smtp", "imap"))
    try:
        api, s = core.api, core.runtime.services
        core.run(api.set_alias(f"*@{DOMAIN}", (BOB,)))
        core.run(api.save_list(MailList(f"team@{DOMAIN}", policy="anyone")))
        for member in (ALICE, BOB):
            core.run(api.add_list_member(f"team@{DOMAIN}", member))
        s.scripts.put(ALICE, "rules", SIEVE)
        s.scripts.set_active(ALICE, "rules")
        core.run(api.internet.dkim_generate(DOMAIN))
        store = s.store
        core.run(store.create_mailbox(ALICE, "Work"))
        for n in range(1, 4):
            core.run(store.deliver(ALICE, message(f"inbox {n}")))
        core.run(store.deliver(ALICE, message("filed earlier"), mailbox="Work"))
        core.run(
            store.set_flags(
                ALICE,
                "INBOX",
                [
                    (1, "+", frozenset({"\\Seen"})),
                    (2, "+", frozenset({"\\Flagged", "$Label1"})),
                ],
            )
        )
        core.run(store.expunge(ALICE, "INBOX", [3]))  # a UID that stays unused
        core.run(store.deliver(ALICE, message("inbox 4")))
        held = {}
        for box in ("INBOX", "Work"):
            info = core.run(store.mailbox_info(ALICE, box))
            msgs = core.run(store.list_messages(ALICE, box))
            held[box] = (info.uidvalidity, {m.uid: m.flags for m in msgs})
        before = tree(data)
        out = data.parent / "export"
        assert (
            run_cli(
                [
                    "--data-dir",
                    str(data),
                    "export",
                    "--to",
                    "postfix-dovecot",
                    str(out),
                    "--mail-user",
                    "dovecot",
                ]
            )
            == 0
        )
        # the export runs beside the server and never writes into the data folder
        assert tree(data) == before
    finally:
        core.runtime.stop()
    return held


def test_export_runs_on_postfix_and_dovecot(base: Path) -> None:
    data = base / "data"
    held = prepare(data)
    out = base / "export"
    readme = (out / "README.md").read_text()
    assert "What carried over" in readme and "What did not" in readme
    assert re.search(r"\{ARGON2ID\}\$argon2id\$", (out / "dovecot/passwd").read_text())
    assert (
        "@example.test\tbob@example.test" in (out / "postfix/virtual_alias").read_text()
    )

    # as README.md says: the mail user owns the mail and Dovecot's files,
    # and may pass through the (private) data folder to reach mail/
    os.chmod(data, 0o711)
    dv = pwd.getpwnam("dovecot")
    for root in (data / "mail", out / "dovecot"):
        for path in [root, *root.rglob("*")]:
            os.lchown(path, dv.pw_uid, dv.pw_gid)
    od = pwd.getpwnam("opendkim") if _has_user("opendkim") else dv
    for path in (out / "opendkim").rglob("*"):
        os.lchown(path, od.pw_uid, od.pw_gid)

    ports = {
        k: free_port() for k in ("imap", "pop3", "lmtp", "auth", "dkim", "smtp", "sub")
    }
    run = base / "run"
    run.mkdir()
    os.chmod(run, 0o755)
    (out / "dovecot/local.conf").write_text(
        f"""base_dir = {run}/dovecot
state_dir = {run}/dovecot-state
log_path = {run}/dovecot.log
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {ports["imap"]}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    port = {ports["pop3"]}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service lmtp {{
  inet_listener lmtp {{
    port = {ports["lmtp"]}
  }}
}}
service auth {{
  inet_listener auth-inet {{
    port = {ports["auth"]}
  }}
}}
"""
    )
    procs: list[subprocess.Popen[bytes]] = []
    pf_conf = run / "postfix"
    try:
        # (a daemon: its output goes to a file, or run() would wait for it)
        with (run / "dovecot-start.err").open("wb") as err:
            started = subprocess.run(
                ["dovecot", "-c", str(out / "dovecot/dovecot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                timeout=30,
            )
        assert started.returncode == 0, (run / "dovecot-start.err").read_text()
        wait_port(ports["imap"], "dovecot")
        procs.append(
            subprocess.Popen(
                [
                    "opendkim",
                    "-f",
                    "-x",
                    str(_opendkim_conf(out, run)),
                    "-p",
                    f"inet:{ports['dkim']}@127.0.0.1",
                    "-u",
                    "opendkim" if _has_user("opendkim") else "dovecot",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_port(ports["dkim"], "opendkim")
        _start_postfix(out, pf_conf, run, ports)
        wait_port(ports["smtp"], "postfix")
        try:
            _check_mailboxes(ports, held)
            _check_mbsync(ports, run, out / "tls/cert.pem", held)
            _check_new_mail(ports, data / "dkim")
        except AssertionError as exc:  # say what the servers said
            logs = [run / "dovecot.log", run / "postfix.log"]
            tails = "\n".join(
                f"--- {p.name}\n" + p.read_text(errors="replace")[-4000:]
                for p in logs
                if p.exists()
            )
            raise AssertionError(f"{exc}\n{tails}") from exc
    finally:
        subprocess.run(
            ["postfix", "-c", str(pf_conf), "stop"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        subprocess.run(
            ["dovecot", "-c", str(out / "dovecot/dovecot.conf"), "stop"],
            capture_output=True,
            timeout=30,
        )
        for p in procs:
            p.terminate()
            p.wait(20)


def _opendkim_conf(out: Path, run: Path) -> Path:
    """The exported opendkim.conf, but taking keys under /tmp: OpenDKIM
    refuses a key below a folder others may write to (RequireSafeKeys), and
    this test's folder is in /tmp; a real install keeps them in /etc."""
    conf = run / "opendkim.conf"
    text = (out / "opendkim/opendkim.conf").read_text()
    conf.write_text(text + "RequireSafeKeys false\n")
    return conf


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _start_postfix(out: Path, conf: Path, run: Path, ports: dict[str, int]) -> None:
    """Postfix on the exported main.cf and master.cf, with this machine's
    ports and a private queue appended (later lines win in main.cf)."""
    conf.mkdir()
    for sub in ("spool", "data"):
        (run / sub).mkdir()
    os.chown(
        run / "data", pwd.getpwnam("postfix").pw_uid, pwd.getpwnam("postfix").pw_gid
    )
    shutil.copy(out / "postfix/main.cf", conf / "main.cf")
    overrides = {
        "queue_directory": f"{run}/spool",
        "data_directory": f"{run}/data",
        "mail_owner": "postfix",
        "setgid_group": "postdrop",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "maillog_file_prefixes": str(run),
        "maillog_file": f"{run}/postfix.log",
        "virtual_transport": f"lmtp:inet:127.0.0.1:{ports['lmtp']}",
        "smtpd_sasl_path": f"inet:127.0.0.1:{ports['auth']}",
        "smtpd_milters": f"inet:127.0.0.1:{ports['dkim']}",
    }
    subprocess.run(
        [
            "postconf",
            "-c",
            str(conf),
            "-e",
            *(f"{k}={v}" for k, v in overrides.items()),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    master = (out / "postfix/master.cf").read_text()
    master = re.sub(
        r"^smtp(\s+)inet", f"127.0.0.1:{ports['smtp']}\\1inet", master, flags=re.M
    )
    master = re.sub(
        r"^submission inet", f"127.0.0.1:{ports['sub']} inet", master, flags=re.M
    )
    master = re.sub(r"^submissions inet.*\n(  -o .*\n)*", "", master, flags=re.M)
    (conf / "master.cf").write_text(master)
    check = subprocess.run(
        ["postfix", "-c", str(conf), "check"], capture_output=True, timeout=60
    )
    assert check.returncode == 0, check.stderr.decode()
    with (run / "postfix-start.err").open("wb") as err:
        started = subprocess.run(
            ["postfix", "-c", str(conf), "start"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            timeout=60,
        )
    assert started.returncode == 0, (run / "postfix-start.err").read_text()


def _check_mailboxes(ports: dict[str, int], held: dict[str, object]) -> None:
    # curl, as a user would: the same login and password
    inbox = f"imap://127.0.0.1:{ports['imap']}/INBOX"
    r = _curl(ALICE, ALICE_PW, inbox, "-X", "UID FETCH 1:* (FLAGS)")
    assert r.returncode == 0, r.stderr
    r = _curl(BOB, BOB_PW, f"pop3://127.0.0.1:{ports['pop3']}/")
    assert r.returncode == 0, r.stderr
    assert _curl(ALICE, "wrong", inbox).returncode != 0
    m = imaplib.IMAP4("127.0.0.1", ports["imap"])
    try:
        m.login(ALICE, ALICE_PW)
        for box, (uidvalidity, flags) in held.items():  # type: ignore[attr-defined]
            typ, _ = m.select(box)
            assert typ == "OK"
            assert int(m.untagged_responses["UIDVALIDITY"][0]) == uidvalidity
            typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
            got = {}
            for item in data:
                text = item.decode() if isinstance(item, bytes) else item[0].decode()
                mm = re.search(
                    r"UID (\d+) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) UID (\d+)", text
                )
                assert mm, text
                uid = int(mm.group(1) or mm.group(4))
                words = (
                    mm.group(2) if mm.group(2) is not None else mm.group(3)
                ).split()
                got[uid] = frozenset(w for w in words if w != "\\Recent")
            assert got == flags, (box, got, flags)
    finally:
        m.logout()


def _curl(
    user: str, password: str, url: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """curl logs in to ``url`` and runs what it would (or ``extra``)."""
    return subprocess.run(
        ["curl", "-s", "--max-time", "20", "--user", f"{user}:{password}", url, *extra],
        capture_output=True,
        text=True,
        timeout=30,
    )


def _check_mbsync(
    ports: dict[str, int], run: Path, cert: Path, held: dict[str, object]
) -> None:
    """mbsync (isync) pulls both folders over STARTTLS with the old password."""
    local = run / "mbsync"
    local.mkdir()
    rc = run / "mbsyncrc"
    rc.write_text(
        f"""IMAPAccount old
Host 127.0.0.1
Port {ports["imap"]}
User {ALICE}
Pass {ALICE_PW}
SSLType STARTTLS
CertificateFile {cert}
AuthMechs PLAIN

IMAPStore remote
Account old

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel pull
Far :remote:
Near :local:
Patterns INBOX Work
Create Near
Sync Pull
SyncState *
"""
    )
    r = subprocess.run(
        ["mbsync", "-c", str(rc), "-a"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stdout + r.stderr
    for box, (_, flags) in held.items():  # type: ignore[attr-defined]
        got = [f for sub in ("cur", "new") for f in (local / box / sub).iterdir()]
        assert len(got) == len(flags), (box, got)


def _imap_count(ports: dict[str, int], user: str, pw: str, box: str) -> list[bytes]:
    m = imaplib.IMAP4("127.0.0.1", ports["imap"])
    try:
        m.login(user, pw)
        m.select(box, readonly=True)
        _, data = m.search(None, "ALL")
        out = []
        for n in data[0].split():
            _, msg = m.fetch(n, "(BODY.PEEK[])")
            out.append(msg[0][1])
        return out
    finally:
        m.logout()


def _wait_for(fn, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.3)


def _swaks(*args: str) -> None:
    r = subprocess.run(
        ["swaks", "--hide-all", *args], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stdout + r.stderr


def _check_new_mail(ports: dict[str, int], dkim_dir: Path) -> None:
    # submission with AUTH (SASL through Dovecot): filed by Sieve, DKIM-signed
    _swaks(
        "--server",
        f"127.0.0.1:{ports['sub']}",
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        BOB,
        "--auth-password",
        BOB_PW,
        "--from",
        BOB,
        "--to",
        ALICE,
        "--header",
        "Subject: the monthly report",
    )
    work = _wait_for(
        lambda: [
            m
            for m in _imap_count(ports, ALICE, ALICE_PW, "Work")
            if b"monthly report" in m
        ],
        "the report filed into Work",
    )
    assert b"DKIM-Signature:" in work[0]
    _verify_dkim(work[0], dkim_dir)
    # the catch-all, postmaster and the list, by plain SMTP
    _arrives(ports, f"nobody@{DOMAIN}", "to the catch-all", [(BOB, BOB_PW)])
    _arrives(ports, f"postmaster@{DOMAIN}", "for the postmaster", [(ALICE, ALICE_PW)])
    _arrives(ports, f"team@{DOMAIN}", "hello team", [(ALICE, ALICE_PW), (BOB, BOB_PW)])


def _arrives(
    ports: dict[str, int], to: str, subject: str, readers: list[tuple[str, str]]
) -> None:
    """Mail to ``to`` on port 25 reaches each reader's INBOX."""
    _swaks(
        "--server",
        f"127.0.0.1:{ports['smtp']}",
        "--from",
        "carol@outside.test",
        "--to",
        to,
        "--header",
        f"Subject: {subject}",
    )
    for user, pw in readers:
        _wait_for(
            lambda u=user, p=pw: [
                m for m in _imap_count(ports, u, p, "INBOX") if subject.encode() in m
            ],
            f"{subject!r} at {user}'s",
        )


def _verify_dkim(raw: bytes, dkim_dir: Path) -> None:
    import dkim  # dkimpy, which the server signs with

    from server.dkim.keys import DkimKeys

    def dns(name: bytes, timeout: int = 5) -> bytes:
        labels = name.decode().rstrip(".").split(".")
        selector, domain = labels[0], ".".join(labels[2:])
        keys = DkimKeys(dkim_dir)
        for k in keys.keys(domain):
            if k.selector == selector:
                return keys.record(k).encode()
        return b""

    assert dkim.verify(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), dnsfunc=dns)
