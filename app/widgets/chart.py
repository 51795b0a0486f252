"""A small line chart painted with QPainter (QtCharts is not in Essentials).

``RateChart`` draws one or more series of equally spaced values (messages per
minute, oldest on the left), a grid with a rounded-up maximum, the axis labels
and a legend. Sizes come from the font metrics and colours from the palette, so
it reads at any DPI and in light or dark schemes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


@dataclass(frozen=True)
class Series:
    label: str
    colour: QColor
    values: tuple[int, ...]


def nice_ceiling(value: float) -> int:
    """The next 'round' number at or above ``value`` (1, 2, 5, 10, 20, 50…)."""
    if value <= 1:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= value:
                return step * m
        step *= 10


class RateChart(QWidget):
    """Line chart of per-minute counts.

    Signals: none.
    """

    GRID_LINES = 4

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._series: tuple[Series, ...] = ()
        self.x_label_left = "-60 min"
        self.x_label_right = "now"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.setAutoFillBackground(True)
        self.setAccessibleName("Messages per minute chart")

    def set_series(self, series: Sequence[Series]) -> None:
        self._series = tuple(series)
        self.update()

    def series(self) -> tuple[Series, ...]:
        return self._series

    def maximum(self) -> int:
        peak = max((max(s.values, default=0) for s in self._series), default=0)
        return nice_ceiling(peak)

    def minimumSizeHint(self) -> QSize:
        fm = self.fontMetrics()
        return QSize(fm.horizontalAdvance("0") * 40, fm.height() * 8)

    def sizeHint(self) -> QSize:
        fm = self.fontMetrics()
        return QSize(fm.horizontalAdvance("0") * 80, fm.height() * 16)

    def y_labels(self) -> list[str]:
        peak = self.maximum()
        return [f"{peak * i / self.GRID_LINES:g}" for i in range(self.GRID_LINES + 1)]

    def left_margin(self) -> int:
        """Room for the y axis: the widest label sets it ("3.75" is wider
        than the peak "5")."""
        fm = self.fontMetrics()
        pad = fm.height() // 2
        return pad + max(fm.horizontalAdvance(x) for x in self.y_labels()) + pad

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        fm = self.fontMetrics()
        text = pal.color(QPalette.ColorRole.Text)
        grid = pal.color(QPalette.ColorRole.Mid)
        peak = self.maximum()

        pad = fm.height() // 2
        labels = self.y_labels()
        left = self.left_margin()
        legend_h = fm.height() + pad
        plot = QRectF(
            left,
            pad + legend_h,
            max(1.0, self.width() - left - 2 * pad),
            max(1.0, self.height() - legend_h - 2 * pad - fm.height() - pad),
        )

        # grid and y labels
        painter.setPen(QPen(grid, 1, Qt.PenStyle.DotLine))
        for i in range(self.GRID_LINES + 1):
            y = plot.bottom() - plot.height() * i / self.GRID_LINES
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(text)
            label = labels[i]
            painter.drawText(
                QRectF(0, y - fm.height() / 2, left - pad / 2, fm.height()),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                label,
            )
            painter.setPen(QPen(grid, 1, Qt.PenStyle.DotLine))
        painter.setPen(QPen(grid, 1))
        painter.drawRect(plot)

        # x labels
        painter.setPen(text)
        x_row = QRectF(plot.left(), plot.bottom() + pad / 2, plot.width(), fm.height())
        painter.drawText(x_row, int(Qt.AlignmentFlag.AlignLeft), self.x_label_left)
        painter.drawText(x_row, int(Qt.AlignmentFlag.AlignRight), self.x_label_right)

        # series
        width = max(2.0, fm.height() / 8)
        for s in self._series:
            if len(s.values) < 1:
                continue
            path = QPainterPath()
            n = len(s.values)
            for i, v in enumerate(s.values):
                x = plot.left() + (plot.width() * i / max(1, n - 1))
                y = plot.bottom() - plot.height() * min(v, peak) / peak
                if i == 0:
                    path.moveTo(x, y)
                else:
                    path.lineTo(x, y)
            painter.setPen(QPen(s.colour, width))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(path)
            # a dot on every minute with mail, so a lone busy minute is visible
            painter.setBrush(s.colour)
            dot = width * 1.5
            for i, v in enumerate(s.values):
                if v:
                    x = plot.left() + (plot.width() * i / max(1, n - 1))
                    y = plot.bottom() - plot.height() * min(v, peak) / peak
                    painter.drawEllipse(QPointF(x, y), dot, dot)

        # legend
        x = plot.left()
        swatch = fm.height() * 1.2
        for s in self._series:
            y = pad + fm.height() / 2
            painter.setPen(QPen(s.colour, width))
            painter.drawLine(QPointF(x, y), QPointF(x + swatch, y))
            painter.setPen(text)
            label = f"{s.label} ({sum(s.values)})"
            painter.drawText(
                QRectF(
                    x + swatch + pad / 2,
                    pad,
                    fm.horizontalAdvance(label) + 2,
                    fm.height(),
                ),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                label,
            )
            x += swatch + pad + fm.horizontalAdvance(label) + 2 * pad
