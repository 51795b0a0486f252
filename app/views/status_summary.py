"""The window's status bar: a light, modules running/failed, users and queue,
and the data folder."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStatusBar

from app.widgets.status_light import StatusLight
from server.modules.base import ModuleState, ModuleStatus


class StatusSummary:
    """The widgets it puts in ``bar``, and ``show`` to fill them."""

    def __init__(self, bar: QStatusBar) -> None:
        self.light = StatusLight(bar, bar.fontMetrics().height() * 3 // 4)
        self.running_label = QLabel(bar)
        self.counts_label = QLabel(bar)
        self.data_dir_label = QLabel(bar)
        self.data_dir_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        bar.setStyleSheet("QStatusBar::item { border: none; }")
        bar.addWidget(self.light)
        bar.addWidget(self.running_label)
        bar.addWidget(QLabel("·", bar))
        bar.addWidget(self.counts_label)
        bar.addPermanentWidget(self.data_dir_label)

    def show(self, statuses: Sequence[ModuleStatus], users: int, queued: int) -> None:
        running = [s.title for s in statuses if s.state is ModuleState.RUNNING]
        failed = [s.title for s in statuses if s.state is ModuleState.FAILED]
        busy = any(
            s.state in (ModuleState.STARTING, ModuleState.STOPPING) for s in statuses
        )
        if failed:
            self.light.set_state(ModuleState.FAILED)
        elif busy:
            self.light.set_state(ModuleState.STARTING)
        else:
            self.light.set_state(
                ModuleState.RUNNING if running else ModuleState.STOPPED
            )
        text = f"{len(running)} of {len(statuses)} modules running"
        if failed:
            text += f" · failed: {', '.join(failed)}"
        self.running_label.setText(text)
        self.counts_label.setText(
            f"{users} user{'s' if users != 1 else ''} · {queued} in queue"
        )
