"""What an export to Postfix + Dovecot carries, read from a data folder.

Read-only: SQLite files are opened with ``mode=ro``, Maildir folders and their
index files are listed and read, never written, so the export can run while
the server runs. (The settings are read through ``SettingsStore``, which takes
the folder's settings lock for the moment of the read, as every reader does.)

Pure data out: ``Model`` and its parts; ``render.py`` turns it into files.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from server.config.store import SettingsStore
from server.dkim.keys import DkimKeys
from server.lists.store import FILE_NAME as LISTS_FILE
from server.secrets import SecretStore, relay_key
from server.sieve.store import ScriptStore
from server.storage import names
from server.storage.maildir_format import KEYWORDS, UIDLIST, base_fields, split_name
from server.storage.maildir_index import parse_keywords, parse_uidlist

MAILBOX_SUBDIRS = ("new", "cur")


@dataclass(frozen=True)
class Folder:
    """One Maildir folder: where it is (relative to the user's Maildir, ""
    for INBOX), its UIDVALIDITY and UIDNEXT, the (uid, file base name) of
    each message, and its keyword letters (index, keyword)."""

    path: str
    uidvalidity: int
    uidnext: int
    messages: tuple[tuple[int, str], ...]
    keywords: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class User:
    address: str
    local: str
    domain: str
    password_hash: str  # the Argon2id PHC string, as Dovecot's {ARGON2ID} reads
    enabled: bool
    quota_bytes: int
    scripts: tuple[tuple[str, str], ...]  # (name, Sieve text)
    active: str | None
    folders: tuple[Folder, ...]


@dataclass(frozen=True)
class MailList:
    address: str
    policy: str  # "anyone" | "members" | "moderators"
    members: tuple[str, ...]
    moderators: tuple[str, ...]


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    algorithm: str
    private: bytes  # PEM (RSA) or the base64 Ed25519 seed


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    security: str  # "starttls" | "tls" | "none"
    username: str
    password: str | None  # only when the person asked for it


@dataclass(frozen=True)
class Model:
    data_dir: Path
    mail_dir: Path
    hostname: str
    primary: str
    domains: tuple[str, ...]
    users: tuple[User, ...]
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    lists: tuple[MailList, ...] = ()
    sieve_before: tuple[tuple[str, str], ...] = ()
    sieve_after: tuple[tuple[str, str], ...] = ()
    dkim: tuple[DkimKey, ...] = ()
    relay: Relay | None = None
    cert: bytes = b""
    key: bytes = b""
    max_message_size: int = 0
    dnsbl_zones: tuple[str, ...] = ()
    greylisting: bool = False
    checks_authentication: bool = False
    notes: tuple[str, ...] = ()  # what the collector could not carry
    copied: int | None = None  # messages copied into the export (copy_mail)


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    if not path.exists():
        return []
    db = _ro(path)
    try:
        return list(db.execute(sql))
    except sqlite3.OperationalError:
        return []  # no such table: an older or empty file
    finally:
        db.close()


def read_folder(path: Path, rel: str) -> Folder | None:
    """A folder's UIDs from its index (``maildir_index.parse_uidlist``) and
    the file names in ``new/`` and ``cur/``; None without a readable index
    (Dovecot then gives the folder new UIDs, as it would for any Maildir)."""
    try:
        index = parse_uidlist((path / UIDLIST).read_bytes())
    except (OSError, ValueError):
        return None
    bases: dict[int, str] = {}
    for sub in MAILBOX_SUBDIRS:
        try:
            entries = os.listdir(path / sub)
        except OSError:
            continue
        for filename in entries:
            base = split_name(filename)[0]
            record = index.records.get(base_fields(base)[0])
            if record is not None:
                bases[record[0]] = base
    try:
        keywords = parse_keywords((path / KEYWORDS).read_text("utf-8"))
    except (OSError, UnicodeDecodeError):
        keywords = {}
    return Folder(
        rel,
        index.uidvalidity,
        max(index.uidnext, max(bases, default=0) + 1),
        tuple(sorted(bases.items())),
        tuple(sorted(keywords.items())),
    )


def read_folders(user_dir: Path) -> tuple[Folder, ...]:
    found = []
    inbox = read_folder(user_dir, "")
    if inbox is not None:
        found.append(inbox)
    try:
        entries = sorted(os.listdir(user_dir))
    except OSError:
        entries = []
    for name in entries:
        if name.startswith(".") and (user_dir / name / "cur").is_dir():
            folder = read_folder(user_dir / name, name)
            if folder is not None:
                found.append(folder)
    return tuple(found)


def collect(data_dir: Path, *, relay_password: bool = False) -> Model:
    """Everything the export carries, read from ``data_dir`` (module
    docstring); blocking (files, SQLite): callers use a worker thread."""
    settings = SettingsStore(data_dir / "settings.toml").load()
    accounts = data_dir / "accounts.sqlite3"
    domains = tuple(
        str(r[0]) for r in _rows(accounts, "SELECT name FROM domains ORDER BY name")
    )
    scripts = ScriptStore(data_dir / "sieve")
    mail_dir = data_dir / "mail"
    users = []
    for row in _rows(
        accounts,
        "SELECT address, local, domain, password_hash, enabled, quota_bytes "
        "FROM users ORDER BY address",
    ):
        address, local, domain, pw, enabled, quota = (str(x) for x in row)
        try:
            owned = scripts.list_scripts(address)
            user_scripts = tuple((s.name, scripts.get(address, s.name)) for s in owned)
            active = scripts.active_name(address)
        except Exception:  # a damaged script folder: carried without rules
            user_scripts, active = (), None
        local_dir, domain_dir = names.normalize_owner(address)
        users.append(
            User(
                address,
                local,
                domain,
                pw,
                enabled == "1",
                int(quota),
                user_scripts,
                active,
                read_folders(mail_dir / domain_dir / local_dir),
            )
        )
    aliases: dict[str, list[str]] = {}
    for row in _rows(
        accounts, "SELECT address, target FROM aliases ORDER BY address, target"
    ):
        aliases.setdefault(str(row[0]), []).append(str(row[1]))
    lists_db = data_dir / LISTS_FILE
    members: dict[str, list[str]] = {}
    for lst, addr in _rows(
        lists_db, "SELECT list, address FROM members WHERE enabled=1 ORDER BY address"
    ):
        members.setdefault(str(lst), []).append(str(addr))
    moderators: dict[str, list[str]] = {}
    for lst, addr in _rows(
        lists_db, "SELECT list, address FROM moderators ORDER BY address"
    ):
        moderators.setdefault(str(lst), []).append(str(addr))
    lists = tuple(
        MailList(
            str(a),
            str(p),
            tuple(members.get(str(a), ())),
            tuple(moderators.get(str(a), ())),
        )
        for a, p in _rows(
            lists_db, "SELECT address, policy FROM lists ORDER BY address"
        )
    )
    keys = DkimKeys(data_dir / "dkim")
    dkim = []
    for domain in keys.domains():
        for k in keys.signing_keys(domain):
            dkim.append(DkimKey(domain, k.selector, k.algorithm, k.private))
    relay = None
    r = settings.relay
    if r.host:
        password = None
        if relay_password and r.username:
            password = SecretStore(data_dir).get(relay_key(r.host, r.username))
        relay = Relay(r.host, r.port, r.security, r.username, password)
    tls = data_dir / "tls"
    try:
        cert, key = (tls / "cert.pem").read_bytes(), (tls / "key.pem").read_bytes()
    except OSError:
        cert, key = b"", b""
    return Model(
        data_dir=data_dir,
        mail_dir=mail_dir,
        hostname=settings.general.hostname or settings.general.domain or "localhost",
        primary=settings.general.domain,
        domains=domains,
        users=tuple(users),
        aliases={k: tuple(v) for k, v in aliases.items()},
        lists=lists,
        sieve_before=tuple(scripts.global_scripts("before")),
        sieve_after=tuple(scripts.global_scripts("after")),
        dkim=tuple(dkim),
        relay=relay,
        cert=cert,
        key=key,
        max_message_size=settings.general.max_message_size,
        dnsbl_zones=settings.smtp.dnsbl_zones,
        greylisting=settings.smtp.greylisting,
        checks_authentication=settings.smtp.check_authentication,
    )
