"""The queue table: one row per spooled job (``QueueJobView`` values).

Times are shown relative to a clock the caller may replace (tests): the age of
a job ("12 min") and its next attempt ("in 4 min"). ``tick()`` repaints those
two columns so they stay true while the page is open.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import (
    QObject,
    Qt,
)

from app.formatting import human_size
from app.models.base import RowsModel
from server.queue.spool import QueueJobView

HELD = "held"


def span_text(seconds: float) -> str:
    """A short length of time: '40 s', '4 min', '3 h 5 min', '2 days'."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    days = s // 86400
    return "1 day" if days == 1 else f"{days} days"


def next_attempt_text(view: QueueJobView, now: float) -> str:
    """'in 4 min', 'now', or why there is no next attempt."""
    states = {state for _addr, state in view.recipients}
    if view.next_attempt > 0:
        delta = view.next_attempt - now
        return "now" if delta <= 0 else f"in {span_text(delta)}"
    if "delivering" in states:
        return "delivering now"
    if "queued" in states:
        return "now"
    if HELD in states:
        if view.last_error.startswith("Held by"):
            return "when released"
        return "when relay or mx is on"
    return "—"


def recipients_text(view: QueueJobView) -> str:
    return ", ".join(f"{addr} ({state})" for addr, state in view.recipients)


def plain_error(text: str) -> str:
    """One line of the last error, without the server's line breaks."""
    return " ".join(text.split())


class QueueModel(RowsModel[QueueJobView]):
    """Jobs oldest first.

    Signals: the standard model signals only.
    """

    (
        COL_ID,
        COL_FROM,
        COL_RECIPIENTS,
        COL_SIZE,
        COL_AGE,
        COL_ATTEMPTS,
        COL_NEXT,
        COL_ERROR,
    ) = range(8)
    HEADERS = (
        "Job",
        "From",
        "Recipients",
        "Size",
        "Age",
        "Attempts",
        "Next attempt",
        "Last error",
    )
    JobRole = Qt.ItemDataRole.UserRole + 1
    _RIGHT = (COL_SIZE, COL_AGE, COL_ATTEMPTS)

    def __init__(
        self, parent: QObject | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(parent)
        self._clock = clock

    def set_jobs(self, jobs: Iterable[QueueJobView]) -> None:
        self._reset(sorted(jobs, key=lambda j: (j.created, j.job_id)))

    def job(self, row: int) -> QueueJobView:
        return self._rows[row]

    def jobs(self) -> tuple[QueueJobView, ...]:
        return tuple(self._rows)

    def row_of(self, job_id: str) -> int:
        for i, j in enumerate(self._rows):
            if j.job_id == job_id:
                return i
        return -1

    def has_held(self) -> bool:
        return any(state == HELD for j in self._rows for _addr, state in j.recipients)

    def tick(self) -> None:
        """Repaint the relative times (age, next attempt)."""
        if self._rows:
            top = self.index(0, self.COL_AGE)
            bottom = self.index(len(self._rows) - 1, self.COL_NEXT)
            self.dataChanged.emit(top, bottom, [Qt.ItemDataRole.DisplayRole])

    # -- Qt model API ---------------------------------------------------------
    def cell(self, j: QueueJobView, col: int, role: int) -> Any:
        if role == self.JobRole:
            return j
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(j, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == self.COL_ERROR and j.last_error:
                return j.last_error
            if col == self.COL_RECIPIENTS:
                return "\n".join(f"{a}: {s}" for a, s in j.recipients)
            if col == self.COL_AGE:
                return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(j.created))
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and col in self._RIGHT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, j: QueueJobView, col: int) -> str | None:
        now = self._clock()
        if col == self.COL_ID:
            return j.job_id
        if col == self.COL_FROM:
            return j.sender or "<> (a notice, no sender)"
        if col == self.COL_RECIPIENTS:
            return recipients_text(j)
        if col == self.COL_SIZE:
            return human_size(j.size)
        if col == self.COL_AGE:
            return span_text(now - j.created)
        if col == self.COL_ATTEMPTS:
            return str(j.attempts)
        if col == self.COL_NEXT:
            return next_attempt_text(j, now)
        if col == self.COL_ERROR:
            return plain_error(j.last_error)
        return None
