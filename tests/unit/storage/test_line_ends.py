"""Line-end conversion (storage/names.py) a slice at a time, exactly as in
one go: the slices must never cut a CRLF or hide the CR before a LF."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.storage import names

_BARE_LF = re.compile(rb"(?<!\r)\n")


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"a", b"bb"]), max_size=60),
    st.sampled_from([1, 2, 3, 7]),
)
def test_sliced_conversion_is_exact(pieces: list[bytes], size: int) -> None:
    data = b"".join(pieces)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(names, "LINE_END_SLICE", size)
        assert names.to_crlf(data) == _BARE_LF.sub(b"\r\n", data)
        assert names.to_lf(data) == data.replace(b"\r\n", b"\n")
        assert names.crlf_size(data) == len(_BARE_LF.sub(b"\r\n", data))


def test_a_large_message_round_trips() -> None:
    line = b"x" * 76 + b"\r\n"
    data = line * 100_000 + b"no end \r"
    disk = names.to_lf(data)
    assert len(disk) == len(data) - 100_000
    assert names.to_crlf(disk) == data
    assert names.crlf_size(disk) == len(data)
