"""How many client connections this process can hold, and what happens past that.

Every client connection holds one file descriptor. A process that runs out of
them (``EMFILE``) cannot accept: asyncio's accept loop fails for every waiting
client and, on Python 3.11, logs a traceback per attempt (a hundred per
listener per second: 200 MB of stderr a minute was measured here), and new
clients time out instead of hearing "try later". So:

- ``raise_descriptor_limit()`` raises the soft ``RLIMIT_NOFILE`` to the hard
  limit when the runtime starts (desktops and services often start programs
  with a soft limit of 1024 under a hard one far higher);
- ``connection_ceiling()`` keeps ``FD_HEADROOM`` descriptors back for everything
  that is not a client and gives the rest to clients; the runtime caps
  ``security.max_connections`` with it (``server.modules.base.ConnectionBudget``
  does the counting, and its clients hear ``421``/``* BYE``/``-ERR`` at the cap);
- ``AcceptFailureLog`` is the core loop's exception handler: an accept that fails
  for lack of descriptors, buffers or memory is logged once per
  ``ACCEPT_FAILURE_LOG_INTERVAL`` with a count, not once per attempt. asyncio
  retries the accept by itself a second later, so the server serves again as
  soon as descriptors are free.

Not here: per-IP limits and bans (``server.modules.base``). Windows has no
``RLIMIT_NOFILE`` (its sockets are handles without a per-process cap like this):
there only the configured total applies.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("quicksilver.core")

# Descriptors kept back from clients, for what the process holds open besides
# client sockets at its busiest (estimates per item; a fresh headless core with
# every module listening holds 19):
#   stdio, epoll, the loop's wake-up pipe, up to 10 listening sockets ........ 16
#   quicksilver.log and one session log per module, one more while rotating . 10
#   SQLite: two connections to accounts.sqlite3, each with its -wal and -shm .  8
#   the 32 disk threads (runtime.py), each with a file and its folder open ... 64
#   outbound SMTP: queue.max_deliveries (20) sockets plus their DNS queries .. 48
#   the window: display and D-Bus sockets, fonts, icons, Qt's event fds ...... 40
#   a little more for the keyring and short-lived refusals ................... 6
FD_HEADROOM = 192

# With a very low limit the headroom above would leave nothing: clients then get
# a quarter of the descriptors, the rest stays for files.
MIN_CLIENT_SHARE = 4

# macOS reports an unlimited hard limit but refuses a soft limit above OPEN_MAX.
_OPEN_MAX = 10240

ACCEPT_FAILURE_LOG_INTERVAL = 60.0  # seconds between two reports of failed accepts

# accept() errors that say "not now" rather than "never": asyncio retries these.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(frozen=True)
class DescriptorLimit:
    """The process's descriptor limit after ``raise_descriptor_limit()``."""

    soft: int
    was: int  # the soft limit before it was raised
    ceiling: int  # connections clients may hold (``connection_ceiling(soft)``)


def connection_ceiling(soft: int) -> int:
    """Client connections a process with ``soft`` descriptors may hold."""
    return max(soft - FD_HEADROOM, soft // MIN_CLIENT_SHARE)


def raise_descriptor_limit() -> DescriptorLimit | None:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; None where there is
    no such limit (Windows). Never fails: a limit that cannot be raised stays."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    inf = resource.RLIM_INFINITY  # -1 on Linux: compare with ==, never with <
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    was = soft
    if soft != inf:
        targets = [] if hard == inf else [hard]
        targets.append(_OPEN_MAX if hard == inf else min(hard, _OPEN_MAX))
        for target in targets:
            if target <= soft:
                break
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            except (ValueError, OSError):
                continue
            soft = target
            break
    if soft == inf:
        soft = 1 << 20
    if was == inf:
        was = soft
    return DescriptorLimit(soft=soft, was=was, ceiling=connection_ceiling(soft))


class AcceptFailureLog:
    """The core loop's exception handler.

    asyncio reports a failed ``accept()`` through the loop's exception handler,
    which by default logs a traceback. For the resource errors
    (``RESOURCE_ERRNOS``) one warning per ``interval`` says what happened and how
    many more failures followed; every other report goes to asyncio's default
    handler unchanged.
    """

    def __init__(
        self,
        interval: float = ACCEPT_FAILURE_LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._log = logger
        self._last = -math.inf
        self._suppressed = 0
        self.failures = 0

    @staticmethod
    def is_accept_failure(context: dict[str, Any]) -> bool:
        exc = context.get("exception")
        return (
            isinstance(exc, OSError)
            and exc.errno in RESOURCE_ERRNOS
            and "accept" in str(context.get("message", ""))
        )

    def __call__(
        self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]
    ) -> None:
        if not self.is_accept_failure(context):
            loop.default_exception_handler(context)
            return
        self.failures += 1
        now = self._clock()
        if now - self._last < self.interval:
            self._suppressed += 1
            return
        exc = context["exception"]
        more = (
            f" ({self._suppressed} more since the last report)"
            if self._suppressed
            else ""
        )
        self._log.warning(
            "cannot accept new connections: %s%s; waiting clients are served once "
            "descriptors are free (raise the open-files limit, ulimit -n, or lower "
            "security.max_connections)",
            exc.strerror or exc,
            more,
        )
        self._last = now
        self._suppressed = 0
