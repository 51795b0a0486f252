"""The text a module greets clients with (Mercury's and hMailServer's
"banner"): the usual one names the product, with the version only when asked
(``show_version``); a module's ``banner`` setting replaces it. Checked like
any setting: printable ASCII on one line, at most ``MAX_BANNER`` characters.
"""

from __future__ import annotations

from importlib import metadata

from server.errors import ValidationError

MAX_BANNER = 200
PRODUCT = "Quicksilver"


def version() -> str:
    try:
        return metadata.version("quicksilver")
    except metadata.PackageNotFoundError:  # run from a source tree
        return ""


# what every greeting ends with while capture mode is on (server/capture.py)
CAPTURE_NOTE = "(capture mode: mail is kept here, never delivered)"


def greeting_text(
    usual: str, banner: str, show_version: bool, capture: bool = False
) -> str:
    """``banner`` if set, else ``usual`` (which starts with the product's
    name) with the version after the name when ``show_version``; in capture
    mode followed by ``CAPTURE_NOTE``, whatever the banner says."""
    text = usual
    if banner:
        text = banner
    else:
        ver = version() if show_version else ""
        if ver and usual.startswith(PRODUCT):
            text = f"{PRODUCT} {ver}{usual[len(PRODUCT) :]}"
    return f"{text} {CAPTURE_NOTE}" if capture else text


def check_banner(key: str, text: str) -> None:
    if len(text) > MAX_BANNER:
        raise ValidationError(f"{key}: at most {MAX_BANNER} characters", field=key)
    if any(not (" " <= ch <= "~") for ch in text):
        raise ValidationError(
            f"{key}: letters, digits and punctuation on one line (ASCII) only",
            field=key,
        )
