"""The web module: a small HTTPS server for RFC 8058 one-click unsubscribe
and our MTA-STS policy.

What it does
- Listens on ``WebSettings.port`` (8443) with TLS only (our certificate;
  without a usable one the module does not start: RFC 8058 asks for HTTPS).
- ``/unsubscribe/TOKEN`` (the link each member's copy of a list post
  carries, ``server/lists/tokens.py``):
  - GET/HEAD: a page that names the list and the address and offers an
    Unsubscribe button (a GET never unsubscribes: link checkers and mail
    previews fetch links; RFC 8058 3.2);
  - POST with ``List-Unsubscribe=One-Click`` (urlencoded or multipart, as a
    mail provider or the button sends it): the member is taken off the list
    at once and a page says so; 200 again for an address already off.
  - a token that is not ours (or whose list is gone) is 404.
- ``/.well-known/mta-sts.txt`` asked with ``Host: mta-sts.<our domain>``:
  our MTA-STS policy (``mtasts.py``) when ``web.mta_sts_mode`` is set.
- Anything else is 404 (405 for another method). One request per connection;
  the whole request must arrive within ``WebSettings.timeout`` seconds and
  fit the limits in ``http.py``; over one, the status and close.
- Connection control (bans, access list, per-IP limits, the shared total) is
  the ``_AdmissionGuard``'s, as for every module; ``public_url`` only shapes
  the links the list server writes (``base_url``).

It never shows a traceback, a path or a setting: the edge catch-all logs the
traceback and answers 500 with a plain page.

Logging: logger ``quicksilver.web``; one line per request (peer, method,
path without the token, status).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl

from server.config.schema import (
    Settings,
    WebSettings,
    default_hostname,
    validate_section,
)
from server.events import SessionClosed, SessionOpened
from server.modules.base import (
    ListDirectory,
    Listener,
    ListenerModule,
    ModuleContext,
    ModuleStartError,
    ModuleState,
)
from server.policy import peer_ip
from server.protocols.linereader import ConnectionClosed, LineReader, LineTooLong
from server.protocols.session_io import PeerLogger
from server.protocols.web import http, mtasts, pages
from server.protocols.web.http import HttpError, Request

LOGGER_NAME = "quicksilver.web"
UNSUBSCRIBE = "/unsubscribe/"
ALLOW = (("Allow", "GET, HEAD, POST"),)


def base_url(settings: Settings, port: int) -> str:
    """What one-click links start with: ``web.public_url`` or
    ``https://<hostname>[:port]`` (the port we listen on)."""
    web = settings.web
    if web.public_url:
        return web.public_url.rstrip("/")
    general = settings.general
    host = general.hostname or general.domain or default_hostname()
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}" if port == 443 else f"https://{host}:{port}"


class WebModule(ListenerModule):
    """The HTTPS module (``name`` "web")."""

    name = "web"
    title = "Web (unsubscribe links)"

    def __init__(self, ctx: ModuleContext) -> None:
        super().__init__(ctx.events, logging.getLogger(LOGGER_NAME))
        self.ctx = ctx  # the base class reads it for connection control
        self.context: ModuleContext = ctx
        self.settings = WebSettings()
        self.connections_open: set[WebConnection] = set()
        self._ids = itertools.count(1)

    def configure(self, settings: Settings) -> None:
        """Validate only; the values are read again at ``start()``."""
        validate_section("web", settings.web)

    @property
    def lists(self) -> ListDirectory:
        lists = self.context.lists
        if lists is None:
            raise ModuleStartError("The web module needs the list server.")
        return lists

    def listeners(self) -> list[Listener]:
        settings = self.context.settings()
        self.configure(settings)
        cfg = settings.web
        self.settings = cfg
        _ = self.lists
        try:
            tls: ssl.SSLContext | None = self.context.tls.server_context()
        except Exception as exc:  # shown as the module's error
            raise ModuleStartError(
                f"The web module needs a TLS certificate: {exc}"
            ) from None
        if tls is None:
            raise ModuleStartError(
                "The web module needs a TLS certificate (one-click unsubscribe "
                "links are HTTPS): import one on the Security page."
            )
        return [
            Listener(cfg.bind, cfg.port, "implicit", lambda: WebConnection(self), tls)
        ]

    async def stop(self) -> None:
        tasks = [c.task for c in self.connections_open if c.task is not None]
        await super().stop()
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    def link_base(self) -> str:
        """The base of one-click links while this module answers them, else
        "" (the list server then writes only the mailto: link)."""
        if self.state is not ModuleState.RUNNING:
            return ""
        ends = self.endpoints()
        port = ends[0].port if ends else self.settings.port
        return base_url(self.context.settings(), port)

    def next_id(self) -> str:
        return f"web-{next(self._ids)}"


