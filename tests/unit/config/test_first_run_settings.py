"""The first run's settings (server/first_run.py), worked out before any
change: every bad choice is refused with the field it concerns."""

from __future__ import annotations

import pytest

from server.api import FirstRunSetup, ModuleSetup
from server.config.schema import Settings
from server.errors import ValidationError
from server.first_run import changed_keys, first_run_settings

NAMES = ("smtp", "submission", "pop3", "imap")


def setup(*modules: ModuleSetup, reach: str = "local") -> FirstRunSetup:
    return FirstRunSetup("Example.TEST", " ", reach=reach, modules=modules)


def test_choices_become_settings() -> None:
    s = first_run_settings(
        Settings(),
        setup(
            ModuleSetup("smtp", True, (("port", 2525),)),
            ModuleSetup("pop3", False),
            reach="lan",
        ),
        NAMES,
    )
    assert (s.general.domain, s.general.hostname) == (
        "example.test",
        "mail.example.test",
    )
    assert (s.smtp.enabled, s.smtp.port, s.smtp.bind) == (True, 2525, "0.0.0.0")
    assert s.pop3.enabled is False
    assert s.imap.bind == "0.0.0.0"  # every listener gets the reach
    assert s.relay == Settings().relay  # not a listener, not chosen: untouched


@pytest.mark.parametrize(
    ("choice", "field", "words"),
    [
        (setup(reach="world"), "reach", "Choose who may connect"),
        (setup(ModuleSetup("nntp", True)), "module", "no module 'nntp'"),
        (setup(ModuleSetup("smtp", True, (("bind", 1),))), "bind", "no setting"),
        (
            setup(ModuleSetup("smtp", True, (("tls_port", 1),))),
            "tls_port",
            "no setting",
        ),
        (
            setup(
                ModuleSetup("smtp", True, (("port", 40025),)),
                ModuleSetup("submission", True, (("port", 40025),)),
            ),
            "port",
            "cannot share port 40025",
        ),
    ],
)
def test_bad_choices_are_refused(choice: FirstRunSetup, field: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words) as caught:
        first_run_settings(Settings(), choice, NAMES)
    assert caught.value.field == field


def test_a_disabled_module_may_keep_a_port_another_uses() -> None:
    s = first_run_settings(
        Settings(),
        setup(
            ModuleSetup("smtp", True, (("port", 40025),)),
            ModuleSetup("submission", False, (("port", 40025),)),
        ),
        NAMES,
    )
    assert s.submission.port == 40025 and not s.submission.enabled


def test_changed_keys_is_the_patch_between_two_settings() -> None:
    before = Settings()
    after = first_run_settings(before, setup(ModuleSetup("smtp", True)), NAMES)
    patch = changed_keys(before, after)
    assert patch["general"] == {
        "domain": "example.test",
        "hostname": "mail.example.test",
    }
    assert "relay" not in patch
    assert changed_keys(after, after) == {}
