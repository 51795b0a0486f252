"""IMAP4rev1 command parser (RFC 3501 section 9, formal syntax). Pure: bytes
in, typed command objects (command.py) out; it never touches a socket.

The connection reads one line at a time. ``grammar.literal_request(line)``
tells it whether the line ends in a literal announcement (``{n}``
synchronizing, or ``{n+}`` non-synchronizing, RFC 7888 LITERAL+) and how many
octets to read before the next line; the parser itself never waits for data.
Once a command is complete (its lines and literals joined, with the final
CRLF), ``parse_command`` turns it into one ``command.Command`` or raises
``ParseError``, which the session answers with ``BAD`` (or ``NO`` when the
error carries a response code: a mailbox name that is not modified UTF-7).

One parser function per command, found through ``_PARSERS`` (built once):
each reads its arguments with ``grammar.Reader`` and returns the frozen
command. FETCH attributes become ``fetchitems`` objects here; search keys are
read by searchparse.py.

What it does not do: no state checks (session.py does that), no mailbox
look-ups, no charset conversion of search strings (search.py does that).

Limits (with the grammar's own in grammar.py): ``MAX_ID_FIELDS`` pairs in an
ID command (RFC 2971 3.3 allows 30); search nesting in searchparse.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import command as c
from . import fetchitems as fi
from .grammar import KEYWORD_CHARS, ParseError, Reader
from .searchparse import ESEARCH_RETURNS, SearchKey, search_key
from .sorting import SORT_KEYS, THREAD_ALGORITHMS
from .utf8mode import UTF8_ACCEPT

__all__ = ["ParseError", "fetch_item", "mask_for_log", "parse_command"]

# RFC 5267 ESORT return options
# RFC 5267: ESORT's options, and CONTEXT=SORT's UPDATE, CONTEXT, PARTIAL
ESORT_RETURNS = frozenset(
    {"MIN", "MAX", "ALL", "COUNT", "UPDATE", "CONTEXT", "PARTIAL"}
)
# RFC 2971 3.3: "implementations MUST NOT send more than 30 field-value pairs".
MAX_ID_FIELDS = 30
MAX_CATENATE_PARTS = 100  # parts of one CATENATE (RFC 4469)
STATUS_ITEMS = frozenset(
    {
        "MESSAGES",
        "RECENT",
        "UIDNEXT",
        "UIDVALIDITY",
        "UNSEEN",
        "SIZE",
        "HIGHESTMODSEQ",
        "MAILBOXID",
        "DELETED",  # RFC 9051
    }
)
_BASE64_CHARS = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
)

Parser = Callable[[Reader, str, bool], c.Command]


def parse_command(data: bytes) -> c.Command:
    """Parse one complete command (lines and literals joined, final CRLF)."""
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    r = Reader(data)
    tag = r.tag()
    r.sp()
    name = r.word()
    uid = False
    if name == "UID":  # RFC 3501 6.4.8
        r.sp()
        name = r.word()
        if name not in _UID_COMMANDS:
            raise ParseError(f"UID {name} is not a command")
        uid = True
    parser = _PARSERS.get(name)
    if parser is None:
        raise ParseError(f"unknown command {name}")
    cmd = parser(r, tag, uid)
    r.end()
    return cmd


def _no_args(cls: Callable[[str], c.Command]) -> Parser:
    def parse(r: Reader, tag: str, uid: bool) -> c.Command:
        return cls(tag)

    return parse


# -- any state and not authenticated ----------------------------------------------
def _p_id(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    params: dict[str, str | None] = {}
    if not r.maybe_ci("NIL"):
        r.expect(b"(")
        while not r.maybe(b")"):
            k = r.string()
            r.sp()
            v = r.nstring_or_nil()
            params[k.decode("utf-8", "replace")] = (
                None if v is None else v.decode("utf-8", "replace")
            )
            r.maybe(b" ")
            if len(params) > MAX_ID_FIELDS:
                raise ParseError("too many ID fields")
    return c.Id(tag, tuple(params.items()))


def _p_login(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    user = r.astring()
    r.sp()
    return c.Login(tag, user, r.astring())


def _p_authenticate(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    mechanism = r.atom().upper()
    initial = None
    if r.maybe(b" "):  # RFC 4959 SASL-IR
        initial = r.chars(_BASE64_CHARS)
        if not initial:
            raise ParseError("bad initial response")
    return c.Authenticate(tag, mechanism, initial)


# -- authenticated ----------------------------------------------------------------
def _p_select(r: Reader, tag: str, uid: bool, cls: type[c.Select]) -> c.Command:
    """SELECT/EXAMINE mailbox [(params)]: RFC 4466 2.1 select parameters, of
    which RFC 7162's CONDSTORE and QRESYNC exist here; any other is a syntax
    error, not silently dropped."""
    r.sp()
    mailbox = r.mailbox()
    condstore = False
    qresync = None
    if r.maybe(b" "):
        r.expect(b"(")
        while not r.maybe(b")"):
            word = r.word()
            if word == "CONDSTORE" and not condstore:
                condstore = True
            elif word == "QRESYNC" and qresync is None:
                r.sp()
                qresync = _qresync(r)
            else:
                raise ParseError(f"unknown {cls.name} parameter {word}")
            r.maybe(b" ")
    return cls(tag, mailbox, condstore, qresync)


def _qresync(r: Reader) -> c.Qresync:
    """RFC 7162 3.2.5: (uidvalidity modseq [known-uids [(seqs uids)]])."""
    r.expect(b"(")
    uidvalidity = r.number32()
    if uidvalidity == 0:
        raise ParseError("UIDVALIDITY is never zero")
    r.sp()
    modseq = r.number64()  # 0 (as Dovecot takes it): everything is news
    known = None
    match = None
    if r.maybe(b" "):
        if r.peek() != 0x28:
            known = r.seq_set()
            r.maybe(b" ")
        if r.maybe(b"("):
            seqs = r.seq_set()
            r.sp()
            uids = r.seq_set()
            r.expect(b")")
            match = (seqs, uids)
    r.expect(b")")
    return c.Qresync(uidvalidity, modseq, known, match)


def _p_create(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    mailbox = r.mailbox()
    use = None
    if r.maybe(b" "):  # RFC 6154 5.3 CREATE-SPECIAL-USE
        r.expect(b"(")
        if not r.maybe_ci("USE"):
            raise ParseError("unknown CREATE parameter")
        r.sp()
        use = tuple(r.flag_list())
        r.expect(b")")
    return c.Create(tag, mailbox, use)


def _one_mailbox(cls: Callable[[str, str], c.Command]) -> Parser:
    def parse(r: Reader, tag: str, uid: bool) -> c.Command:
        r.sp()
        return cls(tag, r.mailbox())

    return parse


def _p_rename(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    old = r.mailbox()
    r.sp()
    return c.Rename(tag, old, r.mailbox())


def _p_list(r: Reader, tag: str, uid: bool) -> c.Command:
    """LIST, with the RFC 5258 LIST-EXTENDED forms."""
    r.sp()
    select: list[str] = []
    returns: list[str] = []
    status: tuple[str, ...] = ()
    extended = False
    if r.peek() == 0x28:
        r.expect(b"(")
        extended = True
        while not r.maybe(b")"):
            select.append(r.word())
            r.maybe(b" ")
        r.sp()
    reference = _reference(r)
    r.sp()
    patterns: list[str] = []
    if r.peek() == 0x28:
        r.expect(b"(")
        extended = True
        while True:
            patterns.append(r.list_mailbox())
            if r.maybe(b")"):
                break
            r.sp()
    else:
        patterns.append(r.list_mailbox())
    if r.maybe(b" "):
        if not r.maybe_ci("RETURN"):
            raise ParseError("expected RETURN")
        extended = True
        r.sp()
        r.expect(b"(")
        while not r.maybe(b")"):
            opt = r.word()
            returns.append(opt)
            if opt == "STATUS":  # RFC 5819
                r.sp()
                status = _status_items(r)
            r.maybe(b" ")
    return c.List(
        tag,
        reference,
        tuple(patterns),
        tuple(select),
        tuple(returns),
        status,
        extended,
    )


def _p_lsub(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    reference = _reference(r)
    r.sp()
    return c.Lsub(tag, reference, (r.list_mailbox(),))


def _reference(r: Reader) -> str:
    raw = r.astring() if r.peek() != 0x22 else r.quoted()
    return raw.decode("ascii", "replace")


def _status_items(r: Reader) -> tuple[str, ...]:
    r.expect(b"(")
    items: list[str] = []
    while True:
        item = r.word()
        if item not in STATUS_ITEMS:
            raise ParseError(f"unknown status item {item}")
        items.append(item)
        if r.maybe(b")"):
            return tuple(items)
        r.sp()


def _p_status(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    mailbox = r.mailbox()
    r.sp()
    return c.Status(tag, mailbox, _status_items(r))


def _append_message(r: Reader) -> c.AppendItem:
    flags: list[str] = []
    date = None
    if r.peek() == 0x28:
        flags = r.flag_list()
        r.sp()
    if r.peek() == 0x22:
        date = r.date_time()
        r.sp()
    if r.maybe_ci("UTF8 ("):  # RFC 6855 4: a message with UTF-8 headers
        if not UTF8_ACCEPT.get():
            raise ParseError("UTF8 in APPEND needs ENABLE UTF8=ACCEPT first")
        if r.peek() != 0x7E:
            raise ParseError("UTF8 takes a literal8 (~{n})")
        message = r.literal()
        r.expect(b")")
        return tuple(flags), date, message
    if r.maybe_ci("CATENATE ("):  # RFC 4469: the parts, put together later
        parts: list[c.CatPart] = []
        while True:
            if r.maybe_ci("TEXT "):
                if r.peek() != 0x7B:
                    raise ParseError("CATENATE TEXT takes a literal")
                parts.append(("TEXT", r.literal()))
            elif r.maybe_ci("URL "):
                parts.append(("URL", r.astring()))
            else:
                raise ParseError("CATENATE takes TEXT and URL parts")
            if len(parts) > MAX_CATENATE_PARTS:
                raise ParseError("too many CATENATE parts")
            if r.maybe(b")"):
                return tuple(flags), date, tuple(parts)
            r.sp()
    if r.peek() not in (0x7B, 0x7E):
        raise ParseError("APPEND needs a literal")
    return tuple(flags), date, r.literal()


def _p_append(r: Reader, tag: str, uid: bool) -> c.Command:
    """RFC 3501 6.3.11, and several messages at once (RFC 3502 MULTIAPPEND)."""
    r.sp()
    mailbox = r.mailbox()
    r.sp()
    flags, date, message = _append_message(r)
    more = []
    while r.maybe(b" "):
        more.append(_append_message(r))
    return c.Append(tag, mailbox, flags, date, message, tuple(more))


def _p_compress(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    return c.Compress(tag, r.word())


def _p_getquota(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    return c.GetQuota(tag, r.astring().decode("utf-8", "replace"))


def _p_getquotaroot(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    return c.GetQuotaRoot(tag, r.mailbox())


def _p_setquota(r: Reader, tag: str, uid: bool) -> c.Command:
    """SETQUOTA root (resource limit ...): read whole, then refused."""
    r.sp()
    root = r.astring().decode("utf-8", "replace")
    r.sp()
    r.expect(b"(")
    while not r.maybe(b")"):
        r.word()
        r.sp()
        r.number()
        r.maybe(b" ")
    return c.SetQuota(tag, root)


def _p_enable(r: Reader, tag: str, uid: bool) -> c.Command:
    caps: list[str] = []
    while r.maybe(b" "):
        caps.append(r.atom().upper())
    if not caps:
        raise ParseError("ENABLE needs a capability")
    return c.Enable(tag, tuple(caps))


# -- selected ---------------------------------------------------------------------
def _p_cancelupdate(r: Reader, tag: str, uid: bool) -> c.Command:
    """RFC 5267 4.3.5: CANCELUPDATE "tag" *(SP "tag")."""
    tags: list[str] = []
    while r.maybe(b" "):
        tags.append(r.quoted().decode("ascii", "replace"))
    if not tags:
        raise ParseError("CANCELUPDATE needs a tag")
    return c.CancelUpdate(tag, tuple(tags))


def _p_expunge(r: Reader, tag: str, uid: bool) -> c.Command:
    if uid:  # RFC 4315 2.1 UID EXPUNGE sequence-set
        r.sp()
        return c.Expunge(tag, uid, r.seq_set())
    return c.Expunge(tag, uid)


def _p_store(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    seqset = r.seq_set()
    r.sp()
    unchanged_since = None
    if r.maybe(b"("):  # RFC 4466 store modifiers: RFC 7162 UNCHANGEDSINCE
        if not r.maybe_ci("UNCHANGEDSINCE "):
            raise ParseError(f"unknown STORE modifier {r.word()}")
        unchanged_since = r.number64()
        r.expect(b")")
        r.sp()
    mode = ""
    if r.maybe(b"+"):
        mode = "+"
    elif r.maybe(b"-"):
        mode = "-"
    item = r.word()
    if item not in ("FLAGS", "FLAGS.SILENT"):
        raise ParseError("STORE expects FLAGS, +FLAGS or -FLAGS")
    r.sp()
    if r.peek() == 0x28:
        flags = r.flag_list()
    else:
        flags = [r.flag()]
        while r.maybe(b" "):
            flags.append(r.flag())
    silent = item.endswith(".SILENT")
    return c.Store(tag, uid, seqset, mode, silent, tuple(flags), unchanged_since)


def _p_copy(r: Reader, tag: str, uid: bool, cls: type[c.Copy]) -> c.Command:
    r.sp()
    seqset = r.seq_set()
    r.sp()
    return cls(tag, uid, seqset, r.mailbox())


def _search_program(r: Reader) -> SearchKey:
    keys = [search_key(r)]
    while r.maybe(b" "):
        keys.append(search_key(r))
    return keys[0] if len(keys) == 1 else SearchKey("AND", tuple(keys))


def _p_sort(r: Reader, tag: str, uid: bool) -> c.Command:
    """RFC 5256: SORT (criteria) charset search-program; RFC 5267 ESORT:
    RETURN (options) first."""
    r.sp()
    returns = None
    partial = None
    if r.maybe_ci("RETURN ("):
        returns, partial = _return_options(r, ESORT_RETURNS, "SORT")
        r.sp()
    r.expect(b"(")
    criteria: list[tuple[str, bool]] = []
    while True:
        word = r.word()
        reverse = word == "REVERSE"
        if reverse:
            r.sp()
            word = r.word()
        if word not in SORT_KEYS:
            raise ParseError(f"unknown sort criterion {word}")
        criteria.append((word, reverse))
        if r.maybe(b")"):
            break
        r.sp()
    r.sp()
    charset = r.astring().decode("ascii", "replace").upper()
    r.sp()
    return c.Sort(
        tag, uid, tuple(criteria), charset, _search_program(r), returns, partial
    )


def _p_thread(r: Reader, tag: str, uid: bool) -> c.Command:
    """RFC 5256: THREAD algorithm charset search-program."""
    r.sp()
    algorithm = r.word()
    if algorithm not in THREAD_ALGORITHMS:
        raise ParseError(f"unknown threading algorithm {algorithm}")
    r.sp()
    charset = r.astring().decode("ascii", "replace").upper()
    r.sp()
    return c.Thread(tag, uid, algorithm, charset, _search_program(r))


def _p_search(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    charset = None
    returns = None
    partial = None
    save = r.i
    if r.maybe_ci("RETURN ("):  # RFC 4731 ESEARCH
        returns, partial = _return_options(r, ESEARCH_RETURNS, "SEARCH")
        r.sp()
        save = r.i
    if r.maybe_ci("CHARSET "):
        charset = r.astring().decode("ascii", "replace").upper()
        r.sp()
    else:
        r.i = save
    keys = [search_key(r)]
    while r.maybe(b" "):
        keys.append(search_key(r))
    key = keys[0] if len(keys) == 1 else SearchKey("AND", tuple(keys))
    return c.Search(tag, uid, charset, returns, key, partial)


def _return_options(
    r: Reader, known: frozenset[str], verb: str
) -> tuple[tuple[str, ...], tuple[int, int] | None]:
    """The RETURN options after "RETURN (" (RFC 4731 3.1: an unknown one is
    BAD), and RFC 5267 4.4's PARTIAL range (positive, low to high)."""
    returns: list[str] = []
    partial = None
    while not r.maybe(b")"):
        opt = r.word()
        if opt not in known:
            raise ParseError(f"unknown {verb} return option {opt}")
        if opt == "PARTIAL":
            r.sp()
            low = r.nz_number()
            r.expect(b":")
            high = r.nz_number()
            if max(low, high) > 0xFFFFFFFF:
                raise ParseError("PARTIAL range out of range")
            partial = (min(low, high), max(low, high))
        if opt in returns:
            raise ParseError(f"{opt} given twice")
        returns.append(opt)
        r.maybe(b" ")
    if "PARTIAL" in returns and "ALL" in returns:
        raise ParseError("PARTIAL conflicts with ALL")  # RFC 5267 4.4
    return tuple(returns), partial


