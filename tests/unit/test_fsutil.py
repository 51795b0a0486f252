"""``server.fsutil``: the one set of durable-write helpers every writer uses."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from server import fsutil


def _pretend_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """What differs on Windows and can be shown here: ``os.name`` and no
    ``O_DIRECTORY``. (Paths made before this call stay POSIX paths.)"""
    monkeypatch.setattr(os, "name", "nt")
    monkeypatch.delattr(os, "O_DIRECTORY", raising=False)


def test_fsync_dir_is_a_no_op_on_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows cannot open a directory. The old ``fsutil.fsync_dir`` asked for
    ``os.O_DIRECTORY`` (absent there): every spool write and removal raised
    AttributeError on Windows. Failed on the old code."""
    target = tmp_path / "f"
    opened: list[object] = []
    real_open = os.open

    def spy(path: object, flags: int, *args: int) -> int:
        opened.append(path)
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    _pretend_windows(monkeypatch)
    monkeypatch.setattr(os, "open", spy)
    try:
        fsutil.fsync_dir(tmp_path)
        fsutil.atomic_write(target, b"data")
    finally:
        monkeypatch.undo()  # before pytest builds paths for a report
    assert target.read_bytes() == b"data"
    assert tmp_path not in opened  # the directory itself was never opened


def test_fsync_dir_refuses_a_file(tmp_path: Path) -> None:
    """``O_DIRECTORY``: a path that is not a directory fails loudly."""
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        fsutil.fsync_dir(tmp_path / "f")


def test_open_for_fsync_opens_for_writing_on_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows' ``_commit`` refuses a read-only handle; elsewhere read-only
    is enough (and works for files we may not write)."""
    path = tmp_path / "f"
    path.write_bytes(b"x")
    fd = fsutil.open_for_fsync(path)
    try:
        assert _flags(fd) & os.O_ACCMODE == os.O_RDONLY
        os.fsync(fd)
    finally:
        os.close(fd)
    _pretend_windows(monkeypatch)
    try:
        fd = fsutil.open_for_fsync(path)
    finally:
        monkeypatch.undo()
    try:
        assert _flags(fd) & os.O_ACCMODE == os.O_RDWR
    finally:
        os.close(fd)


def _flags(fd: int) -> int:
    return fcntl.fcntl(fd, fcntl.F_GETFL)


def test_atomic_write_uses_the_tmp_dir_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    target = tmp_path / "index"
    target.write_bytes(b"old")
    fsutil.atomic_write(target, b"new", tmp_dir=tmp_path / "tmp")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path / "tmp") == []
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)


def test_failed_atomic_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def half_then_full(fd: int, data: bytes) -> None:
        os.write(fd, data[:1])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsutil, "write_all", half_then_full)
    with pytest.raises(OSError, match="No space"):
        fsutil.atomic_write(target, b"new contents")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_write_new_file_sets_mtime_and_refuses_an_existing_name(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m"
    st = fsutil.write_new_file(path, b"abc", mtime=1e9)
    assert (st.st_size, st.st_mtime, path.stat().st_mtime) == (3, 1e9, 1e9)
    with pytest.raises(FileExistsError):
        fsutil.write_new_file(path, b"other")
    assert path.read_bytes() == b"abc"  # the failure did not remove it


def test_quarantine_names_and_never_overwrites(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt"
    for n in range(2):
        (tmp_path / "bad").write_bytes(b"%d" % n)
        fsutil.quarantine(tmp_path / "bad", corrupt, "x-bad")
    assert sorted(os.listdir(corrupt)) == ["x-bad", "x-bad-1"]
    assert (corrupt / "x-bad").read_bytes() == b"0"
    assert (corrupt / "x-bad-1").read_bytes() == b"1"


@pytest.mark.skipif(not fsutil.syncfs_available(), reason="no syncfs(2) here")
def test_syncfs_keeps_its_folder_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One open per folder, not per call; another folder takes its place."""
    opened: list[str] = []
    real_open = os.open

    def counting(path: object, *args: int) -> int:
        opened.append(str(path))
        return real_open(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", counting)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for _ in range(3):
        fsutil.syncfs(a)
    assert opened == [str(a)]
    fsutil.syncfs(b)
    fsutil.syncfs(b)
    assert opened == [str(a), str(b)]
    kept = fsutil._sync_dir
    assert kept is not None and kept[0] == b
    assert os.path.samefile(f"/proc/self/fd/{kept[1]}", b)


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 70_000, 200_000])
@pytest.mark.parametrize("hint", ["exact", "smaller", "larger", "none"])
def test_read_file_returns_the_whole_file_whatever_the_hint(
    tmp_path: Path, size: int, hint: str
) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    path = tmp_path / "message"
    path.write_bytes(data)
    size_hint = {
        "exact": size,
        "smaller": max(size - 100, 1),
        "larger": size + 100,
        "none": 0,
    }[hint]
    assert fsutil.read_file(path, size_hint) == data


def test_read_file_of_the_hinted_size_reads_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of exactly the size its name says is read with one ``read``
    (each system call in a worker thread may wait for the interpreter lock)."""
    path = tmp_path / "message"
    path.write_bytes(b"y" * 4096)
    reads: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        reads.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(fsutil.os, "read", counting_read)
    assert fsutil.read_file(path, 4096) == b"y" * 4096
    assert reads == [4097]
    reads.clear()
    assert fsutil.read_file(path, 4000) == b"y" * 4096  # the hint is wrong
    assert len(reads) >= 2
