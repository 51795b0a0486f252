"""curl (libcurl, OpenSSL) against the running module: pop3:// and pop3s://.

curl logs in with SASL (PLAIN, or LOGIN with ``--login-options``), lists with
LIST, fetches with RETR (un-stuffing dots, keeping CRLF: byte-identical), runs
UIDL and DELE as custom commands.
"""

from __future__ import annotations

from tests.integration.pop3.pop3_live import (
    PASSWORD,
    SAMPLES,
    USER,
    Pop3Server,
    need,
    run,
)


def _curl(*args: str) -> list[str]:
    return [need("curl"), "-sS", "--max-time", "20", "-u", f"{USER}:{PASSWORD}", *args]


async def test_curl_pop3_list_and_retr_plain(pop3_server: Pop3Server) -> None:
    for m in SAMPLES:
        await pop3_server.deliver(m)
    base = f"pop3://127.0.0.1:{pop3_server.plain_port}/"
    code, out, err = await run(*_curl(base))
    assert code == 0, err
    assert out == b"".join(b"%d %d\r\n" % (i, len(m)) for i, m in enumerate(SAMPLES, 1))
    for i, m in enumerate(SAMPLES, 1):
        code, out, err = await run(*_curl(f"{base}{i}"))
        assert code == 0, err
        assert out == m


async def test_curl_stls_required_auth_login_uidl(pop3_server: Pop3Server) -> None:
    for m in SAMPLES:
        await pop3_server.deliver(m)
    base = f"pop3://127.0.0.1:{pop3_server.plain_port}/"
    code, out, err = await run(
        *_curl(
            "--ssl-reqd",
            "-k",
            "--login-options",
            "AUTH=LOGIN",
            "-v",
            "-X",
            "UIDL",
            base,
        )
    )
    assert code == 0, err
    assert b"> STLS" in err and b"> AUTH LOGIN" in err
    keys = [i.key for i in await pop3_server.store.list_messages(USER, "INBOX")]
    assert out.decode().splitlines() == [f"{n} {k}" for n, k in enumerate(keys, 1)]
    code, out, err = await run(*_curl("--ssl-reqd", "-k", f"{base}2"))
    assert code == 0, err
    assert out == SAMPLES[1]


async def test_curl_pop3s_retr_and_dele(pop3_server: Pop3Server) -> None:
    for m in SAMPLES:
        await pop3_server.deliver(m)
    base = f"pop3s://127.0.0.1:{pop3_server.tls_port}/"
    code, out, err = await run(*_curl("-k", "--sasl-ir", f"{base}3"))
    assert code == 0, err
    assert out == SAMPLES[2]
    code, out, err = await run(*_curl("-k", "-X", "DELE", "-I", f"{base}1"))
    assert code == 0, err
    assert await pop3_server.inbox() == SAMPLES[1:]


async def test_curl_wrong_password_fails(pop3_server: Pop3Server) -> None:
    base = f"pop3://127.0.0.1:{pop3_server.plain_port}/"
    argv = [need("curl"), "-sS", "--max-time", "20", "-u", f"{USER}:wrong", base]
    code, _out, err = await run(*argv)
    assert code == 67, err  # CURLE_LOGIN_DENIED
