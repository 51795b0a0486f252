"""The metadata cache is bounded by bytes (issue 10), with LRU eviction."""

from __future__ import annotations

from server.protocols.imap import cache as cache_mod
from server.protocols.imap.cache import MessageMeta, MetaCache, build_meta, entry_size


def meta(size: int, tag: bytes = b"x") -> MessageMeta:
    return MessageMeta(tag, b"()", b"()", tag * size, (("subject", "s"),))


def test_bounded_by_bytes_not_entries() -> None:
    """Entries of a megabyte each (a message with thousands of parts) must
    not pile up to 60,000 of them: the old bound counted entries only."""
    c = MetaCache(max_bytes=16 * 1024 * 1024)
    for uid in range(200):
        c.put(("a", "INBOX", 1, uid), meta(1024 * 1024))
    assert c.bytes <= c.max_bytes
    assert 10 <= len(c) <= 16
    assert c.bytes == sum(entry_size(m) for m, _ in c._data.values())


def test_least_recently_used_goes_first() -> None:
    one = entry_size(meta(1000))
    c = MetaCache(max_bytes=3 * one)
    for uid in (1, 2, 3):
        c.put(("a", "INBOX", 1, uid), meta(1000))
    assert c.get(("a", "INBOX", 1, 1)) is not None  # 1 is now the newest
    c.put(("a", "INBOX", 1, 4), meta(1000))
    assert c.peek(("a", "INBOX", 1, 1)) and not c.peek(("a", "INBOX", 1, 2))
    assert len(c) == 3 and c.bytes == 3 * one
    c.put(("a", "INBOX", 1, 4), meta(1000, b"y"))  # replaced, not counted twice
    assert c.bytes == 3 * one and c.get(("a", "INBOX", 1, 4)).header == b"y"  # type: ignore[union-attr]
    assert (c.hits, c.misses) == (2, 0)


def test_an_entry_too_big_is_not_kept() -> None:
    c = MetaCache()
    c.put(("a", "INBOX", 1, 1), meta(cache_mod.MAX_ENTRY_BYTES))
    assert len(c) == 0 and c.bytes == 0
    assert c.get(("a", "INBOX", 1, 1)) is None and c.misses == 1


def test_size_counts_what_the_entry_holds() -> None:
    raw = b"Subject: hello\r\nFrom: a@b\r\n\r\nbody\r\n"
    m = build_meta(raw)
    assert entry_size(m) >= len(m.header) + len(m.bodystructure) + len(m.envelope)
    assert entry_size(m) < 2000
