"""Authentication: where passwords may travel, how they are checked, and the
brute-force defences of ``CoreAuthenticator`` (per-IP bans, per-user locks).

The clock is injected, so bans and windows are tested without sleeping.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from server.accounts.hashing import PasswordHashing
from server.accounts.sqlite import SqliteAccountStore
from server.auth import (
    MAX_TRACKED,
    MAX_UNKNOWN_NAMES,
    CoreAuthenticator,
    ban_key,
    peer_address,
)
from server.config.schema import SecuritySettings, Settings
from server.policy import plaintext_login_allowed
from server.protocols.pop3.session import MaildropLocks, Pop3Session, State
from server.storage.memory import MemoryStore

ALICE, ALICE_PW = "alice@example.test", "alice-pw-1"
BOB, BOB_PW = "bob@example.test", "bob-pw-2"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _accounts(
    tmp_path: Path, hashing: PasswordHashing | None = None
) -> SqliteAccountStore:
    acc = SqliteAccountStore(
        tmp_path / "accounts.sqlite3",
        hashing or PasswordHashing(time_cost=1, memory_cost=1024),
    )
    acc.add_domain("example.test")
    acc.add_user(ALICE, ALICE_PW, allow_weak=True)
    acc.add_user(BOB, BOB_PW, allow_weak=True)
    return acc


def _auth(
    tmp_path: Path,
    clock: Clock,
    *,
    max_failures: int = 3,
    window: int = 60,
    ban_time: int = 100,
    user_max_failures: int = 20,
    user_lock_time: int = 300,
) -> CoreAuthenticator:
    settings = Settings(
        security=SecuritySettings(
            max_failures=max_failures,
            failure_window=window,
            ban_time=ban_time,
            user_max_failures=user_max_failures,
            user_lock_time=user_lock_time,
        )
    )
    return CoreAuthenticator(_accounts(tmp_path), lambda: settings, clock)


# -- where a password may travel -------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "ip", "tls", "allowed"),
    [
        ("loopback", "127.0.0.1", False, True),
        ("loopback", "127.0.0.2", False, True),
        ("loopback", "::1", False, True),
        ("loopback", "192.168.1.20", False, False),
        ("loopback", "10.0.0.5", False, False),
        ("loopback", "2001:db8::1", False, False),
        ("loopback", "::ffff:192.168.1.20", False, False),
        ("loopback", "", False, False),
        ("loopback", "not-an-ip", False, False),
        ("loopback", "192.168.1.20", True, True),
        ("never", "127.0.0.1", False, False),
        ("never", "192.168.1.20", True, True),
        ("always", "192.168.1.20", False, True),
        ("bogus-policy", "127.0.0.1", False, False),
    ],
)
def test_plaintext_login_allowed_only_over_tls_or_from_loopback_by_default(
    policy: str, ip: str, tls: bool, allowed: bool
) -> None:
    assert plaintext_login_allowed(policy, ip, tls) is allowed


def test_default_plaintext_policy_is_loopback_for_every_login_protocol() -> None:
    s = Settings()
    assert s.pop3.plaintext_login == "loopback"
    assert s.imap.plaintext_login == "loopback"
    assert s.submission.plaintext_login == "loopback"


class _NoAuth:
    """Fails the test if a password ever reaches it."""

    calls = 0

    async def authenticate(self, *a: object, **k: object) -> None:
        _NoAuth.calls += 1
        raise AssertionError("password checked on a connection that may not send one")

    def is_banned(self, ip: str) -> bool:
        return False


async def _lan_session(**kw: object) -> Pop3Session:
    store = MemoryStore()
    await store.ensure_user(ALICE)
    options: dict[str, object] = {
        "peer": "192.168.1.20:40000",
        "peer_ip": "192.168.1.20",
        "tls_available": True,
        "login_delay": 0,
    }
    options.update(kw)
    return Pop3Session(store, _NoAuth(), MaildropLocks(), **options)  # type: ignore[arg-type]


async def test_plaintext_login_refused_before_tls_from_lan_address_pop3() -> None:
    s = await _lan_session()
    capa = (await s.handle_line(b"CAPA\r\n")).data
    assert b"STLS" in capa and b"\r\nUSER" not in capa and b"SASL" not in capa
    assert b"UTF8 USER" not in capa  # no USER of any kind before TLS
    for line in (
        b"USER alice",
        b"PASS alice-pw-1",
        b"AUTH PLAIN AGFsaWNlAGFsaWNlLXB3LTE=",
    ):
        reply = await s.handle_line(line + b"\r\n")
        assert reply.data.startswith(b"-ERR "), (line, reply)
        assert b"STLS" in reply.data
    assert s.state is State.AUTHORIZATION


async def test_plaintext_login_offered_after_tls_from_lan_address_pop3() -> None:
    s = await _lan_session(tls_active=True, tls_available=False)
    capa = (await s.handle_line(b"CAPA\r\n")).data
    assert b"USER" in capa and b"SASL PLAIN LOGIN" in capa
    assert (await s.handle_line(b"USER alice\r\n")).data.startswith(b"+OK")


async def test_plaintext_login_refused_on_loopback_when_policy_is_never_pop3() -> None:
    s = await _lan_session(
        peer="127.0.0.1:4000", peer_ip="127.0.0.1", plaintext_login="never"
    )
    assert (await s.handle_line(b"USER alice\r\n")).data.startswith(b"-ERR")


# -- how passwords are checked ----------------------------------------------------
def test_passwords_are_stored_as_argon2id_hashes_only(tmp_path: Path) -> None:
    acc = _accounts(tmp_path)
    acc.close()
    raw = (tmp_path / "accounts.sqlite3").read_bytes()
    assert ALICE_PW.encode() not in raw and BOB_PW.encode() not in raw
    assert b"$argon2id$" in raw


def test_unknown_user_and_wrong_password_take_similar_time(tmp_path: Path) -> None:
    """Unknown users are verified against a dummy hash: timing tells nothing."""
    acc = _accounts(tmp_path, PasswordHashing())  # the real cost profile
    acc.authenticate(ALICE, "warm-up")

    # Taken in turns, so that a busy moment of the machine falls on all
    # three kinds alike rather than on one block of samples.
    users = (ALICE, "nobody@example.test", "../../etc/passwd")
    samples: dict[str, list[float]] = {u: [] for u in users}
    for _ in range(7):
        for user in users:
            t = time.perf_counter()
            assert acc.authenticate(user, "wrong-password") is None
            samples[user].append(time.perf_counter() - t)
    wrong_pw, unknown, bad_syntax = (statistics.median(samples[u]) for u in users)
    for other in (unknown, bad_syntax):
        ratio = other / wrong_pw
        assert 0.5 < ratio < 2.0, (wrong_pw, unknown, bad_syntax)


def test_disabled_user_cannot_log_in_even_with_the_right_password(
    tmp_path: Path,
) -> None:
    acc = _accounts(tmp_path)
    assert acc.authenticate(ALICE, ALICE_PW) is not None
    acc.update_user(ALICE, enabled=False)
    assert acc.authenticate(ALICE, ALICE_PW) is None
    assert acc.authenticate("alice", ALICE_PW) is None


# -- brute force: per IP ------------------------------------------------------------
async def test_failed_logins_from_one_ip_ban_it_after_max_failures(
    tmp_path: Path,
) -> None:
    clock = Clock()
    auth = _auth(tmp_path, clock)
    for _ in range(2):
        assert (
            await auth.authenticate(ALICE, "x", peer="203.0.113.9", protocol="pop3")
            is None
        )
    assert not auth.is_banned("203.0.113.9")
    await auth.authenticate(ALICE, "x", peer="203.0.113.9", protocol="pop3")
    assert auth.is_banned("203.0.113.9")
    assert [b.ip for b in auth.bans()] == ["203.0.113.9"]
    assert not auth.is_banned("203.0.113.10")


async def test_failures_count_per_ip_across_protocols(tmp_path: Path) -> None:
    clock = Clock()
    auth = _auth(tmp_path, clock)
    for proto, user in (("pop3", ALICE), ("imap", BOB), ("submission", "nobody")):
        await auth.authenticate(user, "x", peer="203.0.113.9:5555", protocol=proto)
    assert auth.is_banned("203.0.113.9")


async def test_banned_ip_cannot_log_in_even_with_the_right_password(
    tmp_path: Path,
) -> None:
    auth = _auth(tmp_path, Clock())
    for _ in range(3):
        await auth.authenticate(ALICE, "x", peer="203.0.113.9", protocol="pop3")
    assert (
        await auth.authenticate(ALICE, ALICE_PW, peer="203.0.113.9", protocol="pop3")
        is None
    )
    assert await auth.authenticate(ALICE, ALICE_PW, peer="203.0.113.8", protocol="pop3")


async def test_ban_expires_after_ban_time(tmp_path: Path) -> None:
    clock = Clock()
    auth = _auth(tmp_path, clock)
    for _ in range(3):
        await auth.authenticate(ALICE, "x", peer="203.0.113.9", protocol="pop3")
    clock.now += 99
    assert auth.is_banned("203.0.113.9")
    clock.now += 2
    assert not auth.is_banned("203.0.113.9")
    assert auth.bans() == []
    assert await auth.authenticate(ALICE, ALICE_PW, peer="203.0.113.9", protocol="pop3")


async def test_failures_outside_the_window_do_not_count(tmp_path: Path) -> None:
    clock = Clock()
    auth = _auth(tmp_path, clock, window=60)
    for _ in range(2):
        await auth.authenticate(ALICE, "x", peer="203.0.113.9", protocol="pop3")
        clock.now += 61
    await auth.authenticate(ALICE, "x", peer="203.0.113.9", protocol="pop3")
    assert not auth.is_banned("203.0.113.9")


async def test_unban_lifts_a_ban_and_forgets_the_failures(tmp_path: Path) -> None:
    auth = _auth(tmp_path, Clock())
    for _ in range(3):
        await auth.authenticate(ALICE, "x", peer="203.0.113.9", protocol="pop3")
    assert auth.unban("203.0.113.9") is True
    assert not auth.is_banned("203.0.113.9")
    assert auth.unban("203.0.113.9") is False
    await auth.authenticate(ALICE, "x", peer="203.0.113.9", protocol="pop3")
    assert not auth.is_banned("203.0.113.9")


async def test_the_window_check_login_is_never_banned(tmp_path: Path) -> None:
    auth = _auth(tmp_path, Clock())
    for _ in range(5):
        await auth.authenticate(BOB, "x", peer="local-ui", protocol="ui")
    assert auth.bans() == []


@pytest.mark.parametrize(
    ("peer", "ip"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("203.0.113.9:5555", "203.0.113.9"),
        ("[2001:db8::1]:5555", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::1", "::1"),
        ("local-ui", "local-ui"),
    ],
)
def test_peer_address_is_the_ip_whatever_form_a_protocol_passes(
    peer: str, ip: str
) -> None:
    assert peer_address(peer) == ip


async def test_failure_tables_stay_bounded_under_a_distributed_attack(
    tmp_path: Path,
) -> None:
    clock = Clock()
    auth = _auth(tmp_path, clock, max_failures=1000, window=10)
    for i in range(MAX_TRACKED + 50):
        auth._record_failure(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", f"u{i}")
    clock.now += 11
    auth._record_failure("10.255.255.255", "last")
    assert len(auth._failures_ip) <= MAX_TRACKED
    assert len(auth._failures_user) <= MAX_TRACKED
    assert len(auth._failures_name) <= MAX_TRACKED


# -- brute force: per user ---------------------------------------------------
async def test_one_user_is_locked_after_failures_from_many_ips(tmp_path: Path) -> None:
    clock = Clock()
    auth = _auth(
        tmp_path, clock, max_failures=3, user_max_failures=5, user_lock_time=60
    )
    for i in range(5):  # five IPs, one guess each: no IP is banned
        await auth.authenticate(
            ALICE, f"guess{i}", peer=f"198.51.100.{i}", protocol="imap"
        )
    assert auth.bans() == []
    assert auth.is_user_locked(ALICE) and auth.is_user_locked("ALICE@example.test")
    # the right password does not get in while locked, from anywhere
    assert (
        await auth.authenticate(ALICE, ALICE_PW, peer="192.168.1.7", protocol="pop3")
        is None
    )
    # other users are not affected
    assert await auth.authenticate(BOB, BOB_PW, peer="198.51.100.1", protocol="pop3")
    # the lock expires
    clock.now += 61
    assert not auth.is_user_locked(ALICE)
    assert await auth.authenticate(ALICE, ALICE_PW, peer="192.168.1.7", protocol="pop3")


async def test_attempts_on_a_locked_user_still_count_towards_ip_bans(
    tmp_path: Path,
) -> None:
    clock = Clock()
    auth = _auth(
        tmp_path, clock, max_failures=3, user_max_failures=2, user_lock_time=600
    )
    await auth.authenticate(ALICE, "a", peer="198.51.100.1", protocol="pop3")
    await auth.authenticate(ALICE, "b", peer="198.51.100.2", protocol="pop3")
    assert auth.is_user_locked(ALICE)
    for _ in range(3):
        await auth.authenticate(ALICE, ALICE_PW, peer="198.51.100.3", protocol="pop3")
    assert auth.is_banned("198.51.100.3")
    assert auth.failures(username=ALICE) >= 3


async def test_unlock_user_lifts_a_user_lock(tmp_path: Path) -> None:
    auth = _auth(tmp_path, Clock(), user_max_failures=2)
    for i in range(2):
        await auth.authenticate(ALICE, "x", peer=f"198.51.100.{i}", protocol="pop3")
    assert [name for name, _ in auth.locked_users()] == [ALICE]
    assert auth.unlock_user(ALICE)
    assert auth.locked_users() == []
    assert await auth.authenticate(
        ALICE, ALICE_PW, peer="198.51.100.9", protocol="pop3"
    )


# -- issue 10: locks follow the account, not the spelling ------------------------------
async def test_a_locked_user_stays_locked_under_every_spelling(tmp_path: Path) -> None:
    """Reproduces issue 10: while bob@example.test was locked, ``bob``,
    ``bob@example.test.`` and ``BOB@EXAMPLE.TEST..`` still logged in."""
    auth = _auth(tmp_path, Clock(), max_failures=1000, user_max_failures=4)
    spellings = ("bob@example.test", "Bob", "bob@example.test.", "BOB@EXAMPLE.TEST..")
    for i, name in enumerate(spellings):  # failures under any spelling add up
        await auth.authenticate(name, "guess", peer=f"198.51.100.{i}", protocol="imap")
    assert auth.locked_users()[0][0] == BOB
    for name in (*spellings, " bob ", "BOB"):
        assert auth.is_user_locked(name), name
        assert (
            await auth.authenticate(name, BOB_PW, peer="192.0.2.1", protocol="pop3")
            is None
        ), name
    assert auth.unlock_user("BOB@example.test.")
    assert await auth.authenticate("bob", BOB_PW, peer="192.0.2.1", protocol="pop3")


async def test_names_of_nobody_are_counted_as_typed_in_a_bounded_table(
    tmp_path: Path,
) -> None:
    """Guessing names (all fresh, inside the window) costs no memory."""
    clock = Clock()
    auth = _auth(tmp_path, clock, max_failures=10**9, window=600)
    for i in range(MAX_UNKNOWN_NAMES + 500):
        auth._record_failure("203.0.113.9", f"guess{i}@example.test")
    assert len(auth._failures_name) <= MAX_UNKNOWN_NAMES
    assert auth._failures_user == {}
    # a name of nobody is still locked by its own failures (no hint who exists)
    (tmp_path / "b").mkdir()
    auth2 = _auth(tmp_path / "b", clock, max_failures=1000, user_max_failures=3)
    for _ in range(3):
        await auth2.authenticate("Ghost", "x", peer="203.0.113.9", protocol="imap")
    assert auth2.is_user_locked("ghost") and not auth2.is_user_locked("ghost2")


async def test_lock_threshold_and_time_come_from_the_settings(tmp_path: Path) -> None:
    clock = Clock()
    settings = Settings(
        security=SecuritySettings(
            max_failures=1000, user_max_failures=2, user_lock_time=30
        )
    )
    auth = CoreAuthenticator(_accounts(tmp_path), lambda: settings, clock)
    for i in range(2):
        await auth.authenticate(ALICE, "x", peer=f"198.51.100.{i}", protocol="imap")
    assert auth.is_user_locked(ALICE)
    clock.now += 31
    assert not auth.is_user_locked(ALICE)
    settings = Settings(
        security=SecuritySettings(
            max_failures=1000, user_max_failures=5, user_lock_time=30
        )
    )
    for i in range(4):
        await auth.authenticate(ALICE, "x", peer=f"198.51.100.{i}", protocol="imap")
    assert not auth.is_user_locked(ALICE)


# -- issue 10: bans of IPv4-mapped and IPv6 addresses ----------------------------------
@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("::FFFF:cb00:7109", "203.0.113.9"),
        ("2001:db8:1:2::5", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::/64", "2001:db8:1:2::/64"),
        ("203.0.113.9/32", "203.0.113.9"),
        ("::1", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("local-ui", "local-ui"),
        ("", ""),
        ("not-an-ip", "not-an-ip"),
    ],
)
def test_ban_key(ip: str, key: str) -> None:
    assert ban_key(ip) == key


async def test_an_ipv4_mapped_address_is_its_ipv4_address(tmp_path: Path) -> None:
    """A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d: failures from
    both forms add up, and the ban holds for both."""
    auth = _auth(tmp_path, Clock())
    for peer in ("::ffff:203.0.113.9", "203.0.113.9:4000", "[::ffff:203.0.113.9]:1"):
        await auth.authenticate(ALICE, "x", peer=peer, protocol="imap")
    assert [b.ip for b in auth.bans()] == ["203.0.113.9"]
    assert auth.is_banned("::ffff:203.0.113.9") and auth.is_banned("203.0.113.9")
    assert auth.unban("::ffff:203.0.113.9")
    assert not auth.is_banned("203.0.113.9")


async def test_ipv6_is_banned_by_its_64(tmp_path: Path) -> None:
    """One host may use any address of its /64: rotating them changes nothing."""
    auth = _auth(tmp_path, Clock())
    for i in range(1, 4):
        await auth.authenticate(
            ALICE, "x", peer=f"[2001:db8:1:2::{i}]:99", protocol="imap"
        )
    assert [b.ip for b in auth.bans()] == ["2001:db8:1:2::/64"]
    assert auth.is_banned("2001:db8:1:2:ffff::1")
    assert not auth.is_banned("2001:db8:1:3::1")
    assert (
        await auth.authenticate(
            ALICE, ALICE_PW, peer="2001:db8:1:2::77", protocol="imap"
        )
        is None
    )
    assert auth.unban("2001:db8:1:2::/64")  # as the bans list shows it
    assert not auth.is_banned("2001:db8:1:2::1")
    # link-local addresses share fe80::/64 on every link: banned one by one
    for _ in range(3):
        await auth.authenticate(ALICE, "x", peer="fe80::1", protocol="imap")
    assert auth.is_banned("fe80::1") and not auth.is_banned("fe80::2")
