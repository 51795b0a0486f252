"""IMAP4rev1 (RFC 3501) server. Three jobs in three places, as in POP3:

- parsing, pure: grammar.py (the tokens), parser.py (one function per
  command, typed frozen commands from command.py), searchparse.py (search
  keys), fetchitems.py (FETCH items, which render themselves), mutf7.py;
- state: session.py (the state machine; which command class is valid in which
  state) with handlers/ (one coroutine per command, by area), selected.py
  (the selected-mailbox view), listing.py (LIST matching, with wildcard.py),
  search.py (SEARCH evaluation), mime.py (ENVELOPE, BODYSTRUCTURE, sections),
  cache.py (parsed metadata shared by the sessions); responses.py renders;
- I/O: connection.py (the read loop: commands with their literals,
  AUTHENTICATE continuations, IDLE, STARTTLS) over the shared
  ``server.protocols.linereader``, and module.py (``ImapModule``: listeners,
  sockets, TLS, connection limits).
"""
