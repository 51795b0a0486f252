"""Statistics: the collector counts events; the chart paints."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from PySide6.QtGui import QColor, QImage

from app.models.stats_collector import StatsCollector
from app.views.stats_page import StatsPage
from app.widgets.chart import RateChart, Series, nice_ceiling
from server.events import (
    LogRecorded,
    MessageAccepted,
    MessageBounced,
    MessageDeferred,
    MessageDelivered,
    SessionClosed,
    SessionOpened,
)
from server.modules.base import ModuleState, ModuleStatus

NOW = 1_700_000_000.0  # a minute boundary is irrelevant: counts are per minute


def accepted(at: float) -> MessageAccepted:
    return MessageAccepted("smtp", "m", "a@b.test", ("c@d.test",), 10, at=at)


def test_collector_counts_per_minute_and_series() -> None:
    c = StatsCollector(clock=lambda: NOW)
    for at in (NOW, NOW - 1, NOW - 61, NOW - 3600 * 2):
        c.add(accepted(at))
    c.add(MessageDelivered("j", "x@remote.test", "relay", at=NOW))
    c.add(MessageDelivered("j", "x@remote.test", "mx", at=NOW))
    c.add(MessageDelivered("j", "c@d.test", "INBOX", at=NOW))
    c.add(MessageBounced("j", "x@remote.test", "550 no", at=NOW))
    c.add(MessageDeferred("j", "x@remote.test", "451 later", at=NOW))
    c.add(MessageDeferred("j", "y@remote.test", "451 later", at=NOW))
    assert not c.add(LogRecorded(1, "INFO", "quicksilver.smtp", "smtp", "x", at=NOW))
    series = c.series()
    assert all(len(v) == 60 for v in series.values())
    this_minute = int(NOW // 60)
    expected_now = sum(1 for at in (NOW, NOW - 1) if int(at // 60) == this_minute)
    assert series["in"][-1] == expected_now
    assert sum(series["in"]) == 3  # the one from two hours ago is outside
    assert series["out"][-1] == 2 and series["local"][-1] == 1
    totals = c.totals()
    assert (totals.bounced, totals.deferred) == (1, 2)
    assert dict(totals.last_hour) == {"in": 3, "out": 2, "local": 1}
    # an hour later everything has scrolled out
    assert sum(sum(v) for v in c.series(NOW + 3600).values()) == 0


def test_collector_sessions_per_protocol() -> None:
    c = StatsCollector(clock=lambda: NOW)
    c.seed_sessions(
        [ModuleStatus("imap", "IMAP", True, ModuleState.RUNNING, sessions=2)]
    )
    c.add(SessionOpened("smtp", "s1", "127.0.0.1:1"))
    c.add(SessionOpened("smtp", "s2", "127.0.0.1:2"))
    c.add(SessionClosed("smtp", "s1", "127.0.0.1:1"))
    c.add(SessionClosed("imap", "old", "127.0.0.1:3"))  # one of the seeded two
    assert c.sessions() == {"imap": 1, "smtp": 1}
    c.reset_module("smtp")
    assert c.sessions()["smtp"] == 0
    c.add(SessionClosed("imap", "x", "p"))
    c.add(SessionClosed("imap", "y", "p"))
    assert c.sessions()["imap"] == 0  # never negative


def test_collector_memory_is_bounded() -> None:
    clock = [NOW]
    c = StatsCollector(minutes=5, clock=lambda: clock[0])
    for i in range(1000):
        clock[0] = NOW + i * 60
        c.add(accepted(clock[0]))
    assert len(c._buckets) <= 6


def test_nice_ceiling() -> None:
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 11, 99, 120)] == [
        1,
        1,
        5,
        10,
        20,
        100,
        200,
    ]


def non_background_pixels(image: QImage, background: QColor) -> int:
    count = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            if image.pixelColor(x, y) != background:
                count += 1
    return count


def test_chart_paints_series(qtbot: Any) -> None:
    chart = RateChart()
    qtbot.addWidget(chart)
    chart.resize(480, 240)
    empty = chart.grab().toImage()
    values = tuple((i * 7) % 13 for i in range(60))
    chart.set_series([Series("Received", QColor("#1f6fd1"), values)])
    assert chart.maximum() == 20
    image = chart.grab().toImage()
    assert not image.isNull() and image.width() >= 480
    background = chart.palette().color(chart.backgroundRole())
    blue = sum(
        1
        for y in range(image.height())
        for x in range(0, image.width(), 2)
        if image.pixelColor(x, y).blue() > 150 and image.pixelColor(x, y).red() < 120
    )
    assert blue > 50  # the line was drawn
    assert non_background_pixels(image, background) > non_background_pixels(
        empty, background
    )


@pytest.mark.parametrize("size", [(120, 60), (1, 1)])
def test_chart_survives_tiny_sizes(qtbot: Any, size: tuple[int, int]) -> None:
    chart = RateChart()
    qtbot.addWidget(chart)
    chart.set_series([Series("x", QColor("red"), (0,) * 60)])
    chart.resize(*size)
    assert not chart.grab().isNull()


def test_stats_page_shows_counts(qtbot: Any) -> None:
    page = StatsPage(collector=StatsCollector(clock=lambda: NOW))
    qtbot.addWidget(page)
    page.set_modules(
        (
            ModuleStatus("smtp", "SMTP", True, ModuleState.RUNNING),
            ModuleStatus("imap", "IMAP", True, ModuleState.RUNNING, sessions=3),
        )
    )
    page.add_event(accepted(NOW))
    page.add_event(SessionOpened("smtp", "s", "p"))
    page.add_event(MessageBounced("j", "r", "why", at=NOW))
    page.set_queue_length(4)
    page.refresh()
    assert page.session_labels["smtp"].text() == "1"
    assert page.session_labels["imap"].text() == "3"
    assert page.queue_label.text() == "4"
    assert page.bounced_label.text() == "1"
    assert page.hour_labels["in"].text() == "1"
    assert sum(page.chart.series()[0].values) == 1
    page.stop()


def test_modules_model_live_sessions_pass_the_model_tester(qtmodeltester: Any) -> None:
    from app.models.modules_model import ModulesModel

    model = ModulesModel()
    model.set_modules(
        [
            ModuleStatus("smtp", "SMTP", True, ModuleState.RUNNING),
            ModuleStatus("imap", "IMAP", True, ModuleState.RUNNING, sessions=1),
        ]
    )
    model.apply_session("smtp", True)
    model.apply_session("smtp", True)
    model.apply_session("imap", False)
    model.apply_session("imap", False)  # never below zero
    model.apply_session("nope", True)  # unknown module: ignored
    assert [s.sessions for s in model.statuses()] == [2, 0]
    qtmodeltester.check(model, force_py=True)


def test_figures_never_overlap_and_axis_labels_fit(qtbot: Any) -> None:
    """Issue 17: at 900x600 the "Queue and failures" rows overlapped, and
    the y axis showed ".75" for 3.75."""
    from PySide6.QtGui import QColor

    from app.widgets.chart import Series

    page = StatsPage()
    qtbot.addWidget(page)
    page.resize(880, 200)  # shorter than the figures need
    page.show()
    qtbot.waitExposed(page)
    page.chart.set_series([Series("SMTP", QColor("#1565c0"), (0, 4, 3))])
    rows = [page.queue_label, page.bounced_label, page.deferred_label]
    rows += list(page.hour_labels.values())
    box = page.side_scroll.widget()
    tops = sorted(rows, key=lambda w: w.mapTo(box, w.rect().topLeft()).y())
    for upper, lower in itertools.pairwise(tops):
        top = upper.mapTo(box, upper.rect().topLeft()).y()
        below = lower.mapTo(box, lower.rect().topLeft()).y()
        assert top + upper.height() <= below  # one under the other
    assert all(w.height() >= w.fontMetrics().height() for w in rows)
    assert page.side_scroll.verticalScrollBar().maximum() > 0  # it scrolls
    fm = page.chart.fontMetrics()
    assert page.chart.left_margin() > fm.horizontalAdvance("3.75")
    page.stop()
