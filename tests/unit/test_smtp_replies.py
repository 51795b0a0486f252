from __future__ import annotations

import pytest

from server.protocols.smtp.replies import mask_auth, with_enhanced_code


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("250 OK", "250 2.0.0 OK"),
        ("552 Error: Too much mail data", "552 5.3.4 Too much mail data"),
        ("503 Error: need MAIL command", "503 5.5.1 need MAIL command"),
        ("250 2.1.5 Recipient OK", "250 2.1.5 Recipient OK"),
        ("354 End data with <CR><LF>.<CR><LF>", "354 End data with <CR><LF>.<CR><LF>"),
        ("221 Bye", "221 2.0.0 Bye"),
        ("500 Error: bad syntax", "500 5.5.2 bad syntax"),
    ],
)
def test_enhanced_codes(raw: str, want: str) -> None:
    assert with_enhanced_code(raw) == want


def test_auth_is_masked() -> None:
    assert mask_auth("AUTH PLAIN AGFsaWNlAHNlY3JldA==") == "AUTH PLAIN ****"
    assert mask_auth("MAIL FROM:<a@b>") == "MAIL FROM:<a@b>"
