from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.protocols.imap import mutf7


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("INBOX", "INBOX"),
        ("Café", "Caf&AOk-"),
        ("a&b", "a&-b"),
        ("日本語", "&ZeVnLIqe-"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("😀", "&2D3eAA-"),
    ],
)
def test_known_values(text: str, wire: str) -> None:
    assert mutf7.encode(text) == wire
    assert mutf7.decode(wire) == text


@pytest.mark.parametrize("bad", ["&", "&AOk", "&A-", "caf\u00e9", "&AO,-x&-&@@-"])
def test_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        mutf7.decode(bad)


@given(st.text(max_size=40))
def test_roundtrip(text: str) -> None:
    try:
        text.encode("utf-16-be")
    except UnicodeEncodeError:
        return  # lone surrogates cannot be named
    assert mutf7.decode(mutf7.encode(text)) == text


@given(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
)
def test_decode_never_crashes(text: str) -> None:
    try:
        mutf7.decode(text)
    except ValueError:
        pass
