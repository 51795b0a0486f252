"""One-click unsubscribe tokens: they name the list and the member, cannot
be made up or moved to another address, and the key is made once."""

from __future__ import annotations

import base64
import os
import stat
import string
import threading
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from server.lists.tokens import (
    KEY_BYTES,
    MAX_TOKEN,
    UnsubscribeTokens,
    load_or_create_key,
)

KEY = b"k" * 32


def test_a_token_names_its_list_and_member() -> None:
    t = UnsubscribeTokens(KEY)
    token = t.make("Team@Example.org", "Alice@Example.net")
    assert t.check(token) == ("team@example.org", "alice@example.net")
    assert all(c.isalnum() or c in "-_." for c in token)  # a URL path segment


def test_another_key_or_a_changed_token_is_refused() -> None:
    token = UnsubscribeTokens(KEY).make("team@example.org", "alice@example.net")
    assert UnsubscribeTokens(b"x" * 32).check(token) is None
    data, mac = token.split(".")
    other = UnsubscribeTokens(KEY).make("team@example.org", "bob@example.net")
    # bob's payload with alice's signature, and the other way round
    assert UnsubscribeTokens(KEY).check(f"{other.split('.')[0]}.{mac}") is None
    assert UnsubscribeTokens(KEY).check(f"{data}.{other.split('.')[1]}") is None
    # the same bytes spelt another way: the last character's unused bits
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    other_end = alphabet[alphabet.index(mac[-1]) ^ 1]  # a bit b64decode ignores
    respelt = f"{data}.{mac[:-1]}{other_end}"
    assert base64.urlsafe_b64decode(respelt.split(".")[1] + "==") == (
        base64.urlsafe_b64decode(mac + "==")
    )
    for bad in (
        "",
        ".",
        data,
        f"{data}.",
        f"{data}.{mac}.x",
        "a" * (MAX_TOKEN + 1),
        f"{data}.{mac}==",
        respelt,
    ):
        assert UnsubscribeTokens(KEY).check(bad) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_checked_without_an_exception(text: str) -> None:
    assert UnsubscribeTokens(KEY).check(text) is None


def test_the_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "lists-unsubscribe.key"
    keys: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: keys.append(load_or_create_key(path)))
        for _ in range(8)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(keys)) == 1 and len(keys[0]) == KEY_BYTES
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key(path) == keys[0]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp left
