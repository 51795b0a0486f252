"""The Sieve script store: names, files, the active mark, limits."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from server.sieve.store import (
    MAX_NAME_CHARS,
    ScriptStore,
    ScriptStoreError,
    file_name,
    script_name,
)

ALICE = "alice@example.org"


@pytest.fixture
def store(tmp_path: Path) -> ScriptStore:
    return ScriptStore(tmp_path / "sieve", max_scripts=3, max_storage_bytes=100)


def test_put_get_list_and_layout(store: ScriptStore, tmp_path: Path) -> None:
    store.put(ALICE, "vacation", "keep;")
    store.put(ALICE, "rules", 'fileinto "x";')
    path = tmp_path / "sieve" / "example.org" / "alice" / "vacation.sieve"
    assert path.read_text() == "keep;"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [(s.name, s.active, s.size) for s in store.list_scripts(ALICE)] == [
        ("rules", False, 13),
        ("vacation", False, 5),
    ]
    assert store.get(ALICE, "rules") == 'fileinto "x";'
    with pytest.raises(ScriptStoreError) as err:
        store.get(ALICE, "nope")
    assert err.value.code == "NONEXISTENT"


def test_active_marker_delete_and_rename(store: ScriptStore) -> None:
    store.put(ALICE, "a", "keep;")
    store.put(ALICE, "b", "discard;")
    assert store.active(ALICE) is None
    store.set_active(ALICE, "a")
    assert store.active(ALICE) == ("a", "keep;")
    with pytest.raises(ScriptStoreError) as err:
        store.delete(ALICE, "a")
    assert err.value.code == "ACTIVE"
    store.rename(ALICE, "a", "c")
    assert store.active(ALICE) == ("c", "keep;")
    with pytest.raises(ScriptStoreError) as err:
        store.rename(ALICE, "c", "b")
    assert err.value.code == "ALREADYEXISTS"
    store.set_active(ALICE, "b")
    store.delete(ALICE, "c")
    assert [s.name for s in store.list_scripts(ALICE)] == ["b"]
    store.set_active(ALICE, None)
    assert store.active(ALICE) is None
    with pytest.raises(ScriptStoreError) as err:
        store.set_active(ALICE, "gone")
    assert err.value.code == "NONEXISTENT"


def test_limits(store: ScriptStore) -> None:
    for n in "xyz":
        store.put(ALICE, n, "keep;")
    with pytest.raises(ScriptStoreError) as err:
        store.put(ALICE, "w", "keep;")
    assert err.value.code == "QUOTA/MAXSCRIPTS"
    store.put(ALICE, "x", "keep; keep;")  # replacing is not a new script
    with pytest.raises(ScriptStoreError) as err:
        store.put(ALICE, "y", "#" * 95)
    assert err.value.code == "QUOTA/MAXSIZE"
    assert store.get(ALICE, "y") == "keep;"


def test_case_twins_refused(store: ScriptStore) -> None:
    store.put(ALICE, "Rules", "keep;")
    with pytest.raises(ScriptStoreError) as err:
        store.put(ALICE, "rules", "discard;")
    assert err.value.code == "ALREADYEXISTS"
    assert store.get(ALICE, "Rules") == "keep;"


@pytest.mark.parametrize(
    "name",
    ["", "a\x00b", "line\nbreak", "x" * (MAX_NAME_CHARS + 1), "\u0085", "e\u0301"],
)
def test_bad_names(store: ScriptStore, name: str) -> None:
    with pytest.raises(ScriptStoreError):
        store.put(ALICE, name, "keep;")


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", ".active", "nul", "con.txt", "a/b", "café", "sp "]
)
def test_file_names_stay_inside_and_round_trip(name: str, store: ScriptStore) -> None:
    fname = file_name(name)
    assert "/" not in fname and "\\" not in fname and not fname.startswith(".")
    assert fname.split(".", 1)[0].lower() not in {"nul", "con"}
    assert script_name(fname) == name
    store.put(ALICE, name, "keep;")
    assert store.get(ALICE, name) == "keep;"
    assert all(
        p.parent == store.user_dir(ALICE) for p in store.user_dir(ALICE).iterdir()
    )


def test_global_scripts_in_name_order(store: ScriptStore) -> None:
    store.put_global("before", "20-b", "keep;")
    store.put_global("before", "10-a", "discard;")
    store.put_global("after", "x", "stop;")
    assert store.global_scripts("before") == [("10-a", "discard;"), ("20-b", "keep;")]
    assert store.global_scripts("after") == [("x", "stop;")]
    store.delete_global("before", "10-a")
    assert [n for n, _ in store.global_scripts("before")] == ["20-b"]


def test_bad_owner_refused(store: ScriptStore) -> None:
    with pytest.raises(Exception, match="owner"):
        store.put("../x@example.org", "a", "keep;")


def test_the_finder_sees_changes_here_at_once_and_by_hand_within_a_second(
    tmp_path: Path,
) -> None:
    """loading.ScriptFinder.load_cached trusts its answer without a stat
    while no ScriptStore of this process changed anything, for at most
    RECHECK_SECONDS: a change through any ScriptStore instance shows at the
    next call, one made by hand (another process) after that time."""
    import os

    from server.sieve.loading import RECHECK_SECONDS, ScriptFinder

    now = [1000.0]
    user = "alice@example.test"
    mine = ScriptStore(tmp_path / "sieve")
    finder = ScriptFinder(mine, clock=lambda: now[0])
    assert finder.load_cached(user) == []
    other = ScriptStore(tmp_path / "sieve")  # e.g. ManageSieve's, or a test's
    other.put(user, "one", "discard;\n")
    other.set_active(user, "one")
    assert finder.load_cached(user) is None  # known now; not compiled yet
    (loaded,) = finder.load(user)
    assert [ls.script.name for ls in (finder.load_cached(user) or [])] == ["one"]
    # by hand: a new file renamed over the script (as an editor saves)
    path = mine.user_dir(user) / "one.sieve"
    new = path.with_name("one.new")
    new.write_text("keep;\n")
    os.replace(new, path)
    assert finder.load_cached(user) == [loaded]  # within RECHECK_SECONDS
    now[0] += RECHECK_SECONDS
    assert finder.load_cached(user) is None  # changed: compile in a thread
    (again,) = finder.load(user)
    assert again is not loaded
    assert finder.load_cached(user) == [again]
