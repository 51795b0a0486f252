"""The export's files made from a model (server/export/render.py), without
the servers: maps, the passwd line, uidlists, the relay password only when
asked, lists whose senders Postfix cannot check."""

from __future__ import annotations

from pathlib import Path

from server.export.collect import Folder, MailList, Model, Relay, User
from server.export.render import render

HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def model(**changes: object) -> Model:
    alice = User(
        "alice@example.test",
        "alice",
        "example.test",
        HASH,
        True,
        5 * 1024 * 1024,
        (("rules", "keep;\n"),),
        "rules",
        (
            Folder(
                "",
                1700000000,
                9,
                ((1, "1700000000.M1.host,S=10,W=12"), (4, "x,S=1,W=1")),
                ((0, "$Label1"),),
            ),
            Folder(".Work", 1700000001, 2, ((1, "y,S=5,W=6"),), ()),
        ),
    )
    bob = User("bob@example.test", "bob", "example.test", HASH, False, 0, (), None, ())
    base = dict(
        data_dir=Path("/srv/qs"),
        mail_dir=Path("/srv/qs/mail"),
        hostname="mail.example.test",
        primary="example.test",
        domains=("example.test",),
        users=(alice, bob),
        aliases={
            "postmaster@example.test": ("alice@example.test",),
            "*@example.test": ("bob@example.test",),
        },
        lists=(
            MailList(
                "team@example.test",
                "anyone",
                ("alice@example.test", "bob@example.test"),
                (),
            ),
            MailList(
                "staff@example.test",
                "members",
                ("alice@example.test",),
                ("bob@example.test",),
            ),
        ),
        cert=b"CERT",
        key=b"KEY",
        max_message_size=1000,
    )
    base.update(changes)
    return Model(**base)  # type: ignore[arg-type]


def test_maps_passwd_and_uidlists() -> None:
    files, carried, missing = render(model(), Path("/srv/export"), 1001, 1001)
    alias = files["postfix/virtual_alias"].data.decode()
    assert "@example.test\tbob@example.test" in alias
    # with a catch-all every real address maps to itself (VIRTUAL_README)
    assert "alice@example.test\talice@example.test" in alias
    assert "team@example.test\talice@example.test, bob@example.test" in alias
    # a members-only list goes to its moderators, said in README
    assert "staff@example.test\tbob@example.test" in alias
    assert any("staff@example.test" in m for m in missing)
    passwd = files["dovecot/passwd"].data.decode().splitlines()
    assert passwd[0].startswith("alice@example.test:{ARGON2ID}" + HASH + ":1001:1001::")
    assert passwd[0].endswith("userdb_quota_rule=*:storage=5242880B")
    assert "nologin=Y" in passwd[1]
    assert files["dovecot/passwd"].mode == 0o640
    uidlist = files[
        "dovecot/control/example.test/alice/.INBOX/dovecot-uidlist"
    ].data.decode()
    assert (
        uidlist == "3 V1700000000 N9\n1 :1700000000.M1.host,S=10,W=12\n4 :x,S=1,W=1\n"
    )
    assert (
        files["dovecot/control/example.test/alice/.INBOX/dovecot-keywords"].data
        == b"0 $Label1\n"
    )
    assert (
        files["dovecot/control/example.test/alice/.Work/dovecot-uidlist"].data
        == b"3 V1700000001 N2\n1 :y,S=5,W=6\n"
    )
    assert (
        files["dovecot/sieve/example.test/alice/.dovecot.sieve"].link == "rules.sieve"
    )
    conf = files["dovecot/dovecot.conf"].data.decode()
    assert (
        "mail_location = maildir:/srv/qs/mail/%d/%n:CONTROL=/srv/export/dovecot/control"
        in conf
    )
    assert files["tls/key.pem"].mode == 0o600
    main = files["postfix/main.cf"].data.decode()
    assert "message_size_limit = 1000" in main and "relayhost" not in main
    assert "sasl_passwd" not in str(files)
    assert carried and "README.md" in files


def test_relay_password_only_when_asked() -> None:
    relay = Relay("smtp.provider.test", 587, "starttls", "me", None)
    files, _, missing = render(model(relay=relay), Path("/e"), 1, 1)
    assert (
        files["postfix/sasl_passwd"].data == b"[smtp.provider.test]:587\tme:PASSWORD\n"
    )
    assert files["postfix/sasl_passwd"].mode == 0o600
    assert any("password" in m for m in missing)
    main = files["postfix/main.cf"].data.decode()
    assert "relayhost = [smtp.provider.test]:587" in main
    assert "smtp_sasl_password_maps = texthash:/e/postfix/sasl_passwd" in main
    relay = Relay("smtp.provider.test", 465, "tls", "me", "s3cret")
    files, _, _ = render(model(relay=relay), Path("/e"), 1, 1)
    assert files["postfix/sasl_passwd"].data == b"[smtp.provider.test]:465\tme:s3cret\n"
    assert "smtp_tls_wrappermode = yes" in files["postfix/main.cf"].data.decode()


def test_dnsbl_becomes_postscreen_and_greylisting_a_note() -> None:
    files, _, missing = render(
        model(dnsbl_zones=("zen.spamhaus.org",), greylisting=True), Path("/e"), 1, 1
    )
    assert (
        "postscreen_dnsbl_sites = zen.spamhaus.org*2"
        in files["postfix/main.cf"].data.decode()
    )
    assert "postscreen" in files["postfix/master.cf"].data.decode()
    assert any("postgrey" in m for m in missing)
    readme = files["README.md"].data.decode()
    assert "postgrey" in readme and "postscreen" in readme
