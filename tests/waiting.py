"""Wait for the event a test is about, not for a guessed duration.

A fixed sleep before an assertion races twice: too short on a loaded machine
(the thing has not happened yet), and too long everywhere else. These poll a
condition until a deadline and fail saying what never happened; the deadline is
generous because a passing test never reaches it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

POLL = 0.01  # seconds between looks: cheap conditions only
WITHIN = 10.0  # default deadline in seconds; a passing test returns at once


def wait_until(
    condition: Callable[[], object], what: str, within: float = WITHIN
) -> None:
    """Return once ``condition()`` is true; AssertionError naming ``what``
    after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: still not so after {within} s")
        time.sleep(POLL)


async def until(
    condition: Callable[[], object], what: str, within: float = WITHIN
) -> None:
    """``wait_until`` for a test on an event loop: yields to the loop between
    looks, so the tasks it waits for can run."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() >= deadline:
            raise AssertionError(f"{what}: still not so after {within} s")
        await asyncio.sleep(POLL)


def run_cli(args: list[str], stdin: str | None = None) -> int:
    """``quicksilver-server ARGS`` in this process, as the shell would run it,
    then the test run's umask state back: the CLI makes its own process
    private for good (server.paths.use_private_umask), which would outlive
    the command here and change what later tests see."""
    import io
    import os
    import sys

    from server import paths
    from server.__main__ import main

    old = os.umask(0o022)
    os.umask(old)
    for_good = paths._umask.for_good
    old_stdin = sys.stdin
    if stdin is not None:  # what the shell would pipe in (--password-stdin)
        sys.stdin = io.StringIO(stdin)
    try:
        return main(args)
    finally:
        sys.stdin = old_stdin
        paths._umask.for_good = for_good
        os.umask(old)
