"""Where the data folder is, and who may read it.

Where: ``--data-dir``, else ``QUICKSILVER_HOME``, else the per-user data folder
of the platform.

Who: only the user running Quicksilver. The data folder holds Argon2 hashes
(``accounts.sqlite3``), the TLS key, mail, queued messages, logs with addresses
and, where no keyring exists, replayable passwords. So everything the server,
the window and the shell commands create is private -- folders 0700, files
0600 -- whatever the umask they were started with:

- ``use_private_umask()`` sets the process umask to 077 for good at the start of
  both entry points; ``Runtime`` holds it from ``start()`` to ``stop()`` (tests
  and other embedders create a ``Runtime`` directly, and get their own umask
  back when the last one stops). That covers every file any part of the core or
  a library (SQLite's ``-wal``/``-shm``/``-journal``, the log handlers, Maildir
  folders) creates, also in code written later. Files that must be private on
  their own say so too (``0o600`` in ``atomic_write``, ``create_private``).
- ``tighten_top()`` and ``tighten_trees()`` run at start and take group and
  other permissions off what an older version, a looser umask or a restored
  backup left behind (the top before anything opens, the trees in the background).
- A file the person saves through the window (a Thunderbird autoconfig file, a
  log export) is theirs, not the server's: ``write_user_text`` gives it the mode
  their own umask would have (``0644`` under the usual ``022``), so the file can
  be published or shared as they expect.

Windows has no POSIX modes (``chmod`` only toggles read-only); the per-user data
folder there is private through its ACLs, and the tightening pass is skipped.
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

PRIVATE_UMASK = 0o077
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600

# Folders of the data folder that are walked to the bottom at start; other
# entries are tightened only at the top (a data folder pointed at a folder
# holding other things must not cost a walk of all of it).
DATA_TREES = ("mail", "spool", "logs", "tls", "corrupt", "deleted")


class _Umask:
    """The process umask (process state, like the umask itself): the one the
    process had before it went private, and who holds it private."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.user: int | None = None  # before it went private; None: not private
        self.holds = 0  # running ``Runtime``s
        self.for_good = False  # an entry point made it private for the process


_umask = _Umask()


def default_data_dir() -> Path:
    env = os.environ.get("QUICKSILVER_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("Quicksilver", appauthor=False))


def _go_private() -> None:
    previous = os.umask(PRIVATE_UMASK)
    if _umask.user is None:
        _umask.user = previous


def use_private_umask() -> None:
    """From now on this process creates folders 0700 and files 0600."""
    with _umask.lock:
        _go_private()
        _umask.for_good = True


def hold_private_umask() -> None:
    """Private until the matching ``release_private_umask`` (``Runtime``)."""
    with _umask.lock:
        _go_private()
        _umask.holds += 1


def release_private_umask() -> None:
    with _umask.lock:
        _umask.holds = max(0, _umask.holds - 1)
        if _umask.holds or _umask.for_good or _umask.user is None:
            return
        os.umask(_umask.user)
        _umask.user = None


def user_file_mode() -> int:
    """The mode a new file gets under the umask the person started us with."""
    with _umask.lock:
        if _umask.user is not None:
            return 0o666 & ~_umask.user
        current = os.umask(PRIVATE_UMASK)  # not private: read it back
        os.umask(current)
        return 0o666 & ~current


def write_user_text(path: Path, text: str) -> None:
    """Write a file the person chose (an export): a new file gets the mode of
    their own umask, not the server's; an existing file keeps its mode."""
    existed = path.exists()
    path.write_text(text, encoding="utf-8")
    if not existed and os.name != "nt":
        os.chmod(path, user_file_mode())


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (for files a library
    creates, such as SQLite's database: SQLite gives its ``-wal``, ``-shm`` and
    ``-journal`` files the mode of the database file)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


@dataclass
class Tightened:
    """What ``tighten_data_dir`` changed, relative to the data folder."""

    paths: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One log line: how many, and the first few."""
        shown = ", ".join(self.paths[:5]) + (", ..." if len(self.paths) > 5 else "")
        text = (
            f"data folder: {len(self.paths)} entries that group or others could "
            f"read are now private to this user ({shown})"
        )
        if self.failed:
            text += (
                f"; could not change {len(self.failed)}: {', '.join(self.failed[:5])}"
            )
        return text


def tighten_top(data_dir: Path) -> Tightened:
    """Take group and other permissions off the data folder and every entry at
    its top. Once the folder is 0700 nobody else can reach anything below it, so
    this runs before anything is opened; ``tighten_trees`` does the rest.
    Symbolic links are left alone (not followed). Blocking: off the loop."""
    result = Tightened()
    if os.name == "nt" or not data_dir.is_dir():
        return result
    root = data_dir.resolve()  # the folder itself may be a link to it
    _tighten(root, "./", result)
    with os.scandir(root) as top:
        for entry in top:
            if not entry.is_symlink():
                is_dir = entry.is_dir(follow_symlinks=False)
                _tighten(Path(entry.path), entry.name + "/" * is_dir, result)
    return result


def tighten_trees(
    data_dir: Path, result: Tightened, stop: threading.Event | None = None
) -> Tightened:
    """Everything below ``DATA_TREES``, added to ``result``: a mail store can hold
    hundreds of thousands of files (0.35 s per 50,000 here with a warm cache,
    far more after a reboot), so the runtime runs this in the background after
    ``tighten_top`` and sets ``stop`` to end it early."""
    if os.name == "nt" or not data_dir.is_dir():
        return result
    root = data_dir.resolve()
    stack = [
        (root / name, name)
        for name in DATA_TREES
        if (root / name).is_dir() and not (root / name).is_symlink()
    ]
    while stack and not (stop is not None and stop.is_set()):
        folder, rel = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except FileNotFoundError:
            continue
        except OSError:
            result.failed.append(rel + "/")
            continue
        for entry in entries:
            if entry.is_symlink():
                continue
            sub = f"{rel}/{entry.name}"
            is_dir = entry.is_dir(follow_symlinks=False)
            _tighten(Path(entry.path), sub + "/" * is_dir, result)
            if is_dir:
                stack.append((Path(entry.path), sub))
    return result


def _tighten(path: Path, rel: str, result: Tightened) -> None:
    try:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        if mode & 0o077:
            os.chmod(path, mode & ~0o077)
            result.paths.append(rel)
    except FileNotFoundError:  # removed meanwhile (a delivery renamed it)
        pass
    except OSError:
        result.failed.append(rel)
