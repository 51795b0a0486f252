"""The administration pages the main window shows as tabs after "Users".

``admin_pages`` builds them; the main window only adds what it returns, so a
page is added here without touching ``main_window.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from app.bridge import CoreBridge


def admin_pages(bridge: CoreBridge, parent: QWidget) -> list[tuple[str, QWidget]]:
    """(tab title, page) pairs, in tab order."""
    return []
