"""A password strength meter: a short bar and a word (weak, fair, good, strong).

It shows ``server.api.password_estimate`` (``server.accounts.strength``), the
rule the core applies when the password arrives, so the dialog refuses exactly
what the core would. The reason for a refusal goes in the meter's tool tip;
dialogs also show it in their error label.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from server.api import PasswordEstimate, password_estimate

MAX_SCORE = 4  # zxcvbn scores 0..4
SCORE_COLOURS = ("#c62828", "#c62828", "#ef6c00", "#2e7d32", "#1b5e20")
BAR_WIDTH = 120
BAR_HEIGHT = 8


class PasswordMeter(QWidget):
    """Bar plus word for the password typed next to it.

    ``assess(password, user_inputs)`` scores, shows and returns the estimate;
    the last answer is kept, so a dialog may ask on every validation without
    scoring the same text twice. An empty password clears the meter.

    Signals: none.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, MAX_SCORE)
        self.bar.setTextVisible(False)
        self.bar.setFixedSize(BAR_WIDTH, BAR_HEIGHT)
        self.bar.setAccessibleName("Password strength")
        self.word = QLabel(self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar)
        layout.addWidget(self.word)
        layout.addStretch(1)
        self._last: tuple[str, tuple[str, ...]] | None = None
        self.estimate: PasswordEstimate | None = None
        self.clear()

    def clear(self) -> None:
        self._last = None
        self.estimate = None
        self.bar.setValue(0)
        self.word.setText("")
        self.setToolTip("")

    def assess(
        self, password: str, user_inputs: Sequence[str] = ()
    ) -> PasswordEstimate | None:
        """Score ``password`` (None and a cleared meter when it is empty)."""
        if not password:
            self.clear()
            return None
        key = (password, tuple(user_inputs))
        if key == self._last and self.estimate is not None:
            return self.estimate
        result = password_estimate(password, user_inputs)
        self._last, self.estimate = key, result
        self.bar.setValue(result.score)
        colour = SCORE_COLOURS[max(0, min(result.score, MAX_SCORE))]
        self.bar.setStyleSheet(f"QProgressBar::chunk {{ background: {colour}; }}")
        self.word.setText(result.word)
        self.word.setStyleSheet(f"color: {colour};")
        self.setToolTip(result.problem)
        return result
