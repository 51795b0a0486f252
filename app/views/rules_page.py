"""The Rules tab: the rules that run for every user, before their own.

Kept by the core as a global Sieve "before" script (Pigeonhole's
sieve_before; server/sieve/userrules.py). Edits are local until Save; a
script changed by hand is shown as text and left alone.
"""

from __future__ import annotations

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.bridge import CoreBridge
from app.tasks import spawn
from app.widgets.rules_editor import RulesEditor
from server.api import CoreApi, RuleSet, RulesView
from server.errors import ValidationError


class RulesPage(QWidget):
    """Global rules: the editor, Save and Revert.

    Signals: none.
    """

    def __init__(self, bridge: CoreBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._loaded = False
        note = QLabel(
            "These rules run for every message to every user, before the user's "
            "own rules (set in each user's dialog). The first rule that says "
            '"then stop" ends the list for that message.',
            self,
        )
        note.setWordWrap(True)
        self.editor = RulesEditor(self.try_rules, self)
        self.save_button = QPushButton("&Save", self)
        self.revert_button = QPushButton("Re&vert", self)
        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.status_label, 1)
        row.addWidget(self.revert_button)
        row.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.editor, 1)
        layout.addLayout(row)
        self.editor.changed.connect(self.on_editor_changed)
        self.save_button.clicked.connect(self.on_save_button_clicked)
        self.revert_button.clicked.connect(self.on_revert_button_clicked)
        self._set_dirty(False)

    def _set_dirty(self, dirty: bool) -> None:
        self.save_button.setEnabled(dirty and self.editor.editable)
        self.revert_button.setEnabled(dirty)

    async def try_rules(self, rules: RuleSet, message: str) -> tuple[str, ...]:
        return await self._bridge.run(CoreApi.try_rules, None, rules, message)

    async def refresh(self) -> RulesView:
        view = await self._bridge.run(CoreApi.global_rules)
        self.editor.set_view(view)
        self._loaded = True
        self._set_dirty(False)
        self.status_label.setText("")
        return view

    async def save(self) -> bool:
        try:
            view = await self._bridge.run(
                CoreApi.set_global_rules, RuleSet(self.editor.rules())
            )
        except ValidationError as exc:
            self.status_label.setText(str(exc))
            return False
        self.editor.set_view(view)
        self._set_dirty(False)
        count = len(view.rules.rules)
        plural = "s" if count != 1 else ""
        self.status_label.setText(
            f"Saved: {count} rule{plural}, in use from the next message."
        )
        return True

    # -- slots ----------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._loaded:
            spawn(self.refresh())

    def on_editor_changed(self) -> None:
        self._set_dirty(True)
        self.status_label.setText("Not saved yet.")

    def on_save_button_clicked(self) -> None:
        spawn(self.save())

    def on_revert_button_clicked(self) -> None:
        spawn(self.refresh())
