from __future__ import annotations

from pathlib import Path
from typing import Any

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
    """Another connection's commit holds for the very next lookup: the store
    checks ``PRAGMA data_version`` on every lookup (no polling interval to
    wait out; this test used to sleep 0.6 s past a 0.5 s one)."""
    a = SqliteAccountStore(tmp_path / "acc.sqlite3")
    a.add_domain("example.test")
    assert a.resolve("late@example.test") is None  # the snapshot is loaded
    b = SqliteAccountStore(tmp_path / "acc.sqlite3")
    b.add_user("late@example.test", PW)
    assert a.resolve("late@example.test") == ["late@example.test"]
    assert a.get_user("late@example.test") is not None
    b.delete_user("late@example.test")
    assert a.resolve("late@example.test") is None
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


# -- another process's changes hold at once --------------------------------------------
def test_changes_by_another_connection_hold_for_the_next_lookup_and_login(
    tmp_path: Path,
) -> None:
    """Reproduces issue 10: a user added by the CLI (another process: another
    connection) could not log in by full address until a bare-name lookup
    refreshed the snapshot, and a disabled user could still log in."""
    server = SqliteAccountStore(tmp_path / "acc.sqlite3")
    server.add_domain("example.test")
    cli = SqliteAccountStore(tmp_path / "acc.sqlite3")
    cli.add_user("late@example.test", PW)
    assert server.authenticate("late@example.test", PW) is not None
    assert server.authenticate("late", PW) is not None
    assert server.resolve("late@example.test") == ["late@example.test"]
    cli.update_user("late@example.test", enabled=False)
    assert server.authenticate("late@example.test", PW) is None
    assert server.authenticate("late", PW) is None
    assert server.get_user("late@example.test").enabled is False  # type: ignore[union-attr]
    cli.update_user("late@example.test", enabled=True)
    cli.set_password("late@example.test", "Other-Kettle-pw-8")
    assert server.authenticate("late@example.test", PW) is None
    assert server.authenticate("late@example.test", "Other-Kettle-pw-8") is not None
    cli.set_alias("team@example.test", ["late@example.test"])
    assert server.resolve("team@example.test") == ["late@example.test"]
    cli.delete_user("late@example.test")
    assert server.authenticate("late@example.test", "Other-Kettle-pw-8") is None
    assert server.get_user("late@example.test") is None
    assert server.resolve("team@example.test") is None
    cli.close()
    server.close()


