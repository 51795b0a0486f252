"""The settings schema: one frozen dataclass per module, plus ``general``.

``settings.toml`` holds a ``schema_version`` and one table per section below.
Loading validates every key: an unknown key or a bad value raises
``ValidationError`` naming it (``smtp.port: must be 0..65535``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from server.errors import ValidationError
from server.greeting import check_banner

SCHEMA_VERSION = 1
PLAINTEXT_POLICIES = ("never", "loopback", "always")
SECURITY_MODES = ("none", "starttls", "implicit")


@dataclass(frozen=True)
class GeneralSettings:
    domain: str = ""  # primary mail domain; "" until the first-run dialog
    hostname: str = ""  # the name this server gives in greetings
    max_message_size: int = 25 * 1024 * 1024
    log_buffer: int = 5000


@dataclass(frozen=True)
class SmtpSettings:
    enabled: bool = True
    session_log: bool = False  # full transcripts to logs/<module>.log
    bind: str = "0.0.0.0"
    port: int = 25
    max_recipients: int = 100
    timeout: int = 300  # RFC 5321 4.5.3.2.7: server timeout at least 5 minutes
    access: tuple[str, ...] = ()  # empty: use security.access
    # the greeting's text after the code and host name ("" the usual one),
    # and whether the usual one names the version (server/greeting.py)
    banner: str = ""
    show_version: bool = False
    # a first try from an unknown (network, sender, recipient) gets 451 and
    # passes after 5 minutes (server/antispam/greylist.py)
    greylisting: bool = False
    # Mercury's compliance options: a HELO with our own name, domain or
    # address is refused; a HELO that is no host name or address literal too
    # (off by default); a client with this many refused RCPTs is closed
    reject_helo_claiming_us: bool = True
    reject_invalid_helo: bool = False
    max_rcpt_failures: int = 20
    # SPF, DKIM and DMARC of mail from untrusted clients, recorded in an
    # Authentication-Results field (server/antispam/mailauth.py); a DMARC
    # failure under p=reject is refused unless its domain is overridden
    check_authentication: bool = False
    dmarc_reject: bool = True
    dmarc_overrides: tuple[str, ...] = ()  # From domains never refused
    # DNS block lists asked at RCPT: "zone" refuses a listed client, "zone=tag"
    # marks its mail (server/antispam/dnsbl.py); none by default
    dnsbl_zones: tuple[str, ...] = ()
    # content scoring by a running SpamAssassin ("spamd") or rspamd; "" none
    # (server/antispam/scanner.py). 0 as the port: the scanner's usual one
    spam_filter: str = ""
    spam_filter_host: str = "127.0.0.1"
    spam_filter_port: int = 0
    spam_junk_score: float = 5.0  # at or above: X-Spam-Flag: YES, Junk
    spam_reject_score: float = 0.0  # at or above: 550 5.7.1; 0: never
    # marked messages (X-Spam-Flag: YES) go to the user's Junk folder
    junk_spam: bool = True
    # never greylisted nor looked up in a block list
    trusted_networks: tuple[str, ...] = (
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )


@dataclass(frozen=True)
class SubmissionSettings:
    enabled: bool = False
    session_log: bool = False  # full transcripts to logs/<module>.log
    bind: str = "0.0.0.0"
    port: int = 587
    tls_port: int = 465
    sender_policy: str = "enforce"  # "enforce" | "any"
    max_recipients: int = 100
    timeout: int = 300
    # AUTH before STARTTLS on port 587: "never" | "loopback" | "always"
    plaintext_login: str = "loopback"
    access: tuple[str, ...] = ()  # empty: use security.access
    # AUTH CRAM-MD5 for users with a legacy password (off by default)
    legacy_auth: bool = False
    # the greeting's text after the code and host name ("" the usual one),
    # and whether the usual one names the version (server/greeting.py)
    banner: str = ""
    show_version: bool = False


@dataclass(frozen=True)
class Pop3Settings:
    enabled: bool = True
    session_log: bool = False  # full transcripts to logs/<module>.log
    bind: str = "0.0.0.0"
    port: int = 110
    tls_port: int = 995
    plaintext_login: str = "loopback"
    timeout: int = 600  # RFC 1939: at least 10 minutes
    access: tuple[str, ...] = ()  # empty: use security.access
    # APOP and CRAM-MD5 for users with a legacy password (off by default:
    # server/accounts/legacy.py)
    legacy_auth: bool = False
    # RFC 2449 LOGIN-DELAY: seconds a user waits between two logins (0: none;
    # for a mailbox checked by many clients too often)
    min_login_interval: int = 0
    # the greeting's text after the code and host name ("" the usual one),
    # and whether the usual one names the version (server/greeting.py)
    banner: str = ""
    show_version: bool = False


@dataclass(frozen=True)
class ImapSettings:
    enabled: bool = True
    session_log: bool = False  # full transcripts to logs/<module>.log
    bind: str = "0.0.0.0"
    port: int = 143
    tls_port: int = 993
    plaintext_login: str = "loopback"
    timeout: int = 1800  # RFC 3501 5.4: at least 30 minutes
    max_connections_per_user: int = 20
    max_connections_per_ip: int = 50
    access: tuple[str, ...] = ()  # empty: use security.access
    # AUTHENTICATE CRAM-MD5 for users with a legacy password (off by default)
    legacy_auth: bool = False
    # the greeting's text after the code and host name ("" the usual one),
    # and whether the usual one names the version (server/greeting.py)
    banner: str = ""
    show_version: bool = False


@dataclass(frozen=True)
class ManageSieveSettings:
    """RFC 5804: clients edit their Sieve rules (port 4190, STARTTLS)."""

    enabled: bool = False
    session_log: bool = False  # full transcripts to logs/<module>.log
    bind: str = "0.0.0.0"
    port: int = 4190
    plaintext_login: str = "loopback"  # as IMAP's: AUTHENTICATE before STARTTLS
    timeout: int = 1800  # idle seconds (Dovecot's managesieve: 30 minutes)
    access: tuple[str, ...] = ()  # empty: use security.access


@dataclass(frozen=True)
class WebSettings:
    """A small HTTPS server for RFC 8058 one-click unsubscribe links and our
    MTA-STS policy."""

    enabled: bool = False
    session_log: bool = False  # full transcripts to logs/<module>.log
    bind: str = "0.0.0.0"
    port: int = 8443  # 443 needs administrator rights (or a port forward)
    # what the links in list mail start with, as the world reaches this
    # server ("https://lists.example.org"); "" for https://<hostname>:<port>
    public_url: str = ""
    timeout: int = 30  # seconds for a whole request
    access: tuple[str, ...] = ()  # empty: use security.access
    # our MTA-STS policy (RFC 8461) at /.well-known/mta-sts.txt: "" none,
    # "testing" or "enforce" (server/protocols/web/mtasts.py)
    mta_sts_mode: str = ""


@dataclass(frozen=True)
class FetchSettings:
    """The collector: remote POP3/IMAP mailboxes polled into local ones (the
    accounts themselves are in fetch.sqlite3, edited on the Collector page)."""

    enabled: bool = False
    session_log: bool = False  # full transcripts to logs/<module>.log
    max_message_size: int = 0  # bytes; 0: general.max_message_size
    messages_per_poll: int = 200  # the rest comes at the next poll
    timeout: int = 60  # seconds a remote server may stay silent


@dataclass(frozen=True)
class RelaySettings:
    enabled: bool = False
    session_log: bool = False  # full transcripts to logs/<module>.log
    host: str = ""
    port: int = 587
    security: str = "starttls"
    username: str = ""  # the password lives in the keyring, never here
    verify_certificate: bool = True
    max_connections: int = 4  # parallel connections to the smart host
    timeout: int = 300  # RFC 5321 4.5.3.2: per-command client timeouts


@dataclass(frozen=True)
class MxSettings:
    enabled: bool = False
    session_log: bool = False  # full transcripts to logs/<module>.log
    port: int = 25  # tests point this at a local sink
    max_connections_per_host: int = 2
    timeout: int = 300  # RFC 5321 4.5.3.2: per-command client timeouts


@dataclass(frozen=True)
class QueueSettings:
    retry_schedule: tuple[int, ...] = (300, 900, 1800, 3600, 7200, 14400)
    lifetime: int = 5 * 24 * 3600
    delay_notice_after: int = 4 * 3600
    per_domain_concurrency: int = 4
    max_deliveries: int = 20  # jobs delivered at the same time


@dataclass(frozen=True)
class SecuritySettings:
    max_failures: int = 10
    failure_window: int = 600
    ban_time: int = 3600
    access: tuple[str, ...] = (
        "allow 127.0.0.0/8",
        "allow ::1/128",
        "allow 10.0.0.0/8",
        "allow 172.16.0.0/12",
        "allow 192.168.0.0/16",
        "allow 169.254.0.0/16",
        "allow fc00::/7",
        "allow fe80::/10",
        "deny all",
    )
    max_connections_per_ip: int = 20
    max_connections: int = 500
    # One account guessed at from many IPs: failures before its logins are
    # refused, and for how long (short: the owner must get back in).
    user_max_failures: int = 20
    user_lock_time: int = 300


@dataclass(frozen=True)
class BackupSettings:
    """Scheduled backups (server/backup.py): an archive of the data folder
    every ``every_hours`` into ``folder``; the newest ``keep`` are kept."""

    scheduled: bool = False
    folder: str = ""  # an absolute path outside the data folder
    every_hours: int = 24
    keep: int = 7


@dataclass(frozen=True)
class CaptureSettings:
    """Capture mode for developers (server/capture.py): SMTP and submission
    take mail for any address (any AUTH), nothing is delivered, and every
    message is kept once in the mailbox ``mailbox``@<primary domain>."""

    enabled: bool = False
    mailbox: str = "capture"  # the local part of the capture mailbox


# Bounds of the per-account lock settings.
USER_MAX_FAILURES_RANGE = (1, 10_000)
USER_LOCK_TIME_RANGE = (10, 86_400)  # 10 s to one day


# One section of ``Settings`` (``Settings.section``): callers that work on
# any section by name read its fields with getattr, or narrow it by type.
Section = (
    GeneralSettings
    | SmtpSettings
    | SubmissionSettings
    | Pop3Settings
    | ImapSettings
    | ManageSieveSettings
    | WebSettings
    | FetchSettings
    | RelaySettings
    | MxSettings
    | QueueSettings
    | SecuritySettings
    | BackupSettings
    | CaptureSettings
)

# The sections of the modules that listen: each has its own ``access`` list
# (empty: ``security.access`` applies), read by ``ListenerModule.admission``.
LISTENER_SECTIONS = (
    SmtpSettings,
    SubmissionSettings,
    Pop3Settings,
    ImapSettings,
    ManageSieveSettings,
    WebSettings,
)


@dataclass(frozen=True)
class Settings:
    general: GeneralSettings = field(default_factory=GeneralSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    submission: SubmissionSettings = field(default_factory=SubmissionSettings)
    pop3: Pop3Settings = field(default_factory=Pop3Settings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    managesieve: ManageSieveSettings = field(default_factory=ManageSieveSettings)
    web: WebSettings = field(default_factory=WebSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    mx: MxSettings = field(default_factory=MxSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    backup: BackupSettings = field(default_factory=BackupSettings)
    capture: CaptureSettings = field(default_factory=CaptureSettings)

    def section(self, name: str) -> Section:
        if name not in SECTIONS:
            raise ValidationError(f"unknown settings section {name!r}", field=name)
        value: Section = getattr(self, name)
        return value

    def replace_section(self, name: str, value: Section) -> Settings:
        validate_section(name, value)
        changes: dict[str, Any] = {name: value}  # checked: the section's type
        return dataclasses.replace(self, **changes)


SECTIONS: dict[str, type[Section]] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in dataclasses.fields(Settings)
}


def _check_port(section: str, name: str, value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValidationError(
            f"{section}.{name}: must be 0..65535, not {value}",
            field=f"{section}.{name}",
        )


def _check_bind(section: str, value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if value not in ("localhost",):
            raise ValidationError(
                f"{section}.bind: {value!r} is not an IP address",
                field=f"{section}.bind",
            ) from None


def _check_hostname(section: str, name: str, value: str) -> None:
    if not value:
        return
    if len(value) > 253 or any(c in value for c in " /\\@\x00\r\n\t"):
        raise ValidationError(
            f"{section}.{name}: {value!r} is not a valid host name",
            field=f"{section}.{name}",
        )


def _local_part(value: str) -> bool:
    """A plain mailbox name: letters, digits, dots (not first, last or
    doubled), - and _, at most 64 characters."""
    return (
        0 < len(value) <= 64
        and all(c.isascii() and (c.isalnum() or c in "._-") for c in value)
        and not value.startswith(".")
        and not value.endswith(".")
        and ".." not in value
    )


def _check_public_url(key: str, value: str) -> None:
    """An https:// URL with a host and at most a path: the base that
    one-click links are built on (no query, fragment, user or spaces)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        _ = parts.port  # raises for a bad port
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme != "https"
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or len(value) > 200
        or any(c.isspace() or c in '<>"' for c in value)
    ):
        raise ValidationError(
            f"{key}: must be an https:// address such as "
            "https://mail.example.org or https://example.org:8443",
            field=key,
        )


