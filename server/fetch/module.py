"""The collector module (``fetch``, Mercury's MercuryD): polls remote POP3
and IMAP mailboxes and brings their mail in.

What it does
- One task per enabled account (``store.FetchAccount``), polling every
  ``interval`` seconds; an IMAP server that offers IDLE (RFC 2177) keeps the
  connection and is polled again as soon as it reports new mail. A poll that
  fails backs off (``interval`` x 2^failures, at most ``MAX_BACKOFF``) and
  leaves its error for the window; a refused login backs off the same way.
- Each message not collected before (``store``: POP3 UIDL, IMAP
  UIDVALIDITY:UID) and not larger than the limit is read, given a Received
  field and our loop mark, and handed to the queue (``accept``: local
  delivery runs Sieve as for SMTP mail) under a job id and time derived from
  the account and key (``store``'s pending/done steps): a crash replays the
  same delivery, which the Maildir store does not repeat. Only when that
  returned (durable here) is the key marked done, and only then is the
  remote copy deleted: at once, or with "leave on server" after
  ``delete_after_days`` (never with 0).
- Where it goes: the account's local user, or (a domain mailbox) the local
  addresses ``fanout`` finds, each resolved by the queue like SMTP's
  recipients; mail for no local address goes to the default user.
- Over the size limit: left on the server, logged once, marked ``big``.
- At most ``messages_per_poll`` messages per poll; the rest next time.

The accounts and their status live in ``fetch.sqlite3`` (``store``) so the
window and the shell see the same; passwords in the keyring as
``fetch:<id>``. A "check now" from the shell is picked up within
``SUPERVISE_SECONDS``.

Logging: ``quicksilver.fetch``, one line per poll with a count, and a line
for each message left or refused; never a password or message content.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from server.accounts.base import AccountStore
from server.config.schema import FetchSettings, Settings, validate_section
from server.delivery.base import DeliveryTarget, Envelope
from server.errors import MailError, ValidationError
from server.events import EventBus, ModuleStateChanged
from server.fetch import fanout
from server.fetch.connect import CertificateRejected, Endpoint, FetchError
from server.fetch.imap import ImapClient
from server.fetch.pop3 import Pop3Client
from server.fetch.store import AccountStatus, FetchAccount, FetchStore
from server.modules.base import (
    ListDirectory,
    ModuleContext,
    ModuleStartError,
    ModuleState,
    ModuleStatus,
)
from server.queue.spool import derived_job_id
from server.secrets import SecretStore

log = logging.getLogger("quicksilver.fetch")

SUPERVISE_SECONDS = 1.0  # how often accounts and "check now" are looked at
MAX_BACKOFF = 3600.0
IDLE_SECONDS = 25 * 60  # RFC 2177: re-issue IDLE within 29 minutes
SIZE_SLACK = 64 * 1024  # a message may be a little larger than LIST said
DAY = 86_400.0


def fetch_key(ident: str) -> str:
    """The keyring name of an account's password."""
    return f"fetch:{ident}"


@dataclass(frozen=True)
class PollResult:
    collected: int
    error: str = ""
    fingerprint: str = ""  # a rejected certificate's, to offer accepting it


@dataclass(frozen=True)
class ProbeReport:
    """ "Test the connection": what the server said, in order."""

    ok: bool
    lines: tuple[str, ...]
    fingerprint: str = ""


@dataclass
class _Worker:
    account: FetchAccount
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    failures: int = 0
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)


def _endpoint(a: FetchAccount, timeout: float) -> Endpoint:
    return Endpoint(a.server, a.port, a.security, a.fingerprint, timeout)


