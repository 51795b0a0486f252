"""Validation of domains, local parts and addresses (pure functions).

Names become folder names under the data folder, so these checks are also the
first line against path escapes: no ``/``, ``\\``, ``..``, NUL or control
characters ever pass, nor Windows device names (``nul``, ``con``) as user
names. Domains are stored in their IDNA (ASCII) form.
"""

from __future__ import annotations

import functools
import re

from server.errors import ValidationError
from server.storage.names import WINDOWS_DEVICE_NAMES

# RFC 5321 4.5.3.1: local part up to 64 octets, domain up to 255.
MAX_LOCAL = 64
MAX_DOMAIN = 253
_LOCAL_RE = re.compile(r"^[a-z0-9!#$&'*+=?^_`{|}~-]+(\.[a-z0-9!#$&'*+=?^_`{|}~-]+)*$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@functools.lru_cache(maxsize=4096)  # pure; every RCPT asks (IDNA is slow)
def normalize_domain(name: str) -> str:
    """Return the lower-case IDNA form of a domain or raise ValidationError."""
    raw = name.strip().rstrip(".") if name else ""
    if not raw:
        raise ValidationError("The domain is empty.", field="domain")
    if any(ord(c) < 0x21 or c in "/\\@%!:[]\"'" or ord(c) == 0x7F for c in raw):
        raise ValidationError(
            f"The domain {raw!r} contains characters a domain cannot have.",
            field="domain",
        )
    try:
        ascii_name = raw.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValidationError(
            f"The domain {raw!r} is not a valid name.", field="domain"
        ) from None
    if len(ascii_name) > MAX_DOMAIN:
        raise ValidationError("The domain is too long.", field="domain")
    labels = ascii_name.split(".")
    if labels[0] in WINDOWS_DEVICE_NAMES:
        raise ValidationError(
            f"The domain {raw!r} starts with a device name on Windows (CON, NUL, "
            "COM1...); it cannot be a folder name.",
            field="domain",
        )
    if len(labels) < 1 or not all(_LABEL_RE.match(lbl) for lbl in labels):
        raise ValidationError(
            f"The domain {raw!r} is not a valid name (letters, digits, hyphens and "
            "dots).",
            field="domain",
        )
    return ascii_name


def display_domain(ascii_name: str) -> str:
    try:
        return ascii_name.encode("ascii").decode("idna")
    except UnicodeError:
        return ascii_name


def normalize_local(local: str) -> str:
    loc = local.strip().lower()
    if not loc:
        raise ValidationError("The user name is empty.", field="address")
    if len(loc.encode("utf-8")) > MAX_LOCAL:
        raise ValidationError(
            "The user name is longer than 64 characters.", field="address"
        )
    if loc.split(".", 1)[0] in WINDOWS_DEVICE_NAMES:
        raise ValidationError(
            f"The user name {local!r} is a device name on Windows (CON, NUL, COM1...);"
            " choose another.",
            field="address",
        )
    if not _LOCAL_RE.match(loc):
        raise ValidationError(
            f"The user name {local!r} may only contain letters, digits and "
            ". ! # $ & ' * + = ? ^ _ ` { | } ~ -, and cannot start or end with a dot.",
            field="address",
        )
    return loc


@functools.lru_cache(maxsize=4096)
def split_address(address: str) -> tuple[str, str]:
    """Split and normalise ``local@domain``; raise ValidationError when bad."""
    if not address or address.count("@") != 1:
        raise ValidationError(
            f"{address!r} is not an address of the form name@domain.", field="address"
        )
    local, domain = address.strip().rsplit("@", 1)
    return normalize_local(local), normalize_domain(domain)


def normalize_address(address: str) -> str:
    local, domain = split_address(address)
    return f"{local}@{domain}"


def check_password(password: str) -> None:
    if not password:
        raise ValidationError("The password is empty.", field="password")
    if len(password) > 1024:
        raise ValidationError("The password is too long.", field="password")
    if any(c in password for c in "\x00\r\n"):
        raise ValidationError(
            "The password cannot contain line breaks or NUL.", field="password"
        )