# -- FETCH (RFC 3501 6.4.5) -----------------------------------------------------------
_MACROS: dict[str, tuple[fi.FetchItem, ...]] = {
    "ALL": (fi.Flags(), fi.InternalDate(), fi.Rfc822Size(), fi.Envelope()),
    "FAST": (fi.Flags(), fi.InternalDate(), fi.Rfc822Size()),
    "FULL": (fi.Flags(), fi.InternalDate(), fi.Rfc822Size(), fi.Envelope(), fi.Body()),
}
_SIMPLE_ITEMS: dict[str, fi.FetchItem] = {
    "ENVELOPE": fi.Envelope(),
    "FLAGS": fi.Flags(),
    "INTERNALDATE": fi.InternalDate(),
    "SAVEDATE": fi.SaveDate(),
    "RFC822": fi.Rfc822(),
    "RFC822.HEADER": fi.Rfc822Header(),
    "RFC822.SIZE": fi.Rfc822Size(),
    "RFC822.TEXT": fi.Rfc822Text(),
    "BODYSTRUCTURE": fi.BodyStructure(),
    "UID": fi.Uid(),
    "MODSEQ": fi.Modseq(),  # RFC 7162 3.1.4.2
    "EMAILID": fi.EmailId(),  # RFC 8474
    "THREADID": fi.ThreadId(),
}


