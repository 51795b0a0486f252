"""DANE (RFC 7672), MTA-STS (RFC 8461), TLS-Required: No (RFC 8689) and the
TLS-RPT counts on the mx module, against the local sink with certificates
from a throwaway authority, a resolver answering from a table (with or
without the DNSSEC AD bit) and a local HTTPS server holding the MTA-STS
policy. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import smtplib
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.flags
import pytest

from tests.conftest import ALICE, ALICE_PW, RunningCore, start_core
from tests.integration.outbound.pki import Authority, Issued
from tests.integration.outbound.sink import Sink
from tests.integration.outbound.test_mx import MX, A, FakeResolver


@dataclass
class TLSA:
    usage: int
    selector: int
    mtype: int
    cert: bytes


class _Response:
    def __init__(self, secure: bool) -> None:
        self.flags = dns.flags.QR | (dns.flags.AD if secure else 0)


class Signed(list[Any]):
    """An answer the resolver validated (AD set), or not."""

    def __init__(self, items: list[Any], secure: bool = True) -> None:
        super().__init__(items)
        self.response = _Response(secure)


def table(mx_secure: bool = True) -> dict[tuple[str, str], list[Any]]:
    return {
        ("remote.test", "MX"): Signed([MX(10, "mx.remote.test.")], mx_secure),
        ("mx.remote.test", "A"): [A("127.0.0.1")],
        ("mx.remote.test", "AAAA"): [],
        ("mta-sts.remote.test", "A"): [A("127.0.0.1")],
        ("mta-sts.remote.test", "AAAA"): [],
    }


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority()


def sink_with(issued: Issued, folder: Path) -> Sink:
    cert, key = issued.files(folder, "sink")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return Sink(tls_context=ctx).start()


@dataclass
class Env:
    core: RunningCore
    sink: Sink
    resolver: FakeResolver
    folder: Path

    @property
    def mx(self) -> Any:
        return self.core.runtime.services.modules["mx"]

    def send(self, extra: str = "") -> None:
        host, port = self.core.endpoint("submission", "starttls")
        with smtplib.SMTP(host, port) as c:
            c.login(ALICE, ALICE_PW)
            c.sendmail(
                ALICE,
                ["bob@remote.test"],
                f"{extra}Subject: t\r\n\r\nbody\r\n".encode(),
            )
        assert self.core.run(self.core.runtime.services.queue.wait_idle(15))

    def deferred(self) -> str:
        jobs = self.core.run(self.core.api.queue_jobs())
        assert len(jobs) == 1 and jobs[0].recipients[0][1] == "deferred", jobs
        return str(jobs[0].last_error)

    def counts(self) -> dict[tuple[str, str], int]:
        report = self.mx.report
        return {(c.policy, c.result): c.count for c in report.counts()}


def make_env(
    tmp_path: Path, ca: Authority, issued: Issued, mx_secure: bool = True
) -> Env:
    sink = sink_with(issued, tmp_path)
    core = start_core(tmp_path / "data", enabled=("smtp", "submission"))
    resolver = FakeResolver(table(mx_secure))
    mx = core.runtime.services.modules["mx"]
    mx.resolver = resolver  # type: ignore[attr-defined]
    mx.ca_file = str(ca.write(tmp_path))  # type: ignore[attr-defined]
    core.run(core.api.update_settings("mx", {"port": sink.port}))
    assert core.run(core.api.set_module_enabled("mx", True)).state.value == "RUNNING"
    return Env(core, sink, resolver, tmp_path)


@pytest.fixture
def env_factory(tmp_path: Path, ca: Authority) -> Iterator[Any]:
    made: list[Env] = []

    def make(issued: Issued, mx_secure: bool = True) -> Env:
        e = make_env(tmp_path, ca, issued, mx_secure)
        made.append(e)
        return e

    yield make
    for e in made:
        e.core.runtime.stop()
        e.sink.stop()


def tlsa_for(issued: Issued, usage: int = 3) -> TLSA:
    return TLSA(usage, 1, 1, hashlib.sha256(issued.spki()).digest())


# -- DANE ------------------------------------------------------------------


def test_dane_ee_match_delivers_over_tls(env_factory: Any, ca: Authority) -> None:
    leaf = ca.issue("whatever.invalid", self_signed=True)  # DANE-EE: no PKIX
    env = env_factory(leaf)
    env.resolver.table[("_25._tcp.mx.remote.test", "TLSA")] = Signed([tlsa_for(leaf)])
    env.send()
    assert len(env.sink.messages) == 1 and env.sink.messages[0].tls
    assert env.counts() == {("tlsa", "success"): 1}


def test_dane_mismatch_defers_and_is_counted(env_factory: Any, ca: Authority) -> None:
    leaf = ca.issue("mx.remote.test")
    other = ca.issue("mx.remote.test")
    env = env_factory(leaf)
    env.resolver.table[("_25._tcp.mx.remote.test", "TLSA")] = Signed([tlsa_for(other)])
    env.send()
    assert env.sink.messages == []
    assert "DANE check" in env.deferred()
    assert env.counts() == {("tlsa", "validation-failure"): 1}


def test_dane_ta_checks_chain_and_name(env_factory: Any, ca: Authority) -> None:
    ta = TLSA(2, 0, 1, hashlib.sha256(ca.der).digest())
    env = env_factory(ca.issue("mx.remote.test"))
    env.resolver.table[("_25._tcp.mx.remote.test", "TLSA")] = Signed([ta])
    env.send()
    assert len(env.sink.messages) == 1


def test_dane_ta_refuses_a_certificate_for_another_name(
    env_factory: Any, ca: Authority
) -> None:
    ta = TLSA(2, 0, 1, hashlib.sha256(ca.der).digest())
    env = env_factory(ca.issue("elsewhere.test"))
    env.resolver.table[("_25._tcp.mx.remote.test", "TLSA")] = Signed([ta])
    env.send()
    assert env.sink.messages == []
    assert "does not name the mail server" in env.deferred()


def test_unvalidated_tlsa_is_ignored(env_factory: Any, ca: Authority) -> None:
    leaf = ca.issue("mx.remote.test")
    other = ca.issue("mx.remote.test")
    env = env_factory(leaf, mx_secure=False)
    env.resolver.table[("_25._tcp.mx.remote.test", "TLSA")] = Signed([tlsa_for(other)])
    env.send()
    assert len(env.sink.messages) == 1  # opportunistic, as without DANE
    assert ("_25._tcp.mx.remote.test", "TLSA") not in env.resolver.queries


def test_a_failing_tlsa_lookup_for_a_signed_mx_skips_the_host(
    env_factory: Any, ca: Authority
) -> None:
    env = env_factory(ca.issue("mx.remote.test"))

    real = env.resolver.resolve

    async def failing(name: str, rdtype: str) -> list[Any]:
        if rdtype == "TLSA":
            import dns.resolver

            raise dns.resolver.NoNameservers()
        return await real(name, rdtype)

    env.resolver.resolve = failing  # type: ignore[method-assign]
    env.send()
    assert env.sink.messages == []
    assert "TLSA" in env.deferred()
    assert env.counts() == {("tlsa", "dnssec-invalid"): 1}


# -- MTA-STS -----------------------------------------------------------------


class PolicyServer:
    def __init__(self, issued: Issued, folder: Path, body: bytes) -> None:
        self.body = body
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                if self.path != "/.well-known/mta-sts.txt":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        cert, key = issued.files(folder, "policy")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def policy_server(tmp_path: Path, ca: Authority) -> Iterator[PolicyServer]:
    body = b"version: STSv1\r\nmode: enforce\r\nmx: *.remote.test\r\nmax_age: 86400\r\n"
    srv = PolicyServer(ca.issue("mta-sts.remote.test"), tmp_path, body)
    yield srv
    srv.stop()


def with_policy(env: Env, srv: PolicyServer, ident: str = "20261205") -> None:
    env.mx.https_port = srv.port
    env.resolver.table[("_mta-sts.remote.test", "TXT")] = [
        type("T", (), {"strings": (f"v=STSv1; id={ident}".encode(),)})()
    ]


def test_sts_enforce_delivers_to_a_valid_certificate(
    env_factory: Any, ca: Authority, policy_server: PolicyServer
) -> None:
    env = env_factory(ca.issue("mx.remote.test"), mx_secure=False)
    with_policy(env, policy_server)
    env.send()
    assert len(env.sink.messages) == 1 and env.sink.messages[0].tls
    assert env.counts() == {("sts", "success"): 1}
    # cached: a second message does not fetch again, even without its TXT
    del env.resolver.table[("_mta-sts.remote.test", "TXT")]
    env.send()
    assert policy_server.hits == 1 and len(env.sink.messages) == 2


def test_sts_enforce_refuses_an_untrusted_certificate_until_tls_required_no(
    env_factory: Any, ca: Authority, policy_server: PolicyServer
) -> None:
    env = env_factory(ca.issue("mx.remote.test", self_signed=True), mx_secure=False)
    with_policy(env, policy_server)
    env.send()
    assert env.sink.messages == []
    assert "MTA-STS policy" in env.deferred()
    assert env.counts() == {("sts", "certificate-not-trusted"): 1}
    # the sender chose delivery over protection (RFC 8689 5)
    core = env.core
    for job in core.run(core.api.queue_jobs()):
        core.run(core.api.delete_job(job.job_id))
    env.send("TLS-Required: No\r\n")
    assert len(env.sink.messages) == 1


def test_sts_enforce_refuses_a_certificate_for_another_host(
    env_factory: Any, ca: Authority, policy_server: PolicyServer
) -> None:
    env = env_factory(ca.issue("other.remote.test"), mx_secure=False)
    with_policy(env, policy_server)
    env.send()
    assert env.sink.messages == []
    assert env.counts() == {("sts", "certificate-host-mismatch"): 1}


def test_sts_mx_patterns_limit_the_hosts(
    env_factory: Any, ca: Authority, policy_server: PolicyServer
) -> None:
    policy_server.body = (
        b"version: STSv1\nmode: enforce\nmx: mail.elsewhere.test\nmax_age: 600\n"
    )
    env = env_factory(ca.issue("mx.remote.test"), mx_secure=False)
    with_policy(env, policy_server)
    env.send()
    assert env.sink.messages == []
    assert "allows none of its mail servers" in env.deferred()


def test_sts_testing_mode_and_a_broken_policy_change_nothing(
    env_factory: Any, ca: Authority, policy_server: PolicyServer
) -> None:
    policy_server.body = (
        b"version: STSv1\nmode: testing\nmx: nothing.test\nmax_age: 600\n"
    )
    env = env_factory(ca.issue("mx.remote.test", self_signed=True), mx_secure=False)
    with_policy(env, policy_server)
    env.send()
    assert len(env.sink.messages) == 1
    policy_server.body = b"this is not a policy"
    with_policy(env, policy_server, ident="2")
    env.send()  # the cached testing policy stays; delivery goes on
    assert len(env.sink.messages) == 2


def test_dane_wins_over_sts(
    env_factory: Any, ca: Authority, policy_server: PolicyServer
) -> None:
    leaf = ca.issue("whatever.invalid", self_signed=True)
    env = env_factory(leaf)
    with_policy(env, policy_server)
    env.resolver.table[("_25._tcp.mx.remote.test", "TLSA")] = Signed([tlsa_for(leaf)])
    env.send()
    assert len(env.sink.messages) == 1
    assert env.counts() == {("tlsa", "success"): 1}
