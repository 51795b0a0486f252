"""Where the front end finds its resources and its data folder."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon

from server.paths import default_data_dir

__all__ = ["APP_ICON", "RESOURCES", "app_icon", "default_data_dir"]


def _find_resources() -> Path:
    """``resources/`` beside the packages (a checkout, an editable install, the
    PyInstaller bundle), else where a wheel install puts its data files."""
    here = Path(__file__).resolve().parent.parent / "resources"
    installed = Path(sys.prefix) / "share" / "quicksilver" / "resources"
    return here if here.is_dir() or not installed.is_dir() else installed


RESOURCES = _find_resources()
APP_ICON = RESOURCES / "icons" / "quicksilver.svg"


def app_icon() -> QIcon:
    return QIcon(str(APP_ICON)) if APP_ICON.exists() else QIcon()
