"""Capture mode's reading of a captured message (server/capture.py): the
envelope kept on top, the list row, the viewer's parts, attachments."""

from __future__ import annotations

import base64

from server.capture import (
    MAX_PARTS,
    attachment,
    envelope,
    envelope_fields,
    render,
    summarize,
    without_envelope,
)

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
    "hKmMIQAAAABJRU5ErkJggg=="
)

MESSAGE = (
    b"Received: from app (127.0.0.1)\r\n\tby mail.example.test; now\r\n"
    b"From: =?utf-8?q?Caf=C3=A9?= <shop@example.test>\r\n"
    b"To: buyer@anywhere.example\r\n"
    b"Subject: =?utf-8?b?T3JkZXIg4oCTIDQy?=\r\n"
    b"X-Original-To: forged@example.test\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"--outer\r\n"
    b'Content-Type: multipart/related; boundary="rel"\r\n'
    b"\r\n"
    b"--rel\r\n"
    b'Content-Type: multipart/alternative; boundary="alt"\r\n'
    b"\r\n"
    b"--alt\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Your order 42.\r\n"
    b"--alt\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b'<p>Your <b>order</b> 42 <img src="cid:logo@x"></p>\r\n'
    b"--alt--\r\n"
    b"--rel\r\n"
    b"Content-Type: image/png\r\n"
    b"Content-ID: <logo@x>\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + base64.encodebytes(PNG).replace(b"\n", b"\r\n") + b"--rel--\r\n"
    b"--outer\r\n"
    b'Content-Type: application/pdf; name="invoice.pdf"\r\n'
    b'Content-Disposition: attachment; filename="invoice.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    + base64.encodebytes(b"%PDF-1.4 fake").replace(b"\n", b"\r\n")
    + b"--outer--\r\n"
)
CAPTURED = (
    envelope_fields("shop@example.test", ("buyer@anywhere.example", "bcc@x.example"))
    + MESSAGE
)


def test_the_envelope_on_top_is_read_back_and_a_forged_one_is_not() -> None:
    assert envelope(CAPTURED) == (
        "shop@example.test",
        ("buyer@anywhere.example", "bcc@x.example"),
    )
    assert envelope(MESSAGE) == ("", ())  # the message's own X-Original-To
    assert envelope(envelope_fields("", ("a@b.example",)) + MESSAGE)[0] == ""
    assert without_envelope(CAPTURED) == MESSAGE


def test_a_row_decodes_the_header_and_names_the_attachments() -> None:
    row = summarize(7, 1000.0, len(CAPTURED), CAPTURED)
    assert row.uid == 7 and row.size == len(CAPTURED)
    assert row.from_ == "Café <shop@example.test>"
    assert row.to == "buyer@anywhere.example"
    assert row.subject == "Order – 42"
    assert row.recipients == ("buyer@anywhere.example", "bcc@x.example")
    assert row.attachments == ("invoice.pdf",)  # the inline logo is no attachment


def test_the_viewer_gets_text_html_source_attachments_and_inline_images() -> None:
    row = summarize(7, 1000.0, len(CAPTURED), CAPTURED)
    shown = render(row, CAPTURED)
    assert shown.text.strip() == "Your order 42."
    assert "<b>order</b>" in shown.html
    assert shown.header.startswith("Return-Path: <shop@example.test>")
    assert shown.source.endswith("--outer--\r\n") and not shown.truncated
    assert [(a.filename, a.content_type, a.size) for a in shown.attachments] == [
        ("invoice.pdf", "application/pdf", len(b"%PDF-1.4 fake"))
    ]
    assert shown.images == (("logo@x", PNG),)
    got = attachment(CAPTURED, shown.attachments[0].index)
    assert got is not None and got.data == b"%PDF-1.4 fake"
    assert attachment(CAPTURED, 0) is None  # the multipart itself is none


def test_bad_input_is_shown_as_it_is_and_parts_are_bounded() -> None:
    odd = (
        envelope_fields("a@b.example", ("c@d.example",))
        + b"Subject: =?bogus?x?zz?=\r\nContent-Type: text/plain; charset=nonesuch\r\n"
        b"\r\n\xff\xfe body\r\n"
    )
    row = summarize(1, 0.0, len(odd), odd)
    assert row.subject == "=?bogus?x?zz?="
    assert "body" in render(row, odd).text
    many = b"".join(
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="f%d"\r\n\r\nx\r\n' % i
        for i in range(MAX_PARTS + 50)
    )
    big = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + many + b"--b--\r\n"
    assert len(summarize(1, 0.0, len(big), big).attachments) == MAX_PARTS - 1
