"""Where the front end finds its resources and its data folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon

from server.paths import default_data_dir

__all__ = ["APP_ICON", "RESOURCES", "app_icon", "default_data_dir"]

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
APP_ICON = RESOURCES / "icons" / "quicksilver.svg"


def app_icon() -> QIcon:
    return QIcon(str(APP_ICON)) if APP_ICON.exists() else QIcon()
