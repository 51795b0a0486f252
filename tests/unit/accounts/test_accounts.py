from __future__ import annotations

from pathlib import Path

import pytest

from server.accounts.hashing import PasswordHashing
from server.accounts.sqlite import SqliteAccountStore
from server.accounts.validate import normalize_address, normalize_domain
from server.errors import ValidationError

PW = "Tomato-Window-7"  # passes the strength rule (server/accounts/strength.py)


@pytest.fixture
def acc(tmp_path: Path) -> SqliteAccountStore:
    a = SqliteAccountStore(tmp_path / "accounts.sqlite3")
    a.add_domain("example.test")
    yield a
    a.close()


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a/b.test",
        "..",
        "a\\b",
        "a b.test",
        "x\x00y.test",
        "-bad.test",
        "a..b",
        "x" * 64 + ".test",
        "a@b.test",
    ],
)
def test_bad_domains_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        normalize_domain(bad)


def test_idna_domain_is_stored_in_ascii_form() -> None:
    assert normalize_domain("B\u00fccher.Example") == "xn--bcher-kva.example"
    assert normalize_domain("Example.TEST.") == "example.test"


@pytest.mark.parametrize(
    "bad",
    [
        "../x@example.test",
        "a/b@example.test",
        "a\\b@example.test",
        ".a@example.test",
        "a..b@example.test",
        "a\x01@example.test",
        "noat",
        "a@b@example.test",
        "x" * 65 + "@example.test",
        "a%b@example.test",
        '"a@b"@example.test',
        "@example.test",
    ],
)
def test_bad_addresses_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        normalize_address(bad)


def test_user_lifecycle(acc: SqliteAccountStore) -> None:
    u = acc.add_user(
        "Alice@Example.TEST", "s3cret-Tomato!", display_name="Alice", quota_bytes=10
    )
    assert u.address == "alice@example.test"
    assert acc.authenticate("alice@example.test", "s3cret-Tomato!") == u
    assert acc.authenticate("ALICE@example.test", "s3cret-Tomato!") is not None
    assert (
        acc.authenticate("alice", "s3cret-Tomato!") is not None
    )  # one domain: bare name ok
    assert acc.authenticate("alice@example.test", "wrong") is None
    assert acc.authenticate("nobody@example.test", "s3cret-Tomato!") is None
    with pytest.raises(ValidationError, match="already exists"):
        acc.add_user("alice@example.test", "x")
    acc.update_user("alice@example.test", enabled=False)
    assert acc.authenticate("alice@example.test", "s3cret-Tomato!") is None
    acc.update_user("alice@example.test", enabled=True)
    acc.set_password("alice@example.test", "new-pass-Window")
    assert acc.authenticate("alice@example.test", "s3cret-Tomato!") is None
    assert acc.authenticate("alice@example.test", "new-pass-Window") is not None
    acc.delete_user("alice@example.test")
    assert acc.get_user("alice@example.test") is None


def test_empty_password_and_unknown_domain(acc: SqliteAccountStore) -> None:
    with pytest.raises(ValidationError, match="empty"):
        acc.add_user("a@example.test", "")
    with pytest.raises(ValidationError, match="not one of this server"):
        acc.add_user("a@other.test", "pw")


def test_password_hash_is_argon2id_and_never_plain(
    acc: SqliteAccountStore, tmp_path: Path
) -> None:
    acc.add_user("a@example.test", "plain-secret-Tomato")
    raw = (tmp_path / "accounts.sqlite3").read_bytes()
    assert b"plain-secret-Tomato" not in raw
    row = acc._db.execute("SELECT password_hash FROM users").fetchone()
    assert row[0].startswith("$argon2id$")


def test_rehash_on_login_when_parameters_change(tmp_path: Path) -> None:
    weak = SqliteAccountStore(
        tmp_path / "a.sqlite3", PasswordHashing(time_cost=1, memory_cost=8192)
    )
    weak.add_domain("example.test")
    weak.add_user("a@example.test", PW)
    weak.close()
    strong = SqliteAccountStore(tmp_path / "a.sqlite3")
    assert strong.authenticate("a@example.test", PW) is not None
    stored = strong._db.execute("SELECT password_hash FROM users").fetchone()[0]
    assert "m=19456,t=2" in stored
    strong.close()


def test_aliases_and_catch_all(acc: SqliteAccountStore) -> None:
    acc.add_user("a@example.test", PW)
    acc.add_user("b@example.test", PW)
    acc.set_alias("team@example.test", ["a@example.test", "b@example.test"])
    assert acc.resolve("Team@Example.test") == ["a@example.test", "b@example.test"]
    assert acc.resolve("zzz@example.test") is None
    acc.set_alias("*@example.test", ["b@example.test"])
    assert acc.resolve("zzz@example.test") == ["b@example.test"]
    assert acc.resolve("a@example.test") == ["a@example.test"]
    with pytest.raises(ValidationError):
        acc.set_alias("x@example.test", ["ghost@example.test"])
    with pytest.raises(ValidationError):
        acc.set_alias("a@example.test", ["b@example.test"])


def test_another_process_change_is_seen(tmp_path: Path) -> None:
    import time

    a = SqliteAccountStore(tmp_path / "acc.sqlite3")
    a.add_domain("example.test")
    b = SqliteAccountStore(tmp_path / "acc.sqlite3")
    b.add_user("late@example.test", PW)
    time.sleep(0.6)
    assert a.resolve("late@example.test") == ["late@example.test"]
    a.close()
    b.close()


def test_domain_with_users_cannot_be_removed(acc: SqliteAccountStore) -> None:
    acc.add_user("a@example.test", PW)
    with pytest.raises(ValidationError, match="still has users"):
        acc.remove_domain("example.test")


def test_lookups_never_wait_for_a_writer(tmp_path: Path) -> None:
    """The core loop calls lookups; a writer holding the store lock (an fsync, a
    rehash) must not stall them, even when a freshness check is due."""
    import threading

    a = SqliteAccountStore(tmp_path / "acc.sqlite3")
    a.add_domain("example.test")
    a.add_user("u@example.test", PW)
    holding = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with a._lock:
            holding.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert holding.wait(5)
        done = threading.Event()
        result: list[object] = []

        def lookups() -> None:
            a._checked = 0.0  # force the freshness probe
            result.append(a.is_local_domain("example.test"))
            result.append(a.resolve("u@example.test"))
            done.set()

        threading.Thread(target=lookups).start()
        assert done.wait(2), "a lookup waited for the writer's lock"
        assert result == [True, ["u@example.test"]]
    finally:
        release.set()
        t.join(10)
        a.close()
