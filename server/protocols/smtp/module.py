"""The ``smtp`` module (MercuryS): inbound mail for local domains on port 25.

Serves aiosmtpd sessions on the core's loop (not aiosmtpd's threaded
Controller). Offers STARTTLS when a certificate is loaded. Relaying is refused
here: it needs the ``submission`` module and AUTH. Limits: aiosmtpd's command
line (512 octets) and text line (1000 octets, RFC 5321 4.5.3.1) limits, five
unknown commands, ``COMMAND_CALL_LIMITS`` per connection, ``smtp.timeout``
without a command (a byte-at-a-time client is closed too), the recipient cap
and ``general.max_message_size``. Settings: ``[smtp]`` and
``general.max_message_size``/``general.hostname``. With ``smtp.greylisting``
a first try from an unknown client is asked to retry; block and allow lists,
SPF/DKIM/DMARC and a spam scanner mark or refuse mail (server/antispam/).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from server.antispam.dkimwork import DkimPool
from server.antispam.dnsbl import Dnsbl, parse_zone
from server.antispam.dnsq import Resolver, system_resolver
from server.antispam.greylist import FILE_NAME as GREYLIST_FILE
from server.antispam.greylist import Greylist
from server.antispam.mailauth import MailAuth
from server.antispam.scanner import make_scanner
from server.config.schema import Settings, SmtpSettings, validate_section
from server.greeting import greeting_text
from server.modules.base import Listener, ListenerModule, ModuleContext, Refusal
from server.protocols.smtp.protocol import COMMAND_CALL_LIMITS, QuicksilverSMTP
from server.protocols.smtp.refusal import refusal_line
from server.protocols.smtp.session import SmtpHandler, SmtpPolicy

log = logging.getLogger("quicksilver.smtp")

# aiosmtpd's own logger repeats what we log and warns about our chosen setup.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class _Deferred:
    """The module's resolver, looked up at each question (tests replace
    ``SmtpModule.resolver`` after start)."""

    def __init__(self, module: SmtpModule) -> None:
        self.module = module

    async def resolve(self, qname: str, rdtype: str) -> Iterable[Any]:
        return await self.module._resolver().resolve(qname, rdtype)


class SmtpModule(ListenerModule):
    name = "smtp"
    title = "SMTP"

    def __init__(self, ctx: ModuleContext) -> None:
        super().__init__(ctx.events, log)
        self.ctx = ctx
        self.greylist: Greylist | None = None
        self.resolver: Resolver | None = None  # tests set a fake
        self.dnsbl = Dnsbl(self._resolver)
        # DKIM verification off the loop: a worker process when there are
        # two cores (server/antispam/dkimwork.py), started with the checks
        self.dkim_pool = DkimPool()

    def _resolver(self) -> Resolver:
        if self.resolver is None:
            self.resolver = system_resolver()
        return self.resolver

    async def stop(self) -> None:
        await super().stop()
        if self.greylist is not None:
            self.greylist.close()
            self.greylist = None
        self.dkim_pool.close()

    async def _quota_full(self, address: str) -> bool:
        """The address reaches one user, who has a quota and no room left."""
        ctx = self.ctx
        assert ctx is not None
        targets = ctx.accounts.resolve(address) or []
        if len(targets) != 1:
            return False
        user = ctx.accounts.get_user(targets[0])
        if user is None or not user.quota_bytes:
            return False
        return await ctx.store.usage(user.address) >= user.quota_bytes

    def refusal(self, refused: Refusal) -> bytes:
        return refusal_line(refused)

    def configure(self, settings: Settings) -> None:
        validate_section("smtp", settings.smtp)

    def listeners(self) -> list[Listener]:
        ctx = self.ctx
        assert ctx is not None
        settings = ctx.settings()
        cfg: SmtpSettings = settings.smtp
        general = settings.general
        hostname = general.hostname or "localhost"
        capture = settings.capture.enabled and ctx.capture is not None
        policy = SmtpPolicy(
            hostname=hostname,
            module=self.name,
            max_recipients=cfg.max_recipients,
            reject_helo_claiming_us=cfg.reject_helo_claiming_us,
            reject_invalid_helo=cfg.reject_invalid_helo,
            max_rcpt_failures=cfg.max_rcpt_failures,
            capture=capture,
        )
        if cfg.greylisting and self.greylist is None:
            folder = ctx.data_dir if ctx.data_dir is not None else Path(".")
            self.greylist = Greylist(folder / GREYLIST_FILE)
        elif not cfg.greylisting and self.greylist is not None:
            self.greylist.close()
            self.greylist = None
        if cfg.check_authentication:
            self.dkim_pool.start()
        handler = SmtpHandler(
            policy,
            ctx.accounts,
            ctx.capture if capture and ctx.capture is not None else ctx.delivery,
            ctx.events,
            log,
            on_message=self.count_message,
            lists=ctx.lists,
            greylist=self.greylist,
            trusted_networks=cfg.trusted_networks,
            dnsbl=self.dnsbl,
            dnsbl_zones=tuple(parse_zone(z) for z in cfg.dnsbl_zones),
            mailauth=MailAuth(_Deferred(self), hostname, self.dkim_pool)
            if cfg.check_authentication
            else None,
            dmarc_reject=cfg.dmarc_reject,
            dmarc_overrides=cfg.dmarc_overrides,
            scanner=make_scanner(
                cfg.spam_filter, cfg.spam_filter_host, cfg.spam_filter_port
            ),
            junk_score=cfg.spam_junk_score,
            reject_score=cfg.spam_reject_score,
            quota_full=self._quota_full,
        )
        tls = ctx.tls.server_context()
        loop = asyncio.get_running_loop()

        def factory() -> QuicksilverSMTP:
            return QuicksilverSMTP(
                handler,
                hostname=hostname,
                ident=greeting_text(
                    "Quicksilver ESMTP", cfg.banner, cfg.show_version, capture
                ),
                data_size_limit=general.max_message_size,
                enable_SMTPUTF8=True,
                decode_data=False,
                tls_context=tls,
                require_starttls=False,
                timeout=cfg.timeout,
                auth_exclude_mechanism=["LOGIN", "PLAIN"],
                command_call_limit=dict(COMMAND_CALL_LIMITS),
                loop=loop,
                tracker=self,
                qlog=log,
            )

        return [Listener(cfg.bind, cfg.port, "starttls" if tls else "none", factory)]
