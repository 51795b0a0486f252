"""LIST / LSUB patterns and LIST-EXTENDED CHILDINFO (RFC 3501 6.3.8, RFC 5258)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.integration.imap.harness import Client, ImapTestServer


@pytest.fixture
def client(imap_server: ImapTestServer) -> Iterator[Client]:
    c = Client(imap_server.port)
    c.login()
    yield c
    c.close()


def test_many_stars_on_a_long_name_answer_at_once(client: Client) -> None:
    """Reproduces issue 10: after CREATE of a 250-character name,
    ``LIST "" "*****x"`` held the server for 6.6 s (the pattern became a
    backtracking regex, x50 per extra star). 20 stars now answer in
    milliseconds, with the right (empty) result, and the name is still found."""
    name = "a" * 250
    assert client.command("c", f"CREATE {name}")[-1].startswith(b"c OK")
    started = time.perf_counter()
    r = client.command("l", 'LIST "" "' + "*" * 20 + 'x"')
    assert time.perf_counter() - started < 0.5
    assert r == [b"l OK LIST completed\r\n"]
    r = client.command("m", 'LIST "" "' + "*%" * 20 + 'a"')
    assert r[0] == b'* LIST (\\HasNoChildren) "/" ' + name.encode() + b"\r\n"


def _subscribe_all(client: Client, boxes: dict[str, bool]) -> None:
    for i, (name, subscribed) in enumerate(boxes.items()):
        assert client.command(f"c{i}", f"CREATE {name}")[-1].startswith(b"c")
        if subscribed:
            r = client.command(f"s{i}", f"SUBSCRIBE {name}")
            assert r[-1].startswith(f"s{i} OK".encode())


def test_childinfo_only_for_subscribed_children_the_pattern_hides(
    client: Client,
) -> None:
    """RFC 5258 3.5 and its example 10: a mailbox is listed with CHILDINFO
    only for a subscribed descendant that does not itself match the pattern
    (Foo2 for Foo2/Bar1, Eps2 for Eps2/Mamba). Baz2, whose subscribed children
    all match "*2" and are listed themselves, is not listed; nor is Qux2.
    The old code gave every parent of a subscribed mailbox CHILDINFO."""
    _subscribe_all(
        client,
        {
            "Foo2": False,
            "Foo2/Bar1": True,
            "Foo2/Bar2": True,
            "Baz2": False,
            "Baz2/Bar2": True,
            "Baz2/Bar22": True,
            "Baz2/Bar222": True,
            "Eps2": True,
            "Eps2/Mamba": True,
            "Qux2/Bar2": True,
        },
    )
    r = client.command("l", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "*2"')
    assert r[-1] == b"l OK LIST completed\r\n"
    assert r[:-1] == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" Baz2/Bar2\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" Baz2/Bar22\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" Baz2/Bar222\r\n',
        b'* LIST (\\HasChildren \\Subscribed) "/" Eps2'
        b' ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        b'* LIST (\\HasChildren) "/" Foo2 ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" Foo2/Bar2\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" Qux2/Bar2\r\n',
    ]


def test_childinfo_star_and_percent(client: Client) -> None:
    """RFC 5258 5, example 8: with "*" the subscribed Foo/Bar matches and is
    listed itself, so Foo is not listed; with "%" Foo carries CHILDINFO."""
    _subscribe_all(client, {"Foo": False, "Foo/Bar": True, "Foo/Baz": False})
    _subscribe_all(client, {"Moo": True})
    r = client.command("a", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "*"')
    assert [x for x in r if b"Foo" in x or b"Moo" in x] == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" Foo/Bar\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" Moo\r\n',
    ]
    r = client.command("b", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    assert [x for x in r if b"Foo" in x or b"Moo" in x] == [
        b'* LIST (\\HasChildren) "/" Foo ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" Moo\r\n',
    ]
    r = client.command("c", 'LIST (SUBSCRIBED) "" "%"')
    assert not any(b"Foo" in x for x in r)  # no CHILDINFO without RECURSIVEMATCH


def test_many_folders_have_children_and_wildcards(client: Client) -> None:
    """\\HasChildren is decided for every listed folder from one pass over the
    names (it was a scan of all folders per folder)."""
    for i in range(30):
        client.send(f"c{i} CREATE top{i % 3}/sub{i}\r\n")
    for i in range(30):
        assert client.until(f"c{i}")[-1].startswith(f"c{i} OK".encode())
    r = client.command("l", 'LIST "" "top%"')
    assert r[:-1] == [
        b'* LIST (\\HasChildren) "/" top0\r\n',
        b'* LIST (\\HasChildren) "/" top1\r\n',
        b'* LIST (\\HasChildren) "/" top2\r\n',
    ]
    r = client.command("m", 'LIST "" "top1/*1%"')
    assert r[:-1] == [
        b'* LIST (\\HasNoChildren) "/" top1/sub%d\r\n' % i for i in (1, 10, 13, 16, 19)
    ]
