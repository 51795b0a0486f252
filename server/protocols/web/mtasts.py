"""Our own MTA-STS policy (RFC 8461), served by the web module at
``https://mta-sts.<domain>/.well-known/mta-sts.txt`` when
``web.mta_sts_mode`` is ``testing`` or ``enforce`` ("" publishes nothing).

The policy names this server's host name as the only MX and a max_age of
one week; its id (the ``_mta-sts`` TXT record that the DNS helper shows) is a
digest of the text, so it changes exactly when the policy does. Senders
fetch it over HTTPS on port 443 with a certificate valid for
``mta-sts.<domain>``: the DNS helper says so.
"""

from __future__ import annotations

import hashlib

from server.config.schema import Settings

PATH = "/.well-known/mta-sts.txt"
MAX_AGE = 604_800  # one week (RFC 8461 3.2 suggests weeks)


def policy_text(settings: Settings) -> str:
    """The policy file, "" when publishing is off."""
    mode = settings.web.mta_sts_mode
    host = settings.general.hostname.lower().rstrip(".")
    if not mode or not host:
        return ""
    return f"version: STSv1\r\nmode: {mode}\r\nmx: {host}\r\nmax_age: {MAX_AGE}\r\n"


def policy_id(text: str) -> str:
    """The id of the TXT record (RFC 8461 3.1: 1 to 32 letters or digits)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def policy_domain(host_field: str) -> str:
    """The domain in ``Host: mta-sts.<domain>[:port]``, else ""."""
    host = host_field.strip().lower()
    if host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    host = host.rstrip(".")
    return host[len("mta-sts.") :] if host.startswith("mta-sts.") else ""
