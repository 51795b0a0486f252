"""The Postfix + Dovecot configuration tree of an export, made from a
``collect.Model``. Pure: files out (relative path -> ``Item``), nothing
written here (``__init__.py`` writes them).

Checked against Debian 12's packages: Postfix 3.7, Dovecot 2.3.19 with
Pigeonhole 0.5.19 (dovecot-imapd, -pop3d, -lmtpd, -sieve), OpenDKIM 2.11.

The shape (README.md in the export says the same to its reader):
- Postfix takes SMTP (25) and submission (587 STARTTLS, 465 TLS), for the
  virtual domains; recipients are ``virtual_mailbox`` (every user) and
  ``virtual_alias`` (aliases, catch-alls, postmaster, lists); delivery is
  LMTP to Dovecot on 127.0.0.1:24; SASL for submission asks Dovecot on
  127.0.0.1:12345; DKIM signing through OpenDKIM on 127.0.0.1:8891.
- Dovecot serves IMAP and POP3 from the very Maildir++ folders of the data
  folder (no mail is copied). Its control files (``dovecot-uidlist``,
  ``dovecot-keywords``) are written here from our index, under ``CONTROL=``,
  so every message keeps its UID and UIDVALIDITY; its own indexes go under
  ``INDEX=``. Folder names: ours escape ``.``, ``%`` and the like as ``%XX``,
  which the listescape plugin with ``%`` reads back.
- Users log in with the same passwords: ``passwd`` holds the Argon2id hashes
  as they are (``{ARGON2ID}``), with quotas; Pigeonhole runs each user's
  active Sieve script and the global before/after scripts.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .collect import Model, User

LMTP_PORT = 24
AUTH_PORT = 12345
OPENDKIM_PORT = 8891
SPECIAL = (
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
)


@dataclass(frozen=True)
class Item:
    """A file (``data``, ``mode``), or a symbolic link (``link``)."""

    data: bytes = b""
    mode: int = 0o644
    link: str = ""


def render(
    model: Model, out: Path, uid: int, gid: int
) -> tuple[dict[str, Item], list[str], list[str]]:
    """(files, what carried over, what did not). ``out``: where the tree will
    be (the configuration names its files by absolute path); ``uid``,
    ``gid``: the owner Dovecot reads and writes the mail as."""
    files: dict[str, Item] = {}
    carried: list[str] = []
    missing: list[str] = list(model.notes)
    _postfix(model, out, files, carried, missing)
    _dovecot(model, out, uid, gid, files, carried, missing)
    _opendkim(model, out, files, carried, missing)
    if model.cert and model.key:
        files["tls/cert.pem"] = Item(model.cert)
        files["tls/key.pem"] = Item(model.key, 0o600)
        carried.append("the TLS certificate and key (tls/)")
    else:
        missing.append("no TLS certificate was found: put one in tls/ before starting")
    files["README.md"] = Item(_readme(model, out, carried, missing).encode())
    return files, carried, missing


# -- Postfix ---------------------------------------------------------------------
def _postfix(
    model: Model,
    out: Path,
    files: dict[str, Item],
    carried: list[str],
    missing: list[str],
) -> None:
    conf = out / "postfix"
    users = {u.address for u in model.users}
    alias_lines: list[str] = []
    catch_all = False
    for address, targets in sorted(model.aliases.items()):
        if address.startswith("*@"):
            catch_all = True
            alias_lines.append(f"@{address[2:]}\t{', '.join(targets)}")
        else:
            alias_lines.append(f"{address}\t{', '.join(targets)}")
    for ml in model.lists:
        if ml.policy == "anyone":
            targets = ml.members
        else:
            # Postfix cannot say who may post: the list's mail goes to its
            # moderators (who can forward it), never to everyone unchecked
            targets = ml.moderators or ml.members[:0]
            missing.append(
                f"list {ml.address} ({ml.policy} may post): Postfix cannot check "
                "senders, so its mail goes to its moderators only; use Mailman "
                "or Sympa for the list itself"
            )
        if targets:
            alias_lines.append(f"{ml.address}\t{', '.join(targets)}")
        else:
            missing.append(f"list {ml.address} has no one to deliver to")
    if catch_all:
        # a catch-all in virtual_alias_maps takes every address of its domain
        # unless each real one maps to itself (Postfix's VIRTUAL_README)
        alias_lines += [f"{a}\t{a}" for a in sorted(users) if a not in model.aliases]
    files["postfix/virtual_alias"] = Item(("\n".join(alias_lines) + "\n").encode())
    files["postfix/virtual_mailbox"] = Item(
        "".join(f"{u.address}\t{u.domain}/{u.local}/\n" for u in model.users).encode()
    )
    carried.append(
        f"{len(model.users)} mailboxes, {len(model.aliases)} aliases (catch-alls "
        f"and postmaster among them) and {len(model.lists)} lists as Postfix maps"
    )
    relay = model.relay
    relay_lines = ""
    if relay is not None:
        wrapped = relay.security == "tls"
        level = "encrypt" if relay.security != "none" else "may"
        relay_lines = (
            f"relayhost = [{relay.host}]:{relay.port}\n"
            f"smtp_tls_security_level = {level}\n"
            + ("smtp_tls_wrappermode = yes\n" if wrapped else "")
        )
        if relay.username:
            relay_lines += (
                "smtp_sasl_auth_enable = yes\n"
                "smtp_sasl_security_options = noanonymous\n"
                f"smtp_sasl_password_maps = texthash:{conf}/sasl_passwd\n"
            )
            if relay.password is not None:
                files["postfix/sasl_passwd"] = Item(
                    f"[{relay.host}]:{relay.port}\t{relay.username}:{relay.password}\n".encode(),
                    0o600,
                )
                carried.append(
                    "the smart host and its password (postfix/sasl_passwd, 0600)"
                )
            else:
                files["postfix/sasl_passwd"] = Item(
                    f"[{relay.host}]:{relay.port}\t{relay.username}:PASSWORD\n".encode(),
                    0o600,
                )
                missing.append(
                    "the smart host password: put it in postfix/sasl_passwd "
                    "(or export again with --with-relay-password)"
                )
        else:
            carried.append("the smart host")
    screen = bool(model.dnsbl_zones)
    milter = bool(model.dkim)
    main = f"""# Postfix {_stamp(model)}
