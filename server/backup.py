"""Back up a data folder while the server runs, and restore it.

``backup(data_dir, dest)`` writes one ``.tar.gz``: a snapshot that never holds
a half-written message and loses no mail acknowledged before it started.
- SQLite databases are copied with SQLite's online backup (a consistent
  state, whatever the server writes meanwhile); their ``-wal``/``-shm`` files
  are not needed.
- The spool goes first, then the mail. A job the queue finishes during the
  backup is either still in the spool when its files are read, or already in
  its mailbox when the mail is read (delivery completes before the spool
  files go), so it is in the archive at least once; a message caught in both
  is delivered once after a restore (deliveries are idempotent by job).
- Maildir: a folder's index is read before its messages, so a message that
  arrives meanwhile only gets its UID again at the first start. Files in
  ``tmp/`` (writes in progress) are never taken; a message renamed while
  being read (its flags changed) is looked up again by its unique name.
- Skipped: ``logs/``, ``requests/``, lock files, ``tmp/`` folders.
- The archive holds what the data folder holds, private keys and stored
  passwords (``secrets.json``) too: it is created readable by its owner only
  (0600), and belongs somewhere as private.
- A manifest (``MANIFEST``, the last member) lists every file with its size
  and SHA-256. The archive is written next to ``dest`` and renamed into place
  once complete and fsynced.

``restore(archive, target)`` checks the archive first (every member a plain
file with a safe relative name, every size and digest as the manifest says),
unpacks it beside ``target`` and only then moves it into place; an existing
folder there is moved aside (``<target>.before-restore-<time>``), never
deleted. Restore into a folder no server runs on.

Limits: ``MAX_MEMBERS`` files and ``MAX_BYTES`` in total per archive when
restoring (a bad archive cannot fill the disk through us).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from server import fsutil
from server.config.schema import BackupSettings
from server.errors import ValidationError

log = logging.getLogger("quicksilver.core")

FORMAT = 1
MANIFEST = "quicksilver-backup.json"
ROOT = "data"  # the members' top folder in the archive
SKIP_DIRS = frozenset({"logs", "tmp", "requests"})
SKIP_SUFFIXES = (".lock", "-wal", "-shm", "-journal", ".part")
MAX_MEMBERS = 5_000_000
MAX_BYTES = 1 << 40  # 1 TiB
_INDEX_FILES = (
    "quicksilver-uidlist",
    "quicksilver-keywords",
    "quicksilver-meta",
    "maildirfolder",
)


@dataclass(frozen=True)
class BackupResult:
    path: Path
    files: int
    bytes: int
    messages: int


@dataclass(frozen=True)
class RestoreResult:
    target: Path
    files: int
    moved_aside: Path | None


class _Writer:
    """Adds members to the archive and keeps the manifest."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.files: dict[str, dict[str, object]] = {}
        self.bytes = 0
        self.messages = 0
        self.maildirs: list[str] = []  # every Maildir folder, empty ones too

    def add(self, rel: str, data: bytes, mtime: float | None = None) -> None:
        if rel in self.files:
            return
        info = tarfile.TarInfo(f"{ROOT}/{rel}")
        info.size = len(data)
        info.mode = 0o600
        # a message's file time is its IMAP internal date: kept
        info.mtime = int(time.time() if mtime is None else mtime)
        self.tar.addfile(info, io.BytesIO(data))
        self.files[rel] = {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        self.bytes += len(data)


def backup(data_dir: Path, dest: Path) -> BackupResult:
    """Write a consistent archive of ``data_dir`` to ``dest`` (see above)."""
    data_dir = data_dir.resolve()
    if not (data_dir / "settings.toml").is_file():
        raise ValidationError(f"{data_dir} is not a Quicksilver data folder")
    dest = dest.resolve()
    if dest.is_relative_to(data_dir):
        raise ValidationError("put the backup outside the data folder")
    part = dest.with_name(dest.name + ".part")
    try:
        fd = os.open(
            part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | fsutil.O_BINARY, 0o600
        )
        os.close(fd)  # made private before a byte goes in, whatever the umask
        w = _write(data_dir, part)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    fd = fsutil.open_for_fsync(part)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, dest)
    fsutil.fsync_dir(dest.parent)
    log.info("backup of %s written to %s (%d files)", data_dir, dest, len(w.files))
    return BackupResult(dest, len(w.files), w.bytes, w.messages)


