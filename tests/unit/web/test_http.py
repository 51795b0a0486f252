"""The web module's HTTP parsing: what a request head must look like, the
limits, and the one-click body forms (RFC 8058 3.2)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.config.schema import WebSettings, validate_section
from server.errors import ValidationError
from server.protocols.web import http
from server.protocols.web.http import HttpError


def head(lines: list[bytes]) -> http.Request:
    method, target, minor = http.parse_request_line(lines[0])
    return http.finish_head(
        method, target, minor, [http.parse_header_line(x) for x in lines[1:]]
    )


def status_of(lines: list[bytes]) -> int:
    with pytest.raises(HttpError) as exc:
        head(lines)
    return exc.value.status


def test_a_plain_request() -> None:
    r = head(
        [
            b"POST /unsubscribe/abc?x=1 HTTP/1.1\r\n",
            b"Host: a\r\n",
            b"Content-Length: 26\r\n",
            b"Content-Type: text/plain\r\n",
        ]
    )
    assert (r.method, r.path, r.content_length) == ("POST", "/unsubscribe/abc", 26)
    assert r.header("content-type") == "text/plain"


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        ([b"GET / HTTP/1.1\r\n"], 400),  # no Host
        ([b"GET / HTTP/1.1\r\n", b"Host: a\r\n", b"Host: b\r\n"], 400),
        ([b"GET http://x/ HTTP/1.1\r\n", b"Host: a\r\n"], 400),  # absolute form
        ([b"GET / HTTP/2.0\r\n", b"Host: a\r\n"], 400),
        ([b"get / HTTP/1.1\r\n", b"Host: a\r\n"], 400),
        ([b"POST / HTTP/1.1\r\n", b"Host: a\r\n"], 411),
        ([b"POST / HTTP/1.1\r\n", b"Host: a\r\n", b"Content-Length: -1\r\n"], 400),
        (
            [
                b"POST / HTTP/1.1\r\n",
                b"Host: a\r\n",
                b"Content-Length: 1\r\n",
                b"Content-Length: 2\r\n",
            ],
            400,
        ),
        (
            [
                b"POST / HTTP/1.1\r\n",
                b"Host: a\r\n",
                b"Content-Length: 99999999999999\r\n",
            ],
            400,
        ),
        ([b"POST / HTTP/1.1\r\n", b"Host: a\r\n", b"Content-Length: 9000\r\n"], 413),
        (
            [b"POST / HTTP/1.1\r\n", b"Host: a\r\n", b"Transfer-Encoding: chunked\r\n"],
            501,
        ),
        ([b"GET / HTTP/1.1\r\n", b"Host: a\r\n", b" folded\r\n"], 400),
        ([b"GET / HTTP/1.1\r\n", b"Host: a\r\n", b"Bad Name: x\r\n"], 400),
        ([b"GET / HTTP/1.1\r\n", b"Host: a\x00b\r\n"], 400),
        ([b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n", b"Host: a\r\n"], 414),
    ],
)
def test_bad_heads_get_their_status(lines: list[bytes], status: int) -> None:
    assert status_of(lines) == status


def test_http_1_0_needs_no_host() -> None:
    assert head([b"GET / HTTP/1.0\r\n"]).minor == 0


def test_responses_close_and_keep_the_token_private() -> None:
    out = http.response(200, b"<p>x</p>")
    head_, _, body = out.partition(b"\r\n\r\n")
    assert head_.startswith(b"HTTP/1.1 200 OK\r\n") and body == b"<p>x</p>"
    for h in (
        b"Connection: close",
        b"Referrer-Policy: no-referrer",
        b"Cache-Control: no-store",
        b"Content-Length: 8",
    ):
        assert h in head_
    assert http.response(404, b"abc", head_only=True).endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("ctype", "body", "ok"),
    [
        ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click", True),
        ("", b"List-Unsubscribe=One-Click", True),
        ("application/x-www-form-urlencoded", b"a=b&List-Unsubscribe=One-Click", True),
        ("application/x-www-form-urlencoded", b"List-Unsubscribe=Two-Clicks", False),
        ("application/x-www-form-urlencoded", b"", False),
        ("application/x-www-form-urlencoded", b"\xff\xfe", False),
        (
            "multipart/form-data; boundary=XX",
            b'--XX\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n'
            b"\r\nOne-Click\r\n--XX--\r\n",
            True,
        ),
        (
            "multipart/form-data; boundary=XX",
            b'--XX\r\nContent-Disposition: form-data; name="Other"\r\n'
            b"\r\nOne-Click\r\n--XX--\r\n",
            False,
        ),
    ],
)
def test_the_one_click_body(ctype: str, body: bytes, ok: bool) -> None:
    assert http.is_one_click(ctype, body) is ok


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.binary(max_size=100), max_size=8))
def test_any_bytes_parse_or_fail_with_a_status(
    line: bytes, fields: list[bytes]
) -> None:
    try:
        head([line, *fields])
    except HttpError as exc:
        assert exc.status in http.REASONS


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100), st.binary(max_size=http.MAX_BODY))
def test_any_body_is_judged_without_an_exception(ctype: str, body: bytes) -> None:
    assert http.is_one_click(ctype, body) in (True, False)


@pytest.mark.parametrize(
    "url",
    [
        "http://a.example",
        "https://",
        "https://a.example/?x=1",
        "https://a b",
        "https://u@a.example",
        "https://a.example:99999",
        "ftp://a",
        "https://a#f",
    ],
)
def test_a_bad_public_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match=r"web\.public_url"):
        validate_section("web", WebSettings(public_url=url))


def test_good_public_urls() -> None:
    for url in ("", "https://lists.example.org", "https://a.example:8443/mail/"):
        validate_section("web", WebSettings(public_url=url))
