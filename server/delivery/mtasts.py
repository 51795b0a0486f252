"""MTA-STS (RFC 8461): a recipient domain's published promise that its MX
hosts speak TLS with certificates that validate, which the ``mx`` module
then holds them to.

How a policy is found (RFC 8461 3, 5):

1. TXT ``_mta-sts.<domain>``: ``v=STSv1; id=<id>``. None (and nothing cached
   that is still fresh): the domain has no policy.
2. When the id differs from the cached policy's (or nothing is cached): HTTPS
   GET ``https://mta-sts.<domain>/.well-known/mta-sts.txt``. The certificate
   must validate for that name; no redirects (3.3); only 200; the body is
   ``key: value`` lines with ``version: STSv1``, ``mode`` (enforce, testing,
   none), one or more ``mx`` patterns and ``max_age`` (seconds, at most one
   year). At most ``MAX_POLICY_BYTES``; ``FETCH_TIMEOUT`` for the whole fetch.
3. The policy is cached (SQLite ``mta-sts.sqlite3`` in the data folder, at
   most ``MAX_CACHED`` domains) until its max_age ends; a failed refresh keeps
   using the cached one (5.1), so an attacker who blocks the fetch cannot
   switch enforcement off.

What a policy means for delivery (``mx``): in ``enforce`` mode only MX hosts
that match a pattern are tried (``*.example.com`` is one leftmost label),
each with STARTTLS and a certificate that validates for the MX host's name;
a host that fails is skipped and the mail waits if none is left (a temporary
failure, never a bounce). ``testing`` and ``none`` change nothing but are
counted for TLS-RPT (``tlsrpt.py``). DANE, when a host has TLSA records,
takes precedence (RFC 8461 2).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from server.delivery.dane import name_matches

log = logging.getLogger("quicksilver.mx")

FILE_NAME = "mta-sts.sqlite3"
MAX_POLICY_BYTES = 64 * 1024  # RFC 8461 3.2 suggests 64 KB
MAX_AGE = 31_557_600  # RFC 8461 3.2: at most about one year
MAX_MX_PATTERNS = 50
MAX_CACHED = 10_000
FETCH_TIMEOUT = 30.0
MODES = ("enforce", "testing", "none")
_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


class PolicyError(Exception):
    """No usable policy: why, in plain words, and the TLS-RPT result type
    (RFC 8460 4.3: ``sts-policy-fetch-error``, ``sts-policy-invalid``,
    ``sts-webpki-invalid``) in ``kind``."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


@dataclass(frozen=True)
class Policy:
    domain: str
    id: str
    mode: str
    mx: tuple[str, ...]
    max_age: int
    fetched: float

    def allows(self, host: str) -> bool:
        return any(name_matches(p, host) for p in self.mx)

    def fresh(self, now: float) -> bool:
        return now < self.fetched + self.max_age


def parse_txt(texts: list[str]) -> str | None:
    """The policy id from the ``_mta-sts`` TXT records; None when there is
    not exactly one STSv1 record (RFC 8461 3.1) or its id is malformed."""
    found = [t for t in texts if t.replace(" ", "").startswith("v=STSv1")]
    if len(found) != 1:
        return None
    fields = {}
    for part in found[0].split(";"):
        key, _, value = part.strip().partition("=")
        fields[key.strip()] = value.strip()
    ident = fields.get("id", "")
    return ident if _ID.match(ident) else None


