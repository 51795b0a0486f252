"""What a script decided: typed actions and the result of a run.

The engine only decides; the delivery layer acts. Each action carries what the
caller needs and nothing it must look up again:

- ``Keep`` (RFC 5228 section 4.3): store in the default mailbox with ``flags``
  (RFC 5232); ``implicit`` says it came from the implicit keep (section 2.10.2).
- ``FileInto`` (section 4.1): store in ``mailbox`` (``create``: RFC 5490 section
  3.2, create it if missing); ``copy`` (RFC 3894) only records that it did not
  cancel the implicit keep.
- ``Redirect`` (section 4.2): resend to ``address`` (normalised
  ``local@domain``, domain in lower case). The caller checks
  ``loops.redirect_would_loop`` first (and keeps the message if it would), and
  marks what it resends with ``loops.loop_mark``.
- ``Discard`` (section 4.4): recorded when the script discarded; it matters
  only when nothing else delivers.
- ``Reject`` (RFC 5429): ``ereject`` tells the two commands apart. At SMTP
  time the caller refuses the recipient (550 5.7.1 with the reason); after the
  transaction it sends a DSN (RFC 3464) -- but never to the null sender (RFC
  5429 section 2.1).
- ``Vacation`` (RFC 5230): everything to decide (``vacation.VacationPolicy``)
  and build (``vacation.build_reply``) the reply; the caller keeps the "seen"
  store keyed by ``(handle, sender)`` for ``period`` seconds.
- ``HeaderEdit`` (RFC 5293): ``AddHeader``/``DeleteHeader`` in the order they
  happened; every delivering action carries the edits made before it
  (``header_edits``), and ``apply_header_edits`` applies them.

``SieveResult.actions`` is what to do; ``errors`` are script errors that made the
engine fall back to the implicit keep (log them; the user's log, if one day
there is one, too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server import mailtext
from server.sieve.message import encode_header_value


@dataclass(frozen=True, slots=True)
class AddHeader:
    """RFC 5293 section 4: add ``name: value`` at the top, or the end (``last``)."""

    name: str
    value: str
    last: bool = False


@dataclass(frozen=True, slots=True)
class DeleteHeader:
    """RFC 5293 section 5: remove the ``occurrence``-th (1-based, counted from
    the top at that moment) field called ``name``."""

    name: str
    occurrence: int


HeaderEdit = AddHeader | DeleteHeader


@dataclass(frozen=True, slots=True)
class Keep:
    flags: tuple[str, ...] = ()
    implicit: bool = False
    header_edits: tuple[HeaderEdit, ...] = ()


@dataclass(frozen=True, slots=True)
class FileInto:
    mailbox: str
    flags: tuple[str, ...] = ()
    copy: bool = False
    create: bool = False
    header_edits: tuple[HeaderEdit, ...] = ()


@dataclass(frozen=True, slots=True)
class Redirect:
    address: str
    copy: bool = False
    header_edits: tuple[HeaderEdit, ...] = ()


@dataclass(frozen=True, slots=True)
class Discard:
    pass


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str
    ereject: bool = False


@dataclass(frozen=True, slots=True)
class Vacation:
    """An auto-reply to send if ``VacationPolicy`` allows it (RFC 5230).

    ``period`` is in seconds (``:days`` times 86400, or ``:seconds``), already
    clamped to the policy's bounds; ``handle`` is the script's ``:handle`` or the
    implicit one (reason, subject, from and mime, as Pigeonhole builds it), so
    two different vacation texts are tracked apart; ``addresses`` are the
    user's own addresses from ``:addresses`` (RFC 5230 section 4.5).
    """

    reason: str
    handle: str
    period: int
    subject: str | None = None
    from_address: str | None = None
    addresses: tuple[str, ...] = ()
    mime: bool = False


Action = Keep | FileInto | Redirect | Discard | Reject | Vacation


@dataclass(frozen=True, slots=True)
class ScriptError:
    """A script that failed at run time (the implicit keep was applied)."""

    script: str
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class SieveResult:
    actions: tuple[Action, ...]
    errors: tuple[ScriptError, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def kept(self) -> bool:
        """True if the message lands in the default mailbox."""
        return any(isinstance(a, Keep) for a in self.actions)


def _header_name_matches(line: bytes, name: str) -> bool:
    colon = line.find(b":")
    return (
        colon > 0
        and line[:colon].rstrip(b" \t").decode("latin-1").lower() == name.lower()
    )


def apply_header_edits(raw: bytes, edits: tuple[HeaderEdit, ...]) -> bytes:
    """The message with RFC 5293 edits applied to its header block.

    Fields are kept byte for byte (folding included); added fields are written
    ``Name: value`` with CRLF, non-ASCII values encoded as RFC 2047 words.
    """
    if not edits:
        return raw
    # The header ends at the first empty line (RFC 5322 2.1); its line end
    # (CRLF or LF) is the one added fields get.
    cut = mailtext.header_end(raw)
    sep = b"\r\n"
    body: bytes | None
    if cut < 0:
        head, body = raw, None
    else:
        if not raw.endswith(b"\r\n", 0, cut):
            sep = b"\n"
        head, body = raw[: cut - len(sep)], raw[cut:]
    # Group physical lines into fields.
    fields: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    for edit in edits:
        if isinstance(edit, AddHeader):
            value = encode_header_value(edit.value)
            new = f"{edit.name}: {value}".encode() + sep
            if edit.last:
                fields.append(new)
            else:
                fields.insert(0, new)
        else:
            seen = 0
            for k, f in enumerate(fields):
                if _header_name_matches(f, edit.name):
                    seen += 1
                    if seen == edit.occurrence:
                        del fields[k]
                        break
    out = b"".join(fields)
    if fields and not out.endswith(b"\n"):
        out += sep
    return out if body is None else out + sep + body
