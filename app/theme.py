"""Colours derived from the system palette, so the window follows light and dark.

Item models and painted widgets ask here instead of hard-coding hex values: a
warning is amber and an error red in both schemes, but a lighter shade on a dark
background so it stays readable. Status-light colours stay fixed (they are
signals, not text) and live in ``app.widgets.status_light``.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QPalette

# (light background, dark background)
_WARNING = ("#9a6200", "#f0b43c")
_ERROR = ("#c62828", "#ff6b6b")
_SERIES = {
    "in": ("#1f6fd1", "#6aa8ff"),
    "out": ("#2e8b3c", "#5fd16f"),
    "local": ("#b06a00", "#f0b43c"),
}


def palette() -> QPalette:
    return QGuiApplication.palette()


def is_dark(pal: QPalette | None = None) -> bool:
    """True when the window background is darker than its text."""
    pal = pal or palette()
    window = pal.color(QPalette.ColorRole.Window)
    text = pal.color(QPalette.ColorRole.WindowText)
    return window.lightnessF() < text.lightnessF()


def _pick(pair: tuple[str, str], pal: QPalette | None) -> QColor:
    return QColor(pair[1] if is_dark(pal) else pair[0])


def warning_colour(pal: QPalette | None = None) -> QColor:
    return _pick(_WARNING, pal)


def error_colour(pal: QPalette | None = None) -> QColor:
    return _pick(_ERROR, pal)


def muted_colour(pal: QPalette | None = None) -> QColor:
    """Greyed text (a stopped module's configured address)."""
    pal = pal or palette()
    return pal.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)


def series_colour(name: str, pal: QPalette | None = None) -> QColor:
    return _pick(_SERIES.get(name, ("#606060", "#b0b0b0")), pal)


def level_colour(level: str, pal: QPalette | None = None) -> QColor | None:
    """The log console's text colour for a level (None: the palette's own)."""
    level = level.upper()
    if level == "WARNING":
        return warning_colour(pal)
    if level in ("ERROR", "CRITICAL"):
        return error_colour(pal)
    return None