compatibility_level = 3.6
myhostname = {model.hostname}
mydomain = {model.primary or model.hostname}
myorigin = $mydomain
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
inet_protocols = all
message_size_limit = {model.max_message_size}
mailbox_size_limit = 0

virtual_mailbox_domains = {", ".join(model.domains)}
virtual_mailbox_maps = texthash:{conf}/virtual_mailbox
virtual_alias_maps = texthash:{conf}/virtual_alias
virtual_transport = lmtp:inet:127.0.0.1:{LMTP_PORT}

smtpd_tls_cert_file = {out}/tls/cert.pem
smtpd_tls_key_file = {out}/tls/key.pem
smtpd_tls_security_level = may
smtp_tls_security_level = may
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{AUTH_PORT}
smtpd_sasl_auth_enable = no
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_helo_required = yes
disable_vrfy_command = yes
"""
    if milter:
        main += (
            f"\nsmtpd_milters = inet:127.0.0.1:{OPENDKIM_PORT}\n"
            "non_smtpd_milters = $smtpd_milters\n"
            "milter_default_action = accept\n"
        )
    if screen:
        sites = ", ".join(f"{z}*2" for z in model.dnsbl_zones)
        main += (
            f"\npostscreen_dnsbl_sites = {sites}\n"
            "postscreen_dnsbl_threshold = 2\n"
            "postscreen_dnsbl_action = enforce\n"
            "postscreen_greet_action = enforce\n"
        )
        carried.append("the DNS block lists, as postscreen_dnsbl_sites")
    if relay_lines:
        main += "\n" + relay_lines
    files["postfix/main.cf"] = Item(main.encode())
    smtp = (
        "smtp      inet  n       -       n       -       1       postscreen\n"
        "smtpd     pass  -       -       n       -       -       smtpd\n"
        "dnsblog   unix  -       -       n       -       0       dnsblog\n"
        "tlsproxy  unix  -       -       n       -       0       tlsproxy\n"
        if screen
        else "smtp      inet  n       -       n       -       -       smtpd\n"
    )
    submission_opts = (
        "  -o smtpd_sasl_auth_enable=yes\n"
        "  -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n"
        "  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject\n"
    )
    master = (
        f"# Postfix master process configuration {_stamp(model)}\n"
        + smtp
        + "submission inet n       -       n       -       -       smtpd\n"
        "  -o syslog_name=postfix/submission\n"
        "  -o smtpd_tls_security_level=encrypt\n"
        + submission_opts
        + "submissions inet n      -       n       -       -       smtpd\n"
        "  -o syslog_name=postfix/submissions\n"
        "  -o smtpd_tls_wrappermode=yes\n" + submission_opts + _MASTER_COMMON
    )
    files["postfix/master.cf"] = Item(master.encode())
    if model.greylisting:
        missing.append("greylisting: Postfix has none of its own; see postgrey")
    if model.checks_authentication:
        missing.append(
            "SPF, DKIM and DMARC checks of incoming mail: see policyd-spf and OpenDMARC"
        )


_MASTER_COMMON = """pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