def validate_section(name: str, value: object) -> None:
    """Check the values of one section; raise ValidationError naming the key."""
    cls = SECTIONS.get(name)
    if cls is None or not isinstance(value, cls):
        raise ValidationError(f"unknown settings section {name!r}", field=name)
    for f in dataclasses.fields(value):
        v = getattr(value, f.name)
        key = f"{name}.{f.name}"
        if f.name in ("port", "tls_port"):
            _check_port(name, f.name, v)
        elif f.name == "bind":
            _check_bind(name, v)
        elif f.name in ("timeout",) and not 30 <= v <= 86400:
            raise ValidationError(f"{key}: must be 30..86400 seconds", field=key)
        elif f.name == "plaintext_login" and v not in PLAINTEXT_POLICIES:
            raise ValidationError(
                f"{key}: must be one of {', '.join(PLAINTEXT_POLICIES)}", field=key
            )
        elif f.name == "security" and v not in SECURITY_MODES:
            raise ValidationError(
                f"{key}: must be one of {', '.join(SECURITY_MODES)}", field=key
            )
        elif f.name == "sender_policy" and v not in ("enforce", "any"):
            raise ValidationError(f"{key}: must be enforce or any", field=key)
        elif f.name == "banner":
            check_banner(key, v)
        elif name == "backup" and f.name == "every_hours" and not 1 <= v <= 720:
            raise ValidationError(f"{key}: must be 1..720 hours", field=key)
        elif name == "backup" and f.name == "keep" and not 1 <= v <= 1000:
            raise ValidationError(f"{key}: must be 1..1000 archives", field=key)
        elif (
            isinstance(value, BackupSettings)
            and f.name == "folder"
            and (v or value.scheduled)
        ):
            if not v or not os.path.isabs(v) or "\x00" in v:
                raise ValidationError(
                    f"{key}: the folder to keep backups in, as a full path "
                    "(e.g. /srv/backups)",
                    field=key,
                )
        elif name == "capture" and f.name == "mailbox" and not _local_part(v):
            raise ValidationError(
                f"{key}: a mailbox name of letters, digits, dots, - and _ "
                "(like capture)",
                field=key,
            )
        elif f.name in ("hostname", "host") or (f.name == "domain" and v):
            _check_hostname(name, f.name, v)
        elif f.name == "max_rcpt_failures" and not 1 <= v <= 10000:
            raise ValidationError(f"{key}: must be 1..10000", field=key)
        elif f.name in ("max_recipients",) and not 1 <= v <= 100000:
            raise ValidationError(f"{key}: must be 1..100000", field=key)
        elif f.name == "max_message_size" and name == "fetch":
            if v and not 1024 <= v <= 2**31:
                raise ValidationError(
                    f"{key}: 0 (the general limit) or 1024..2147483648 bytes",
                    field=key,
                )
        elif f.name == "min_login_interval" and not 0 <= v <= 86_400:
            raise ValidationError(f"{key}: must be 0..86400 seconds", field=key)
        elif f.name == "messages_per_poll" and not 1 <= v <= 100_000:
            raise ValidationError(f"{key}: must be 1..100000", field=key)
        elif f.name == "max_message_size" and not 1024 <= v <= 2**31:
            raise ValidationError(f"{key}: must be 1024..2147483648 bytes", field=key)
        elif f.name == "user_max_failures" and not (
            USER_MAX_FAILURES_RANGE[0] <= v <= USER_MAX_FAILURES_RANGE[1]
        ):
            raise ValidationError(
                f"{key}: must be {USER_MAX_FAILURES_RANGE[0]}.."
                f"{USER_MAX_FAILURES_RANGE[1]} failed logins",
                field=key,
            )
        elif f.name == "user_lock_time" and not (
            USER_LOCK_TIME_RANGE[0] <= v <= USER_LOCK_TIME_RANGE[1]
        ):
            raise ValidationError(
                f"{key}: must be {USER_LOCK_TIME_RANGE[0]}.."
                f"{USER_LOCK_TIME_RANGE[1]} seconds",
                field=key,
            )
        elif f.name == "mta_sts_mode" and v not in ("", "testing", "enforce"):
            raise ValidationError(
                f"{key}: must be testing, enforce or empty (none)", field=key
            )
        elif f.name == "spam_filter" and v not in ("", "spamd", "rspamd"):
            raise ValidationError(
                f"{key}: must be spamd, rspamd or empty (none)", field=key
            )
        elif f.name == "spam_filter_host" and not v.strip():
            raise ValidationError(f"{key}: the scanner's host is empty", field=key)
        elif f.name == "spam_filter_port":
            _check_port(name, f.name, v)
        elif f.name in ("spam_junk_score", "spam_reject_score") and not (
            -1000.0 <= v <= 1000.0
        ):
            raise ValidationError(f"{key}: must be -1000..1000", field=key)
        elif f.name == "dnsbl_zones":
            from server.antispam.dnsbl import MAX_ZONES, parse_zone

            if len(v) > MAX_ZONES:
                raise ValidationError(f"{key}: at most {MAX_ZONES} lists", field=key)
            for zone in v:
                try:
                    parse_zone(zone)
                except ValidationError as exc:
                    raise ValidationError(f"{key}: {exc}", field=key) from None
        elif f.name == "trusted_networks":
            for net in v:
                try:
                    ipaddress.ip_network(net, strict=False)
                except ValueError:
                    raise ValidationError(
                        f"{key}: {net!r} is not a network (like 192.168.0.0/16)",
                        field=key,
                    ) from None
        elif f.name == "public_url" and v:
            _check_public_url(key, v)
        elif f.name == "access":
            from server.netcontrol import parse_rules

            try:
                parse_rules(v)
            except ValidationError as exc:
                raise ValidationError(f"{key}: {exc}", field=key) from None


def default_hostname() -> str:
    try:
        return socket.gethostname() or "localhost"
    except OSError:
        return "localhost"
