"""Whether this session enabled UTF8=ACCEPT (RFC 6855): a context variable,
so each session's task (and the worker threads it starts) sees its own.

Set by ENABLE UTF8=ACCEPT; read where mailbox names cross the wire
(grammar.decode_mailbox and list patterns, responses.mailbox): UTF-8 then,
modified UTF-7 otherwise.
"""

from __future__ import annotations

from contextvars import ContextVar

UTF8_ACCEPT: ContextVar[bool] = ContextVar("imap_utf8_accept", default=False)
