"""Small widgets: the status light and the password field."""

from __future__ import annotations

from typing import Any

import pytest

from app.widgets.password_field import PasswordField
from app.widgets.status_light import STATE_COLOURS, StatusLight, light_icon
from server.modules.base import ModuleState


@pytest.mark.parametrize(
    ("state", "colour"),
    [
        (ModuleState.RUNNING, "#2eaa3c"),
        (ModuleState.STARTING, "#e6a000"),
        (ModuleState.STOPPING, "#e6a000"),
        (ModuleState.STOPPED, "#9a9a9a"),
        (ModuleState.FAILED, "#d3302f"),
    ],
)
def test_status_light_colours(qtbot: Any, state: ModuleState, colour: str) -> None:
    light = StatusLight()
    qtbot.addWidget(light)
    light.set_state(state)
    assert light.colour().name() == colour
    assert light.toolTip() == state.value.title()
    image = light.grab().toImage()
    centre = image.pixelColor(image.width() // 2, image.height() // 2)
    assert centre.alpha() == 255  # the light is painted, not an empty box
    assert not light_icon(state).isNull()
    assert set(STATE_COLOURS) == set(ModuleState)


def test_password_field_show_hide(qtbot: Any) -> None:
    field = PasswordField()
    qtbot.addWidget(field)
    with qtbot.waitSignal(field.textChanged):
        qtbot.keyClicks(field.edit, "s3cret")
    assert field.text() == "s3cret"
    assert not field.is_revealed()
    field.toggle.click()
    assert field.is_revealed() and field.toggle.text() == "Hide"
    field.set_revealed(False)
    assert not field.is_revealed() and field.toggle.text() == "Show"


def test_password_meter_shows_the_cores_score_and_word(qtbot: Any) -> None:
    from app.widgets.password_meter import PasswordMeter

    meter = PasswordMeter()
    qtbot.addWidget(meter)
    meter.show()
    for password, word, score in (
        ("x", "weak", 0),
        ("alice-pw-1", "fair", 2),
        ("horse-battery", "good", 3),
        ("correct horse battery staple", "strong", 4),
    ):
        est = meter.assess(password)
        assert est is not None and est.word == word and est.score == score
        assert meter.word.text() == word and meter.bar.value() == score
        assert bool(meter.toolTip()) == bool(est.problem)
    weak_colour = meter.assess("x") and meter.word.styleSheet()
    strong = meter.assess("correct horse battery staple")
    assert strong is not None and meter.word.styleSheet() != weak_colour
    assert meter.assess("") is None
    assert meter.word.text() == "" and meter.bar.value() == 0
