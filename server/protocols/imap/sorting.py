"""SORT and THREAD (RFC 5256), pure: the base subject, the sort keys, and
the ORDEREDSUBJECT and REFERENCES threading algorithms.

Inputs are ``Item`` values made from a message's index data and header
fields; nothing here reads a file. Strings compare with i;unicode-casemap
(approximated by ``str.casefold`` of the NFKD form, as Dovecot's titlecase
folding does for the scripts mail uses). Limits: ``MAX_REFERENCES``
message-ids per References field and ``MAX_DEPTH`` levels of a thread (a
longer chain is cut there, never looped over).
"""

from __future__ import annotations

import email.utils
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import mime

SORT_KEYS = frozenset({"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO"})
THREAD_ALGORITHMS = ("ORDEREDSUBJECT", "REFERENCES")
MAX_REFERENCES = 100
MAX_DEPTH = 500


@dataclass(frozen=True)
class Item:
    seq: int
    uid: int
    internal_date: float
    size: int
    fields: tuple[tuple[str, str], ...]  # (lower-case name, raw value)

    def first(self, name: str) -> str:
        for key, value in self.fields:
            if key == name:
                return value
        return ""


def fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).casefold()


# -- base subject (RFC 5256 2.1) -----------------------------------------------------
_BLOB = r"\[[^\[\]]*\][ \t]*"
_TRAILER = re.compile(r"(?:\(fwd\)|[ \t])+$", re.IGNORECASE)
_LEADER = re.compile(
    rf"^(?:(?:{_BLOB})*(?:re|fwd?)[ \t]*(?:{_BLOB})?:|[ \t]+)", re.IGNORECASE
)
_BLOB_PREFIX = re.compile(rf"^{_BLOB}")
_FWD = re.compile(r"^\[fwd:(.*)\]$", re.IGNORECASE | re.DOTALL)


def base_subject(subject: str) -> str:
    """RFC 5256 2.1: the subject without "Re:", "Fwd:", "[list]" leaders,
    "(fwd)" trailers and a "[fwd: ...]" wrapper, white space made single."""
    return _base(subject)[0]


def _base(subject: str) -> tuple[str, bool]:
    """The base subject, and whether a reply or forward mark was taken off
    (what REFERENCES step 5 calls "a reply or forward")."""
    text = re.sub(r"[ \t\r\n]+", " ", mime.decode_words(subject))
    reply = False
    while True:
        text = _TRAILER.sub("", text)  # (2)
        while True:  # (3), (4), (5)
            before = text
            while m := _LEADER.match(text):
                if m.group(0).strip():
                    reply = True  # an "re:" / "fwd:", not only white space
                text = text[m.end() :]
            m = _BLOB_PREFIX.match(text)
            if m and text[m.end() :].strip():
                text = text[m.end() :]
            if text == before:
                break
        m = _FWD.match(text)  # (6)
        if not m:
            return text, reply
        text = m.group(1)
        reply = True


# -- SORT (RFC 5256 3) ----------------------------------------------------------
def _mailbox(value: str) -> str:
    """addr-mailbox of the first address ("" when none)."""
    for _name, _adl, box, host in mime.parse_addresses(value):
        if box is not None and host is not None:
            return fold(mime.decode_words(box))
    return ""


def sent_time(item: Item) -> float:
    """The Date field in UTC; the internal date when it cannot be read."""
    value = item.first("date")
    if value:
        try:
            parsed = email.utils.parsedate_tz(value)
        except (ValueError, TypeError, IndexError):
            parsed = None
        if parsed is not None:
            try:
                return float(email.utils.mktime_tz(parsed))
            except (ValueError, OverflowError, TypeError):
                pass
    return item.internal_date


