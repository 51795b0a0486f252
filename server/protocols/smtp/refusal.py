"""The greeting an SMTP client refused by connection control reads.

RFC 5321 3.1 and 4.2.3: a server that cannot take mail now answers the
connection with ``421`` and closes it (the client retries later); one that never
will from this client greets with ``554``. Enhanced codes from RFC 3463: 4.3.2
"system not accepting network messages" (the server is full), 4.7.0 and 5.7.1
(security policy: a limit on one address, the access list, a ban).
"""

from __future__ import annotations

from server.modules.base import Refusal, RefusalKind

_CODES = {
    RefusalKind.TOTAL: "421 4.3.2",
    RefusalKind.PER_IP: "421 4.7.0",
    RefusalKind.NOT_ALLOWED: "554 5.7.1",
    RefusalKind.BANNED: "554 5.7.1",
}


def refusal_line(refused: Refusal) -> bytes:
    return f"{_CODES[refused.kind]} {refused.reason}\r\n".encode()