def test_lookups_reread_only_after_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The freshness check is PRAGMA data_version: without a change, lookups
    never re-read the tables (they run on the core loop)."""
    a = SqliteAccountStore(tmp_path / "acc.sqlite3")
    a.add_domain("example.test")
    a.add_user("u@example.test", PW)
    reads: list[int] = []
    real = SqliteAccountStore._read_snapshot

    def counting(db: object) -> object:
        if db is a._probe:  # a's reads only
            reads.append(1)
        return real(db)  # type: ignore[arg-type]

    monkeypatch.setattr(SqliteAccountStore, "_read_snapshot", staticmethod(counting))
    for _ in range(100):
        assert a.resolve("u@example.test") == ["u@example.test"]
        assert a.login_address("U") == "u@example.test"
    assert reads == []
    b = SqliteAccountStore(tmp_path / "acc.sqlite3")
    b.update_user("u@example.test", display_name="U")
    assert a.get_user("u@example.test").display_name == "U"  # type: ignore[union-attr]
    assert len(reads) == 1
    b.close()
    a.close()


# -- login names -----------------------------------------------------------------------
def test_login_address_accepts_every_spelling_of_one_account(
    acc: SqliteAccountStore,
) -> None:
    acc.add_user("bob@example.test", PW)
    acc.set_alias("robert@example.test", ["bob@example.test"])
    for name in (
        "bob@example.test",
        "BOB@EXAMPLE.TEST",
        "bob@example.test.",
        "BOB@EXAMPLE.TEST..",
        " bob ",
        "Bob",
    ):
        assert acc.login_address(name) == "bob@example.test", name
    # aliases are not login names (as in Dovecot's passdb)
    assert acc.login_address("robert@example.test") is None
    assert acc.login_address("nobody") is None
    assert acc.login_address("../bob") is None


def test_bare_name_prefers_the_primary_domain(acc: SqliteAccountStore) -> None:
    acc.add_domain("other.test")
    acc.add_user("sam@other.test", PW)
    assert acc.login_address("sam") == "sam@other.test"  # the only sam
    acc.add_user("sam@example.test", PW)
    assert acc.primary_domain() == "example.test"  # the first domain added
    assert acc.login_address("sam") == "sam@example.test"
    acc.set_primary_domain("other.test")
    assert acc.login_address("sam") == "sam@other.test"
    acc.set_primary_domain("example.test")
    acc.delete_user("sam@example.test")
    assert acc.login_address("sam") == "sam@other.test"
    # the primary domain removed: the next is the oldest user's, and stays so
    acc.remove_domain("example.test")
    assert acc.primary_domain() == "other.test"
    acc.add_domain("another.test")
    assert acc.primary_domain() == "other.test"


# -- postmaster (RFC 5321 4.5.1) -------------------------------------------------------
def test_every_domain_gets_an_editable_postmaster_alias(
    acc: SqliteAccountStore,
) -> None:
    assert acc.resolve("postmaster@example.test") is None  # nobody to point at yet
    acc.add_user("first@example.test", PW)
    acc.add_user("second@example.test", PW)
    assert acc.resolve("postmaster@example.test") == ["first@example.test"]
    assert acc.resolve("PostMaster@Example.TEST") == ["first@example.test"]
    acc.add_domain("other.test")  # users exist: its postmaster is made at once
    assert acc.resolve("postmaster@other.test") == ["first@example.test"]
    acc.add_user("own@other.test", PW)  # no change: it had one already
    assert acc.resolve("postmaster@other.test") == ["first@example.test"]
    # editable, not removable
    acc.set_alias("postmaster@example.test", ["second@example.test"])
    assert acc.resolve("postmaster@example.test") == ["second@example.test"]
    with pytest.raises(ValidationError, match="RFC 5321"):
        acc.remove_alias("postmaster@example.test")
    # its only target deleted: it points at the domain's first user again
    acc.delete_user("second@example.test")
    assert acc.resolve("postmaster@example.test") == ["first@example.test"]
    # a real postmaster mailbox takes the alias's place, and gives it back
    acc.add_user("postmaster@other.test", PW)
    assert acc.resolve("postmaster@other.test") == ["postmaster@other.test"]
    acc.delete_user("postmaster@other.test")
    assert acc.resolve("postmaster@other.test") == ["own@other.test"]


def test_bare_postmaster_is_the_primary_domains(acc: SqliteAccountStore) -> None:
    acc.add_domain("other.test")
    acc.add_user("boss@other.test", PW)
    for spelling in ("postmaster", "Postmaster", "POSTMASTER"):
        assert acc.canonical_recipient(spelling) == "postmaster@example.test"
        assert acc.resolve(spelling) == ["boss@other.test"]
    assert acc.canonical_recipient("someone") == "someone"
    assert acc.canonical_recipient("postmaster@other.test") == "postmaster@other.test"


def test_older_data_folder_gets_postmasters_and_a_primary_domain_at_open(
    tmp_path: Path,
) -> None:
    import sqlite3

    a = SqliteAccountStore(tmp_path / "acc.sqlite3")
    a.add_domain("zz.test")
    a.add_domain("example.test")
    a.add_user("old@zz.test", PW)
    a.close()
    # what a data folder from before this version holds
    db = sqlite3.connect(tmp_path / "acc.sqlite3")
    db.execute("DELETE FROM aliases")
    db.execute("DELETE FROM meta WHERE key = 'primary_domain'")
    db.commit()
    db.close()
    b = SqliteAccountStore(tmp_path / "acc.sqlite3")
    assert b.resolve("postmaster@zz.test") == ["old@zz.test"]
    assert b.resolve("postmaster@example.test") == ["old@zz.test"]
    assert b.primary_domain() == "zz.test"  # the oldest user's domain
    b.close()


# -- password strength -----------------------------------------------------------------
def test_weak_passwords_are_refused_unless_allowed(acc: SqliteAccountStore) -> None:
    """Reproduces issue 10: "x", "pw" and "abc" were accepted as passwords."""
    for weak in ("x", "pw", "abc", "password1", "example-test"):
        with pytest.raises(ValidationError) as err:
            acc.add_user("w@example.test", weak)
        assert err.value.field == "password"
    assert acc.get_user("w@example.test") is None
    acc.add_user("w@example.test", "pw", allow_weak=True)
    with pytest.raises(ValidationError, match="at least 8 characters"):
        acc.set_password("w@example.test", "abc")
    acc.set_password("w@example.test", "abc", allow_weak=True)
    assert acc.authenticate("w@example.test", "abc") is not None


def test_lookups_ask_sqlite_only_after_a_commit(tmp_path: Path) -> None:
    """The WAL index header says whether anyone committed: lookups with no
    commit in between do not ask SQLite at all; the next lookup after another
    process's commit does, and sees it."""
    a = SqliteAccountStore(tmp_path / "acc.sqlite3")
    a.add_domain("example.test")
    assert a.resolve("x@example.test") is None

    class Counting:
        def __init__(self, real: Any) -> None:
            self.real = real
            self.asked = 0

        def execute(self, sql: str, *args: Any) -> Any:
            self.asked += sql.startswith("PRAGMA data_version")
            return self.real.execute(sql, *args)

        def close(self) -> None:
            self.real.close()

    probe = Counting(a._probe)
    a._probe = probe  # type: ignore[assignment]
    for _ in range(50):
        assert a.resolve("x@example.test") is None
        assert a.is_local_domain("example.test")
    assert probe.asked == 0
    b = SqliteAccountStore(tmp_path / "acc.sqlite3")
    b.add_user("x@example.test", PW)
    assert a.resolve("x@example.test") == ["x@example.test"]
    assert probe.asked >= 1
    asked = probe.asked
    for _ in range(10):
        a.get_user("x@example.test")
    assert probe.asked == asked
    a.close()
    b.close()