def _write(data_dir: Path, part: Path) -> _Writer:
    with open(part, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        w = _Writer(tar)
        done: set[str] = set()
        for db in sorted(data_dir.glob("*.sqlite3")):
            w.add(db.name, _sqlite_copy(db))
            done.add(db.name)
        _add_spool(w, data_dir, done)
        _add_mail(w, data_dir, done)
        for path in _other_files(data_dir, done):
            with contextlib.suppress(FileNotFoundError):
                w.add(path.relative_to(data_dir).as_posix(), *_read(path))
        manifest = {
            "format": FORMAT,
            "created": time.time(),
            "source": str(data_dir),
            "messages": w.messages,
            "maildirs": w.maildirs,
            "files": w.files,
        }
        info = tarfile.TarInfo(MANIFEST)
        body = json.dumps(manifest, indent=1).encode()
        info.size, info.mode, info.mtime = len(body), 0o600, int(time.time())
        tar.addfile(info, io.BytesIO(body))
    return w


def _read(path: Path) -> tuple[bytes, float]:
    """A file's bytes and modification time."""
    with open(path, "rb") as f:
        return f.read(), os.fstat(f.fileno()).st_mtime


def _sqlite_copy(db: Path) -> bytes:
    """A consistent copy of a database another process may be writing."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy.sqlite3"
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(copy)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        return copy.read_bytes()


def _add_spool(w: _Writer, data_dir: Path, done: set[str]) -> None:
    spool = data_dir / "spool"
    done.add("spool")
    if not spool.is_dir():
        return
    for name in sorted(os.listdir(spool)):
        if not name.endswith(".json") or name.startswith("."):
            continue
        job = name[:-5]
        try:
            envelope = _read(spool / name)
            message = _read(spool / f"{job}.msg")
        except FileNotFoundError:
            continue  # finished meanwhile: its mail is in the mailboxes
        w.add(f"spool/{job}.msg", *message)
        w.add(f"spool/{name}", *envelope)


def _maildirs(root: Path) -> Iterator[Path]:
    """Every Maildir folder under ``root`` (a folder with ``cur/``)."""
    for here, dirs, _files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("cur", "new", "tmp"))
        if os.path.isdir(os.path.join(here, "cur")):
            yield Path(here)


def _add_mail(w: _Writer, data_dir: Path, done: set[str]) -> None:
    mail = data_dir / "mail"
    done.add("mail")
    if not mail.is_dir():
        return
    for folder in _maildirs(mail):
        rel = folder.relative_to(data_dir).as_posix()
        w.maildirs.append(rel)
        for name in _INDEX_FILES:  # the index first: then the messages
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                w.add(f"{rel}/{name}", *_read(folder / name))
        for sub in ("new", "cur"):
            for name in sorted(os.listdir(folder / sub)):
                found = _read_message(folder, sub, name)
                if found is not None:
                    w.add(f"{rel}/{found[0]}", *found[1])
                    w.messages += 1
    for path in sorted(mail.rglob("*")):  # per-user files and the rest
        parts = path.relative_to(mail).parts
        if not path.is_file() or {"cur", "new", "tmp"} & set(parts):
            continue
        with contextlib.suppress(FileNotFoundError):
            w.add(path.relative_to(data_dir).as_posix(), *_read(path))


def _read_message(
    folder: Path, sub: str, name: str
) -> tuple[str, tuple[bytes, float]] | None:
    """A message file, looked up again by its unique name if it was renamed
    (flags changed, new/ -> cur/) meanwhile; None if it is gone (expunged)."""
    try:
        return f"{sub}/{name}", _read(folder / sub / name)
    except FileNotFoundError:
        pass
    unique = name.split(":", 1)[0].split(";", 1)[0]
    for again in ("cur", "new"):
        with contextlib.suppress(FileNotFoundError):
            for other in os.listdir(folder / again):
                if other.split(":", 1)[0].split(";", 1)[0] == unique:
                    with contextlib.suppress(FileNotFoundError):
                        return f"{again}/{other}", _read(folder / again / other)
    return None


def _other_files(data_dir: Path, done: set[str]) -> Iterator[Path]:
    for here, dirs, files in os.walk(data_dir):
        rel = Path(here).relative_to(data_dir)
        if rel == Path("."):
            dirs[:] = sorted(d for d in dirs if d not in done and d not in SKIP_DIRS)
        else:
            dirs[:] = sorted(d for d in dirs if d != "tmp")
        for name in sorted(files):
            if rel == Path(".") and name in done:
                continue
            if name.endswith(SKIP_SUFFIXES):
                continue
            path = Path(here) / name
            if path.is_file() and not path.is_symlink():
                yield path


# -- restore -----------------------------------------------------------------------
def check_archive(archive: Path) -> int:
    """How many files the archive holds, after checking every member against
    the manifest; ``ValidationError`` saying what is wrong."""
    return len(_verified(archive, None)[0])


def _safe_name(name: str) -> str:
    """The member's path below ``ROOT``; refuses anything that could land
    outside the target folder."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or path.parts[:1] != (ROOT,):
        raise ValidationError(f"the archive holds an unsafe name: {name!r}")
    rel = PurePosixPath(*path.parts[1:])
    if not rel.parts:
        raise ValidationError(f"the archive holds an unsafe name: {name!r}")
    return rel.as_posix()


def _verified(archive: Path, unpack_to: Path | None) -> tuple[list[str], list[str]]:
    """Read the whole archive: the manifest, then every member checked (and
    written under ``unpack_to`` when given). The files, and the Maildir
    folders."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            manifest_member = None
            with contextlib.suppress(KeyError):
                manifest_member = tar.getmember(MANIFEST)
            if manifest_member is None or not manifest_member.isfile():
                raise ValidationError(f"{archive} is not a Quicksilver backup")
            extracted = tar.extractfile(manifest_member)
            assert extracted is not None
            manifest = json.loads(extracted.read())
            if manifest.get("format") != FORMAT:
                raise ValidationError(
                    f"{archive}: backup format {manifest.get('format')!r} is not "
                    f"one this version reads ({FORMAT})"
                )
            expected: dict[str, dict[str, object]] = manifest["files"]
            maildirs = [_safe_name(f"{ROOT}/{m}") for m in manifest["maildirs"]]
            if len(expected) > MAX_MEMBERS:
                raise ValidationError(f"{archive}: too many files")
            seen: list[str] = []
            total = 0
            for member in tar:
                if member.name == MANIFEST:
                    continue
                if not member.isfile():
                    raise ValidationError(
                        f"the archive holds something that is not a file: "
                        f"{member.name!r}"
                    )
                rel = _safe_name(member.name)
                want = expected.get(rel)
                if want is None or member.size != want["size"]:
                    raise ValidationError(f"{rel} does not match the manifest")
                total += member.size
                if total > MAX_BYTES:
                    raise ValidationError(f"{archive}: larger than this version reads")
                source = tar.extractfile(member)
                assert source is not None
                data = source.read()
                if hashlib.sha256(data).hexdigest() != want["sha256"]:
                    raise ValidationError(f"{rel} is damaged (its digest differs)")
                if unpack_to is not None:
                    out = unpack_to / rel
                    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    fsutil.write_new_file(
                        out, data, mtime=float(member.mtime), sync=False
                    )
                seen.append(rel)
            missing = set(expected) - set(seen)
            if missing:
                raise ValidationError(
                    f"{archive} is incomplete: {len(missing)} files missing "
                    f"(for example {sorted(missing)[0]})"
                )
            return seen, maildirs
    except (tarfile.TarError, EOFError, OSError, ValueError, KeyError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"{archive} cannot be read as a backup: {exc}") from None


def restore(archive: Path, target: Path) -> RestoreResult:
    """Check ``archive`` and make ``target`` its data folder (see above)."""
    target = target.resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    staging = target.with_name(f".{target.name}.restoring-{stamp}")
    staging.mkdir(parents=True, mode=0o700)
    try:
        files, maildirs = _verified(archive, staging)
        for rel in maildirs:  # tmp/ was never taken; empty folders have no files
            for sub in ("cur", "new", "tmp"):
                (staging / rel / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        _sync_tree(staging)
        aside: Path | None = None
        if target.exists() and any(target.iterdir()):
            aside = target.with_name(f"{target.name}.before-restore-{stamp}")
            os.replace(target, aside)
        elif target.exists():
            target.rmdir()
        os.replace(staging, target)
        fsutil.fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("restored %s into %s (%d files)", archive, target, len(files))
    return RestoreResult(target, len(files), aside)


def _sync_tree(root: Path) -> None:
    """Make the unpacked files durable before they are moved into place:
    one ``syncfs`` where there is one, else a fsync per file and folder."""
    if fsutil.syncfs_available():
        fsutil.syncfs(root)
        return
    for here, _dirs, files in os.walk(root):
        for name in files:
            fd = fsutil.open_for_fsync(Path(here) / name)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsutil.fsync_dir(Path(here))


# -- scheduled backups -------------------------------------------------------------
SCHEDULE_LOOK = 60.0  # seconds between looks at whether a backup is due
ARCHIVE_PREFIX = "quicksilver-backup-"
ARCHIVE_SUFFIX = ".tar.gz"


def archive_name(now: float) -> str:
    return time.strftime(
        f"{ARCHIVE_PREFIX}%Y%m%d-%H%M%S{ARCHIVE_SUFFIX}", time.localtime(now)
    )


def archives(folder: Path) -> list[Path]:
    """Our archives in ``folder``, oldest first (their names sort by time)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(
        folder / n
        for n in names
        if n.startswith(ARCHIVE_PREFIX) and n.endswith(ARCHIVE_SUFFIX)
    )


def run_schedule(data_dir: Path, cfg: BackupSettings, now: float) -> Path | None:
    """One look: write an archive if the newest is older than
    ``every_hours`` (or there is none), then remove all but the newest
    ``keep`` of ours. The archive written, or None. Blocking."""
    folder = Path(cfg.folder)
    if folder.resolve().is_relative_to(data_dir.resolve()):
        raise ValidationError("backup.folder: choose a folder outside the data folder")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    have = archives(folder)
    written = None
    if not have or now - have[-1].stat().st_mtime >= cfg.every_hours * 3600:
        written = backup(data_dir, folder / archive_name(now)).path
        have = archives(folder)
    for old in have[: max(0, len(have) - cfg.keep)]:
        old.unlink(missing_ok=True)
        log.info("removed the old backup %s (keeping %d)", old.name, cfg.keep)
    return written


async def schedule(data_dir: Path, settings: Callable[[], BackupSettings]) -> None:
    """The running core's backup timer (until cancelled)."""
    failed = ""
    while True:
        await asyncio.sleep(SCHEDULE_LOOK)
        cfg = settings()
        if not cfg.scheduled or not cfg.folder:
            continue
        try:
            await asyncio.to_thread(run_schedule, data_dir, cfg, time.time())
        except asyncio.CancelledError:
            raise
        except (OSError, ValidationError) as exc:
            if str(exc) != failed:  # one line per new reason
                failed = str(exc)
                log.error("scheduled backup failed: %s", exc)
            continue
        failed = ""
