"""DKIM signing (RFC 6376, RFC 8463) of mail that leaves through relay or mx.

Which domain signs: the ``From`` header's domain when it is one of ours with
active keys (what DMARC aligns with), else the envelope sender's. Each active
key signs (an Ed25519 and an RSA signature by default: receivers that do not
know Ed25519 use the RSA one, RFC 8463 4), relaxed/relaxed, over the header
fields RFC 6376 5.4.1 recommends that the message has (plus Message-ID,
MIME-Version, Content-Type/-Transfer-Encoding, Sender and RFC 8058's
List-Unsubscribe-Post), with ``From`` signed once more than it occurs so
that no second From can be added (RFC 6376 8.15, "oversigning").

Pure but for the key files; CPU-bound (hashing the body, an RSA signature of
~1 ms): callers run ``sign`` in a worker thread. A failure to sign is
logged and the message goes out unsigned, as OpenDKIM does by default.
"""

from __future__ import annotations

import email.utils
import logging

import dkim

from server import mailtext
from server.dkim.keys import DkimKeys

log = logging.getLogger("quicksilver.dkim")

# RFC 6376 5.4.1, and what a receiver's display or a list's unsubscribe
# depends on; only those present are signed (From once more: oversigned)
SIGNED = (
    "from",
    "reply-to",
    "subject",
    "date",
    "to",
    "cc",
    "resent-date",
    "resent-from",
    "resent-to",
    "resent-cc",
    "in-reply-to",
    "references",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "sender",
)
MAX_HEADER_SCAN = 256 * 1024
ALGORITHM_TAGS = {"ed25519": b"ed25519-sha256", "rsa": b"rsa-sha256"}


def _from_domain(fields: list[tuple[str, str]]) -> str:
    """The domain of the first From field when it names one address."""
    values = [v for n, v in fields if n == "from"][:1]
    addresses = email.utils.getaddresses(values)
    if len(addresses) != 1 or "@" not in addresses[0][1]:
        return ""
    return addresses[0][1].rsplit("@", 1)[1].lower()


class DkimSigner:
    def __init__(self, keys: DkimKeys) -> None:
        self.keys = keys

    def domain_for(self, sender: str, message: bytes) -> str:
        """The domain that signs, "" for none (no keys for either)."""
        return self._domain(sender, mailtext.header_fields(message, MAX_HEADER_SCAN))

    def _domain(self, sender: str, fields: list[tuple[str, str]]) -> str:
        for domain in (_from_domain(fields), sender.rpartition("@")[2].lower()):
            if domain and self.keys.signing_keys(domain):
                return domain
        return ""

    def sign(self, sender: str, message: bytes) -> bytes:
        """The message with its DKIM-Signature fields on top (unchanged when
        no domain of ours signs it). Blocking: a worker thread."""
        fields = mailtext.header_fields(message, MAX_HEADER_SCAN)
        domain = self._domain(sender, fields)
        if not domain:
            return message
        present = [n for n, _ in fields]
        names = [n for n in SIGNED if n in present]
        if "from" not in names:
            return message  # RFC 6376 5.4: From must be signed; none to sign
        include = [n.encode() for n in names] + [b"from"]  # oversign From
        crlf = mailtext.to_crlf(message)
        added: list[bytes] = []
        for key in sorted(self.keys.signing_keys(domain), key=lambda k: k.algorithm):
            algorithm = ALGORITHM_TAGS[key.algorithm]
            try:
                header = dkim.sign(
                    crlf,
                    key.selector.encode(),
                    domain.encode(),
                    key.private,
                    canonicalize=(b"relaxed", b"relaxed"),
                    signature_algorithm=algorithm,
                    include_headers=include,
                )
            except Exception as exc:  # a broken key must not stop the mail
                log.warning(
                    "DKIM signing for %s with %s failed: %s", domain, key.selector, exc
                )
                continue
            added.append(header)
        if not added:
            return message
        return b"".join(added) + crlf
