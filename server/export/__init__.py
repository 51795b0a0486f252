"""Export to Postfix + Dovecot: when an office outgrows one machine.

``export_postfix_dovecot(data_dir, out)`` reads the data folder
(``collect.py``, read-only, fine while the server runs), makes the
configuration tree (``render.py``, pure) and writes it into ``out``, which
must be empty or new and outside the data folder. The mail itself stays
where it is: Dovecot is pointed at the same Maildir++ folders (or, when
asked, at a copy in ``out/mail``).

Errors: ``ValidationError`` for what the person can fix (a folder that is
not empty, inside the data folder, an unknown mail user); the files are
written fresh, never over anything.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from server.errors import ValidationError

from .collect import collect
from .render import Item, render

__all__ = ["ExportResult", "export_postfix_dovecot"]

# directories Dovecot looks in even when empty
_DIRS = (
    "dovecot/control",
    "dovecot/index",
    "dovecot/home",
    "dovecot/sieve",
    "dovecot/sieve-before",
    "dovecot/sieve-after",
)


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    files: int
    carried: tuple[str, ...]
    missing: tuple[str, ...]


def _owner(data_dir: Path, mail_user: str | None) -> tuple[int, int]:
    if mail_user:
        try:
            pw = pwd.getpwnam(mail_user)
        except KeyError:
            raise ValidationError(
                f"There is no user {mail_user!r} on this machine.", field="mail_user"
            ) from None
        return pw.pw_uid, pw.pw_gid
    st = data_dir.stat()
    return st.st_uid, st.st_gid


def _check_target(data_dir: Path, out: Path) -> Path:
    out = out.expanduser().absolute()
    data = data_dir.resolve()
    real = out.resolve()
    if real == data or data in real.parents:
        raise ValidationError(
            "Choose a folder outside the data folder: the export never writes into it.",
            field="folder",
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValidationError(
            "Choose a new or empty folder: the export does not write over files.",
            field="folder",
        )
    return out


def _mkdir(path: Path) -> None:
    """A folder the servers' users can enter (0755; secrets are files of
    their own mode), with its parents."""
    if not path.is_dir():
        _mkdir(path.parent)
        path.mkdir()
        os.chmod(path, 0o755)


def _write(out: Path, rel: str, item: Item) -> None:
    path = out / rel
    if item.link:
        os.symlink(item.link, path)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, item.mode)
    try:
        view = memoryview(item.data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.chmod(path, item.mode)  # not narrowed by the umask


def _copy_mail(src: Path, dst: Path) -> int:
    """The Maildirs, copied (``copy_mail``); the number of messages. Files
    other programs rename meanwhile may be missed: stop the server first for
    an exact copy (README says so)."""
    count = 0

    def ignore(folder: str, entries: list[str]) -> set[str]:
        nonlocal count
        if Path(folder).name in ("new", "cur"):
            count += len(entries)
        return set(entries) if Path(folder).name == "tmp" else set()

    shutil.copytree(src, dst, symlinks=True, ignore=ignore, dirs_exist_ok=False)
    return count


def export_postfix_dovecot(
    data_dir: Path,
    out: Path,
    *,
    mail_user: str | None = None,
    relay_password: bool = False,
    copy_mail: bool = False,
) -> ExportResult:
    """Write the Postfix + Dovecot tree for ``data_dir`` into ``out``
    (module docstring); ``copy_mail``: with a copy of the mail in
    ``out/mail`` for Dovecot, instead of the data folder's own. Blocking
    (files): callers use a worker thread."""
    out = _check_target(data_dir, out)
    uid, gid = _owner(data_dir, mail_user)
    model = collect(data_dir, relay_password=relay_password)
    if copy_mail:
        _mkdir(out)
        copied = _copy_mail(data_dir / "mail", out / "mail")
        model = dataclasses.replace(
            model,
            mail_dir=out / "mail",
            copied=copied,
            notes=(
                *model.notes,
                "mail the server received after the copy is not in mail/ "
                "(stop it first and export again for an exact copy)",
            ),
        )
    if uid == 0:
        note = (
            "the mail is owned by root, which Dovecot refuses as a mail user: "
            "chown it to a mail user and export again with --mail-user"
        )
        model = dataclasses.replace(model, notes=(*model.notes, note))
    files, carried, missing = render(model, out, uid, gid)
    for rel in ("", *_DIRS, *{str(Path(r).parent) for r in files}):
        _mkdir(out / rel)
    for rel, item in sorted(files.items()):
        _write(out, rel, item)
    return ExportResult(out, len(files), tuple(carried), tuple(missing))