# -- Dovecot -----------------------------------------------------------------------
def _passwd_line(u: User, uid: int, gid: int, out: Path) -> str:
    extra = []
    if u.quota_bytes:
        extra.append(f"userdb_quota_rule=*:storage={u.quota_bytes}B")
    if not u.enabled:
        extra.append("nologin=Y reason=This_account_is_disabled")
    home = out / "dovecot" / "home" / u.domain / u.local
    fields = " ".join(extra)
    return f"{u.address}:{{ARGON2ID}}{u.password_hash}:{uid}:{gid}::{home}::{fields}\n"


def _uidlist(
    uidvalidity: int, uidnext: int, messages: tuple[tuple[int, str], ...]
) -> bytes:
    """Dovecot's ``dovecot-uidlist`` (version 3): a header, then
    ``<uid> :<file name base>`` per message."""
    lines = [f"3 V{uidvalidity} N{uidnext}\n"]
    lines += [f"{uid} :{base}\n" for uid, base in messages]
    return "".join(lines).encode("utf-8", "surrogateescape")


def _dovecot(
    model: Model,
    out: Path,
    uid: int,
    gid: int,
    files: dict[str, Item],
    carried: list[str],
    missing: list[str],
) -> None:
    dv = out / "dovecot"
    files["dovecot/passwd"] = Item(
        "".join(_passwd_line(u, uid, gid, out) for u in model.users).encode(), 0o640
    )
    carried.append(
        f"{len(model.users)} logins with the same passwords "
        "(the Argon2id hashes as they are)"
    )
    quotas = sum(1 for u in model.users if u.quota_bytes)
    if quotas:
        carried.append(f"{quotas} mailbox quotas")
    folders = messages = 0
    for u in model.users:
        base = f"dovecot/control/{u.domain}/{u.local}"
        for f in u.folders:
            # with CONTROL=, Dovecot keeps INBOX's control files in ".INBOX"
            where = f"{base}/{f.path or '.INBOX'}"
            files[f"{where}/dovecot-uidlist"] = Item(
                _uidlist(f.uidvalidity, f.uidnext, f.messages)
            )
            if f.keywords:
                files[f"{where}/dovecot-keywords"] = Item(
                    "".join(f"{i} {w}\n" for i, w in f.keywords).encode()
                )
            folders += 1
            messages += len(f.messages)
        sieve = f"dovecot/sieve/{u.domain}/{u.local}"
        for name, text in u.scripts:
            files[f"{sieve}/{_sieve_file(name)}"] = Item(text.encode())
        if u.active is not None:
            files[f"{sieve}/.dovecot.sieve"] = Item(link=_sieve_file(u.active))
    where_mail = (
        "in place" if model.copied is None else "as a copy of the mail in mail/"
    )
    carried.append(
        f"{messages} messages in {folders} folders, {where_mail}, with their "
        "UIDs, UIDVALIDITY, flags and keywords (dovecot/control/)"
    )
    active = sum(1 for u in model.users if u.active)
    carried.append(f"{active} users' active Sieve scripts (dovecot/sieve/)")
    for phase, scripts in (
        ("before", model.sieve_before),
        ("after", model.sieve_after),
    ):
        for n, (name, text) in enumerate(scripts):
            files[f"dovecot/sieve-{phase}/{n:02d}-{_sieve_file(name)}"] = Item(
                text.encode()
            )
        if scripts:
            carried.append(
                f"{len(scripts)} global Sieve scripts run {phase} the users'"
            )
    mailboxes = "".join(
        f"  mailbox {name} {{\n    special_use = {use}\n    auto = subscribe\n  }}\n"
        for name, use in SPECIAL
    )
    location = (
        f"maildir:{model.mail_dir}/%d/%n"
        f":CONTROL={dv}/control/%d/%n:INDEX={dv}/index/%d/%n"
    )
    conf = f"""# Dovecot {_stamp(model)}
protocols = imap pop3 lmtp
listen = *, ::
mail_location = {location}
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {min(uid, 500) if uid else 1}
mail_plugins = $mail_plugins quota listescape
mail_privileged_group =

namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}}}

passdb {{
  driver = passwd-file
  args = scheme=ARGON2ID username_format=%Lu {dv}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {dv}/passwd
}}
auth_mechanisms = plain login

ssl = yes
ssl_cert = <{out}/tls/cert.pem
ssl_key = <{out}/tls/key.pem

service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {LMTP_PORT}
  }}
}}
service auth {{
  inet_listener auth-inet {{
    address = 127.0.0.1
    port = {AUTH_PORT}
  }}
}}
protocol lmtp {{
  mail_plugins = $mail_plugins sieve
  postmaster_address = postmaster@{model.primary or model.hostname}
}}
protocol imap {{
  mail_plugins = $mail_plugins imap_quota
}}

plugin {{
  quota = count:User quota
  quota_vsizes = yes
  listescape_char = "%%"
  sieve = file:{dv}/sieve/%d/%n;active={dv}/sieve/%d/%n/.dovecot.sieve
  sieve_before = {dv}/sieve-before/
  sieve_after = {dv}/sieve-after/
}}

# ports, paths or logging for this machine (optional)
!include_try {dv}/local.conf
"""
    files["dovecot/dovecot.conf"] = Item(conf.encode())
    missing.append(
        "mod-sequences start again (CONDSTORE clients fetch flags once); "
        "OBJECTID ids are new"
    )


