"""Dialog field checks (no Qt): each returns '' or a message for the person.

They wrap the core's own validators (``server.accounts.validate``) so the
window never accepts what the core would refuse, and add plain prompts for
empty fields.
"""

from __future__ import annotations

from server.accounts.validate import check_password, normalize_domain, normalize_local
from server.errors import ValidationError


def domain_problem(name: str, what: str = "domain") -> str:
    """'' if ``name`` is a usable domain or host name (IDN allowed), else why not."""
    if not name.strip():
        return "Enter the mail domain." if what == "domain" else f"Enter the {what}."
    try:
        normalize_domain(name)
    except ValidationError as exc:
        return str(exc).replace("The domain", f"The {what}", 1)
    return ""


def local_part_problem(local: str) -> str:
    """'' if ``local`` is a valid mailbox name (the part before @)."""
    if not local.strip():
        return "Enter the mailbox name (the part before @)."
    try:
        normalize_local(local)
    except ValidationError as exc:
        return str(exc)
    return ""


def password_problem(password: str) -> str:
    try:
        check_password(password)
    except ValidationError as exc:
        return str(exc)
    return ""