def _key(item: Item, criterion: str) -> tuple[float, str]:
    if criterion == "ARRIVAL":
        return (item.internal_date, "")
    if criterion == "DATE":
        return (sent_time(item), "")
    if criterion == "SIZE":
        return (float(item.size), "")
    if criterion == "SUBJECT":
        return (0.0, fold(base_subject(item.first("subject"))))
    return (0.0, _mailbox(item.first(criterion.lower())))


def sort_items(
    items: Sequence[Item], criteria: Sequence[tuple[str, bool]]
) -> list[Item]:
    """``criteria``: (key, reverse) pairs in order; ties keep mailbox order."""
    out = sorted(items, key=_seq_key)
    for criterion, reverse in reversed(criteria):  # stable: last key first

        def by(item: Item, c: str = criterion) -> tuple[float, str]:
            return _key(item, c)

        out.sort(key=by, reverse=reverse)
    return out


def _seq_key(item: Item) -> int:
    return item.seq


# -- THREAD (RFC 5256 4) --------------------------------------------------------
@dataclass
class Node:
    """A thread node: a message (``item``) or a placeholder (None)."""

    item: Item | None = None
    children: list[Node] = field(default_factory=list)
    parent: Node | None = None


def _first_date(node: Node, depth: int = 0) -> float:
    """A node's date: its message's, or its first child's (RFC 5256 REFERENCES 4)."""
    if node.item is not None:
        return sent_time(node.item)
    if node.children and depth < MAX_DEPTH:
        return _first_date(node.children[0], depth + 1)
    return 0.0


def _seq_of(node: Node, depth: int = 0) -> int:
    if node.item is not None:
        return node.item.seq
    if node.children and depth < MAX_DEPTH:
        return _seq_of(node.children[0], depth + 1)
    return 0


def _order(nodes: list[Node]) -> None:
    nodes.sort(key=lambda n: (_first_date(n), _seq_of(n)))


def ordered_subject(items: Sequence[Item]) -> list[Node]:
    """ORDEREDSUBJECT: by base subject, then sent date; each group's first
    message is the parent of the others; groups by their first's date."""
    groups: dict[str, list[Item]] = {}
    for item in sorted(items, key=lambda i: (sent_time(i), i.seq)):
        groups.setdefault(fold(base_subject(item.first("subject"))), []).append(item)
    roots = []
    for members in groups.values():
        root = Node(members[0])
        root.children = [Node(m, parent=root) for m in members[1:]]
        roots.append(root)
    _order(roots)
    return roots


_MSGID = re.compile(r"<[^<>\s]+>")


def _ids(value: str) -> list[str]:
    return _MSGID.findall(value)[-MAX_REFERENCES:]


def _is_ancestor(node: Node, of: Node) -> bool:
    """Is ``node`` ``of`` itself or above it?"""
    walk: Node | None = of
    for _ in range(MAX_DEPTH * 4):
        if walk is None:
            return False
        if walk is node:
            return True
        walk = walk.parent
    return True  # too deep to tell: treat as a loop, do not link


def _link(parent: Node, child: Node) -> None:
    if child.parent is not None or _is_ancestor(child, parent):
        return
    child.parent = parent
    parent.children.append(child)


def _unlink(child: Node) -> None:
    if child.parent is not None:
        child.parent.children.remove(child)
        child.parent = None


def references(items: Sequence[Item]) -> list[Node]:
    """REFERENCES (RFC 5256 4, after Zawinski): messages linked by
    Message-ID, References and In-Reply-To; empty placeholders pruned;
    roots with the same base subject gathered; ordered by sent date."""
    table: dict[str, Node] = {}
    for item in sorted(items, key=lambda i: i.seq):
        own = _ids(item.first("message-id"))
        mid = own[0] if own else f"<quicksilver-uid-{item.uid}>"
        node = table.get(mid)
        if node is None or node.item is not None:
            if node is not None:  # a duplicate Message-ID: a unique one
                mid = f"<quicksilver-uid-{item.uid}>"
            node = table[mid] = Node()
        node.item = item
        refs = _ids(item.first("references"))
        if not refs:
            refs = _ids(item.first("in-reply-to"))[:1]
        prev: Node | None = None
        for ref in refs:  # (1B): link the references in a chain
            ref_node = table.setdefault(ref, Node())
            if prev is not None and ref_node.parent is None:
                _link(prev, ref_node)
            prev = ref_node
        # (1C): the message's parent is the last reference (none without)
        if prev is None or not _is_ancestor(node, prev):
            _unlink(node)
            if prev is not None:
                _link(prev, node)
    roots = [n for n in table.values() if n.parent is None]
    roots = _prune(roots)
    roots = _gather_subjects(roots)
    _sort_tree(roots)
    return roots