class FetchModule:
    name = "fetch"
    title = "Collector"

    def __init__(self, ctx: ModuleContext, secrets: SecretStore | None = None) -> None:
        self.ctx = ctx
        self.events: EventBus = ctx.events
        data_dir = Path(ctx.data_dir) if ctx.data_dir is not None else Path(".")
        self.secrets = secrets or SecretStore(data_dir)
        self.state = ModuleState.STOPPED
        self.last_error = ""
        self.clock: Callable[[], float] = time.time
        self._workers: dict[str, _Worker] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._counters: dict[str, int] = {}
        self._day = time.strftime("%Y-%m-%d")
        self._today = 0

    # -- what it uses ----------------------------------------------------------------
    @property
    def store(self) -> FetchStore:
        store = self.ctx.fetch
        if store is None:
            raise ModuleStartError("The collector needs its account store.")
        return store

    @property
    def settings(self) -> FetchSettings:
        s: FetchSettings = self.ctx.settings().fetch
        return s

    @property
    def accounts(self) -> AccountStore:
        return self.ctx.accounts

    @property
    def intake(self) -> DeliveryTarget:
        return self.ctx.delivery

    @property
    def lists(self) -> ListDirectory | None:
        return self.ctx.lists

    def max_size(self, settings: Settings) -> int:
        own = settings.fetch.max_message_size
        return own if own else settings.general.max_message_size

    # -- life ------------------------------------------------------------------------
    def configure(self, settings: Settings) -> None:
        validate_section("fetch", settings.fetch)

    async def start(self) -> None:
        self._set_state(ModuleState.STARTING)
        try:
            _ = self.store
        except ModuleStartError as exc:
            self.last_error = str(exc)
            self._set_state(ModuleState.FAILED, str(exc))
            raise
        self.last_error = ""
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(), name="fetch-supervisor"
        )
        self._set_state(ModuleState.RUNNING)
        log.info("started")

    async def stop(self) -> None:
        if self.state is ModuleState.RUNNING:
            self._set_state(ModuleState.STOPPING)
        tasks = [t for t in (self._supervisor,) if t is not None]
        tasks += [w.task for w in self._workers.values() if w.task is not None]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        self._supervisor = None
        self._workers.clear()
        if self.state is not ModuleState.STOPPED:
            self._set_state(ModuleState.STOPPED)
            log.info("stopped")

    def status(self, enabled: bool) -> ModuleStatus:
        today = time.strftime("%Y-%m-%d")
        return ModuleStatus(
            name=self.name,
            title=self.title,
            enabled=enabled,
            state=self.state,
            endpoints=(),
            sessions=sum(1 for w in self._workers.values() if w.busy.locked()),
            messages_today=self._today if today == self._day else 0,
            counters=tuple(sorted(self._counters.items())),
            last_error=self.last_error,
        )

    def _set_state(self, state: ModuleState, message: str = "") -> None:
        self.state = state
        self.events.publish(ModuleStateChanged(self.name, state.value, message))

    # -- the accounts' tasks ---------------------------------------------------------
    async def _supervise(self) -> None:
        """Start, restart and stop account tasks as accounts change; wake an
        account whose "check now" was asked from the shell."""
        while True:
            try:
                accounts, statuses, asked = await asyncio.to_thread(self._read_accounts)
                self._sync(accounts, statuses, asked)
            except asyncio.CancelledError:
                raise
            except Exception:  # an edge: looked at again in a second
                log.exception("could not read the collector accounts")
            await asyncio.sleep(SUPERVISE_SECONDS)

    def _read_accounts(
        self,
    ) -> tuple[list[FetchAccount], dict[str, AccountStatus], list[str]]:
        store = self.store
        return store.accounts(), store.statuses(), store.take_check_requests()

    def _sync(
        self,
        accounts: list[FetchAccount],
        statuses: dict[str, AccountStatus],
        asked: list[str],
    ) -> None:
        wanted = {a.id: a for a in accounts if a.enabled}
        for ident in list(self._workers):
            w = self._workers[ident]
            if wanted.get(ident) != w.account:
                if w.task is not None:
                    w.task.cancel()
                del self._workers[ident]
        for ident, account in wanted.items():
            if ident not in self._workers:
                w = _Worker(account)
                w.failures = statuses.get(ident, AccountStatus(ident)).failures
                w.task = asyncio.get_running_loop().create_task(
                    self._run_account(w), name=f"fetch-{ident}"
                )
                self._workers[ident] = w
        for ident in asked:
            if ident in self._workers:
                self._workers[ident].wake.set()

    async def _run_account(self, w: _Worker) -> None:
        a = w.account
        last = await asyncio.to_thread(self.store.statuses)
        st = last.get(a.id)
        wait = 0.0
        if st is not None and st.last_poll:
            wait = max(0.0, st.last_poll + self._delay(a, w.failures) - self.clock())
        while True:
            if wait > 0:
                try:
                    await asyncio.wait_for(w.wake.wait(), wait)
                except TimeoutError:
                    pass
            w.wake.clear()
            await self.poll(a, worker=w, idle=True)
            wait = self._delay(a, w.failures)

    def _delay(self, a: FetchAccount, failures: int) -> float:
        if failures <= 0:
            return float(a.interval)
        return float(min(MAX_BACKOFF, a.interval * (2 ** min(failures, 10))))

    # -- one poll ----------------------------------------------------------------------
    async def poll(
        self, a: FetchAccount, worker: _Worker | None = None, idle: bool = False
    ) -> PollResult:
        """Collect what is new in ``a`` now; the count, or the error in words.
        One poll per account at a time. ``idle`` (the account's own task):
        stay on an IMAP server that offers IDLE and collect as mail arrives,
        until the interval has passed."""
        w = worker or self._workers.get(a.id)
        if w is None:  # the module is off, or the account is: a one-off
            w = _Worker(a)
            known = await asyncio.to_thread(self.store.statuses)
            w.failures = known.get(a.id, AccountStatus(a.id)).failures
        async with w.busy:
            password = await asyncio.to_thread(self.secrets.get, fetch_key(a.id))
            fingerprint = ""
            try:
                if not password:
                    raise FetchError(
                        "No password is stored for this account.", auth=True
                    )
                if a.protocol == "pop3":
                    count = await self._poll_pop3(a, password)
                else:
                    count = await self._poll_imap(a, password, w, idle)
                error = ""
                w.failures = 0
            except CertificateRejected as exc:
                count, error, fingerprint = 0, str(exc), exc.fingerprint
                w.failures += 1
            except FetchError as exc:
                count, error = 0, str(exc)
                w.failures += 1
            except MailError as exc:  # we could not take it: try again later
                count, error = 0, f"Could not store a message: {exc.public_message}"
                w.failures += 1
            except asyncio.CancelledError:
                raise
            except Exception:  # an edge: the account is tried again later
                log.exception("[%s] the poll failed unexpectedly", a.id)
                count, error = 0, "The poll failed unexpectedly (see the log)."
                w.failures += 1
            if error:
                log.warning("[%s] poll failed: %s", a.id, error)
                self.count("failed polls")
            elif count:
                log.info("[%s] collected %d message(s)", a.id, count)
            await asyncio.to_thread(
                self.store.record_poll, a.id, self.clock(), count, error, w.failures
            )
            return PollResult(count, error, fingerprint)

    def _collected(self, n: int = 1) -> None:
        today = time.strftime("%Y-%m-%d")
        if today != self._day:
            self._day, self._today = today, 0
        self._today += n
        self.count("collected", n)

    def count(self, counter: str, n: int = 1) -> None:
        self._counters[counter] = self._counters.get(counter, 0) + n

    async def _poll_pop3(self, a: FetchAccount, password: str) -> int:
        settings = self.ctx.settings()
        limit = self.max_size(settings)
        client = Pop3Client(_endpoint(a, float(settings.fetch.timeout)))
        try:
            await client.connect()
            await client.login(a.username, password)
            listing = await client.uidl()
            sizes = await client.sizes()
            seen = await asyncio.to_thread(self.store.seen, a.id)
            present = {uid for _, uid in listing}
            now = self.clock()
            count = 0
            for number, uid in listing:
                entry = seen.get(uid)
                size = sizes.get(number, 0)
                if entry is not None and entry.state == "done":
                    if self._delete_due(a, entry.first_seen, now):
                        await client.dele(number)
                        self.count("deleted remotely")
                    continue
                big = entry is not None and entry.state == "big"
                if big and size > limit:
                    continue  # still too big: said so once already
                if count >= settings.fetch.messages_per_poll:
                    break
                if size > limit:
                    await self._too_big(a, uid, size, limit)
                    continue
                data = await client.retr(number, max(size, 0) + SIZE_SLACK)
                await self._take(a, uid, data, settings)
                count += 1
                if not a.leave_on_server:
                    await client.dele(number)
                    self.count("deleted remotely")
            await client.quit()  # commits the DELEs (RFC 1939 6)
            await asyncio.to_thread(self.store.forget_missing, a.id, present)
            return count
        finally:
            client.close()

    async def _poll_imap(
        self, a: FetchAccount, password: str, w: _Worker, idle: bool
    ) -> int:
        settings = self.ctx.settings()
        client = ImapClient(_endpoint(a, float(settings.fetch.timeout)))
        total = 0
        try:
            await client.connect()
            await client.login(a.username, password)
            while True:
                total += await self._imap_round(a, client, settings)
                # IDLE: wait on the open connection for new mail, for at most
                # the interval; a "check now" or a stop cancels the wait
                if not idle or "IDLE" not in client.caps:
                    break
                # this round counts as a poll for the window, then wait
                w.failures = 0
                await asyncio.to_thread(
                    self.store.record_poll, a.id, self.clock(), total, "", 0
                )
                total = 0
                wait = min(float(a.interval), IDLE_SECONDS)
                idling = asyncio.ensure_future(client.idle(wait))
                woken = asyncio.ensure_future(w.wake.wait())
                try:
                    await asyncio.wait(
                        {idling, woken}, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:  # whichever did not finish (or both, on a stop)
                    for pending in (idling, woken):
                        pending.cancel()
                    await asyncio.gather(idling, woken, return_exceptions=True)
                if not idling.done() or idling.cancelled():
                    break  # "check now" during IDLE: start afresh
                failure = idling.exception()
                if failure is not None:
                    raise failure
                if not idling.result():
                    break  # the interval passed: a new poll reconnects
                settings = self.ctx.settings()
            try:
                await client.logout()
            except FetchError:
                pass
            return total
        finally:
            client.close()

    async def _imap_round(
        self, a: FetchAccount, client: ImapClient, settings: Settings
    ) -> int:
        limit = self.max_size(settings)
        box = await client.select(a.folder)
        uids = await client.uids()
        seen = await asyncio.to_thread(self.store.seen, a.id)
        keys = {uid: f"{box.uidvalidity}:{uid}" for uid in uids}
        new = [u for u in uids if keys[u] not in seen]
        # left for their size: tried again (a larger limit may take them now)
        big = [u for u in uids if (e := seen.get(keys[u])) and e.state == "big"]
        if seen and new and not any(k.startswith(f"{box.uidvalidity}:") for k in seen):
            log.warning(
                "[%s] the folder's UIDVALIDITY changed: messages left on the "
                "server may be collected again",
                a.id,
            )
        now = self.clock()
        due = [
            u
            for u in uids
            if (e := seen.get(keys[u])) is not None
            and e.state == "done"
            and (not a.leave_on_server or self._delete_due(a, e.first_seen, now))
        ]
        new = new[: settings.fetch.messages_per_poll]
        sizes = await client.sizes(new + big) if new or big else {}
        new += [u for u in big if sizes.get(u, 0) <= limit]
        count = 0
        taken: list[int] = []
        for uid in sorted(new):
            size = sizes.get(uid, 0)
            if size > limit:
                await self._too_big(a, keys[uid], size, limit)
                continue
            data = await client.body(uid, size + SIZE_SLACK)
            await self._take(a, keys[uid], data, settings)
            count += 1
            taken.append(uid)
        doomed = due + ([] if a.leave_on_server else taken)
        if doomed:
            await client.delete(sorted(doomed))
            self.count("deleted remotely", len(doomed))
        await asyncio.to_thread(self.store.forget_missing, a.id, set(keys.values()))
        return count

    def _delete_due(self, a: FetchAccount, first_seen: float, now: float) -> bool:
        if not a.leave_on_server:
            return True
        return a.delete_after_days > 0 and now - first_seen >= a.delete_after_days * DAY

    async def _too_big(self, a: FetchAccount, key: str, size: int, limit: int) -> None:
        log.warning(
            "[%s] a message of %d bytes is over the limit (%d): left on the server",
            a.id,
            size,
            limit,
        )
        self.count("left (too big)")
        await asyncio.to_thread(self.store.mark, a.id, key, "big")

    # -- handing a message over ------------------------------------------------------
    async def _take(
        self, a: FetchAccount, key: str, data: bytes, settings: Settings
    ) -> None:
        """Make one message durable here (see the module docstring)."""
        hostname = settings.general.hostname or "localhost"
        view = fanout.read_header(data)
        why = fanout.been_here(view, hostname)
        created = await asyncio.to_thread(self.store.begin, a.id, key, self.clock())
        if why:
            log.warning("[%s] a message not delivered: %s", a.id, why)
            self.count("refused (loop)")
        else:
            recipients = self._recipients(a, view)
            digest = hashlib.sha256(f"fetch\x00{a.id}\x00{key}".encode()).hexdigest()
            job_id = derived_job_id(created, digest)
            stamp = self._received(a, job_id, recipients, created, hostname)
            sender = fanout.return_path(view)
            await self.intake.accept(
                Envelope(
                    sender, tuple(recipients), peer=a.server, received_via="fetch"
                ),
                stamp + data,
                job_id=job_id,
                created=created,
            )
            self._collected()
        await asyncio.to_thread(self.store.mark, a.id, key, "done")

    def _is_local_target(self, address: str) -> bool:
        if self.lists is not None and self.lists.is_list_address(address):
            return True
        return bool(self.accounts.resolve(address))

    def _recipients(self, a: FetchAccount, view: fanout.HeaderView) -> list[str]:
        if not a.fan_out:
            return [a.destination]
        delivered, addressed = fanout.candidates(view)
        for group in (delivered, addressed):
            found = [r for r in group if self._is_local_target(r)]
            if found:
                return found
        return [a.default_user]

    def _received(
        self,
        a: FetchAccount,
        job_id: str,
        recipients: list[str],
        created: float,
        hostname: str,
    ) -> bytes:
        import email.utils

        for_part = f"\r\n\tfor <{recipients[0]}>" if len(recipients) == 1 else ""
        when = email.utils.formatdate(created, localtime=True)
        return (
            f"Received: from {a.server} ({a.protocol.upper()} account {a.id})\r\n"
            f"\tby {hostname} (Quicksilver collector) with "
            f"{a.protocol.upper()} id {job_id}{for_part};\r\n\t{when}\r\n"
            f"{fanout.LOOP_HEADER}: {hostname}\r\n"
        ).encode("utf-8", "replace")

    # -- "test the connection" ------------------------------------------------------
    async def probe(self, a: FetchAccount, password: str) -> ProbeReport:
        """Connect and log in with ``a`` and ``password`` (not stored), list
        the mailbox, touch nothing; what the server said."""
        settings = self.ctx.settings()
        ep = _endpoint(a, min(30.0, float(settings.fetch.timeout)))
        lines: list[str] = []
        client: Pop3Client | ImapClient = (
            Pop3Client(ep) if a.protocol == "pop3" else ImapClient(ep)
        )
        try:
            await client.connect()
            lines.extend(client.transcript)
            if client.tls:
                lines.append(f"TLS certificate SHA-256 {client.fingerprint()}")
            elif a.security == "none":
                lines.append("Warning: no TLS: the password travels in clear text.")
            method = await client.login(a.username, password)
            lines.append(f"Logged in ({method}).")
            if isinstance(client, Pop3Client):
                n = len(await client.uidl())
                lines.append(f"{n} message(s) in the mailbox.")
                await client.quit()
            else:
                box = await client.select(a.folder)
                lines.append(f"{box.exists} message(s) in {a.folder}.")
                if "IDLE" in client.caps:
                    lines.append("The server offers IDLE: new mail arrives at once.")
                await client.logout()
            return ProbeReport(True, tuple(lines))
        except CertificateRejected as exc:
            fingerprint = exc.fingerprint or await self._starttls_fingerprint(a, ep)
            lines.append(str(exc))
            if fingerprint:
                lines.append(
                    f"It shows SHA-256 {fingerprint}: accept it only if that is "
                    "the server's certificate."
                )
            return ProbeReport(False, tuple(lines), fingerprint)
        except FetchError as exc:
            lines.extend(t for t in client.transcript if t not in lines)
            lines.append(str(exc))
            return ProbeReport(False, tuple(lines))
        finally:
            client.close()

    async def _starttls_fingerprint(self, a: FetchAccount, ep: Endpoint) -> str:
        """The certificate a STARTTLS server shows, read without checking."""
        if a.security != "starttls":
            return ""
        client: Pop3Client | ImapClient = (
            Pop3Client(ep) if a.protocol == "pop3" else ImapClient(ep)
        )
        plain = Endpoint(ep.host, ep.port, "none", "", ep.timeout)
        client.ep = plain
        try:
            await client.connect()
            client.ep = ep
            if isinstance(client, Pop3Client):
                await client.stls(unchecked=True)
            else:
                await client.starttls(unchecked=True)
            return client.fingerprint()
        except (FetchError, OSError):
            return ""
        finally:
            client.close()


def check_destination(a: FetchAccount, accounts: AccountStore) -> None:
    """The account's local user (or default user) must exist here."""
    for field_name, address in (
        ("destination", a.destination),
        ("default_user", a.default_user),
    ):
        if address and not accounts.resolve(address):
            raise ValidationError(
                f"{address} is not a user or alias here.", field=field_name
            )