def _p_fetch(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    seqset = r.seq_set()
    r.sp()
    items: list[fi.FetchItem] = []
    if r.maybe(b"("):
        while True:
            items.append(fetch_item(r))
            if r.maybe(b")"):
                break
            r.sp()
    else:
        save = r.i
        word = r.word()
        if word in _MACROS and r.peek() != 0x5B:
            items = list(_MACROS[word])
        else:
            r.i = save
            items.append(fetch_item(r))
    changedsince = None
    vanished = False
    if r.maybe(b" ("):  # RFC 4466 fetch modifiers: RFC 7162's
        while True:
            word = r.word()
            if word == "CHANGEDSINCE" and changedsince is None:
                r.sp()
                changedsince = r.number64()
            elif word == "VANISHED" and not vanished:
                vanished = True
            else:
                raise ParseError(f"unknown FETCH modifier {word}")
            if r.maybe(b")"):
                break
            r.sp()
        if vanished and changedsince is None:  # RFC 7162 3.2.6
            raise ParseError("VANISHED needs CHANGEDSINCE")
        if vanished and not uid:
            raise ParseError("VANISHED is for UID FETCH only")
    return c.Fetch(tag, uid, seqset, tuple(items), changedsince, vanished)


def fetch_item(r: Reader) -> fi.FetchItem:
    """One fetch-att (RFC 3501 9; BINARY, BINARY.PEEK, BINARY.SIZE: RFC 3516)."""
    word = r.word()
    if word in ("BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"):
        if r.peek() != 0x5B:
            if word == "BODY":
                return fi.Body()
            raise ParseError(f"{word} needs a section")
        section = _section(r, binary=word.startswith("BINARY"))
        partial = None
        if r.maybe(b"<"):
            start = r.number32()
            r.expect(b".")
            count = r.nz_number()
            if count > 0xFFFFFFFF:
                raise ParseError("number out of range")
            r.expect(b">")
            partial = (start, count)
            if word == "BINARY.SIZE":
                raise ParseError("BINARY.SIZE takes no partial")
        peek = word.endswith(".PEEK")
        if word == "BINARY.SIZE":
            return fi.BinarySize(section)
        if word.startswith("BINARY"):
            return fi.Binary(section, peek, partial)
        if section.header_only:
            return fi.HeaderSection(section, peek, partial)
        return fi.BodySection(section, peek, partial)
    item = _SIMPLE_ITEMS.get(word)
    if item is None:
        raise ParseError(f"unknown fetch item {word}")
    return item


def body_section(r: Reader) -> fi.Section:
    """``[section]`` as BODY[...] takes it (IMAP URLs' SECTION, imapurl.py)."""
    return _section(r, binary=False)


def _section(r: Reader, binary: bool) -> fi.Section:
    r.expect(b"[")
    spec = r.chars(KEYWORD_CHARS).decode("ascii").upper()
    parts: list[int] = []
    text = ""
    if spec:
        pieces = spec.split(".")
        k = 0
        while k < len(pieces) and pieces[k].isdigit():
            n = int(pieces[k])
            if n == 0 or pieces[k].startswith("0"):
                raise ParseError("bad section part number")
            parts.append(n)
            k += 1
        text = ".".join(pieces[k:])
        if text not in (
            "",
            "HEADER",
            "HEADER.FIELDS",
            "HEADER.FIELDS.NOT",
            "TEXT",
            "MIME",
        ):
            raise ParseError("bad section")
        if text == "MIME" and not parts:
            raise ParseError("MIME needs a part number")
        if binary and text:
            raise ParseError("BINARY takes part numbers only")
    fields: list[str] = []
    if text.startswith("HEADER.FIELDS"):
        r.sp()
        r.expect(b"(")
        while True:
            raw = r.astring()
            try:
                # field names are case-insensitive; echoed upper-case (Dovecot)
                fields.append(raw.decode("ascii").upper())
            except UnicodeDecodeError:
                raise ParseError("bad header field name") from None
            if r.maybe(b")"):
                break
            r.sp()
    r.expect(b"]")
    return fi.Section(tuple(parts), text, tuple(fields))


# -- the table ------------------------------------------------------------------------
_PARSERS: dict[str, Parser] = {
    "CAPABILITY": _no_args(c.Capability),
    "NOOP": _no_args(c.Noop),
    "LOGOUT": _no_args(c.Logout),
    "ID": _p_id,
    "STARTTLS": _no_args(c.StartTls),
    "AUTHENTICATE": _p_authenticate,
    "LOGIN": _p_login,
    "SELECT": lambda r, tag, uid: _p_select(r, tag, uid, c.Select),
    "EXAMINE": lambda r, tag, uid: _p_select(r, tag, uid, c.Examine),
    "CREATE": _p_create,
    "DELETE": _one_mailbox(c.Delete),
    "RENAME": _p_rename,
    "SUBSCRIBE": _one_mailbox(c.Subscribe),
    "UNSUBSCRIBE": _one_mailbox(c.Unsubscribe),
    "LIST": _p_list,
    "LSUB": _p_lsub,
    "STATUS": _p_status,
    "APPEND": _p_append,
    "NAMESPACE": _no_args(c.Namespace),
    "ENABLE": _p_enable,
    "IDLE": _no_args(c.Idle),
    "CHECK": _no_args(c.Check),
    "CLOSE": _no_args(c.Close),
    "UNSELECT": _no_args(c.Unselect),
    "EXPUNGE": _p_expunge,
    "SEARCH": _p_search,
    "FETCH": _p_fetch,
    "STORE": _p_store,
    "COPY": lambda r, tag, uid: _p_copy(r, tag, uid, c.Copy),
    "MOVE": lambda r, tag, uid: _p_copy(r, tag, uid, c.Move),
    "SORT": _p_sort,
    "GETQUOTA": _p_getquota,
    "COMPRESS": _p_compress,
    "GETQUOTAROOT": _p_getquotaroot,
    "SETQUOTA": _p_setquota,
    "THREAD": _p_thread,
    "CANCELUPDATE": _p_cancelupdate,
}
# RFC 3501 6.4.8 (COPY FETCH STORE SEARCH), RFC 4315 (EXPUNGE), RFC 6851 (MOVE)
_UID_COMMANDS = frozenset(
    {"FETCH", "STORE", "COPY", "MOVE", "SEARCH", "EXPUNGE", "SORT", "THREAD"}
)


_MASK = re.compile(rb"^(\S+\s+(?:LOGIN|AUTHENTICATE)\b)(.*)$", re.I | re.S)


# The most of a command the log shows: only this much is ever read (the rest
# may be a literal of many megabytes; splitting it copied it, 4 ms per 20 MB).
LOG_HEAD = 1024


def mask_for_log(data: bytes) -> str:
    """A command for the log: passwords masked, long data cut."""
    data = data[:LOG_HEAD]
    m = _MASK.match(data)
    if m:
        words = m.group(2).split()
        keep = b" " + words[0] + b" ***" if words else b""
        data = m.group(1) + keep
    first = data.split(b"\r\n", 1)[0][:300]
    return first.decode("utf-8", "replace")
