"""The Statistics tab: messages per minute over the last hour, sessions now,
queue length and failures.

The window hands every core event to ``add_event``; a ``StatsCollector`` counts
them and a one-second timer repaints (so the time axis moves even when nothing
happens, and a burst of events costs one repaint).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.models.stats_collector import StatsCollector
from app.widgets.chart import RateChart, Series
from server.events import Event
from server.modules import registry
from server.modules.base import ModuleStatus

REPAINT_MS = 1000
SERIES_LABELS = (
    ("in", "Received"),
    ("out", "Sent out (relay / MX)"),
    ("local", "Delivered locally"),
)


def protocol_modules() -> tuple[str, ...]:
    """The modules clients connect to (sessions and messages are counted)."""
    return tuple(m.name for m in registry.listeners())


class StatsPage(QWidget):
    """Chart plus figures, fed by ``add_event``/``set_modules``/``set_queue_length``.

    Signals: none.
    """

    def __init__(
        self, parent: QWidget | None = None, collector: StatsCollector | None = None
    ) -> None:
        super().__init__(parent)
        self.collector = collector or StatsCollector()
        self._titles: dict[str, str] = {}
        self._dirty = True

        self.chart = RateChart(self)
        chart_box = QGroupBox("Messages per minute, last 60 minutes", self)
        chart_layout = QVBoxLayout(chart_box)
        chart_layout.addWidget(self.chart)

        self.sessions_box = QGroupBox("Sessions now", self)
        self.sessions_form = QFormLayout(self.sessions_box)
        self.session_labels: dict[str, QLabel] = {}

        figures = QGroupBox("Queue and failures", self)
        form = QFormLayout(figures)
        self.queue_label = QLabel("0", self)
        self.bounced_label = QLabel("0", self)
        self.deferred_label = QLabel("0", self)
        self.hour_labels = {name: QLabel("0", self) for name, _ in SERIES_LABELS}
        form.addRow("In the queue:", self.queue_label)
        form.addRow("Bounced (since start):", self.bounced_label)
        form.addRow("Deferred (since start):", self.deferred_label)
        for name, title in SERIES_LABELS:
            form.addRow(f"{title}, last hour:", self.hour_labels[name])
        for label in (
            self.queue_label,
            self.bounced_label,
            self.deferred_label,
            *self.hour_labels.values(),
        ):
            label.setAlignment(Qt.AlignmentFlag.AlignRight)

        # the figures scroll when the window is short, never overlap
        panel = QWidget(self)
        side = QVBoxLayout(panel)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.sessions_box)
        side.addWidget(figures)
        side.addStretch(1)
        self.side_scroll = QScrollArea(self)
        self.side_scroll.setWidget(panel)
        self.side_scroll.setWidgetResizable(True)
        self.side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.side_scroll.setHorizontalScrollBarPolicy(
            Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        )
        self.side_scroll.setMinimumWidth(
            panel.sizeHint().width()
            + self.side_scroll.verticalScrollBar().sizeHint().width()
        )
        layout = QHBoxLayout(self)
        layout.addWidget(chart_box, 1)
        layout.addWidget(self.side_scroll)

        self._timer = QTimer(self)
        self._timer.setInterval(REPAINT_MS)
        self._timer.timeout.connect(self.on_timer_timeout)
        self._timer.start()
        self.refresh()

    # -- feeding ------------------------------------------------------------
    def set_modules(self, statuses: tuple[ModuleStatus, ...]) -> None:
        """The snapshot's modules: titles and the sessions already open."""
        self._titles = {s.name: s.title for s in statuses}
        protocols = protocol_modules()
        self.collector.seed_sessions(s for s in statuses if s.name in protocols)
        self.refresh()

    def module_stopped(self, name: str) -> None:
        if name in protocol_modules():
            self.collector.reset_module(name)
            self._dirty = True

    def add_event(self, event: Event) -> None:
        if self.collector.add(event):
            self._dirty = True

    def set_queue_length(self, n: int) -> None:
        if n != self.collector.queue_length:
            self.collector.queue_length = n
            self._dirty = True

    def stop(self) -> None:
        self._timer.stop()

    # -- painting -----------------------------------------------------------
    def on_timer_timeout(self) -> None:
        # repaint every second while visible (the axis moves); figures on change
        if self._dirty or self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        self._dirty = False
        series = self.collector.series()
        self.chart.set_series(
            [
                Series(
                    title,
                    theme.series_colour(name, self.palette()),
                    tuple(series[name]),
                )
                for name, title in SERIES_LABELS
            ]
        )
        totals = self.collector.totals()
        sessions = dict(totals.sessions)
        for name in protocol_modules():
            if name not in sessions and name not in self._titles:
                continue
            label = self.session_labels.get(name)
            if label is None:
                label = QLabel(self)
                label.setAlignment(Qt.AlignmentFlag.AlignRight)
                self.session_labels[name] = label
                self.sessions_form.addRow(f"{self._titles.get(name, name)}:", label)
            label.setText(str(sessions.get(name, 0)))
        self.queue_label.setText(str(totals.queue_length))
        self.bounced_label.setText(str(totals.bounced))
        self.deferred_label.setText(str(totals.deferred))
        for name, count in totals.last_hour:
            self.hour_labels[name].setText(str(count))
