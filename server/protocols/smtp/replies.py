"""Pure helpers for SMTP replies.

RFC 2034 (ENHANCEDSTATUSCODES) asks for an enhanced status code on every 2xx,
4xx and 5xx reply except the greeting and the EHLO/HELO lines. aiosmtpd gives
codes on some of its built-in replies only, so ``with_enhanced_code`` adds the
RFC 3463 code that fits to any reply that lacks one.
"""

from __future__ import annotations

import re

_HAS_CODE = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?:[ ]|$)")
_REPLY = re.compile(r"^([245])(\d\d)([ -])(.*)$", re.S)

# RFC 3463 codes for the replies aiosmtpd produces by itself.
DEFAULT_CODES: dict[str, str] = {
    "220": "2.0.0",  # 220 Ready to start TLS
    "221": "2.0.0",
    "250": "2.0.0",
    "252": "2.0.0",
    "421": "4.3.0",
    "450": "4.2.0",
    "451": "4.3.0",
    "452": "4.3.1",
    "454": "4.7.0",
    "500": "5.5.2",
    "501": "5.5.4",
    "502": "5.5.1",
    "503": "5.5.1",
    "504": "5.5.4",
    "530": "5.7.0",
    "535": "5.7.8",
    "550": "5.0.0",
    "552": "5.3.4",
    "553": "5.1.3",
    "554": "5.3.0",
    "555": "5.5.4",  # MAIL/RCPT parameters not recognized (RFC 5321 4.2.3)
}


def with_enhanced_code(reply: str) -> str:
    """Insert an enhanced status code into a reply line that has none."""
    if _HAS_CODE.match(reply):
        return reply
    m = _REPLY.match(reply)
    if m is None:
        return reply  # 3xx continuations and anything odd pass unchanged
    code = m.group(1) + m.group(2)
    enhanced = DEFAULT_CODES.get(code, f"{m.group(1)}.0.0")
    text = m.group(4)
    if text.startswith("Error: "):
        text = text[7:]
    return f"{code}{m.group(3)}{enhanced} {text}".rstrip()


def mask_auth(line: str) -> str:
    """Hide AUTH payloads before a command reaches a log."""
    parts = line.split(" ", 2)
    if parts and parts[0].upper() == "AUTH" and len(parts) > 2:
        return f"{parts[0]} {parts[1]} ****"
    return line
