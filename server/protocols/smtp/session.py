"""SMTP sessions on aiosmtpd: the policy and its handler.

``SmtpPolicy`` holds the decisions (local domains only, no relaying without
AUTH, recipient limits); ``SmtpHandler`` implements aiosmtpd's handler hooks
with it. The protocol subclass, ``QuicksilverSMTP``, is in protocol.py.

The message is handed to the ``DeliveryTarget`` and the 250 reply is sent only
after it returned, i.e. after the message is durable (fsynced and renamed).

For ``submission`` (RFC 6409) the policy also requires AUTH before MAIL (530
5.7.0, RFC 4954 6), lets an authenticated user relay anywhere, and with
``sender_policy="enforce"`` accepts as envelope sender only the user's own
address or an alias that delivers to them (553 5.7.1, RFC 6409 6.1), or the
null sender.

What the client says reaches our trace headers only cleaned: envelope
addresses with control characters are refused (553 / 501), the null path is
stored as ``Return-Path: <>``, and the HELO/EHLO name is kept only as
``helo_for_header`` shows it (controls, spaces and ``;()<>"\\`` as "?").
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as AioEnvelope

from server import bytesutil, mailtext
from server.accounts.base import AccountStore
from server.antispam.dnsbl import Dnsbl, Listing, Zone
from server.antispam.greylist import Greylist
from server.antispam.mailauth import MailAuth, strip_ours
from server.antispam.scanner import MAX_SCAN_BYTES, Scanner, ScanRequest, Score
from server.antispam.verdict import judge, strip_spam_fields
from server.delivery.base import DeliveryTarget, Envelope
from server.errors import MailError
from server.events import EventBus, MessageAccepted
from server.modules.base import ListDirectory
from server.policy import peer_ip

# RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted per message.
MIN_RECIPIENTS = 100
TRUSTED_CACHE_SIZE = 1024  # peer IPs whose trusted-network answer is kept


def header_names(message: bytes) -> set[bytes]:
    """Lower-case field names of the header section (pure). The section ends
    at the first empty line (RFC 5322 2.1), also when that is the first line."""
    head = mailtext.split_header(message)[0]
    names = set()
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if line and line[:1] not in (b" ", b"\t") and b":" in line:
            names.add(line.split(b":", 1)[0].strip().lower())
    return names


def missing_headers(message: bytes, hostname: str, sid: str) -> bytes:
    """Date and Message-ID for a submitted message that lacks them (RFC 6409
    8.2, 8.3: the MSA may add them; RFC 5322 3.6 requires Date)."""
    present = header_names(message)
    out = b""
    if b"date" not in present:
        out += b"Date: " + email.utils.formatdate(localtime=True).encode() + b"\r\n"
    if b"message-id" not in present:
        out += f"Message-ID: <{sid}.{secrets.token_hex(8)}@{hostname}>\r\n".encode()
    return out


# RFC 5321 4.1.1.2: aiosmtpd hands the null reverse-path "MAIL FROM:<>" to
# handle_MAIL as the text "<>" (FIELD-NOTES). It stays "<>" in aiosmtpd's own
# envelope, whose state checks ("need MAIL", "nested MAIL") test its truth;
# everywhere else the null path is "" (``Envelope.sender``), so Return-Path
# comes out "<>" (RFC 5321 4.4), never "<<>>".
NULL_PATH = "<>"


def reverse_path(address: str | None) -> str:
    """The sender as the rest of the core spells it: "" for the null path."""
    if not address or address == NULL_PATH:
        return ""
    return address


# Characters that must never reach a header we write: C0 controls (NUL, VT,
# ...), DEL, C1 controls (U+0085 NEL among them) and the Unicode line and
# paragraph separators, which some parsers take as line ends (RFC 5322 2.2
# allows none of them in a header); and lone surrogates, which is how aiosmtpd
# hands over a byte that is not UTF-8 (RFC 6531 3.3 has addresses in UTF-8):
# they cannot be written to a header, a log or the spool. One scan in C (a
# per-character Python test cost 1.6% of the loop under SMTP load).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


_date_cache: tuple[int, str] = (0, "")


def _received_date() -> str:
    """RFC 5322 date-time of now in local time, for Received fields; made
    once per second (``formatdate`` costs a busy server 3% of its loop)."""
    global _date_cache
    now = time.time()
    second = int(now)
    if _date_cache[0] != second:
        _date_cache = (second, email.utils.formatdate(now, localtime=True))
    return _date_cache[1]


# the id in our Received field and log lines: unique enough to find a
# message by (a random per-process prefix and a counter), not a secret, so
# no system call for randomness per message
_SID_PREFIX = secrets.token_hex(3)
_SIDS = itertools.count(secrets.randbelow(1 << 24))
AUTH_TIMEOUT = 30.0  # seconds for SPF, DKIM and DMARC of one message
# a message up to this size loses forged X-Spam-* fields on the loop (one
# header search); a larger one in a worker thread
STRIP_INLINE_BYTES = 1024 * 1024
_HELO_NAME = re.compile(
    r"(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
    r"(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*"
)


def _valid_helo(name: str) -> bool:
    """A host name (letters, digits, hyphens, underscores as real-world
    names have them, in dot-separated labels) or an address literal."""
    if name.startswith("[") and name.endswith("]"):
        literal = name[1:-1]
        literal = literal[5:] if literal.startswith("ipv6:") else literal
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            return False
        return True
    return _HELO_NAME.fullmatch(name) is not None


def _has_controls(text: str) -> bool:
    """Control characters (or undecodable bytes) never belong in an address:
    they would end up in the Return-Path and Received headers we write."""
    return _UNSAFE.search(text) is not None


# RFC 5321 4.4 has the HELO name in Received as a Domain or address literal.
# Characters that would change the header's structure (";" ends the clause and
# would let the client write our date, "(" opens a comment), white space and
# anything not printable (controls, separators, bidi marks, undecodable bytes)
# are shown as "?", as Postfix prints odd HELO names.
_HELO_STRUCTURE = frozenset(';()<>"\\')
MAX_HELO_IN_HEADER = 255  # RFC 1035 2.3.4: a domain name is at most 255 octets


def helo_for_header(name: str | None) -> str:
    """The HELO/EHLO name as our Received header shows it (pure)."""
    text = "".join(
        "?" if c in _HELO_STRUCTURE or c.isspace() or not c.isprintable() else c
        for c in (name or "")[:MAX_HELO_IN_HEADER]
    )
    return text or "unknown"


def address_literal(ip: str) -> str:
    """The peer's address as RFC 5321 4.1.3 writes it in Received (4.4):
    ``[192.0.2.1]``, ``[IPv6:2001:db8::1]`` (a zone index is local detail)."""
    ip = ip.split("%", 1)[0]
    if not ip:
        return "[unknown]"
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"


@dataclass(frozen=True)
class SmtpPolicy:
    hostname: str
    module: str = "smtp"
    max_recipients: int = MIN_RECIPIENTS
    require_auth: bool = False  # submission: AUTH before MAIL
    relay_when_authenticated: bool = False
    sender_policy: str = "any"  # "enforce": MAIL FROM must belong to the user
    add_missing_headers: bool = False  # submission: Date, Message-ID (RFC 6409 8)
    reject_helo_claiming_us: bool = False  # smtp: Mercury's compliance options
    reject_invalid_helo: bool = False
    max_rcpt_failures: int = 0  # 0: no limit
    # capture mode (server/capture.py): any recipient, no AUTH needed, no
    # HELO, relay or spam checks; the delivery target keeps the mail
    capture: bool = False


class SmtpHandler:
    """aiosmtpd handler: policy checks at each stage and the durable hand-off."""

    def __init__(
        self,
        policy: SmtpPolicy,
        accounts: AccountStore,
        delivery: DeliveryTarget,
        events: EventBus,
        log: logging.Logger,
        on_message: Callable[[], None] = lambda: None,
        lists: ListDirectory | None = None,
        greylist: Greylist | None = None,
        trusted_networks: tuple[str, ...] = (),
        dnsbl: Dnsbl | None = None,
        dnsbl_zones: tuple[Zone, ...] = (),
        mailauth: MailAuth | None = None,
        dmarc_reject: bool = True,
        dmarc_overrides: tuple[str, ...] = (),
        scanner: Scanner | None = None,
        junk_score: float = 5.0,
        reject_score: float = 0.0,
        quota_full: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        # is this local address's one mailbox full (RFC 5321 452 4.2.2)?
        self.quota_full = quota_full
        self.mailauth = mailauth
        self.scanner = scanner
        self.junk_score = junk_score
        self.reject_score = reject_score  # 0: a score never refuses
        self.dmarc_reject = dmarc_reject
        self.dmarc_overrides = {d.lower().rstrip(".") for d in dmarc_overrides}
        self.dnsbl = dnsbl
        self.dnsbl_zones = list(dnsbl_zones)
        self.policy = policy
        self.accounts = accounts
        self.lists = lists
        self.greylist = greylist
        self._trusted_ips: dict[str, bool] = {}  # peer IP -> trusted (bounded)
        self.trusted_networks = [
            ipaddress.ip_network(n, strict=False) for n in trusted_networks
        ]
        self.delivery = delivery
        self.events = events
        self.log = log
        self.on_message = on_message

    @staticmethod
    def _peer(session: Session) -> str:
        p = session.peer
        if isinstance(p, tuple) and len(p) >= 2:
            return f"{p[0]}:{p[1]}"
        return str(p)

    def _authenticated(self, session: Session) -> str:
        data = getattr(session, "auth_data", None)
        if session.authenticated and data is not None:
            return str(getattr(data, "address", "") or getattr(data, "login", "") or "")
        return ""

    def greeted(self, session: Session, hostname: str) -> None:
        """Remember the client's HELO/EHLO name, cleaned once for every later
        use (Received header, envelope, log): RFC 5321 4.1.1.1 wants a domain
        or an address literal, and a NUL, VT or line separator is neither.
        As Postfix, the session goes on; the odd characters show as "?"."""
        clean = helo_for_header(hostname)
        if clean != hostname and self.log.isEnabledFor(logging.DEBUG):
            self.log.debug(
                "[%s] HELO name shown as %r (was %r)",
                self._peer(session),
                clean[:64],
                hostname[:64],
            )
        session.host_name = clean

    async def handle_HELO(
        self, server: SMTP, session: Session, envelope: AioEnvelope, hostname: str
    ) -> str:
        refused = self.helo_refusal(server, session, hostname)
        if refused:
            session.host_name = None  # no MAIL until a good HELO
            return refused
        self.greeted(session, hostname)
        return f"250 {server.hostname}"

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: AioEnvelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        refused = self.helo_refusal(server, session, hostname)
        if refused:
            session.host_name = None  # no MAIL until a good EHLO
            return [refused]
        self.greeted(session, hostname)
        out = [
            r
            for r in responses[:-1]
            if not (
                r.startswith("250-AUTH") and not getattr(server, "offer_auth", False)
            )
        ]
        out += ["250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250 HELP"]
        return out

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: AioEnvelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if _has_controls(address):
            return "553 5.1.7 Bad sender address syntax"
        capture = self.policy.capture
        if self.policy.require_auth and not session.authenticated and not capture:
            return "530 5.7.0 Authentication required"
        sender = reverse_path(address)
        if (
            not capture
            and self.policy.sender_policy == "enforce"
            and session.authenticated
            and not self.sender_allowed(self._authenticated(session), sender)
        ):
            self.log.info(
                "[%s] MAIL FROM <%s> refused: not an address of %s",
                self._peer(session),
                sender,
                self._authenticated(session),
            )
            return f"553 5.7.1 Sender address <{sender}> is not yours"
        # aiosmtpd's envelope keeps "<>" (its state checks need a true value);
        # handle_DATA turns it back into the null path.
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    def sender_allowed(self, user: str, address: str) -> bool:
        """Is ``address`` the user's own, or an alias that delivers to them?

        The null reverse-path ("", after ``reverse_path``) is allowed, as
        Postfix allows it to an authenticated client under
        ``reject_sender_login_mismatch``: RFC 5321 4.5.5 and RFC 3834 3.3 have
        notifications and auto-replies sent with it, and it claims no address
        (the Received header still names the authenticated session, ESMTPSA).
        """
        if not address:
            return True
        addr = address.strip().lower()
        if addr == user.lower():
            return True
        if addr.count("@") != 1:
            return False
        if not self.accounts.is_local_domain(addr.rsplit("@", 1)[1]):
            return False
        if self.accounts.get_user(addr) is not None:
            return False  # another user's mailbox
        targets = self.accounts.resolve(addr) or []
        return user.lower() in (t.lower() for t in targets)

    def helo_refusal(self, server: SMTP, session: Session, hostname: str) -> str:
        """Why a HELO/EHLO name is refused ("" when it is not): it claims
        to be us (our host name, one of our domains, the address the client
        connected to), or, with ``reject_invalid_helo``, it is neither a host
        name nor an address literal (RFC 5321 4.1.1.1). Trusted networks and
        authenticated sessions are not judged."""
        p = self.policy
        if p.capture or not (p.reject_helo_claiming_us or p.reject_invalid_helo):
            return ""
        if session.authenticated or self._trusted(session):
            return ""
        name = hostname.strip().lower().rstrip(".")
        peer = self._peer(session)
        if p.reject_invalid_helo and not _valid_helo(name):
            self.log.info("[%s] HELO %r refused: not a host name", peer, name[:64])
            return "501 5.5.2 Helo command rejected: invalid name"
        if p.reject_helo_claiming_us and self._claims_us(server, name):
            self.log.info("[%s] HELO %r refused: it claims to be us", peer, name[:64])
            return "550 5.7.1 Helo command rejected: you are not me"
        return ""

    def _claims_us(self, server: SMTP, name: str) -> bool:
        if name == self.policy.hostname.lower():
            return True
        if name.startswith("[") and name.endswith("]"):
            transport = getattr(server, "transport", None)
            sock = transport.get_extra_info("sockname") if transport else None
            ours = peer_ip(sock) if sock else ""
            literal = name[1:-1].removeprefix("ipv6:")
            try:
                return bool(ours) and ipaddress.ip_address(
                    literal
                ) == ipaddress.ip_address(ours.split("%", 1)[0])
            except ValueError:
                return False
        return bool(name) and self.accounts.is_local_domain(name)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: AioEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = await self._rcpt(server, session, envelope, address, rcpt_options)
        limit = self.policy.max_rcpt_failures
        if limit and reply.startswith("5"):
            failures = int(getattr(session, "qs_rcpt_failures", 0)) + 1
            setattr(session, "qs_rcpt_failures", failures)  # noqa: B010
            if failures >= limit:
                self.log.info(
                    "[%s] %d refused recipients: closing", self._peer(session), failures
                )
                return "421 4.7.0 Too many errors, closing the connection"
        return reply

    async def _rcpt(
        self,
        server: SMTP,
        session: Session,
        envelope: AioEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if _has_controls(address):
            return "501 5.1.3 Bad recipient address syntax"
        peer = self._peer(session)
        if len(envelope.rcpt_tos) >= self.policy.max_recipients:
            return "452 4.5.3 Too many recipients"
        address = self.accounts.canonical_recipient(address)  # RFC 5321 4.5.1
        if address.count("@") != 1:
            return "550 5.1.3 Bad recipient address syntax"
        if self.policy.capture:  # kept, never delivered: any address will do
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
            return "250 2.1.5 Recipient OK (captured)"
        domain = address.rsplit("@", 1)[1]
        if self.accounts.is_local_domain(domain):
            if self.accounts.resolve(address) is None and not (
                self.lists is not None and self.lists.is_list_address(address)
            ):
                self.log.info("[%s] RCPT %s refused: no such user", peer, address)
                return "550 5.1.1 No such user here"
            if self.quota_full is not None and await self.quota_full(address):
                self.log.info("[%s] RCPT %s refused: mailbox full", peer, address)
                return "452 4.2.2 Mailbox full, try again later"
        elif not (self.policy.relay_when_authenticated and session.authenticated):
            self.log.info("[%s] RCPT %s refused: relaying denied", peer, address)
            return "550 5.7.1 Relaying denied"
        listing = await self._listed(session)
        if listing is not None and listing.action == "reject":
            ip = peer_ip(session.peer)
            self.log.info(
                "[%s] RCPT %s refused: listed at %s", peer, address, listing.zone
            )
            return (
                f"550 5.7.1 Service unavailable; client [{ip}] blocked using "
                f"{listing.zone}: {listing.reason}"
            )
        wait = await self._greylisted(session, envelope, address)
        if wait:
            self.log.info("[%s] RCPT %s greylisted (%d s)", peer, address, wait)
            return f"451 4.7.1 Greylisted: please try again in {wait} seconds"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    def _trusted(self, session: Session) -> bool:
        ip = peer_ip(session.peer)
        known = self._trusted_ips.get(ip)
        if known is not None:
            return known
        try:
            addr = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False
        trusted = any(addr in n for n in self.trusted_networks)
        if len(self._trusted_ips) >= TRUSTED_CACHE_SIZE:
            self._trusted_ips.clear()
        self._trusted_ips[ip] = trusted
        return trusted

    def lookup_at_connect(
        self, session: Session
    ) -> asyncio.Task[Listing | None] | None:
        """Start asking the block and allow lists as the client connects, so
        the answer is there by its first RCPT (where a listing is refused,
        after AUTH had its chance)."""
        if (
            self.dnsbl is None
            or not self.dnsbl_zones
            or self.policy.capture
            or self._trusted(session)
        ):
            return None
        task = asyncio.get_running_loop().create_task(
            self.dnsbl.check(peer_ip(session.peer), self.dnsbl_zones)
        )
        setattr(session, "qs_dnsbl_task", task)  # noqa: B010
        return task

    async def _listed(self, session: Session) -> Listing | None:
        """The block list that lists this client (asked once per session)."""
        if self.dnsbl is None or not self.dnsbl_zones or session.authenticated:
            return None
        if hasattr(session, "qs_dnsbl"):
            known: Listing | None = getattr(session, "qs_dnsbl")  # noqa: B009
            return known
        found = None
        early: asyncio.Task[Listing | None] | None = getattr(
            session, "qs_dnsbl_task", None
        )
        if early is not None:
            found = await early
        elif not self._trusted(session):
            found = await self.dnsbl.check(peer_ip(session.peer), self.dnsbl_zones)
        setattr(session, "qs_dnsbl", found)  # noqa: B010
        return found

    async def _authenticate(
        self, session: Session, envelope: AioEnvelope, raw: bytes
    ) -> str | tuple[bytes, bytes, str]:
        """SPF, DKIM and DMARC for a message from an untrusted client: the
        refusal (DMARC p=reject), or the message without forged
        Authentication-Results fields of ours, the field to add and the
        From domain whose DMARC policy puts the message in Junk."""
        auth = self.mailauth
        assert auth is not None
        if len(raw) > STRIP_INLINE_BYTES:
            raw = await asyncio.to_thread(strip_ours, raw, self.policy.hostname)
        else:
            raw = strip_ours(raw, self.policy.hostname)
        if session.authenticated or self._trusted(session):
            return raw, b"", ""
        sender = reverse_path(envelope.mail_from)
        helo = session.host_name or ""
        try:
            v = await asyncio.wait_for(
                auth.verdicts(peer_ip(session.peer), sender, helo, raw), AUTH_TIMEOUT
            )
        except TimeoutError:
            self.log.info(
                "[%s] SPF/DKIM/DMARC checks took too long", self._peer(session)
            )
            return raw, b"", ""
        self.log.info(
            "[%s] spf=%s dkim=%s dmarc=%s%s",
            self._peer(session),
            v.spf,
            ",".join(d.result for d in v.dkim) or "none",
            v.dmarc,
            f" (p={v.policy}, from {v.from_domain})" if v.policy else "",
        )
        quarantine = ""
        if v.dmarc == "fail" and v.from_domain not in self.dmarc_overrides:
            if v.policy == "reject" and self.dmarc_reject:
                return (
                    f"550 5.7.1 Rejected by the DMARC policy of {v.from_domain} "
                    "(the sender is not authenticated for it)"
                )
            if v.policy in ("quarantine", "reject"):
                quarantine = v.from_domain
        return raw, auth.header(v, sender, helo), quarantine

    async def _score(
        self, session: Session, envelope: AioEnvelope, message: bytes
    ) -> Score | None:
        if self.scanner is None:
            return None
        return await self.scanner.score(
            ScanRequest(
                message,
                peer_ip(session.peer),
                session.host_name or "",
                reverse_path(envelope.mail_from),
                tuple(envelope.rcpt_tos),
            )
        )

    async def _greylisted(
        self, session: Session, envelope: AioEnvelope, address: str
    ) -> int:
        """Seconds the client must wait (0: go on): greylisting is on, the
        session is not authenticated and the client not exempt."""
        if self.greylist is None or session.authenticated or self._trusted(session):
            return 0
        listing: Listing | None = getattr(session, "qs_dnsbl", None)
        if listing is not None and listing.action == "allow":
            return 0  # on a DNSWL
        ip = peer_ip(session.peer)
        sender = reverse_path(envelope.mail_from or "")
        return await asyncio.to_thread(self.greylist.check, ip, sender, address)

    def received_header(
        self, server: SMTP, session: Session, envelope: AioEnvelope, sid: str
    ) -> bytes:
        peer = address_literal(peer_ip(session.peer))
        helo = helo_for_header(session.host_name)
        tls = server._tls_protocol is not None or getattr(server, "implicit_tls", False)
        proto = "ESMTP" if session.extended_smtp else "SMTP"
        if envelope.smtp_utf8:
            proto = "UTF8SMTP"
        if tls:
            proto += "S"
        if session.authenticated:
            proto += "A"
        rcpt = envelope.rcpt_tos[0] if len(envelope.rcpt_tos) == 1 else ""
        for_part = f"\r\n\tfor <{rcpt}>" if rcpt else ""
        date = _received_date()
        text = (
            f"Received: from {helo} ({peer})\r\n\tby {self.policy.hostname} "
            f"(Quicksilver) with {proto} id {sid}{for_part}; {date}\r\n"
        )
        return text.encode("utf-8", "replace")

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: AioEnvelope
    ) -> str:
        peer = self._peer(session)
        sid = f"{_SID_PREFIX}{next(_SIDS) & 0xFFFFFF:06x}"
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        if self.policy.add_missing_headers:
            raw = await bytesutil.join(
                (missing_headers(raw, self.policy.hostname, sid), raw)
            )
        received = self.received_header(server, session, envelope, sid)
        capture = self.policy.capture  # the developer's own mail: no checks
        untrusted = (
            not capture and not session.authenticated and not self._trusted(session)
        )
        quarantine = ""
        if self.mailauth is not None and not capture:
            checked = await self._authenticate(session, envelope, raw)
            if isinstance(checked, str):
                return checked  # refused by the sender domain's DMARC policy
            raw, results, quarantine = checked
            received += results
        listing: Listing | None = getattr(session, "qs_dnsbl", None)
        tag = ""
        if listing is not None and listing.action == "tag":
            tag = listing.zone  # the user's rules may act on it, Junk takes it
            received += (
                f"X-Quicksilver-DNSBL: {listing.zone} ({listing.reason})\r\n".encode(
                    "ascii", "replace"
                )
            )
        if untrusted:
            # only our X-Spam-* fields may reach the user's filters
            if len(raw) > STRIP_INLINE_BYTES:
                raw = await asyncio.to_thread(strip_spam_fields, raw)
            else:
                raw = strip_spam_fields(raw)
            score = None
            if self.scanner is not None and len(raw) <= MAX_SCAN_BYTES:
                score = await self._score(session, envelope, received + raw)
            if score is not None and 0 < self.reject_score <= score.score:
                self.log.info(
                    "[%s] message refused as spam (score %.1f)", peer, score.score
                )
                return f"550 5.7.1 Message refused as spam (score {score.score:.1f})"
            verdict = judge(
                dmarc_quarantine=quarantine,
                dnsbl_tag=tag,
                score=score,
                junk_score=self.junk_score,
            )
            if verdict.marked:
                self.log.info("[%s] spam: %s", peer, "; ".join(verdict.reasons))
            received += verdict.fields()
        message = await bytesutil.join((received, raw))  # off the loop when large
        env = Envelope(
            sender=reverse_path(envelope.mail_from),
            recipients=tuple(envelope.rcpt_tos),
            peer=peer,
            helo=session.host_name or "",
            authenticated_as=self._authenticated(session),
            received_via=self.policy.module,
            smtputf8=bool(envelope.smtp_utf8),
            body_8bit="BODY=8BITMIME" in [o.upper() for o in envelope.mail_options],
        )
        started = time.monotonic()
        try:
            accepted = await self.delivery.accept(env, message)
        except MailError as exc:
            self.log.warning("[%s] message refused: %s", peer, exc.public_message)
            return exc.smtp_reply()
        self.on_message()
        self.events.publish(
            MessageAccepted(
                self.policy.module,
                accepted.job_id,
                env.sender,
                env.recipients,
                len(message),
            )
        )
        self.log.info(
            "[%s] accepted %d bytes from <%s> for %s as %s (%.0f ms)",
            peer,
            len(message),
            env.sender,
            ", ".join(env.recipients),
            accepted.job_id,
            (time.monotonic() - started) * 1000,
        )
        return f"250 2.0.0 Ok: queued as {accepted.job_id}"

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, asyncio.CancelledError):
            raise error
        self.log.error("SMTP session error", exc_info=error)
        return "451 4.3.0 Internal error; please try again later"
