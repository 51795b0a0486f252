"""A private Dovecot on loopback, for differential tests and benchmarks.

``start_dovecot(tmp)`` writes a minimal configuration (passwd-file users, a
Maildir, ``/`` as separator, the same special-use folders Quicksilver creates),
starts the daemon and returns a handle with the port and a ``stop()``; ``None``
when no dovecot binary is installed. As root it runs the mail and login
processes as ``dovecot`` / ``dovenull`` (Dovecot refuses root for them).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def dovecot_binary() -> str | None:
    found = shutil.which("dovecot")
    if found:
        return found
    return "/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None


def dovecot_usable() -> str | None:
    """Why Dovecot cannot be used here, or None when it can."""
    if dovecot_binary() is None:
        return "dovecot is not installed"
    if os.getuid() == 0:
        try:
            pwd.getpwnam("dovecot")
            pwd.getpwnam("dovenull")
        except KeyError:
            return "running as root without the dovecot/dovenull users"
    return None


@dataclass
class Dovecot:
    binary: str
    conf: Path
    home: Path
    port: int
    pop3_port: int = 0  # with start_dovecot(..., pop3=True)

    def stop(self) -> None:
        subprocess.run(
            [self.binary, "-c", str(self.conf), "stop"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=20,
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_dovecot(
    tmp: Path,
    users: dict[str, str],
    prepare: Callable[[Path], None] | None = None,
    pop3: bool = False,
) -> Dovecot | None:
    """Start Dovecot over ``tmp/dovecot``; ``users`` maps login -> password.

    Each user's Maildir is ``tmp/dovecot/<login>/Maildir``; a callable
    ``prepare(home)`` may fill the home directory before ownership is fixed.
    """
    binary = dovecot_binary()
    if binary is None or dovecot_usable() is not None:
        return None
    home = tmp / "dovecot"
    home.mkdir(parents=True, exist_ok=True)
    for login in users:
        (home / "users" / login / "Maildir").mkdir(parents=True, exist_ok=True)
    if prepare is not None:
        prepare(home)
    port = _free_port()
    pop3_port = _free_port() if pop3 else 0
    pw = pwd.getpwuid(os.getuid())
    login_user = internal_user = pw.pw_name
    if os.getuid() == 0:
        login_user, internal_user = "dovenull", "dovecot"
        pw = pwd.getpwnam("dovecot")
        os.chmod(tmp, 0o755)
        for path in [home, *home.rglob("*")]:
            os.chown(path, pw.pw_uid, pw.pw_gid)
    (home / "passwd").write_text(
        "".join(
            f"{login}:{{PLAIN}}{password}:{pw.pw_uid}:{pw.pw_gid}::"
            f"{home}/users/{login}::\n"
            for login, password in users.items()
        )
    )
    # readable by Dovecot's own users whatever the umask (a core started in
    # the same test process makes the umask private)
    os.chmod(home / "passwd", 0o644)
    conf = home / "dovecot.conf"
    conf.write_text(
        f"""base_dir = {home}/run
state_dir = {home}/state
log_path = {home}/dovecot.log
protocols = imap{" pop3" if pop3 else ""}
pop3_uidl_format = %08Xu%08Xv
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
default_internal_user = {internal_user}
default_login_user = {login_user}
default_internal_group = {grp.getgrgid(pw.pw_gid).gr_name}
first_valid_uid = 1
mail_fsync = never
imap_idle_notify_interval = 1 secs
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    auto = subscribe
    special_use = \\Sent
  }}
  mailbox Drafts {{
    auto = subscribe
    special_use = \\Drafts
  }}
  mailbox Trash {{
    auto = subscribe
    special_use = \\Trash
  }}
  mailbox Junk {{
    auto = subscribe
    special_use = \\Junk
  }}
}}
passdb {{
  driver = passwd-file
  args = {home}/passwd
}}
userdb {{
  driver = passwd-file
  args = {home}/passwd
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""
        + (
            f"""service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""
            if pop3
            else ""
        )
    )
    os.chmod(conf, 0o644)
    errlog = home / "start.err"
    with errlog.open("wb") as err:
        proc = subprocess.run(
            [binary, "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            timeout=20,
        )
    if proc.returncode != 0:
        return None
    handle = Dovecot(binary, conf, home, port, pop3_port)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return handle
        except OSError:
            time.sleep(0.05)
    handle.stop()
    return None
