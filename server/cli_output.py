"""How the shell commands print: JSON for scripts (``--json``) and times."""

from __future__ import annotations

import json
import time


def print_json(value: object) -> None:
    print(json.dumps(value, indent=2))


def when(stamp: float) -> str:
    """A local time for people; "-" for none (0)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"