def _prune(nodes: list[Node], depth: int = 0) -> list[Node]:
    """(3): placeholders without children go; a placeholder's children take
    its place (at the top only when it has a single child)."""
    out: list[Node] = []
    for node in nodes:
        if depth < MAX_DEPTH:
            node.children = _prune(node.children, depth + 1)
            for child in node.children:
                child.parent = node
        if node.item is None and not node.children:
            continue
        if node.item is None and (depth > 0 or len(node.children) == 1):
            for child in node.children:
                child.parent = None
            out.extend(node.children)
            continue
        out.append(node)
    return out


def _subject_of(node: Node) -> str:
    if node.item is not None:
        return node.item.first("subject")
    if node.children and node.children[0].item is not None:
        return node.children[0].item.first("subject")
    return ""


def _is_reply(subject: str) -> bool:
    return _base(subject)[1]


def _gather_subjects(roots: list[Node]) -> list[Node]:
    """(5): roots with the same base subject become one thread."""
    _order(roots)
    by_subject: dict[str, Node] = {}
    for root in roots:
        subject = fold(base_subject(_subject_of(root)))
        if not subject:
            continue
        old = by_subject.get(subject)
        if old is None or (
            (old.item is not None and root.item is None)
            or (_is_reply(_subject_of(old)) and not _is_reply(_subject_of(root)))
        ):
            by_subject[subject] = root
    out: list[Node] = []
    for root in roots:
        subject = fold(base_subject(_subject_of(root)))
        keeper = by_subject.get(subject) if subject else None
        if keeper is None or keeper is root:
            out.append(root)
            continue
        if keeper.item is None and root.item is None:
            for child in root.children:
                child.parent = keeper
            keeper.children.extend(root.children)
        elif keeper.item is None or (
            _is_reply(_subject_of(root)) and not _is_reply(_subject_of(keeper))
        ):
            root.parent = keeper
            keeper.children.append(root)
        else:
            holder = Node()
            for n in (keeper, root):
                n.parent = holder
                holder.children.append(n)
            out[out.index(keeper)] = holder
            by_subject[subject] = holder
    return out


def _sort_tree(nodes: list[Node], depth: int = 0) -> None:
    _order(nodes)
    if depth < MAX_DEPTH:
        for node in nodes:
            _sort_tree(node.children, depth + 1)


def render(roots: list[Node], by_uid: bool) -> str:
    """The THREAD response's data: "(a b (c)(d))" per RFC 5256 4."""

    def number(node: Node) -> str:
        assert node.item is not None
        return str(node.item.uid if by_uid else node.item.seq)

    def thread(node: Node, depth: int = 0) -> str:
        head: list[str] = []
        walk = node
        while depth < MAX_DEPTH:  # a chain of single children: "a b c"
            if walk.item is not None:
                head.append(number(walk))
            if len(walk.children) != 1:
                break
            walk = walk.children[0]
            depth += 1
        text = " ".join(head)
        if len(walk.children) > 1 and depth < MAX_DEPTH:
            subs = "".join(thread(c, depth + 1) for c in walk.children)
            text = f"{text} {subs}" if text else subs
        return f"({text})"

    return "".join(thread(root) for root in roots)