def test_a_recent_login_skips_argon2_and_never_outlives_a_change(
    tmp_path: Path,
) -> None:
    a = SqliteAccountStore(tmp_path / "acc.sqlite3")
    a.add_domain("example.test")
    a.add_user("u@example.test", PW)
    real = a.hashing.verify
    calls: list[str] = []

    def counting(stored: str, password: str) -> bool:
        calls.append(password)
        return real(stored, password)

    a.hashing.verify = counting  # type: ignore[method-assign]
    assert a.authenticate("u@example.test", PW) is not None
    assert a.authenticate("U@Example.TEST", PW) is not None  # same login
    assert len(calls) == 1
    for _ in range(3):  # wrong guesses always pay the whole hash
        assert a.authenticate("u@example.test", PW + "x") is None
    assert len(calls) == 4
    # another process changes the password: the old one fails at once
    b = SqliteAccountStore(tmp_path / "acc.sqlite3")
    b.set_password("u@example.test", "Another-Tomato-8")
    assert a.authenticate("u@example.test", PW) is None
    assert a.authenticate("u@example.test", "Another-Tomato-8") is not None
    b.update_user("u@example.test", enabled=False)
    assert a.authenticate("u@example.test", "Another-Tomato-8") is None
    b.update_user("u@example.test", enabled=True)
    # and an entry ends with its time
    now = [1000.0]
    a._verified.clock = lambda: now[0]
    a._verified._entries.clear()
    assert a.authenticate("u@example.test", "Another-Tomato-8") is not None
    n = len(calls)
    assert a.authenticate("u@example.test", "Another-Tomato-8") is not None
    assert len(calls) == n
    now[0] += a._verified.TTL + 1
    assert a.authenticate("u@example.test", "Another-Tomato-8") is not None
    assert len(calls) == n + 1
    a.close()
    b.close()
