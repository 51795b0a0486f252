"""Where the data folder is: ``--data-dir``, else ``QUICKSILVER_HOME``, else the
per-user data folder of the platform."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    env = os.environ.get("QUICKSILVER_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("Quicksilver", appauthor=False))
