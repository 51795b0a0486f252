"""Classified errors shared by every subsystem.

A ``MailError`` says whether a failure is temporary (try again later: 4xx in SMTP,
``[SYS/TEMP]`` in POP3, ``NO`` in IMAP) or permanent (5xx), and carries a message
that is safe to show a client: never a path, a setting or a traceback.
"""

from __future__ import annotations


class MailError(Exception):
    """A failure that a protocol can render to a client."""

    temporary: bool = True
    smtp_code: int = 451
    enhanced: str = "4.3.0"

    def __init__(self, public_message: str, *, detail: str = "") -> None:
        super().__init__(public_message)
        self.public_message = public_message
        self.detail = detail

    def smtp_reply(self) -> str:
        return f"{self.smtp_code} {self.enhanced} {self.public_message}"


class TemporaryError(MailError):
    temporary = True
    smtp_code = 451
    enhanced = "4.3.0"


class PermanentError(MailError):
    temporary = False
    smtp_code = 554
    enhanced = "5.3.0"


class StorageFullError(TemporaryError):
    """The disk (or a quota) has no room: SMTP 452 4.3.1, IMAP NO."""

    smtp_code = 452
    enhanced = "4.3.1"


class QuotaExceededError(TemporaryError):
    smtp_code = 452
    enhanced = "4.2.2"


class OverQuotaForGood(PermanentError):
    """A message larger than the whole quota: it can never fit (552 5.2.2)."""

    smtp_code = 552
    enhanced = "5.2.2"


class ValidationError(ValueError):
    """Bad input from a person (settings, a dialog, a shell command).

    The message names the field and says what is wrong in plain words.
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field