def parse_policy(domain: str, ident: str, body: bytes, now: float) -> Policy:
    """The policy file (RFC 8461 3.2); raises ``PolicyError``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError("the policy is not UTF-8", "sts-policy-invalid") from None
    values: dict[str, str] = {}
    mx: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue  # RFC 8461 3.2: unknown or malformed lines are ignored
        key, value = key.strip(), value.strip()
        if key == "mx":
            if len(mx) < MAX_MX_PATTERNS:
                mx.append(value.lower())
        elif key not in values:
            values[key] = value
    mode = values.get("mode", "")
    if values.get("version") != "STSv1":
        raise PolicyError("the policy has no version: STSv1", "sts-policy-invalid")
    if mode not in MODES:
        raise PolicyError(
            f"the policy mode {mode[:20]!r} is unknown", "sts-policy-invalid"
        )
    age = values.get("max_age", "")
    if not age.isdigit() or len(age) > 20:
        raise PolicyError("the policy's max_age is not a number", "sts-policy-invalid")
    if mode != "none" and not mx:
        raise PolicyError("the policy names no mx", "sts-policy-invalid")
    return Policy(domain, ident, mode, tuple(mx), min(int(age), MAX_AGE), now)


Fetcher = Callable[[str], Awaitable[bytes]]


async def https_get(
    host: str,
    path: str,
    *,
    connect: tuple[str, int] | None = None,
    context: ssl.SSLContext | None = None,
) -> bytes:
    """GET ``https://host/path`` (HTTP/1.0, one request); the body of a 200
    answer, or ``PolicyError``. ``connect`` is the address to use instead of
    resolving ``host`` (tests: a local server)."""
    ctx = context or ssl.create_default_context()
    addr, port = connect or (host, 443)
    try:
        reader, writer = await asyncio.open_connection(
            addr, port, ssl=ctx, server_hostname=host
        )
    except ssl.SSLError as exc:
        raise PolicyError(
            f"the certificate of {host} does not validate ({exc.reason or exc})",
            "sts-webpki-invalid",
        ) from None
    except OSError as exc:
        raise PolicyError(
            f"cannot connect to {host} ({exc.strerror or exc})",
            "sts-policy-fetch-error",
        ) from None
    try:
        writer.write(
            f"GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: Quicksilver\r\n"
            "Connection: close\r\n\r\n".encode("ascii")
        )
        await writer.drain()
        data = b""
        while len(data) <= MAX_POLICY_BYTES + 8192:
            chunk = await reader.read(65536)
            if not chunk:
                break
            data += chunk
    except (OSError, ssl.SSLError) as exc:
        raise PolicyError(
            f"reading from {host} failed ({exc})", "sts-policy-fetch-error"
        ) from None
    finally:
        writer.close()
    head, sep, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if not sep or len(status) < 2 or status[1] != b"200":
        shown = b" ".join(status[1:3]).decode("ascii", "replace")[:40]
        raise PolicyError(
            f"{host} answered HTTP {shown or '?'}", "sts-policy-fetch-error"
        )
    if len(body) > MAX_POLICY_BYTES:
        raise PolicyError("the policy is too long", "sts-policy-invalid")
    return body


class PolicyCache:
    """Policies by domain in SQLite (blocking: callers use a worker thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS policy (domain TEXT PRIMARY KEY, "
            "doc TEXT NOT NULL, fetched REAL NOT NULL)"
        )
        self._db.commit()

    def get(self, domain: str) -> Policy | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM policy WHERE domain = ?", (domain,)
            ).fetchone()
        if row is None:
            return None
        try:
            d = json.loads(row[0])
            return Policy(
                domain,
                d["id"],
                d["mode"],
                tuple(d["mx"]),
                int(d["max_age"]),
                float(d["fetched"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def put(self, policy: Policy) -> None:
        doc = json.dumps(
            {
                "id": policy.id,
                "mode": policy.mode,
                "mx": list(policy.mx),
                "max_age": policy.max_age,
                "fetched": policy.fetched,
            }
        )
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO policy VALUES (?, ?, ?)",
                (policy.domain, doc, policy.fetched),
            )
            self._db.execute(
                "DELETE FROM policy WHERE domain IN (SELECT domain FROM policy "
                "ORDER BY fetched DESC LIMIT -1 OFFSET ?)",
                (MAX_CACHED,),
            )
            self._db.commit()

    def all(self) -> list[Policy]:
        with self._lock:
            rows = self._db.execute(
                "SELECT domain FROM policy ORDER BY domain"
            ).fetchall()
        found = [self.get(r[0]) for r in rows]
        return [p for p in found if p is not None]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def read_policies(path: Path) -> list[Policy]:
    """The policies cached in ``path`` ([] when none). Blocking."""
    if not path.exists():
        return []
    cache = PolicyCache(path)
    try:
        return cache.all()
    finally:
        cache.close()


class MtaSts:
    """The policy for a recipient domain: cached, refreshed when its id
    changes or it expired."""

    def __init__(
        self,
        cache: PolicyCache,
        txt: Callable[[str], Awaitable[list[str] | None]],
        fetch: Fetcher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache
        self.txt = txt  # TXT strings of a name; None: it does not exist
        self.fetch = fetch  # the policy file of a domain
        self.clock = clock
        self._inflight: dict[str, asyncio.Future[Policy | None]] = {}

    async def policy(self, domain: str) -> Policy | None:
        """The policy to apply (None: no policy). Never raises: a failure
        with a fresh cached policy keeps it, else means no policy (logged)."""
        domain = domain.lower().rstrip(".")
        running = self._inflight.get(domain)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Policy | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._inflight[domain] = future
        try:
            result = await self._policy(domain)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters see it, nobody warns
            raise
        finally:
            del self._inflight[domain]

    async def _policy(self, domain: str) -> Policy | None:
        now = self.clock()
        cached = await asyncio.to_thread(self.cache.get, domain)
        if cached is not None and not cached.fresh(now):
            cached = None
        try:
            texts = await self.txt(f"_mta-sts.{domain}")
        except Exception as exc:  # a DNS failure: keep what we know
            log.info("MTA-STS record of %s not read (%s)", domain, exc)
            return cached
        ident = parse_txt(texts or [])
        if ident is None:
            return cached  # RFC 8461 5.1: a cached policy outlives its TXT
        if cached is not None and cached.id == ident:
            return cached
        try:
            body = await asyncio.wait_for(self.fetch(domain), FETCH_TIMEOUT)
            policy = parse_policy(domain, ident, body, now)
        except TimeoutError:
            log.info("MTA-STS policy of %s: the fetch took too long", domain)
            return cached
        except PolicyError as exc:
            log.info("MTA-STS policy of %s not usable: %s", domain, exc.message)
            return cached
        await asyncio.to_thread(self.cache.put, policy)
        log.info(
            "MTA-STS policy of %s: mode %s, %d mx", domain, policy.mode, len(policy.mx)
        )
        return policy
