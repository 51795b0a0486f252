"""Is a message from an untrusted client spam? What the smtp module decided,
as ``X-Spam-*`` header fields that local delivery and the user's rules read.

A message is marked (``X-Spam-Flag: YES``) when any of these holds:

- its From domain fails DMARC and publishes ``p=quarantine`` (or ``p=reject``
  while ``smtp.dmarc_reject`` is off), unless the domain is in
  ``smtp.dmarc_overrides``;
- its client is listed by a DNSBL zone whose action is ``tag``;
- the configured scanner (spamd or rspamd, ``scanner.py``) scored it at or
  above ``smtp.spam_junk_score``.

At or above ``smtp.spam_reject_score`` (when set) the message is refused
instead (``550 5.7.1``), as SpamAssassin setups in Postfix do.

The fields (SpamAssassin's names, which mail clients and Sieve scripts
already know): ``X-Spam-Flag: YES`` (marked messages only), ``X-Spam-Score``
(scored messages only) and ``X-Spam-Status: Yes|No, score=... required=...
tests=... reasons=...``. Any such fields the sender put in are removed first
(``strip_spam_fields``), so a spammer cannot write ``X-Spam-Flag: NO``, and a
message can only be marked by us. Local delivery files a marked message in
the user's Junk folder (``is_marked``; ``smtp.junk_spam``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from server import mailtext
from server.antispam.scanner import Score

_SPAM_FIELD = re.compile(rb"(?im)^x-spam-(?:flag|status|score|level)[ \t]*:")
_FLAG_YES = re.compile(rb"(?im)^x-spam-flag[ \t]*:[ \t]*yes[ \t]*\r?$")
MAX_HEAD_SCAN = 256 * 1024  # is_marked reads at most this much of the header


@dataclass(frozen=True)
class SpamVerdict:
    reasons: tuple[str, ...] = ()  # why it is marked; empty: not marked
    score: Score | None = None
    required: float = 0.0  # our Junk threshold (smtp.spam_junk_score)

    @property
    def marked(self) -> bool:
        return bool(self.reasons)

    def fields(self) -> bytes:
        """The X-Spam-* fields to put on top of the message (none for a
        message that is neither scored nor marked)."""
        if not self.reasons and self.score is None:
            return b""
        status = ["Yes" if self.marked else "No"]
        lines: list[str] = []
        if self.marked:
            lines.append("X-Spam-Flag: YES")
        if self.score is not None:
            lines.append(f"X-Spam-Score: {self.score.score:.1f}")
            status.append(f" score={self.score.score:.1f} required={self.required:.1f}")
            if self.score.symbols:
                status.append(" tests=" + ",".join(self.score.symbols))
        if self.reasons:
            status.append(" reasons=" + "; ".join(self.reasons))
        lines.append(f"X-Spam-Status: {status[0]}," + "".join(status[1:]))
        clean = ("".join(c if 32 <= ord(c) < 127 else "?" for c in x) for x in lines)
        return "".join(_fold(line) + "\r\n" for line in clean).encode("ascii")


def _fold(line: str, width: int = 78) -> str:
    """``line`` folded at spaces or commas so no line passes ``width``
    (RFC 5322 2.2.3), where a place to fold exists."""
    out: list[str] = []
    current = ""
    for token in re.split(r"(?<=[ ,])", line):
        if current and len(current) + len(token) > width:
            out.append(current.rstrip(" "))
            current = "\t" + token.lstrip(" ")
        else:
            current += token
    out.append(current)
    return "\r\n".join(out)


def judge(
    *,
    dmarc_quarantine: str = "",
    dnsbl_tag: str = "",
    score: Score | None = None,
    junk_score: float = 5.0,
) -> SpamVerdict:
    """Put the checks' findings together (pure). ``dmarc_quarantine``: the
    From domain whose DMARC policy asks for quarantine; ``dnsbl_tag``: the
    zone of a tag listing."""
    reasons: list[str] = []
    if dmarc_quarantine:
        reasons.append(f"DMARC quarantine policy of {dmarc_quarantine}")
    if dnsbl_tag:
        reasons.append(f"listed at {dnsbl_tag}")
    if score is not None and score.score >= junk_score:
        reasons.append(f"spam score {score.score:.1f}")
    return SpamVerdict(tuple(reasons), score, junk_score)


def strip_spam_fields(message: bytes) -> bytes:
    """``message`` without X-Spam-Flag/-Status/-Score/-Level fields (a worker
    thread for a large message)."""
    return mailtext.drop_fields(message, _SPAM_FIELD)


def is_marked(message: bytes) -> bool:
    """Does the header carry ``X-Spam-Flag: YES``? (Reads the header only,
    at most ``MAX_HEAD_SCAN`` bytes.)"""
    window = message[:MAX_HEAD_SCAN]
    cut = mailtext.header_end(window)
    return _FLAG_YES.search(window if cut < 0 else window[:cut]) is not None
