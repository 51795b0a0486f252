"""Constants shared by the Maildir store's tests."""

OWNER = "alice@example.org"
MSG = b"From: a@example.org\r\nSubject: hi\r\n\r\nHello\r\n"
