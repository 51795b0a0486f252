"""User, first-run and settings dialogs: validation as you type."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.dialogs.user_dialog import MB, UserDialog
from server.api import NewUser, UserChange, UserView

DOMAINS = ("example.test", "other.test")


@pytest.fixture
def user_dialog(qtbot: Any) -> UserDialog:
    dialog = UserDialog(DOMAINS, existing={"alice@example.test"})
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def fill(qtbot: Any, dialog: UserDialog, local: str, pw: str, confirm: str) -> None:
    for edit, text in (
        (dialog.local_edit, local),
        (dialog.password.edit, pw),
        (dialog.confirm, confirm),
    ):
        edit.clear()
        qtbot.keyClicks(edit, text)


def test_user_dialog_starts_invalid(user_dialog: UserDialog) -> None:
    assert not user_dialog.ok_button.isEnabled()
    assert "mailbox name" in user_dialog.error_label.text()


@pytest.mark.parametrize(
    ("local", "pw", "confirm", "message"),
    [
        (
            "bad name",
            "s3cret-Tomato-9",
            "s3cret-Tomato-9",
            "'bad name' may only contain letters",
        ),
        (
            ".dot",
            "s3cret-Tomato-9",
            "s3cret-Tomato-9",
            "cannot start or end with a dot",
        ),
        ("a@b", "s3cret-Tomato-9", "s3cret-Tomato-9", "b is not one of this server's"),
        ("nul", "s3cret-Tomato-9", "s3cret-Tomato-9", "is a device name on Windows"),
        (
            "Alice",
            "s3cret-Tomato-9",
            "s3cret-Tomato-9",
            "alice@example.test already exists.",
        ),
        ("carol", "", "", "Enter a password"),
        ("carol", "s3cret-Tomato-9", "s3cret-Tomato-", "The passwords do not match."),
    ],
)
def test_user_dialog_messages(
    qtbot: Any, user_dialog: UserDialog, local: str, pw: str, confirm: str, message: str
) -> None:
    fill(qtbot, user_dialog, local, pw, confirm)
    assert message in user_dialog.error_label.text()
    assert user_dialog.error_label.isVisible()
    assert not user_dialog.ok_button.isEnabled()


def test_user_dialog_valid_value(qtbot: Any, user_dialog: UserDialog) -> None:
    fill(qtbot, user_dialog, "carol", "s3cret-Tomato-9", "s3cret-Tomato-9")
    user_dialog.domain_combo.setCurrentText("other.test")
    qtbot.keyClicks(user_dialog.name_edit, "Carol C")
    user_dialog.quota_spin.setValue(50)
    assert user_dialog.ok_button.isEnabled()
    assert user_dialog.error_label.text() == ""
    # duplicates are per address: alice@other.test is free
    assert user_dialog.value() == NewUser(
        "carol@other.test", "s3cret-Tomato-9", "Carol C", 50 * MB, True
    )


@pytest.mark.parametrize(
    ("pw", "reason", "word"),
    [
        ("x", "at least 8 characters", "weak"),
        ("password1", "too easy to guess", "weak"),
        ("carolexample", "too easy to guess", "weak"),  # her own address
    ],
)
def test_user_dialog_refuses_a_weak_password_and_says_why(
    qtbot: Any, user_dialog: UserDialog, pw: str, reason: str, word: str
) -> None:
    """Reproduces issue 10: "x" was accepted in Add user."""
    fill(qtbot, user_dialog, "carol", pw, pw)
    assert reason in user_dialog.error_label.text()
    assert not user_dialog.ok_button.isEnabled()
    assert user_dialog.meter.word.text() == word
    user_dialog.password.edit.clear()
    user_dialog.confirm.clear()
    qtbot.keyClicks(user_dialog.password.edit, "correct horse battery staple")
    qtbot.keyClicks(user_dialog.confirm, "correct horse battery staple")
    assert user_dialog.ok_button.isEnabled()
    assert user_dialog.meter.word.text() == "strong"


def test_user_dialog_edit_mode_checks_a_new_password(qtbot: Any) -> None:
    user = UserView("alice@example.test", "Alice", True, 0, 0)
    dialog = UserDialog(DOMAINS, user=user)
    qtbot.addWidget(dialog)
    assert dialog.meter.word.text() == ""  # empty: unchanged, nothing to rate
    qtbot.keyClicks(dialog.password.edit, "abc")
    qtbot.keyClicks(dialog.confirm, "abc")
    assert "at least 8 characters" in dialog.error_label.text()
    assert not dialog.ok_button.isEnabled()


def test_security_settings_dialog_edits_the_account_lock(qtbot: Any) -> None:
    from app.dialogs.settings_dialog import SettingsDialog
    from server.config.schema import SecuritySettings

    async def apply(section: str, values: dict[str, Any]) -> object:
        return values

    dialog = SettingsDialog("security", SecuritySettings(), apply)
    qtbot.addWidget(dialog)
    for name, value in (("user_max_failures", 20), ("user_lock_time", 300)):
        editor = dialog.editors[name]
        assert editor.value() == value  # type: ignore[attr-defined]
        editor.setValue(value + 1)  # type: ignore[attr-defined]
    assert dialog.changed_values() == {"user_max_failures": 21, "user_lock_time": 301}


def test_settings_dialog_speaks_in_words_and_megabytes(
    qtbot: Any, gui_loop: Any
) -> None:
    """Issue 17: sizes in MB, not bytes; errors name the setting, not its
    key; the policies say what they mean."""
    from PySide6.QtCore import Qt

    from app.dialogs.settings_dialog import SettingsDialog
    from server.config.schema import GeneralSettings, SubmissionSettings
    from server.errors import ValidationError

    applied: list[dict[str, Any]] = []

    async def apply(section: str, values: dict[str, Any]) -> object:
        applied.append(values)
        if "domain" in values:
            raise ValidationError(
                "general.domain: 'bad domain' is not a valid host name",
                field="general.domain",
            )
        return values

    general = GeneralSettings(domain="example.test", hostname="mail.example.test")
    dialog = SettingsDialog("general", general, apply)
    qtbot.addWidget(dialog)
    size = dialog.editors["max_message_size"]
    assert size.text() == "25.0 MB"  # type: ignore[attr-defined]
    assert dialog.changed_values() == {}  # shown rounded, read back unchanged
    size.setValue(10.0)  # type: ignore[attr-defined]
    assert dialog.changed_values() == {"max_message_size": 10 * 1024 * 1024}
    dialog.editors["domain"].setText("bad domain")  # type: ignore[attr-defined]
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: "not a valid" in dialog.error_label.text())
    text = dialog.error_label.text()
    assert text.startswith("Mail domain: ") and "general." not in text

    sub = SettingsDialog("submission", SubmissionSettings(), apply)
    qtbot.addWidget(sub)
    policy = sub.editors["sender_policy"]
    assert "own addresses" in policy.toolTip()
    policy.setCurrentText("any")  # type: ignore[attr-defined]
    assert "anyone's name" in policy.toolTip()
    login = sub.editors["plaintext_login"]
    assert "this computer" in login.toolTip()  # loopback, in words
    assert "overheard" in login.itemData(  # type: ignore[attr-defined]
        1, Qt.ItemDataRole.ToolTipRole
    )


def test_user_dialog_generate_shows_password(
    qtbot: Any, user_dialog: UserDialog
) -> None:
    qtbot.keyClicks(user_dialog.local_edit, "dave")
    qtbot.mouseClick(user_dialog.generate_button, Qt.MouseButton.LeftButton)
    pw = user_dialog.password.text()
    assert len(pw) >= 16
    assert user_dialog.confirm.text() == pw
    assert user_dialog.password.is_revealed()
    assert user_dialog.ok_button.isEnabled()
    user_dialog.password.toggle.click()
    assert not user_dialog.password.is_revealed()


def test_user_dialog_edit_mode(qtbot: Any) -> None:
    user = UserView("alice@example.test", "Alice", True, 10 * MB, 0)
    dialog = UserDialog(DOMAINS, user=user)
    qtbot.addWidget(dialog)
    assert dialog.ok_button.isEnabled()  # empty password = unchanged
    assert dialog.local_edit.isReadOnly()
    dialog.enabled_check.setChecked(False)
    assert dialog.value() == UserChange(
        "alice@example.test", "Alice", 10 * MB, False, None
    )
    qtbot.keyClicks(dialog.password.edit, "new-Kettle-pw-9")
    assert "do not match" in dialog.error_label.text()
    qtbot.keyClicks(dialog.confirm, "new-Kettle-pw-9")
    change = dialog.value()
    assert isinstance(change, UserChange) and change.password == "new-Kettle-pw-9"


def test_user_dialog_takes_a_full_address(qtbot: Any, user_dialog: UserDialog) -> None:
    """Issue 17: "Add user refuses a full address" though the README says to
    type alice@example.org. The domain typed picks the domain box."""
    pw = "Correct-Horse-Battery-9"
    fill(qtbot, user_dialog, "carol@Other.Test", pw, pw)
    assert user_dialog.error_label.text() == ""
    assert user_dialog.domain_combo.currentText() == "other.test"
    value = user_dialog.value()
    assert value.address == "carol@other.test"
    fill(qtbot, user_dialog, "carol@elsewhere.test", pw, pw)
    assert "elsewhere.test is not one of this server's mail domains" in (
        user_dialog.error_label.text()
    )
    assert not user_dialog.ok_button.isEnabled()
    fill(qtbot, user_dialog, "alice@example.test", pw, pw)
    assert "already exists" in user_dialog.error_label.text()
