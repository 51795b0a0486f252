"""Input hygiene: no owner, mailbox or user name can reach outside the data
folder, through the store API or through the accounts, on POSIX or Windows."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.accounts.sqlite import SqliteAccountStore
from server.accounts.validate import (
    normalize_address,
    normalize_domain,
    normalize_local,
)
from server.errors import MailError, ValidationError
from server.storage import names
from server.storage.base import InvalidMailboxName
from server.storage.maildir import MaildirStore

OWNER = "alice@example.test"
MSG = b"Subject: x\r\n\r\nhello\r\n"

BAD_OWNERS = [
    "../x@example.test",
    "..@example.test",
    "alice@..",
    "alice@.",
    "a/b@example.test",
    "alice@ex/../..",
    "a\\b@example.test",
    "alice@c:",
    "alice@d:evil",
    "a:b@example.test",
    "a\x00b@example.test",
    "a\nb@example.test",
    "a\x7f@example.test",
    "@example.test",
    "alice@",
    "alice",
    "a@b@c",
    "/etc/passwd@x",
    "nul@example.test",
    "con.txt@example.test",
    "alice@aux",
    "x" * 300 + "@example.test",
    ".hidden@example.test",
    "alice.@example.test",
]
BAD_MAILBOXES = [
    "",
    "/",
    "/etc",
    "../x",
    "INBOX/../..",
    "a/../../b",
    "..",
    ".",
    "a//b",
    "a\x00b",
    "a\nb",
    "a\rb",
    "a\x1bb",
    "x" * 1001,
    "y" * 256,
    "INBOX/./x",
]


@pytest.mark.parametrize("owner", BAD_OWNERS)
def test_store_owner_that_could_escape_the_mail_root_is_refused(owner: str) -> None:
    with pytest.raises(InvalidMailboxName):
        names.normalize_owner(owner)


@pytest.mark.parametrize("name", BAD_MAILBOXES)
def test_mailbox_name_that_could_escape_the_user_folder_is_refused(name: str) -> None:
    with pytest.raises(InvalidMailboxName):
        names.normalize_mailbox(name)


@pytest.mark.parametrize(
    "name",
    ["..x", "a\\b", "C:", "a:b", "a.b", "%2e%2e", "con", "nul", "Work/..x", "..a"],
)
def test_odd_but_legal_mailbox_names_stay_one_folder_under_the_user(name: str) -> None:
    folder = names.encode_folder(names.normalize_mailbox(name))
    assert "/" not in folder and "\\" not in folder and ":" not in folder
    assert folder.startswith(".") and folder not in (".", "..")


def _under(root: PurePosixPath | PureWindowsPath, *parts: str) -> bool:
    joined = root.joinpath(*parts)
    return joined.is_relative_to(root) and ".." not in joined.parts


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_accepted_owner_stays_under_the_root_on_posix_and_windows(
    local: str, domain: str
) -> None:
    try:
        lo, do = names.normalize_owner(f"{local}@{domain}")
    except InvalidMailboxName:
        return
    assert _under(PurePosixPath("/data/mail"), do, lo)
    assert _under(PureWindowsPath("C:/data/mail"), do, lo)
    assert lo.split(".")[0] not in names.WINDOWS_DEVICE_NAMES


@given(st.text(min_size=1, max_size=60))
@settings(max_examples=300, deadline=None)
def test_any_accepted_mailbox_name_stays_one_folder_under_the_user(name: str) -> None:
    try:
        norm = names.normalize_mailbox(name)
    except InvalidMailboxName:
        return
    folder = MaildirStore._folder_path(Path("/data/mail/example.test/alice"), norm)
    assert folder.parent == Path("/data/mail/example.test/alice") or norm == "INBOX"
    assert ".." not in folder.parts


async def test_store_api_refuses_escapes_and_writes_nothing_outside(
    tmp_path: Path,
) -> None:
    root = tmp_path / "data" / "mail"
    store = MaildirStore(root)
    await store.ensure_user(OWNER)
    before = {p for p in tmp_path.rglob("*")}
    for owner in BAD_OWNERS:
        with pytest.raises(MailError):
            await store.deliver(owner, MSG)
        with pytest.raises(MailError):
            await store.ensure_user(owner)
    for name in BAD_MAILBOXES:
        with pytest.raises(MailError):
            await store.create_mailbox(OWNER, name)
        with pytest.raises(MailError):
            await store.deliver(OWNER, MSG, mailbox=name)
        with pytest.raises(MailError):
            await store.rename_mailbox(OWNER, "INBOX", name)
    after = {p for p in tmp_path.rglob("*")}
    new = {p for p in after - before if "corrupt" not in p.parts}
    assert all(p.is_relative_to(root / "example.test" / "alice") for p in new), new
    assert not (tmp_path / "x").exists() and not (tmp_path / "data" / "x").exists()


@pytest.mark.parametrize(
    "address",
    [
        "../x@example.test",
        "a/b@example.test",
        "a\\b@example.test",
        "a\x00b@example.test",
        "a\r\nb@example.test",
        "alice@../../etc",
        "alice@exa mple.test",
        "alice@c:",
        "nul@example.test",
        "CON@example.test",
        "com1.x@example.test",
        ".a@example.test",
        "a..b@example.test",
        "x" * 65 + "@example.test",
        "alice@" + "d." * 130 + "test",
        "alice@[127.0.0.1]",
        "alice@example.test@evil.test",
        "",
    ],
)
def test_accounts_refuse_user_names_that_could_become_bad_paths(
    tmp_path: Path, address: str
) -> None:
    with pytest.raises(ValidationError):
        normalize_address(address)
    acc = SqliteAccountStore(tmp_path / "a.sqlite3")
    acc.add_domain("example.test")
    with pytest.raises(ValidationError):
        acc.add_user(address, "pw-123456", allow_weak=True)
    acc.close()


@given(st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_any_valid_account_name_is_a_valid_store_owner(local: str) -> None:
    try:
        loc = normalize_local(local)
    except ValidationError:
        return
    names.normalize_owner(f"{loc}@example.test")  # never raises


@given(st.text(max_size=30))
@settings(max_examples=200, deadline=None)
def test_any_valid_domain_is_a_valid_store_domain(domain: str) -> None:
    try:
        dom = normalize_domain(domain)
    except ValidationError:
        return
    names.normalize_owner(f"alice@{dom}")


def test_login_names_with_path_tricks_just_fail_to_log_in(tmp_path: Path) -> None:
    acc = SqliteAccountStore(tmp_path / "a.sqlite3")
    acc.add_domain("example.test")
    acc.add_user(OWNER, "pw-123456", allow_weak=True)
    for name in (
        "../alice@example.test",
        "alice@example.test/..",
        "alice\x00",
        "alice@example.test\r\nX: y",
        "%2e%2e/alice",
        "a" * 5000,
    ):
        assert acc.authenticate(name, "pw-123456") is None
    assert os.listdir(tmp_path) == ["a.sqlite3"] or set(os.listdir(tmp_path)) <= {
        "a.sqlite3",
        "a.sqlite3-wal",
        "a.sqlite3-shm",
    }
    acc.close()