class WebConnection(LineReader):
    """One HTTPS connection: read one request, answer it, close."""

    def __init__(self, module: WebModule) -> None:
        super().__init__(high_water=http.MAX_HEAD)
        self.module = module
        self.task: asyncio.Task[None] | None = None
        self.peer = "?"
        self.session_id = ""
        self.log: logging.Logger | logging.LoggerAdapter[logging.Logger] = module.log
        self._finished = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        module = self.module
        peername = transport.get_extra_info("peername")
        ip = peer_ip(peername)
        port = peername[1] if isinstance(peername, tuple) and len(peername) > 1 else ""
        self.peer = f"{ip}:{port}" if port != "" else (ip or "?")
        self.log = PeerLogger(module.log, {"peer": self.peer})
        self.session_id = module.next_id()
        module.connections_open.add(self)
        module.session_opened(
            id(self), self.peer, transport, close=self.close, traffic=self.traffic
        )
        module.events.publish(SessionOpened(module.name, self.session_id, self.peer))
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.module.settings.timeout
        method, path = "?", "?"
        try:
            try:
                request = await self._read_head(deadline, loop)
                method, path = request.method, _shown(request.path)
                body = b""
                if request.content_length:
                    left = max(0.1, deadline - loop.time())
                    body = await self.readexactly(request.content_length, left)
                status, answer = await self._answer(request, body)
            except HttpError as exc:
                status = exc.status
                answer = http.response(status, pages.error(status, exc.detail))
            except TimeoutError:
                status = 408
                answer = http.response(
                    408, pages.error(408, "The request took too long.")
                )
            except LineTooLong:
                status = 431
                answer = http.response(431, pages.error(431, "Header line too long."))
            self.log.info("%s %s: %d", method, path, status)
            self.write(answer)
            await self.drain()
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("unexpected error in a web request")
            self.write(http.response(500, pages.error(500, "Something went wrong.")))
        finally:
            self._finish()

    async def _read_head(
        self, deadline: float, loop: asyncio.AbstractEventLoop
    ) -> Request:
        def left() -> float:
            return max(0.1, deadline - loop.time())

        try:
            line = await self.readline(http.MAX_REQUEST_LINE, left())
            while line in (b"\r\n", b"\n"):  # RFC 9112 2.2: empty lines before
                line = await self.readline(http.MAX_REQUEST_LINE, left())
        except LineTooLong:  # the target is what makes a request line long
            raise HttpError(414, "The address asked for is too long.") from None
        method, target, minor = http.parse_request_line(line)
        headers: list[tuple[str, str]] = []
        size = len(line)
        while True:
            line = await self.readline(http.MAX_HEADER_LINE, left())
            if line in (b"\r\n", b"\n"):
                break
            size += len(line)
            if len(headers) >= http.MAX_HEADERS or size > http.MAX_HEAD:
                raise HttpError(431, "too many header fields")
            headers.append(http.parse_header_line(line))
        return http.finish_head(method, target, minor, headers)

    async def _answer(self, request: Request, body: bytes) -> tuple[int, bytes]:
        head = request.method == "HEAD"
        if request.path == mtasts.PATH and request.method in ("GET", "HEAD"):
            found = self._mta_sts_policy(request.header("host") or "")
            if found:
                return 200, http.response(
                    200,
                    found.encode("ascii"),
                    content_type="text/plain",
                    head_only=head,
                )
        if not request.path.startswith(UNSUBSCRIBE):
            return 404, http.response(
                404, pages.error(404, "There is nothing here."), head_only=head
            )
        if request.method not in ("GET", "HEAD", "POST"):
            return 405, http.response(
                405, pages.error(405, "Use GET or POST."), extra=ALLOW
            )
        token = request.path[len(UNSUBSCRIBE) :]
        lists = self.module.lists
        if request.method == "POST":
            if not http.is_one_click(request.header("content-type") or "", body):
                raise HttpError(400, "This is not a one-click unsubscribe request.")
            done = await asyncio.to_thread(lists.unsubscribe, token)
            if done is None:
                return 404, http.response(404, pages.error(404, _GONE))
            page = pages.done(done.title, done.list_address, done.member, done.removed)
            return 200, http.response(200, page)
        target = await asyncio.to_thread(lists.unsubscribe_target, token)
        if target is None:
            return 404, http.response(404, pages.error(404, _GONE), head_only=head)
        ml, member = target
        page = pages.confirm(ml.title or ml.local, ml.address, member)
        return 200, http.response(200, page, head_only=head)

    def _mta_sts_policy(self, host: str) -> str:
        """Our policy when publishing is on and ``host`` is
        ``mta-sts.<one of our domains>``, else ""."""
        settings = self.module.context.settings()
        domain = mtasts.policy_domain(host)
        if not domain or not self.module.context.accounts.is_local_domain(domain):
            return ""
        return mtasts.policy_text(settings)

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self.close()
        module = self.module
        module.connections_open.discard(self)
        module.session_closed(id(self))
        module.events.publish(SessionClosed(module.name, self.session_id, self.peer))


_GONE = "This unsubscribe link is not valid, or its list no longer exists."


def _shown(path: str) -> str:
    """The path for the log: a token is a credential, so not logged whole."""
    if path.startswith(UNSUBSCRIBE):
        return UNSUBSCRIBE + "..."
    return path[:100]
