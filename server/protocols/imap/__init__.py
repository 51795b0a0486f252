"""IMAP4rev1 (RFC 3501) server: parser.py (pure grammar), responses.py
(rendering), mime.py (ENVELOPE/BODYSTRUCTURE/sections), search.py, mutf7.py,
wildcard.py (LIST patterns), selected.py (the selected-mailbox view), cache.py,
session.py (state machine) and module.py (``ImapModule``: sockets, TLS,
limits)."""
