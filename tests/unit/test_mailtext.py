"""``server.mailtext``: where the header ends, and line ends.

Line ends are converted a slice at a time, exactly as in one go: the slices
must never cut a CRLF or hide the CR before a LF. The header ends at the first
empty line (RFC 5322 2.1), however the lines end."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server import mailtext
from server.sieve.message import parse_header_block

_BARE_LF = re.compile(rb"(?<!\r)\n")


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"a", b"bb"]), max_size=60),
    st.sampled_from([1, 2, 3, 7]),
)
def test_sliced_conversion_is_exact(pieces: list[bytes], size: int) -> None:
    data = b"".join(pieces)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mailtext, "SLICE", size)
        assert mailtext.to_crlf(data) == _BARE_LF.sub(b"\r\n", data)
        assert mailtext.to_lf(data) == data.replace(b"\r\n", b"\n")
        assert mailtext.crlf_size(data) == len(_BARE_LF.sub(b"\r\n", data))


def test_a_large_message_round_trips() -> None:
    line = b"x" * 76 + b"\r\n"
    data = line * 100_000 + b"no end \r"
    disk = mailtext.to_lf(data)
    assert len(disk) == len(data) - 100_000
    assert mailtext.to_crlf(disk) == data
    assert mailtext.crlf_size(disk) == len(data)


# -- header / body -----------------------------------------------------------------

# (message, where the body starts or -1 when there is no empty line)
EDGES = [
    (b"", -1),  # empty message
    (b"A: 1\r\n", -1),  # header only, no empty line: all header, no body
    (b"A: 1", -1),  # not even a line end
    (b"A: 1\r\n\r\n", 8),  # empty line, empty body
    (b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore", 14),  # the first empty line
    (b"A: 1\nB: 2\n\nbody\n", 11),  # LF only
    (b"A: 1\n\r\nbody", 7),  # LF line, CRLF empty line
    (b"A: 1\r\n\nbody", 7),  # CRLF line, LF empty line
    (b"\r\nA: body", 2),  # starts with the empty line: empty header
    (b"\nA: body", 1),
    (b"A: 1\r\r\nbody", -1),  # a line "A: 1<CR>": a bare CR ends nothing
    (b"A: 1\n\r\rbody", -1),
    (b"A: 1\r\rbody", -1),
    (b"\r\rA: 1\r\n", -1),
]


@pytest.mark.parametrize(("raw", "cut"), EDGES)
def test_header_end_edges(raw: bytes, cut: int) -> None:
    assert mailtext.header_end(raw) == cut
    head, body = mailtext.split_header(raw)
    if cut < 0:
        assert (head, body) == (raw, b"")
    else:
        assert (head, body) == (raw[:cut], raw[cut:])


@pytest.mark.parametrize(("raw", "cut"), EDGES)
def test_sieve_header_parser_agrees(raw: bytes, cut: int) -> None:
    """Sieve reads fields line by line; its body offset is the same cut."""
    assert parse_header_block(raw)[1] == (len(raw) if cut < 0 else cut)


def test_header_end_within_bounds() -> None:
    """A MIME entity is a slice of the message: the search stays inside it."""
    raw = b"X\r\n\r\nA: 1\r\nB: 2\r\n\r\nbody"
    assert mailtext.header_end(raw, 5) == 19
    assert mailtext.header_end(raw, 5, 18) == -1
    assert mailtext.header_end(raw, 5, 5) == -1


_EMPTY_LINE = re.compile(rb"\A\r?\n|\n\r?\n")


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"a", b"bb", b":"]), max_size=40),
    st.sampled_from([1, 2, 3, 7]),
)
def test_header_end_in_slices_is_the_first_empty_line(
    pieces: list[bytes], size: int
) -> None:
    data = b"".join(pieces)
    m = _EMPTY_LINE.search(data)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mailtext, "SLICE", size)
        assert mailtext.header_end(data) == (m.end() if m else -1)
    assert parse_header_block(data)[1] == (m.end() if m else len(data))