def _sieve_file(name: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return f"{safe or 'script'}.sieve"


# -- OpenDKIM ------------------------------------------------------------------------
def _opendkim(
    model: Model,
    out: Path,
    files: dict[str, Item],
    carried: list[str],
    missing: list[str],
) -> None:
    if not model.dkim:
        return
    od = out / "opendkim"
    keytable, signing = [], []
    for k in model.dkim:
        if k.algorithm == "ed25519":
            seed = base64.b64decode(k.private)
            pem = ed25519.Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            missing.append(
                f"the Ed25519 key {k.selector} of {k.domain} is exported too, but "
                "OpenDKIM 2.11 signs with the RSA key only"
            )
            files[f"opendkim/keys/{k.domain}/{k.selector}.private"] = Item(pem, 0o600)
            continue
        name = f"{k.selector}._domainkey.{k.domain}"
        path = od / "keys" / k.domain / f"{k.selector}.private"
        files[f"opendkim/keys/{k.domain}/{k.selector}.private"] = Item(
            k.private + b"\n", 0o600
        )
        keytable.append(f"{name} {k.domain}:{k.selector}:{path}\n")
        signing.append(f"*@{k.domain} {name}\n")
    files["opendkim/KeyTable"] = Item("".join(keytable).encode())
    files["opendkim/SigningTable"] = Item("".join(signing).encode())
    files["opendkim/opendkim.conf"] = Item(
        f"""# OpenDKIM {_stamp(model)}
Syslog yes
Mode sv
Canonicalization relaxed/relaxed
Socket inet:{OPENDKIM_PORT}@127.0.0.1
KeyTable refile:{od}/KeyTable
SigningTable refile:{od}/SigningTable
InternalHosts 127.0.0.1, ::1
OversignHeaders From
""".encode()
    )
    carried.append(
        f"{len(keytable)} DKIM signing keys with their selectors (opendkim/)"
    )


def _stamp(model: Model) -> str:
    return f"configuration exported by Quicksilver from {model.data_dir}"


def _readme(model: Model, out: Path, carried: list[str], missing: list[str]) -> str:
    did = "\n".join(f"- {c}" for c in carried)
    did_not = "\n".join(f"- {m}" for m in missing) or "- nothing"
    dkim = (
        f"    chown -R opendkim:opendkim {out}/opendkim/keys\n"
        f"    opendkim -x {out}/opendkim/opendkim.conf -u opendkim\n"
        if model.dkim
        else ""
    )
    return f"""# Moving from Quicksilver to Postfix + Dovecot

Exported from `{model.data_dir}`. The files name each other by absolute
path: keep this folder at `{out}` (or export again where it will live).
Checked against Debian 12: Postfix 3.7, Dovecot 2.3.19 with Pigeonhole 0.5,
OpenDKIM 2.11.

## What carried over
{did}

## What did not
{did_not}

## Commands (Debian 12, as root)

    apt install postfix dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-sieve opendkim
    # stop Quicksilver first: two servers must not share the Maildir
    adduser --system --group --no-create-home vmail   # a mail user, if none yet
    chown -R vmail:vmail {model.mail_dir} {out}/dovecot   # the mail user (--mail-user)
    chmod 0711 {model.data_dir}   # the mail user passes through; files stay private
    cp {out}/postfix/main.cf {out}/postfix/master.cf /etc/postfix/
    echo '!include {out}/dovecot/dovecot.conf' > /etc/dovecot/dovecot.conf
{dkim}    systemctl restart dovecot postfix

With another mail user than the one given to the export (--mail-user),
export again: the passwd file names its user and group ids.

DNS: the MX and DKIM records stay as they are (the same host name, the same
keys). If the new machine has another address, point the host name's A/AAAA
records at it, and SPF too where it names the address.
"""
