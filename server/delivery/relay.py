"""The ``relay`` module (MercuryC): remote mail through a smart host.

What it does
- While running it is the queue's remote route (priority over ``mx``): every
  remote recipient goes to ``relay.host``:``relay.port`` with ``relay.security``
  ``none`` / ``starttls`` (RFC 3207) / ``implicit`` (RFC 8314), AUTH (RFC 4954)
  as ``relay.username`` with the password from ``server.secrets`` (the system
  keyring, or a 0600 file where there is none): never in settings.toml or a log.
- Reuses connections between messages and opens at most
  ``relay.max_connections`` in parallel (``server.delivery.smtp_client``).
- ``test_connection`` connects, says EHLO, tries TLS and AUTH and reports what
  the smart host answered at each step, in plain words.

What it does not do: DNS lookups (the smart host does MX routing), or bounce
mail itself: a refused login or an unreachable host is a temporary failure, so
mail waits in the queue while the setting is fixed.
Settings: ``[relay]`` host, port, security, username, verify_certificate,
max_connections, timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from server.config.schema import RelaySettings, Settings, validate_section
from server.delivery.base import RouteResult
from server.delivery.route_module import RouteModule
from server.delivery.smtp_client import (
    ConnectFailed,
    ProbeResult,
    SmtpSender,
    SmtpTarget,
    probe,
)
from server.errors import ValidationError
from server.modules.base import ModuleContext, ModuleState
from server.secrets import SecretStore, relay_key

log = logging.getLogger("quicksilver.relay")


class RelayModule(RouteModule):
    name = "relay"
    title = "Relay (smart host)"
    priority = 20

    def __init__(self, ctx: ModuleContext, secrets: SecretStore | None = None) -> None:
        super().__init__(ctx.events, ctx.queue, log)
        self.ctx = ctx
        data_dir = Path(ctx.data_dir) if ctx.data_dir is not None else Path(".")
        self.secrets = secrets or SecretStore(data_dir)
        self._target: SmtpTarget | None = None

    def configure(self, settings: Settings) -> None:
        validate_section("relay", settings.relay)

    async def _make_target(self, cfg: RelaySettings) -> SmtpTarget:
        password = ""
        if cfg.username:
            stored = await asyncio.to_thread(
                self.secrets.get, relay_key(cfg.host, cfg.username)
            )
            password = stored or ""
        return SmtpTarget(
            host=cfg.host,
            port=cfg.port,
            security=cfg.security,
            username=cfg.username,
            password=password,
            verify_certificate=cfg.verify_certificate,
        )

    async def start(self) -> None:
        settings = self.ctx.settings()
        cfg: RelaySettings = settings.relay
        self._set_state(ModuleState.STARTING)
        if not cfg.host:
            self._fail(
                "Enter the smart host's name (relay settings) before turning on."
            )
        target = await self._make_target(cfg)
        if cfg.username and not target.password:
            self._fail(
                f"No password is stored for {cfg.username} at {cfg.host}: set it in "
                "the relay settings."
            )
        self._target = target
        sender = SmtpSender(
            settings.general.hostname or "localhost",
            log,
            timeout=float(cfg.timeout),
            max_per_target=cfg.max_connections,
        )
        self._running(sender)
        log.info(
            "smart host %s:%d (%s%s)",
            cfg.host,
            cfg.port,
            cfg.security,
            f", AUTH as {cfg.username}" if cfg.username else "",
        )

    async def deliver_remote(
        self, sender: str, recipients: Sequence[str], message: bytes
    ) -> list[RouteResult]:
        sending, target = self._sending, self._target
        if sending is None or target is None:
            return [
                RouteResult(r, False, True, "The relay module is not running")
                for r in recipients
            ]
        try:
            results = await sending.send(target, sender, recipients, message)
        except ConnectFailed as exc:
            log.warning("[%s:%d] %s", target.host, target.port, exc.message)
            results = [
                RouteResult(r, False, exc.temporary, exc.message) for r in recipients
            ]
        self.count_results(results)
        return results

    # -- facade helpers --------------------------------------------------------------
    async def set_password(self, password: str) -> str:
        """Store the smart host password; return where it went, in words."""
        cfg: RelaySettings = self.ctx.settings().relay
        if not cfg.host or not cfg.username:
            raise ValidationError(
                "Enter the smart host and user name first.", field="relay.username"
            )
        key = relay_key(cfg.host, cfg.username)
        if password:
            await asyncio.to_thread(self.secrets.set, key, password)
        else:
            await asyncio.to_thread(self.secrets.delete, key)
        if self._target is not None and self._target.username == cfg.username:
            self._target = await self._make_target(cfg)
        log.info(
            "smart host password for %s %s",
            cfg.username,
            "saved" if password else "removed",
        )
        return await asyncio.to_thread(self.secrets.backend_description)

    async def test_connection(self) -> ProbeResult:
        settings = self.ctx.settings()
        cfg: RelaySettings = settings.relay
        if not cfg.host:
            return ProbeResult(False, summary="No smart host is set.")
        target = await self._make_target(cfg)
        result = await probe(
            target, settings.general.hostname or "localhost", min(cfg.timeout, 30)
        )
        log.info("connection test to %s:%d: %s", cfg.host, cfg.port, result.summary)
        return result
