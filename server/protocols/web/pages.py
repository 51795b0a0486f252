"""The web module's pages: small, plain HTML with every value escaped. A
page never shows a path, a setting or an error's details."""

from __future__ import annotations

from html import escape

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>body{{font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em;
line-height:1.5}}button{{font-size:1em;padding:.4em 1.2em}}</style>
</head><body>
<h1>{title}</h1>
{body}
</body></html>
"""


def page(title: str, body_html: str) -> bytes:
    return _PAGE.format(title=escape(title), body=body_html).encode("utf-8")


def confirm(list_title: str, list_address: str, member: str) -> bytes:
    """GET of a link: ask (RFC 8058 3.2: a GET must not unsubscribe; link
    checkers and previews fetch links)."""
    return page(
        "Unsubscribe",
        f"<p>Stop sending mail from the list <b>{escape(list_title)}</b> "
        f"({escape(list_address)}) to <b>{escape(member)}</b>?</p>\n"
        '<form method="post">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>',
    )


def done(list_title: str, list_address: str, member: str, removed: bool) -> bytes:
    what = "has been taken off" if removed else "is not on (or was already taken off)"
    return page(
        "Unsubscribed",
        f"<p><b>{escape(member)}</b> {what} the list "
        f"<b>{escape(list_title)}</b> ({escape(list_address)}).</p>\n"
        "<p>To join again, send a mail with the subject <i>subscribe</i> to "
        f"{escape(list_address.replace('@', '-request@', 1))}.</p>",
    )


def error(status: int, text: str) -> bytes:
    return page(
        "Not available" if status == 404 else "Request refused",
        f"<p>{escape(text)}</p>",
    )
