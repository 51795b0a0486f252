"""The coloured light that shows a module's state (the Mercury "lamp").

Green RUNNING, amber STARTING/STOPPING, grey STOPPED, red FAILED. The same
colours feed the modules table (``light_icon``) and the ``StatusLight`` widget.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPaintEvent, QPixmap, QRadialGradient
from PySide6.QtWidgets import QSizePolicy, QWidget

from server.modules.base import ModuleState

STATE_COLOURS: dict[ModuleState, str] = {
    ModuleState.RUNNING: "#2eaa3c",
    ModuleState.STARTING: "#e6a000",
    ModuleState.STOPPING: "#e6a000",
    ModuleState.STOPPED: "#9a9a9a",
    ModuleState.FAILED: "#d3302f",
}


def light_colour(state: ModuleState) -> QColor:
    return QColor(STATE_COLOURS[state])


def _paint_light(painter: QPainter, colour: QColor, size: float) -> None:
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    radius = size / 2 - 1
    centre = QPointF(size / 2, size / 2)
    gradient = QRadialGradient(centre - QPointF(radius / 3, radius / 3), radius * 1.4)
    gradient.setColorAt(0.0, colour.lighter(160))
    gradient.setColorAt(1.0, colour.darker(115))
    painter.setPen(colour.darker(150))
    painter.setBrush(gradient)
    painter.drawEllipse(centre, radius, radius)


@lru_cache(maxsize=16)
def _icon_for(name: str, size: int) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    _paint_light(painter, QColor(name), size)
    painter.end()
    return QIcon(pixmap)


def light_icon(state: ModuleState, size: int = 14) -> QIcon:
    """A round light for item views (cached per colour)."""
    return _icon_for(STATE_COLOURS[state], size)


class StatusLight(QWidget):
    """A small round light in a module state's colour.

    Signals: none.
    """

    def __init__(self, parent: QWidget | None = None, diameter: int = 14) -> None:
        super().__init__(parent)
        self._diameter = diameter
        self._state = ModuleState.STOPPED
        self.setToolTip(self._state.value.title())
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def state(self) -> ModuleState:
        return self._state

    def set_state(self, state: ModuleState) -> None:
        if state is not self._state:
            self._state = state
            self.setToolTip(state.value.title())
            self.update()

    def colour(self) -> QColor:
        return light_colour(self._state)

    def sizeHint(self) -> QSize:
        return QSize(self._diameter, self._diameter)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        _paint_light(painter, self.colour(), float(min(self.width(), self.height())))
        painter.end()
